// The compliance officer's page: search the catalogue API, list calls page by page, replay one.
// Plain browser JavaScript, no build step. Every URL is relative to the page, so the page works
// under whatever base path serves it. Data from the catalogue is only ever set as text.
// The API takes SigV4 signatures, which a page cannot make: on the local cloud the page uses
// the session token `ferry start` puts in its address (#session=…), sent as X-Ferry-Session,
// and plays each call from a short-lived presigned link to the replay endpoint that the API
// mints for the session (GET local/replay-link).

import { durationText, isoFromLocal, localText, printable, setSummary, zoneName } from './shared.js';

const PAGE_SIZE = 25;
const $ = (id) => document.getElementById(id);

const form = $('search');
const tbody = document.querySelector('#results tbody');
const table = $('results');
const statusLine = $('status');
const errorBox = $('error');
const moreButton = $('more');
const player = $('player');
const audio = $('audio');
const download = $('download');

/** The search the table shows: its site, its parameters, the cursor of the next page. */
let current = null;
/** Bumped on every new search, so a late answer to an older one is dropped. */
let generation = 0;

function showError(message) {
  // An answer's message can quote what a request carried (a call id, a site): shown as the other texts are.
  errorBox.textContent = printable(message);
  errorBox.hidden = false;
}

function clearError() {
  errorBox.textContent = '';
  errorBox.hidden = true;
}

function recordingsUrl(site, params) {
  const query = new URLSearchParams(params);
  return `sites/${encodeURIComponent(site)}/recordings?${query}`;
}

/** The session token: from the address the first time (then dropped from it), else kept for this tab. */
function sessionToken() {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('session');
  if (fromHash) {
    sessionStorage.setItem('ferry-session', fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('ferry-session') ?? '';
}

function replayLinkUrl(site, rid, asDownload) {
  const query = new URLSearchParams({ site, rid });
  if (asDownload) query.set('download', '1');
  return `local/replay-link?${query}`;
}

function readForm() {
  const site = $('site').value.trim();
  if (!site) throw new Error('Enter a site.');
  const params = { limit: String(PAGE_SIZE) };
  const from = isoFromLocal('From', $('from').value);
  const to = isoFromLocal('To', $('to').value, { last: true });
  if (from) params.from = from;
  if (to) params.to = to;
  for (const name of ['agent', 'number', 'callId']) {
    const value = $(name).value.trim();
    if (value) params[name] = value;
  }
  return { site, params };
}

/** GET JSON from the API; a non-2xx answer throws with the API's own message. */
async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { Accept: 'application/json', 'X-Ferry-Session': sessionToken() } });
  } catch {
    throw new Error('The catalogue API could not be reached. Check the connection and try again.');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const message = typeof body?.message === 'string' ? body.message : response.statusText || 'request failed';
    throw new Error(`${response.status >= 500 ? 'The catalogue failed' : 'The catalogue refused the search'} (HTTP ${response.status}): ${message}`);
  }
  return body;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = printable(text);
  if (className) td.className = className;
  return td;
}

function addRow(site, entry) {
  const meta = entry.meta ?? {};
  const row = tbody.insertRow();
  row.dataset.rid = entry.rid;
  const start = row.insertCell();
  const time = document.createElement('time');
  time.dateTime = entry.start;
  time.title = `${entry.start} (UTC)`;
  time.textContent = localText(entry.start);
  start.append(time);
  cell(row, meta.callId ?? entry.rid, 'mono');
  cell(row, meta.agent ?? '—');
  cell(row, `${meta.caller ?? '?'} → ${meta.called ?? '?'}`, 'mono');
  cell(row, durationText(entry), 'num');
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'play';
  button.textContent = 'Play';
  button.setAttribute('aria-label', `Play call ${printable(meta.callId ?? entry.rid)}`);
  row.insertCell().append(button);
  // The whole row is a mouse target; the button is the keyboard one (Enter or Space on it
  // fires a click that bubbles here, so both take the same path).
  row.addEventListener('click', () => void play(site, entry, row));
}

function updateStatus() {
  const shown = tbody.rows.length;
  if (shown === 0) statusLine.textContent = 'No calls match this search.';
  else statusLine.textContent = `${shown} call${shown === 1 ? '' : 's'} shown${current.cursor ? ', more available' : ''}.`;
  moreButton.hidden = !current.cursor;
}

async function loadPage() {
  const mine = generation;
  const { site, params, cursor } = current;
  table.setAttribute('aria-busy', 'true');
  moreButton.disabled = true;
  try {
    const page = await getJson(recordingsUrl(site, cursor ? { ...params, cursor } : params));
    if (mine !== generation) return;
    for (const entry of page.items) addRow(site, entry);
    current.cursor = page.cursor ?? null;
    updateStatus();
  } catch (error) {
    if (mine !== generation) return;
    showError(error.message);
    statusLine.textContent = tbody.rows.length ? `${tbody.rows.length} calls shown; the next page failed.` : 'The search failed.';
  } finally {
    if (mine === generation) {
      table.removeAttribute('aria-busy');
      moreButton.disabled = false;
    }
  }
}

function search() {
  clearError();
  generation += 1;
  tbody.replaceChildren();
  moreButton.hidden = true;
  let query;
  try {
    query = readForm();
  } catch (error) {
    current = null;
    statusLine.textContent = 'Nothing searched.';
    showError(error.message);
    return Promise.resolve();
  }
  current = { ...query, cursor: null };
  statusLine.textContent = 'Searching…';
  return loadPage();
}

/** The HEAD twin of the link playing now: a presigned link is valid for one method only. */
let currentHead = null;
/** How many calls were chosen to play: the links of a call chosen before the last one are dropped when they answer. */
let plays = 0;

async function play(site, entry, row) {
  clearError();
  const mine = ++plays;
  for (const other of tbody.querySelectorAll('tr[aria-current]')) other.removeAttribute('aria-current');
  row.setAttribute('aria-current', 'true');
  const meta = entry.meta ?? {};
  $('player-title').textContent = `Call ${printable(meta.callId ?? entry.rid)}`;
  setSummary($('player-details'), { start: localText(entry.start), agent: meta.agent, caller: meta.caller, called: meta.called, rest: [durationText(entry)] });
  let listen;
  let save;
  try {
    [listen, save] = await Promise.all([getJson(replayLinkUrl(site, entry.rid, false)), getJson(replayLinkUrl(site, entry.rid, true))]);
  } catch (error) {
    if (mine === plays) showError(error.message);
    return;
  }
  // Another call chosen meanwhile (a slow network): this one's audio must not play under its title.
  if (mine !== plays) return;
  // The browser fetches the audio itself, with Range requests, from the replay endpoint.
  currentHead = listen.head;
  audio.src = listen.url;
  download.href = save.url;
  download.setAttribute('aria-label', `Download call ${printable(meta.callId ?? entry.rid)}`);
  player.hidden = false;
  audio.play().catch(() => undefined); // autoplay may be refused; the controls remain
}

/** A media error says nothing about why: ask the replay endpoint (HEAD discloses no audio). */
async function explainAudioError() {
  if (!audio.getAttribute('src') || !currentHead) return;
  try {
    const response = await fetch(currentHead, { method: 'HEAD' });
    if (!response.ok) {
      showError(`The recording could not be loaded (HTTP ${response.status}${response.status === 404 ? ': no such recording in this site' : ''}).`);
      return;
    }
  } catch {
    showError('The recording could not be loaded: the replay endpoint could not be reached.');
    return;
  }
  showError(`Your browser could not play this recording${audio.error?.message ? `: ${audio.error.message}` : '.'}`);
}

function init() {
  sessionToken();
  const params = new URLSearchParams(location.search);
  $('site').value = params.get('site') ?? 'demo';
  $('zone').textContent = zoneName();
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void search();
  });
  // Clear empties the filters but keeps the site: searching another site is a deliberate act.
  form.addEventListener('reset', (event) => {
    event.preventDefault();
    for (const name of ['from', 'to', 'agent', 'number', 'callId']) $(name).value = '';
    clearError();
  });
  moreButton.addEventListener('click', () => {
    if (current?.cursor) void loadPage();
  });
  audio.addEventListener('error', () => void explainAudioError());
}

init();
