// One call: its full catalogue record and SHA-256, play in the page (an <audio> element fed a
// play link minted per play: the browser seeks with HTTP Range requests against the replay
// URL), download (the file keeps its real name: the replay answers Content-Disposition), the
// archive state with recall (requested, polled, "playable until …", a notice when playable),
// the call's legal holds (place, release with a reason) and cases (console-holds.js), and its
// erasure at a data subject's request (console-erasures.js).

import { refusalText } from './console-api.js';
import { loadCaseOptions } from './console-cases.js';
import { showSteps, wireSteps } from './console-steps.js';
import { askErasure } from './console-erasures.js';
import { loadHolds, wireHolds } from './console-holds.js';
import { $, busy, clearError, el, focusIfLost, followDownload, notify, showError, timeEl, whenText } from './console-ui.js';
import { durationText, printable, setSummary } from './shared.js';

/** A minted link is used for this long at most (they live 300 s): older, a new one is asked for. */
const LINK_REUSE_MS = 240_000;
/** After a request, a status of `none` this long means the workflow has not written its first step yet. */
const RECALL_START_GRACE_MS = 120_000;

const call = {
  ctx: undefined,
  entry: undefined,
  /** When the audio's current link was minted. */
  mintedAt: 0,
  pollTimer: undefined,
  /** The recall state last shown, to announce the change to "available" once. */
  recallState: undefined,
  /** When this page asked for a recall (ms), until the workflow's record answers for it. */
  requestedAt: undefined,
  /** Where the call stands among the calls found (console-steps.js callsAround), when opened from them. */
  around: undefined,
  /** How many times a call was opened: an answer asked for at an earlier opening belongs to a call no longer shown. */
  opened: 0,
  /** Whether opening `opened` is still the one shown (another call, another view, a sign-out since: its answers are dropped). */
  shows: (opened) => call.opened === opened && call.ctx.view() === 'call',
};

const ridPath = () => call.ctx.sitePath(`recordings/${call.entry.rid}`);

// ---- the record ----

function addFact(dl, term, value) {
  dl.append(el('dt', term));
  const dd = el('dd');
  if (value instanceof Node) dd.append(value);
  else dd.textContent = value === undefined || value === null || value === '' ? '—' : printable(typeof value === 'object' ? JSON.stringify(value) : value);
  dl.append(dd);
}

/**
 * Which recorder host's agent shipped the call (its manifest's `shippedBy`): after a failover two
 * hosts ship one site, each numbering its own calls, and only this tells two such calls apart.
 * The agent id in the tooltip and on its own line; a call shipped before agents named themselves
 * (before 2026-12-07) says it is not recorded.
 */
function shippedByFacts(dl, by) {
  if (!by?.host) {
    addFact(dl, 'Shipped by', el('span', 'not recorded (shipped before agents named their host in the manifest)', { className: 'shipped-by' }));
    return;
  }
  addFact(dl, 'Shipped by', el('span', `shipped by ${by.host}`, { className: 'shipped-by', title: by.agentId ? `agent id ${printable(by.agentId)}` : 'agent id not recorded' }));
  addFact(dl, 'Shipping agent id', by.agentId);
}

function renderRecord(entry) {
  const dl = $('record');
  dl.replaceChildren();
  const start = el('span');
  start.append(timeEl(entry.start), ` (${entry.start} UTC)`);
  addFact(dl, 'Recording id', entry.rid);
  addFact(dl, 'Site', entry.site);
  addFact(dl, 'Source', entry.source);
  addFact(dl, 'Start', start);
  addFact(dl, 'Duration', durationText(entry));
  addFact(dl, 'Original path', entry.path);
  addFact(dl, 'Content type', entry.contentType);
  addFact(dl, 'Bytes', entry.length);
  addFact(dl, 'SHA-256', entry.sha256);
  addFact(dl, 'Pack', entry.packKey);
  addFact(dl, 'Offset in pack', entry.offset);
  addFact(dl, 'Manifest', entry.manifestKey);
  shippedByFacts(dl, entry.shippedBy);
  for (const [name, value] of Object.entries(entry.meta ?? {})) addFact(dl, `meta.${name}`, value);
  // What the agent could not read of the recorder's metadata (a start taken from the file's time, …): said, not hidden.
  if (entry.issues?.length) {
    const list = el('ul');
    for (const issue of entry.issues) list.append(el('li', issue));
    addFact(dl, 'Metadata issues', list);
  }
  const shown = new Set(['rid', 'site', 'source', 'start', 'path', 'contentType', 'length', 'sha256', 'packKey', 'offset', 'manifestKey', 'meta', 'archive', 'packId', 'issues', 'shippedBy']);
  for (const [name, value] of Object.entries(entry)) if (!shown.has(name)) addFact(dl, name, value);
}

// ---- play and download ----

async function mint(kind) {
  return call.ctx.api(`${ridPath()}/${kind}-link`, { method: 'POST' });
}

/**
 * The page's Play is a Play/Pause toggle (its label says what a press does; the focus stays on
 * it), so that pausing does not mean Tabbing into the browser's own controls.
 */
function togglePlay() {
  const audio = $('audio');
  if (audio.getAttribute('src') && !audio.paused && !audio.ended) audio.pause();
  else void play();
}

/** The label of the page's Play as the audio plays, pauses or ends. */
function showPlaying() {
  const audio = $('audio');
  if ($('play').getAttribute('aria-busy')) return;
  $('play').textContent = audio.getAttribute('src') && !audio.paused && !audio.ended ? 'Pause' : 'Play';
}

/**
 * The browser's audio controls out of the Tab order and the accessibility tree while there is
 * nothing to play (no link asked for yet, or the call in the archive tier): they were two Tab
 * stops that only said "Unable to play media".
 */
function setAudioReachable() {
  const audio = $('audio');
  audio.inert = !audio.getAttribute('src') || $('play').disabled;
}

async function play() {
  clearError();
  const audio = $('audio');
  // Paused part-way through this call: Play goes on from there (a new link would start at 0:00, and be a second listen).
  const at = audio.getAttribute('src') && !audio.ended && !audio.error ? audio.currentTime : 0;
  if (at > 0 && Date.now() - call.mintedAt < LINK_REUSE_MS) {
    await audio.play().catch(() => undefined);
    return;
  }
  const opened = call.opened;
  try {
    const link = await busy($('play'), 'Asking for a play link…', () => mint('play'));
    // Another call opened meanwhile: this call's audio must not play under its title.
    if (!call.shows(opened)) return;
    call.mintedAt = Date.now();
    audio.src = link.url;
    setAudioReachable();
    if (at > 0) audio.currentTime = at;
    await audio.play().catch(() => undefined); // autoplay may be refused; the controls remain
  } catch (error) {
    if (call.shows(opened)) showError(refusalText('The play link', error));
  }
}

/** The native Play after the link aged: a fresh link, same position. */
async function refreshLinkIfOld() {
  const audio = $('audio');
  if (!audio.getAttribute('src') || Date.now() - call.mintedAt < LINK_REUSE_MS) return;
  const at = audio.currentTime;
  const opened = call.opened;
  try {
    const link = await mint('play');
    if (!call.shows(opened)) return;
    call.mintedAt = Date.now();
    audio.src = link.url;
    audio.currentTime = at;
    await audio.play().catch(() => undefined);
  } catch (error) {
    if (call.shows(opened)) showError(refusalText('The play link', error));
  }
}

async function download() {
  clearError();
  try {
    const link = await busy($('download'), 'Asking for a download link…', () => mint('download'));
    followDownload(link.url);
  } catch (error) {
    showError(refusalText('The download link', error));
  }
}

function audioFailed() {
  const audio = $('audio');
  if (!audio.getAttribute('src')) return;
  const archived = call.entry?.archive && call.entry.archive.state !== 'online' && call.entry.archive.state !== 'restored';
  // The browser says "format error" for a link refused or not reached as well as for audio it cannot decode: say what it may be.
  const why = {
    1: 'the playback was stopped',
    2: 'the replay endpoint could not be reached, or the transfer broke off',
    3: 'this browser could not decode the audio',
    4: 'the replay link was refused or could not be reached (or this browser cannot play the format)',
  }[audio.error?.code];
  showError(archived
    ? 'This call is in the archive tier: it cannot be played until a recall makes it available.'
    : `The recording could not be played${why ? `: ${why}` : ''}${audio.error?.message ? ` (the browser says: ${audio.error.message})` : ''}. Press Play again for a new link; if the call is in the archive tier, request a recall.`);
}

/** The open call as the officer knows it: its call id, else its recording id. */
const callName = () => call.entry.meta?.callId ?? call.entry.rid;

// ---- archive and recall ----

const ARCHIVE_WORDS = {
  online: (a) => `Online (${a.storageClass ?? 'STANDARD'}): plays at once.`,
  archived: (a) => `In the archive tier (${a.storageClass ?? 'DEEP_ARCHIVE'}): request a recall to play it. A recall takes up to 12 hours; you will be told here when it is playable.`,
  restoring: () => 'Recall in progress: the archive is restoring this call’s pack. This page checks by itself.',
  restored: (a) => `Recalled: playable until ${a.availableUntil ? whenText(a.availableUntil) : 'the recall expires'}.`,
};

const RECALL_WORDS = {
  none: () => undefined,
  restoring: (r) => `Recall in progress${r.requestedAt ? ` since ${whenText(r.requestedAt)}` : ''}: the archive is restoring this call’s pack. This page checks by itself.`,
  available: (r) => `Recalled: playable until ${r.availableUntil ? whenText(r.availableUntil) : 'the recall expires'}.`,
  'gave-up': () => 'The recall did not complete (it gave up, or it failed: the notice says why). Request a new recall, or ask an operator to look at the recall workflow.',
};

/** The state shown: a recall's when one was asked for, else the pack's archive state. */
function archiveWords(archive, recall) {
  if (recall?.state && recall.state !== 'none') return { state: recall.state, words: RECALL_WORDS[recall.state]?.(recall) };
  if (!archive) return { state: undefined, words: '' };
  return { state: archive.state, words: ARCHIVE_WORDS[archive.state]?.(archive) ?? `Storage: ${archive.storageClass ?? archive.state}.` };
}

function showArchive(archive, recall) {
  const { state, words } = archiveWords(archive, recall);
  const box = $('archive-state');
  box.textContent = words ?? '';
  box.dataset.state = state ?? 'unknown';
  const playable = !state || ['online', 'restored', 'available'].includes(state);
  $('play').disabled = !playable;
  $('download').disabled = !playable;
  setAudioReachable();
  // No archive state reported (an older API): the recall stays offered, the API judges.
  $('recall').hidden = !(state === 'archived' || state === 'gave-up' || (!archive && !recall));
  if (call.recallState === 'restoring' && (state === 'available' || state === 'restored')) {
    notify(`Call ${callName()} is playable now (recalled from the archive tier).`, { scroll: false });
  }
  call.recallState = state;
  clearTimeout(call.pollTimer);
  if (state === 'restoring') call.pollTimer = setTimeout(() => void refreshArchive(), call.ctx.pollSeconds() * 1000);
}

async function recallState() {
  try {
    return await call.ctx.api(`${ridPath()}/recall`);
  } catch (error) {
    if (error.status === 404 || error.status === 405 || error.status === 501) return undefined; // no state route here
    throw error;
  }
}

/**
 * One poll: the recall state route (it reads no recording, so it is not a search in the audit
 * trail); the record again only where that route is missing, or once the call is playable.
 */
async function refreshArchive() {
  const opened = call.opened;
  try {
    let recall = await recallState();
    let entry = call.entry;
    if (!recall || recall.state === 'available') entry = await call.ctx.api(ridPath());
    if (!call.shows(opened)) return;
    if (recall?.state === 'none') recall = undefined;
    // Just asked: the recall workflow may not have written its status record yet (or the record is
    // still an earlier request's, a minute older or more); keep waiting for it.
    const earlier = recall && call.requestedAt && Date.parse(recall.requestedAt ?? '') < call.requestedAt - 60_000;
    if ((!recall || earlier) && call.requestedAt && Date.now() - call.requestedAt < RECALL_START_GRACE_MS) recall = { state: 'restoring', requestedAt: new Date(call.requestedAt).toISOString() };
    else if (recall) call.requestedAt = undefined;
    call.entry = entry;
    if (!recall && !entry.archive) {
      // An API that reports neither the recall's state nor the pack's tier: say so, stop asking.
      clearTimeout(call.pollTimer);
      $('archive-state').textContent = 'Recall requested. This deployment does not report its progress: the operators’ notice (SNS) says when the call is restored; then press Play.';
      $('archive-state').dataset.state = 'restoring';
      $('play').disabled = false;
      $('download').disabled = false;
      return;
    }
    showArchive(entry.archive, recall);
  } catch (error) {
    if (call.shows(opened)) showError(refusalText('Checking the recall', error));
  }
}

async function requestRecall() {
  clearError();
  const opened = call.opened;
  try {
    const answer = await busy($('recall'), 'Requesting…', () => call.ctx.api(`${ridPath()}/recall`, { method: 'POST' }));
    // Another call opened meanwhile: its state is not this one's (its page asks the recall's state itself).
    if (!call.shows(opened)) return;
    notify(answer.state === 'available' ? 'The call is already available: play it.' : 'Recall requested: the archive tier is restoring the call. You will be told here when it is playable.');
    call.recallState = 'restoring';
    call.requestedAt = Date.now();
    showArchive(call.entry.archive, { state: answer.state ?? 'restoring', requestedAt: answer.requestedAt ?? new Date().toISOString(), availableUntil: answer.availableUntil });
    // Request recall hides once asked: the focus goes to the recall's state, where its progress is said.
    focusIfLost('archive-state');
  } catch (error) {
    if (call.shows(opened)) showError(refusalText('The recall', error));
  }
}

// ---- SHA-256 ----

async function copyHash() {
  const state = $('copy-state');
  try {
    await navigator.clipboard.writeText(call.entry.sha256);
    state.textContent = 'Copied.';
  } catch {
    // No clipboard permission (an http page, a policy): select the text for Ctrl+C instead.
    getSelection()?.selectAllChildren($('sha256'));
    state.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
  }
}

// ---- the view ----

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $('play').addEventListener('click', togglePlay);
  for (const name of ['play', 'pause', 'ended', 'emptied']) $('audio').addEventListener(name, showPlaying);
  $('audio').addEventListener('play', () => void refreshLinkIfOld());
  $('audio').addEventListener('error', audioFailed);
  $('download').addEventListener('click', () => void download());
  // The speed chosen stays for the next call opened (a new source plays at the default rate): scoring calls one after the other at 1.5×.
  $('speed').addEventListener('change', () => {
    const audio = $('audio');
    audio.defaultPlaybackRate = audio.playbackRate = Number($('speed').value);
  });
  // Chosen from the audio control's own menu: the list says it when it offers that speed.
  $('audio').addEventListener('ratechange', () => {
    const option = [...$('speed').options].find((o) => Number(o.value) === $('audio').playbackRate);
    if (option) $('speed').value = option.value;
  });
  $('recall').addEventListener('click', () => void requestRecall());
  $('copy-sha').addEventListener('click', () => void copyHash());
  wireHolds(call);
  // Once erased, the call is opened again: it answers 410, which the page says.
  $('erase-open').addEventListener('click', () => askErasure(call.ctx, call.entry, () => openCall(call.ctx, call.entry.rid)));
  wireSteps(call);
}

export async function openCall(ctx, rid) {
  wire();
  call.ctx = ctx;
  call.rid = rid;
  // The call asked for before this one may answer later (a slow network, Next call pressed twice): dropped then.
  const opened = ++call.opened;
  showSteps(call, rid);
  clearTimeout(call.pollTimer);
  const audio = $('audio');
  audio.pause();
  audio.removeAttribute('src');
  audio.load();
  audio.inert = true;
  $('call-body').hidden = true;
  $('call-loading').hidden = false;
  $('call-loading').textContent = 'Loading the call…';
  $('call-title').textContent = 'Call';
  $('call-summary').textContent = '';
  $('copy-state').textContent = '';
  call.recallState = undefined;
  call.requestedAt = undefined;
  let entry;
  try {
    entry = await ctx.api(ctx.sitePath(`recordings/${encodeURIComponent(rid)}`));
  } catch (error) {
    if (!call.shows(opened)) return;
    // 410: erased at a data subject's request; the API's message says by whom and when.
    $('call-loading').textContent = error.status === 410 ? 'This call was erased at a data subject’s request: it is no longer served.' : 'The call could not be loaded.';
    showError(refusalText('Opening the call', error));
    return;
  }
  if (!call.shows(opened)) return;
  call.entry = entry;
  const meta = entry.meta ?? {};
  $('call-title').textContent = `Call ${printable(meta.callId ?? entry.rid)}`;
  $('audio').setAttribute('aria-label', `Recording of call ${printable(meta.callId ?? entry.rid)}`);
  setSummary($('call-summary'), { start: whenText(entry.start), agent: meta.agent, caller: meta.caller, called: meta.called, rest: [meta.direction, durationText(entry)] });
  $('sha256').textContent = entry.sha256;
  renderRecord(entry);
  $('call-loading').hidden = true;
  $('call-body').hidden = false;
  const recall = await recallState().catch(() => undefined);
  if (!call.shows(opened)) return;
  showArchive(entry.archive, recall);
  // Holds and cases are the site's officers' (the API refuses them to a listener): not asked for, not shown.
  if (!ctx.listener()) await Promise.all([loadHolds(), loadCaseOptions(ctx, $('call-case'))]);
}
