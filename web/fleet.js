// The fleet page: GET fleet (the same rows as `ferry fleet status --json`, worst first) shown as
// one table row per site, refreshed on a timer. Plain browser JavaScript, no build step; every
// URL is relative to the page; data from the API is only ever set as text. The state is said in
// words as well as in colour. On the local cloud the page authenticates with the session token
// `ferry start` puts in its address (#session=…), sent as X-Ferry-Session, as the calls page does.
// `?refresh=N` sets the refresh period in seconds (default 30, at least 2); Pause auto-refresh
// stops the timer until pressed again. The live status line says the sites' states only, and only
// when they change: the time of each refresh is in "Data as of", which is not announced.

import { localText as localMinutes, pad, printable, zoneName } from './shared.js';

const $ = (id) => document.getElementById(id);
const tbody = document.querySelector('#fleet tbody');
const table = $('fleet');
const statusLine = $('status');
const errorBox = $('error');
const asOf = $('as-of');
const asOfTime = $('as-of-time');
const asOfNote = $('as-of-note');
const empty = $('empty');
const refreshButton = $('refresh');
const pauseButton = $('pause');

const STATES = ['SILENT', 'LATE', 'WARN', 'OK', 'RETIRED'];
const STATE_MARK = { SILENT: '■', LATE: '▲', WARN: '●', OK: '✓', RETIRED: '–' };

/** The session token: from the address the first time (then dropped from it), else kept for this tab. */
function sessionToken() {
  const fromHash = new URLSearchParams(location.hash.replace(/^#/, '')).get('session');
  if (fromHash) {
    sessionStorage.setItem('ferry-session', fromHash);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('ferry-session') ?? '';
}

function refreshSeconds() {
  const asked = Number(new URLSearchParams(location.search).get('refresh'));
  return Number.isFinite(asked) && asked >= 2 ? asked : 30;
}

/** 45 s, 12 min, 3 h 20 min, 2 d 4 h. */
function age(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** ISO → `YYYY-MM-DD HH:MM` in the browser's zone. */
const localText = (iso) => localMinutes(iso, { seconds: false });

function timeElement(iso, text) {
  const time = document.createElement('time');
  time.dateTime = iso;
  time.title = iso;
  time.textContent = text ?? localText(iso);
  return time;
}

/** ISO → `YYYY-MM-DD HH:MM:SS` in the browser's zone. */
const localSeconds = (iso) => localMinutes(iso, { seconds: true });

/** The exact time under a relative one ("3 h ago"), as text: a title is out of a keyboard's and a screen reader's reach. */
function exactLine(iso) {
  const line = document.createElement('small');
  line.className = 'exact';
  line.append(' at ', timeElement(iso, localSeconds(iso)));
  return line;
}

function textList(items) {
  const list = document.createElement('ul');
  for (const item of items) {
    const li = document.createElement('li');
    li.textContent = printable(item);
    list.append(li);
  }
  return list;
}

/** A problem's words in bold after a ▲ (a shape as well as the colour; the shape is not read out). */
function problemMark(...words) {
  const strong = document.createElement('strong');
  strong.className = 'problem';
  const mark = document.createElement('span');
  mark.setAttribute('aria-hidden', 'true');
  mark.textContent = '▲ ';
  strong.append(mark, ...words);
  return strong;
}

/**
 * The Why column: one item per reason. A critical one (`critical: …`, an old primary refused after
 * a failover) is marked as a problem in words, weight and a shape a screen reader skips, not colour alone.
 */
function reasonList(reasons) {
  const list = document.createElement('ul');
  for (const reason of reasons) {
    const li = document.createElement('li');
    if (reason.startsWith('critical: ')) {
      li.dataset.severity = 'critical';
      li.append(problemMark('critical:'), printable(reason.slice('critical:'.length)));
    } else li.textContent = printable(reason);
    list.append(li);
  }
  return list;
}

function cell(row, className) {
  const td = row.insertCell();
  if (className) td.className = className;
  return td;
}

function stateBadge(state) {
  const span = document.createElement('span');
  span.className = `state state-${state.toLowerCase()}`;
  const mark = document.createElement('span');
  mark.setAttribute('aria-hidden', 'true');
  mark.textContent = `${STATE_MARK[state] ?? '?'} `;
  span.append(mark, state);
  return span;
}

/** One source as a list item: what is offsite and how old, and what waits (with the risk). */
function sourceItem(source) {
  const li = document.createElement('li');
  li.dataset.source = source.name;
  const name = document.createElement('strong');
  name.textContent = printable(source.name);
  const parts = [];
  parts.push(source.lastGood ? `last good ${age(source.lastGoodAgeSeconds)} ago` : 'nothing offsite yet');
  if (source.pendingBatches !== undefined) {
    const oldest = source.oldestPendingSeconds !== undefined && source.pendingBatches > 0 ? `, oldest ${age(source.oldestPendingSeconds)}` : '';
    parts.push(`backlog ${source.pendingBatches} batch${source.pendingBatches === 1 ? '' : 'es'}${oldest}`);
  }
  if (source.timeToLossSeconds !== undefined) parts.push(`time to loss ${age(source.timeToLossSeconds)}`);
  if (source.rpoSeconds !== undefined) parts.push(`binlog RPO ${age(source.rpoSeconds)}`);
  if (source.problem) parts.push(`problem: ${source.problem}`);
  li.append(name, printable(` (${source.type}): ${parts.join('; ')}`));
  // The copy itself as text a keyboard and a screen reader reach (a summary takes the focus), not a hover title.
  if (source.lastGood) {
    const details = document.createElement('details');
    const summary = document.createElement('summary');
    summary.textContent = `last good copy of ${printable(source.name)}`;
    const key = document.createElement('code');
    key.textContent = printable(source.lastGood.key);
    details.append(summary, key, ' at ', timeElement(source.lastGood.at, localSeconds(source.lastGood.at)));
    li.append(details);
  }
  return li;
}

/** "during a pass running since T (N pack(s) shipped so far)", as core/fleet-pass.ts says it. */
function passRunningLine(pass) {
  const artefacts = pass.artefacts > 0 ? ` and ${pass.artefacts} artefact(s)` : '';
  const line = lineOf('during a pass running since ', timeElement(pass.since), ` (${pass.packs} pack(s)${artefacts} shipped so far)`);
  line.dataset.passRunning = pass.since;
  return line;
}

/**
 * Which host ships the site now and since when; after a failover (or a host rebuilt), the one that
 * shipped it before, its last heartbeat and what it had offsite then (core/fleet-handover.ts).
 */
function shipperLines(shipper) {
  const host = (h) => printable(h || 'an unnamed host');
  const now = lineOf(`shipped by the agent on ${host(shipper.host)}`, ...(shipper.since ? [' since ', timeElement(shipper.since)] : []));
  now.dataset.shippedBy = shipper.host;
  if (!shipper.before) return [now];
  const b = shipper.before;
  const copies = [];
  for (const [i, src] of b.sources.entries()) copies.push(i ? ', ' : '; its last copies offsite: ', `${printable(src.name)} `, src.lastGood ? timeElement(src.lastGood.at) : 'none');
  const last = b.lastHeartbeatDaily ? 'its last daily heartbeat ' : 'its last heartbeat ';
  const before = lineOf(`before it the agent on ${host(b.host)} (id ${printable(b.id)}): ${last}`, timeElement(b.lastHeartbeat), ...copies);
  before.dataset.shippedBefore = b.host;
  return [now, before];
}

function addRow(site) {
  const row = tbody.insertRow();
  row.dataset.site = site.site;
  row.dataset.state = site.state;
  row.className = `row-${String(site.state).toLowerCase()}`;
  cell(row).append(stateBadge(site.state));
  const name = document.createElement('th');
  name.scope = 'row';
  name.textContent = site.site;
  row.append(name);

  const why = cell(row, 'why');
  if (site.reasons.length) why.append(reasonList(site.reasons));
  else why.textContent = '—';

  const heartbeat = cell(row, 'heartbeat');
  if (site.lastHeartbeat) heartbeat.append(timeElement(site.lastHeartbeat, `${age(site.heartbeatAgeSeconds)} ago`), exactLine(site.lastHeartbeat));
  else heartbeat.textContent = 'never';
  // Written during a pass that runs (a long backlog): said so, with what it shipped so far.
  if (site.passRunning) heartbeat.append(passRunningLine(site.passRunning));
  if (site.shippedBy) heartbeat.append(...shipperLines(site.shippedBy));

  const sources = cell(row, 'sources');
  if (site.sources.length) {
    const list = document.createElement('ul');
    for (const source of site.sources) list.append(sourceItem(source));
    sources.append(list);
  } else sources.textContent = site.lastHeartbeat ? 'no sources reported' : 'unknown (no heartbeat)';

  cell(row, 'num').textContent = site.losses === undefined ? '—' : String(site.losses);

  const last = cell(row);
  if (site.lastWindow) {
    last.append(`${site.lastWindow.outcome} `, timeElement(site.lastWindow.startedAt));
    // Every reason as text: the Why column names only the first.
    if (site.lastWindow.reasons.length) last.append(textList(site.lastWindow.reasons));
  } else last.textContent = 'none yet';

  const next = cell(row);
  if (site.nextWindow) next.append(timeElement(site.nextWindow));
  else next.textContent = 'on demand';

  purgeCell(cell(row, 'purge'), site.purge);
}

/**
 * The site's scheduled purge in words: "last ran …", "MISSED since …" (a purge-missed alert the
 * dead-man's switch holds open, marked as a problem in words and a shape, not colour alone),
 * "not scheduled"; its schedule under it.
 */
function purgeCell(td, purge) {
  if (!purge) {
    td.textContent = 'unknown';
    return;
  }
  if (purge.problem) {
    td.textContent = 'unknown: its state could not be read';
    return;
  }
  const last = () => (purge.lastRun ? ['last ran ', timeElement(purge.lastRun.startedAt), purgeOutcome(purge.lastRun)] : ['never ran']);
  if (!purge.cron) {
    td.append('not scheduled');
    if (purge.lastRun) td.append(lineOf('on demand: ', ...last()));
    return;
  }
  if (purge.missedSince) {
    td.dataset.problem = 'purge-missed';
    td.append(problemMark('MISSED since ', timeElement(purge.missedSince)), lineOf(...last()));
  } else td.append(...last());
  td.append(lineOf(`schedule cron(${purge.cron}) UTC`));
}

/** How the last purge ended, as its report said (core/fleet-purge.ts purgeOutcomeText). */
function purgeOutcome(run) {
  if (!run.outcome) return ' (no report yet)';
  return `: ${run.outcome}${run.deleted ? `, ${run.deleted} object(s) deleted` : ''}`;
}

function lineOf(...parts) {
  const line = document.createElement('small');
  line.className = 'exact';
  line.append(...parts);
  return line;
}

function showError(message) {
  // The API's message can quote what it was sent: shown as the agents' texts are.
  errorBox.textContent = printable(message);
  errorBox.hidden = false;
}

function clearError() {
  errorBox.textContent = '';
  errorBox.hidden = true;
}

/** GET the fleet; a non-2xx answer throws with the API's own message. */
async function fetchFleet() {
  let response;
  try {
    response = await fetch('fleet', { headers: { Accept: 'application/json', 'X-Ferry-Session': sessionToken() } });
  } catch {
    throw new Error('The fleet status could not be reached. Check the connection; the page tries again at the next refresh.');
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const message = typeof body?.message === 'string' ? body.message : response.statusText || 'request failed';
    throw new Error(`${response.status >= 500 ? 'The fleet status failed' : 'The fleet status was refused'} (HTTP ${response.status}): ${message}`);
  }
  if (!Array.isArray(body)) throw new Error('The fleet status answered with something that is not a list of sites.');
  return { rows: body, asOf: response.headers.get('X-Ferry-As-Of') ?? new Date().toISOString() };
}

function summary(rows) {
  const counts = STATES.map((s) => [s, rows.filter((r) => r.state === s).length]).filter(([, n]) => n > 0);
  return `${rows.length} site${rows.length === 1 ? '' : 's'}: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}`;
}

let loading = false;
let timer;
let paused = false;

/** The live status line: set only when what it says changes (the same text set again is read out again). */
function say(text) {
  if (statusLine.textContent !== text) statusLine.textContent = text;
}

function refreshNote() {
  return paused ? '(auto-refresh paused)' : `(refreshed every ${refreshSeconds()} s)`;
}

async function refresh() {
  if (loading) return;
  loading = true;
  // Refresh now stays enabled (a press while loading is ignored above): disabling it would take
  // the keyboard focus off it at every refresh, the timed ones included.
  table.setAttribute('aria-busy', 'true');
  try {
    const { rows, asOf: at } = await fetchFleet();
    clearError();
    tbody.replaceChildren();
    for (const site of rows) addRow(site);
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    asOfTime.dateTime = at;
    asOfTime.textContent = `${localText(at)}:${pad(new Date(at).getSeconds())}`;
    asOfTime.title = at;
    asOfNote.textContent = refreshNote();
    asOf.hidden = false;
    asOf.classList.remove('stale');
    say(rows.length ? `${summary(rows)}.` : 'No sites.');
  } catch (error) {
    showError(error.message);
    if (tbody.rows.length) {
      // What is shown stays, marked as old: "data as of" keeps the time it was read.
      asOfNote.textContent = '(stale: the last refresh failed)';
      asOf.classList.add('stale');
      say('The last refresh failed; the table shows older data.');
    } else say('The fleet status could not be loaded.');
  } finally {
    table.removeAttribute('aria-busy');
    loading = false;
  }
}

function schedule() {
  clearTimeout(timer);
  // A page in a background tab asks nothing: each read lists every site's heartbeats (requests the deployment pays for).
  if (paused || document.hidden) return;
  timer = setTimeout(() => void refresh().finally(schedule), refreshSeconds() * 1000);
}

/** Hidden, the timer stops; shown again, the page reads at once and goes on (a paused page stays paused). */
function visibilityChanged() {
  if (document.hidden) clearTimeout(timer);
  else if (!paused) void refresh().finally(schedule);
}

/** Pause auto-refresh: a toggle (aria-pressed) that keeps the focus; Refresh now still works. */
function togglePause() {
  paused = !paused;
  pauseButton.setAttribute('aria-pressed', String(paused));
  if (!asOf.classList.contains('stale')) asOfNote.textContent = refreshNote();
  schedule();
}

function init() {
  sessionToken();
  for (const span of document.querySelectorAll('[data-zone]')) span.textContent = `(${zoneName()})`;
  refreshButton.addEventListener('click', () => {
    void refresh().finally(schedule);
  });
  pauseButton.addEventListener('click', togglePause);
  document.addEventListener('visibilitychange', visibilityChanged);
  void refresh().finally(schedule);
}

init();
