// Cases (a named set of calls with a reason and a reference): list, create, show one with its
// calls, hold or release the whole case; and exports (a case or chosen calls → one bundle),
// polled until done, then the bundle's link, its SHA-256 and the command that verifies it.

import { refusalText } from './console-api.js';
import { printable } from './shared.js';
import { $, busy, bytesText, cell, clearError, el, notify, reportFailure, required, showError, timeEl, whenText } from './console-ui.js';

const casesState = { ctx: undefined, current: undefined, exportTimer: undefined, exportId: undefined, exportCtx: undefined, exportPath: undefined, exportStatus: undefined, listed: 0, opened: 0 };

/**
 * Whether the answer of the list read `listed` (or the case read `opened`) is still for what the
 * view shows: another case opened, another site, another view or a sign-out since drops it.
 */
const stillShown = (ctx, key, n) => casesState[key] === n && ctx.view() === 'cases';
/** A download link this close to its end (it lives 300 s) is asked for anew before it is followed. */
const LINK_MARGIN_MS = 15_000;

const caseIdOf = (c) => c.case ?? c.caseId;
/** A count as officers read it: 3,200. */
const count = (n) => Number(n).toLocaleString('en-GB');
const callsOf = (c) => (Array.isArray(c.calls) ? c.calls : Array.isArray(c.members) ? c.members : undefined);

async function listCases(ctx) {
  const answer = await ctx.api(ctx.sitePath('cases'));
  return answer.items ?? [];
}

/** The last read of each <select>'s cases: an earlier one answering after it, or after another site was chosen, is dropped. */
const optionReads = new WeakMap();

/** Fills a <select> with the site's cases (first option kept: "Choose a case…"). */
export async function loadCaseOptions(ctx, select) {
  const keep = select.value;
  const mine = (optionReads.get(select) ?? 0) + 1;
  optionReads.set(select, mine);
  const site = ctx.site();
  try {
    const cases = await listCases(ctx);
    if (optionReads.get(select) !== mine || ctx.site() !== site) return;
    select.replaceChildren(select.options[0], ...cases.map((c) => el('option', `${caseIdOf(c)}${c.reason ? ` — ${c.reason}` : ''}`, { value: caseIdOf(c) })));
    select.value = keep;
  } catch {
    // The list is a convenience: the case view says why it could not be read.
  }
}

async function renderCases(ctx) {
  const tbody = $('cases').tBodies[0];
  const status = $('cases-status');
  status.textContent = 'Loading cases…';
  const listed = ++casesState.listed;
  try {
    const cases = await listCases(ctx);
    if (!stillShown(ctx, 'listed', listed)) return;
    tbody.replaceChildren();
    for (const c of cases) {
      const row = tbody.insertRow();
      const link = el('a', caseIdOf(c), { href: `#${new URLSearchParams({ site: ctx.site(), view: 'cases', case: caseIdOf(c) })}` });
      cell(row, link);
      cell(row, c.reason);
      cell(row, c.reference);
      const calls = callsOf(c);
      cell(row, typeof c.calls === 'number' ? c.calls : calls?.length ?? 0, 'num');
      cell(row, c.held ? 'ON HOLD' : 'no', c.held ? 'held' : undefined);
      cell(row, timeEl(c.createdAt));
      cell(row, c.createdBy);
    }
    status.textContent = cases.length ? `${cases.length} case${cases.length === 1 ? '' : 's'} in site ${ctx.site()}.` : `No cases in site ${ctx.site()} yet: create one below.`;
  } catch (error) {
    if (!stillShown(ctx, 'listed', listed)) return;
    status.textContent = 'The cases could not be loaded.';
    showError(refusalText('Listing the cases', error));
  }
}

function caseSummary(c, caseId) {
  const parts = [c.name && c.name !== caseId ? c.name : undefined, `reason: ${c.reason ?? '—'}`, c.reference ? `reference ${c.reference}` : undefined];
  if (c.createdAt) parts.push(`created ${whenText(c.createdAt)}`);
  if (c.createdBy) parts.push(`by ${c.createdBy}`);
  return printable(parts.filter(Boolean).join(' · '));
}

/** A member's storage as an officer reads it: archived calls stand out, as they cannot be played or exported. */
function storageText(call, gone) {
  if (gone) return 'Not in the archive (deleted by retention)';
  const a = call?.archive;
  if (!a) return '—';
  if (a.state === 'archived') return `ARCHIVED (${a.storageClass}): recall before export`;
  if (a.state === 'restoring') return `ARCHIVED (${a.storageClass}): recall in progress`;
  if (a.state === 'restored') return `Recalled (${a.storageClass}): playable${a.availableUntil ? ` until ${whenText(a.availableUntil)}` : ''}`;
  return `Online (${a.storageClass})`;
}

/** Columns: call, held, start (the page's zone), site, agent, storage; an older API gives ids only. */
function addMemberRow(ctx, tbody, member, c) {
  const rid = typeof member === 'string' ? member : member.rid;
  const call = c.memberCalls?.[rid] ?? (typeof member === 'object' ? { ...member, callId: member.meta?.callId, agent: member.meta?.agent } : undefined);
  const row = tbody.insertRow();
  row.dataset.rid = rid;
  cell(row, el('a', call?.callId ? `${call.callId} (${rid})` : rid, { href: `#${new URLSearchParams({ site: ctx.site(), view: 'call', rid })}` }));
  const active = c.memberHolds?.[rid]?.length ?? (typeof member === 'object' && member.held ? 1 : 0);
  cell(row, active ? `ON HOLD (${active})` : 'no');
  cell(row, timeEl(call?.start));
  cell(row, call?.site ?? '—');
  cell(row, call?.agent ?? '—');
  const archived = call?.archive && call.archive.state !== 'online' && call.archive.state !== 'restored';
  cell(row, storageText(call, (c.gone ?? []).includes(rid)), archived ? 'held' : undefined);
  return Boolean(archived);
}

/** How many members are archived: said above the export, which is refused on the first of them. */
function showArchivedCount(calls, archived) {
  const p = $('case-archived');
  p.hidden = archived === 0;
  p.textContent = archived ? `${count(archived)} of ${count(calls)} call${calls === 1 ? '' : 's'} of this case ${archived === 1 ? 'is' : 'are'} archived: an export is refused until ${archived === 1 ? 'it is' : 'they are'} recalled (open the call, Request recall).` : '';
}

async function renderCase(ctx, caseId) {
  const panel = $('case-detail');
  panel.hidden = false;
  $('case-title').textContent = `Case ${caseId}`;
  $('case-summary').textContent = 'Loading the case…';
  const tbody = $('case-calls').tBodies[0];
  tbody.replaceChildren();
  $('case-archived').hidden = true;
  // The case the forms under its title act on from now on (a hold, an export), whatever answers later.
  casesState.current = caseId;
  const opened = ++casesState.opened;
  try {
    const c = await ctx.api(ctx.sitePath(`cases/${encodeURIComponent(caseId)}`));
    if (!stillShown(ctx, 'opened', opened)) return;
    $('case-summary').textContent = caseSummary(c, caseId);
    const held = c.held && typeof c.held === 'object' ? c.held : c.held ? {} : undefined;
    // A release cut short (the page closed, the network lost) leaves the case held, saying how far it went.
    const releasing = held && c.releasing ? ` Release under way (${c.releasing.by ?? '?'}): ${count(c.releasing.done)} of ${count(callsOf(c)?.length ?? 0)} calls released; release the case again to finish.` : '';
    $('case-hold').textContent = printable(held ? `ON HOLD${held.at ? ` since ${whenText(held.at)}` : ''}${held.by ? ` by ${held.by}` : ''}${held.reason ? `: ${held.reason}` : ''}${releasing}` : 'Not on hold as a case.');
    $('case-hold').dataset.held = String(Boolean(held));
    const calls = callsOf(c) ?? [];
    let archived = 0;
    for (const member of calls) archived += addMemberRow(ctx, tbody, member, c) ? 1 : 0;
    showArchivedCount(calls.length, archived);
    if (calls.length === 0) cell(tbody.insertRow(), 'No calls in this case yet: add them from a call or from the search results.').colSpan = 6;
  } catch (error) {
    if (!stillShown(ctx, 'opened', opened)) return;
    $('case-summary').textContent = 'The case could not be loaded.';
    showError(refusalText(`Opening case ${caseId}`, error));
  }
}

async function createCase(event) {
  event.preventDefault();
  clearError();
  const ctx = casesState.ctx;
  try {
    const name = required('case-name', 'The case name');
    const reason = required('case-reason', 'The reason');
    const caseId = $('case-id').value.trim();
    const reference = $('case-reference').value.trim();
    const body = { name, reason, ...(caseId ? { caseId } : {}), ...(reference ? { reference } : {}) };
    const [site, signOuts] = [ctx.site(), ctx.signOuts()];
    const created = await busy(event.submitter, 'Creating…', () => ctx.api(ctx.sitePath('cases'), { method: 'POST', body }));
    if (signOuts !== ctx.signOuts()) return;
    for (const id of ['case-name', 'case-id', 'case-reason', 'case-reference']) $(id).value = '';
    notify(`Case ${caseIdOf(created)} created.`);
    // Opened where the officer still is (the cases of that site): one who moved on meanwhile is not taken back.
    if (ctx.view() === 'cases' && ctx.site() === site) ctx.navigate({ view: 'cases', case: caseIdOf(created) });
  } catch (error) {
    reportFailure('Creating the case', error, event.target);
  }
}

async function holdCase(event, release) {
  event.preventDefault();
  clearError();
  const ctx = casesState.ctx;
  const caseId = casesState.current;
  try {
    const reason = required(release ? 'case-release-reason' : 'case-hold-reason', release ? 'The reason for the release' : 'The reason for the hold');
    const reference = release ? '' : $('case-hold-reference').value.trim();
    const body = { caseId, reason, ...(reference ? { reference } : {}) };
    const button = event.submitter;
    const out = await busy(button, release ? 'Releasing…' : 'Placing…', async () => {
      const path = ctx.sitePath(release ? 'holds/release' : 'holds');
      let answer = await ctx.api(path, { method: 'POST', body });
      // A large case is held, and released, a part at a time (202 with `remaining`; a case being
      // released is still held): asked again until it is on hold, or released.
      while (answer?.held === release && answer.remaining > 0) {
        button.textContent = release ? `Releasing… released ${count(answer.members - answer.remaining)} of ${count(answer.members)} calls…` : `Placing… ${answer.remaining} call${answer.remaining === 1 ? '' : 's'} to go`;
        answer = await ctx.api(path, { method: 'POST', body });
      }
      return answer;
    });
    for (const id of ['case-hold-reason', 'case-hold-reference', 'case-release-reason']) $(id).value = '';
    // Members retention deleted before the hold cannot be held: said, not hidden behind "every call".
    const gone = out?.gone?.length ? ` ${out.gone.length} call(s) of the case were already deleted by retention and cannot be held: ${out.gone.join(', ')}.` : '';
    notify(release ? `Hold released on case ${caseId}.` : gone ? `Hold placed on case ${caseId}: every call still in the archive is held.${gone}` : `Hold placed on case ${caseId}: every call of the case is held.`);
    // Another case opened meanwhile (a slow network): that one stays shown, the list says the hold.
    const open = casesState.current === caseId && ctx.view() === 'cases';
    await Promise.all([open ? renderCase(ctx, caseId) : undefined, renderCases(ctx)]);
  } catch (error) {
    reportFailure(release ? `Releasing case ${caseId}` : `Holding case ${caseId}`, error, event.target);
  }
}

// ---- exports ----

const EXPORT_WORDS = { running: 'Export running: the bundle is being written…', done: 'Export done: the bundle is ready.', failed: 'Export FAILED.' };

function renderExport(status) {
  casesState.exportStatus = status;
  wireDownload();
  $('export-panel').hidden = false;
  const state = $('export-state');
  state.textContent = printable(`${EXPORT_WORDS[status.state] ?? `Export ${status.state}`}${status.error ? ` ${status.error}` : ''}`);
  state.dataset.state = status.state;
  const dl = $('export-facts');
  dl.replaceChildren();
  const fact = (term, value) => dl.append(el('dt', term), el('dd', value ?? '—'));
  fact('Export', status.exportId);
  fact('Calls', status.calls);
  fact('Size', bytesText(status.bytes));
  if (status.sha256) fact('Bundle SHA-256', status.sha256);
  if (status.expiresAt) fact('Link valid until', whenText(status.expiresAt));
  const link = $('export-download');
  link.hidden = !(status.state === 'done' && status.url);
  if (status.url) link.href = status.url;
  $('export-verify').hidden = status.state !== 'done';
  $('export-command').textContent = `ferry case verify BUNDLE.tar${status.sha256 ? ` --sha256 ${status.sha256}` : ''}`;
}

let downloadWired = false;

function wireDownload() {
  if (downloadWired) return;
  downloadWired = true;
  $('export-download').addEventListener('click', (e) => void freshDownload(e));
}

/**
 * Follows the bundle's link, or, when the one shown has expired (or is about to: an officer
 * who paused for a few minutes), asks the export's status for a new one first. The page never
 * hands the browser a dead link that would replace the console with the store's error.
 */
async function freshDownload(event) {
  const status = casesState.exportStatus;
  const ctx = casesState.exportCtx;
  if (!status || !ctx || !status.expiresAt || Date.parse(status.expiresAt) - Date.now() > LINK_MARGIN_MS) return;
  event.preventDefault();
  clearError();
  try {
    const fresh = await ctx.api(casesState.exportPath);
    renderExport(fresh);
    if (fresh.state === 'done' && fresh.url) window.location.assign(fresh.url);
    else showError(`The bundle of export ${status.exportId} cannot be downloaded any more (${fresh.state}${fresh.error ? `: ${fresh.error}` : ''}).`);
  } catch (error) {
    showError(refusalText('Asking for a new download link', error));
  }
}

async function pollExport(ctx, exportId) {
  clearTimeout(casesState.exportTimer);
  if (casesState.exportId !== exportId) return;
  try {
    // The export's own site: another site chosen since does not hold it (it would answer 404).
    const status = await ctx.api(casesState.exportPath);
    if (casesState.exportId !== exportId) return;
    renderExport(status);
    if (status.state === 'running') casesState.exportTimer = setTimeout(() => void pollExport(ctx, exportId), ctx.pollSeconds() * 1000);
    else notify(status.state === 'done' ? `Export ${exportId} is ready to download.` : `Export ${exportId} failed.`, { scroll: false });
  } catch (error) {
    if (casesState.exportId === exportId) showError(refusalText('Checking the export', error));
  }
}

/** POST exports `{ caseId | rids, reason }`, then poll its state until done or failed; a refusal is said beside `near`. */
export async function startExport(ctx, body, near) {
  clearError();
  const what = body.caseId ? `case ${body.caseId}` : `${body.rids.length} selected call${body.rids.length === 1 ? '' : 's'}`;
  const signOuts = ctx.signOuts();
  const exports = ctx.sitePath('exports');
  try {
    const answer = await ctx.api(exports, { method: 'POST', body });
    // Signed out meanwhile: the export is the officer's who started it, not followed for the next one.
    if (signOuts !== ctx.signOuts()) return;
    casesState.exportId = answer.exportId;
    casesState.exportCtx = ctx;
    casesState.exportPath = `${exports}/${encodeURIComponent(answer.exportId)}`;
    renderExport({ ...answer, state: answer.state ?? 'running' });
    notify(`Export of ${what} started.`);
    $('export-panel').scrollIntoView({ block: 'nearest' });
    casesState.exportTimer = setTimeout(() => void pollExport(ctx, answer.exportId), Math.min(1000, ctx.pollSeconds() * 1000));
  } catch (error) {
    if (signOuts === ctx.signOuts()) reportFailure(`The export of ${what}`, error, near);
  }
}

/** Signed out: the cases, the case open and the export followed are the signed-out officer's: nothing of them stays, and an answer on its way is dropped. */
export function forgetCases() {
  clearTimeout(casesState.exportTimer);
  const { listed, opened } = casesState;
  Object.assign(casesState, { current: undefined, exportId: undefined, exportCtx: undefined, exportPath: undefined, exportStatus: undefined, listed: listed + 1, opened: opened + 1 });
  for (const id of ['cases', 'case-calls']) $(id).tBodies[0].replaceChildren();
  for (const id of ['cases-status', 'case-summary', 'case-hold', 'export-state', 'export-command']) $(id).textContent = '';
  $('export-facts').replaceChildren();
  $('export-download').setAttribute('href', '#');
  $('case-detail').hidden = true;
  $('export-panel').hidden = true;
}

async function exportCase(event) {
  event.preventDefault();
  clearError();
  try {
    const reason = required('export-case-reason', 'The reason for the export');
    await busy(event.submitter, 'Starting…', () => startExport(casesState.ctx, { caseId: casesState.current, reason }, event.target));
    $('export-case-reason').value = '';
  } catch (error) {
    reportFailure('The export', error, event.target);
  }
}

let wired = false;

export async function openCases(ctx, caseId) {
  casesState.ctx = ctx;
  if (!wired) {
    wired = true;
    $('case-form').addEventListener('submit', (e) => void createCase(e));
    $('case-hold-form').addEventListener('submit', (e) => void holdCase(e, false));
    $('case-release-form').addEventListener('submit', (e) => void holdCase(e, true));
    $('export-case-form').addEventListener('submit', (e) => void exportCase(e));
  }
  $('case-detail').hidden = !caseId;
  // The list alone: no case is open (its answer, if one is on its way, is dropped; a hold ended meanwhile does not open it again).
  if (!caseId) Object.assign(casesState, { current: undefined, opened: casesState.opened + 1 });
  await Promise.all([renderCases(ctx), caseId ? renderCase(ctx, caseId) : Promise.resolve()]);
}
