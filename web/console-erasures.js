// Erasure at a data subject's request: the call page's action (a modal dialog that says what
// erasure does and that it cannot be undone; the reason required, the request's reference
// optional) and the site's list of requests, pending and done. The API decides
// (core/erasures.ts): refused while any legal hold stands (409, naming the hold) or when the call
// is not catalogued (404); that reason is the notice. The API audits every request (`erase`).

import { refusalText, SignedOutError } from './console-api.js';
import { $, busy, cell, clearError, clearFieldError, el, focusIfLost, notify, required, showError, timeEl, whenText } from './console-ui.js';

const erase = { ctx: undefined, entry: undefined, done: undefined };

/** The call as the officer knows it: its call id, else its recording id. */
const nameOf = (entry) => entry.meta?.callId ?? entry.rid;

let wired = false;

function wire() {
  if (wired) return;
  wired = true;
  $('erase-form').addEventListener('submit', (e) => void submitErasure(e));
  $('erase-cancel').addEventListener('click', () => $('erase-dialog').close());
}

/** Opens the confirmation for `entry` (a call's catalogue entry); `done` runs once a request stands (the call page reloads). */
export function askErasure(ctx, entry, done) {
  wire();
  Object.assign(erase, { ctx, entry, done });
  $('erase-dialog-title').textContent = `Erase call ${nameOf(entry)} at the data subject's request`;
  $('erase-reason').value = '';
  $('erase-reference').value = '';
  clearFieldError($('erase-reason'));
  $('erase-dialog').showModal();
  $('erase-reason').focus();
}

/** What the notice says once the API answered 201 (recorded) or 200 (a request stood already). */
function recordedText(name, answer) {
  const e = answer.erasure;
  if (answer.existing) return `Call ${name} already had an erasure request (by ${e.requestedBy}, ${whenText(e.requestedAt)}${e.reference ? `, reference ${e.reference}` : ''}): it stands, nothing new was recorded.`;
  return `Call ${name} erased at the data subject's request${e.reference ? ` (reference ${e.reference})` : ''}: it is no longer served, and the next purge deletes its recording.`;
}

async function submitErasure(event) {
  event.preventDefault();
  const { ctx, entry } = erase;
  let reason;
  try {
    reason = required('erase-reason', 'The reason for the erasure');
  } catch {
    return; // said at the field, which has the focus
  }
  const reference = $('erase-reference').value.trim();
  clearError();
  const name = nameOf(entry);
  let answer;
  try {
    answer = await busy($('erase-confirm'), 'Erasing…', () => ctx.api(ctx.sitePath('erasures'), { method: 'POST', body: { rid: entry.rid, reason, ...(reference ? { reference } : {}) } }));
  } catch (error) {
    $('erase-dialog').close();
    if (error instanceof SignedOutError) return;
    // The API's reason is what the officer acts on (which hold to have released; a call already purged): the notice says it.
    notify(refusalText(`Erasing call ${name}`, error));
    return;
  }
  $('erase-dialog').close();
  notify(recordedText(name, answer));
  await erase.done?.();
  // The call's page now says it is erased (its body hidden, the Erase button with it): the focus goes to what happened.
  focusIfLost('notice');
}

// ---- the site's requests ----

function statusText(e) {
  return e.status === 'done' ? `done ${e.doneAt ? whenText(e.doneAt) : ''}`.trim() : 'pending';
}

function addRow(tbody, e) {
  const row = tbody.insertRow();
  row.dataset.rid = e.rid;
  const what = el('span');
  what.append(el('span', e.call ?? ''), el('br'), el('code', e.rid, { className: 'hash' }));
  cell(row, what, 'wrap');
  cell(row, statusText(e)).dataset.status = e.status;
  cell(row, e.requestedBy, 'wrap');
  cell(row, timeEl(e.requestedAt));
  cell(row, e.reference);
  cell(row, e.reason, 'wrap');
}

/** The erasures view: every request of the site, newest first. */
export async function openErasures(ctx) {
  const status = $('erasures-status');
  const tbody = $('erasures').tBodies[0];
  const site = ctx.site();
  tbody.replaceChildren();
  status.textContent = 'Reading the erasure requests…';
  try {
    const answer = await ctx.api(ctx.sitePath('erasures'));
    if (site !== ctx.site()) return;
    const items = [...(answer.items ?? [])].sort((a, b) => b.requestedAt.localeCompare(a.requestedAt));
    for (const e of items) addRow(tbody, e);
    const pending = items.filter((e) => e.status !== 'done').length;
    status.textContent = items.length === 0 ? 'No erasure requests for this site.' : `${items.length} request${items.length === 1 ? '' : 's'}: ${pending} pending, ${items.length - pending} done.`;
  } catch (error) {
    if (error instanceof SignedOutError || site !== ctx.site()) return;
    status.textContent = 'The erasure requests could not be read.';
    showError(refusalText('Reading the erasure requests', error));
  }
}
