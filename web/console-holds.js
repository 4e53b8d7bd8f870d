// The legal holds of the call open, and its cases: the holds in force on it (its own and its
// cases'), a hold placed or released with a reason (the one chosen where it is held for several
// matters), the call added to a case. The call open is console-call.js's, read as a form is sent.

import { refusalText } from './console-api.js';
import { $, busy, clearError, el, fieldError, focusIfLost, notify, reportFailure, required, whenText } from './console-ui.js';

/** console-call.js's call open: `{ ctx, entry }`. */
let open;

/** A call as the officer knows it: its call id, else its recording id. */
const callName = (entry) => entry.meta?.callId ?? entry.rid;

function holdText(hold) {
  const scope = hold.scope?.kind === 'case' ? `as a member of case ${hold.scope.caseId}` : 'on this call';
  const by = hold.placedBy ? ` by ${hold.placedBy}` : '';
  const since = hold.placedAt ? ` since ${whenText(hold.placedAt)}` : '';
  const ref = hold.reference ? ` (reference ${hold.reference})` : '';
  return `Held ${scope}${since}${by}: ${hold.reason}${ref}`;
}

/** The holds in force on the call open, and whether the release form is offered. */
export async function loadHolds() {
  const list = $('holds-list');
  const status = $('holds-state');
  list.replaceChildren();
  status.textContent = 'Loading holds…';
  const { opened, entry } = open;
  try {
    const answer = await open.ctx.api(open.ctx.sitePath('holds'), { query: { rid: entry.rid } });
    // Another call opened meanwhile: these holds are not its holds.
    if (!open.shows(opened)) return;
    const holds = (answer.items ?? answer.active ?? []).filter((h) => !h.releasedAt && (!h.rid || h.rid === entry.rid));
    for (const hold of holds) list.append(el('li', holdText(hold)));
    status.textContent = holds.length ? `ON HOLD: ${holds.length} active hold${holds.length === 1 ? '' : 's'}; the call cannot be deleted.` : 'Not on hold.';
    status.dataset.held = String(holds.length > 0);
    // Only a hold placed on this call itself is released here; a case's hold is released on the case.
    const own = holds.filter((h) => h.scope?.kind !== 'case');
    $('release-form').hidden = own.length === 0;
    // Held for several matters: the officer chooses which one ends (each is released on its own).
    $('release-which').replaceChildren(...own.map((h) => el('option', holdText(h), { value: h.reference ?? '' })));
    $('release-which-field').hidden = own.length < 2;
  } catch (error) {
    if (open.shows(opened)) status.textContent = refusalText('The holds', error);
  }
}

/**
 * After a hold's form was answered: said naming the call it was sent for, and, when that call is
 * still the one open (another may be open by now: a slow network), its form emptied and its holds read again.
 */
async function answered(opened, message, fields) {
  notify(message);
  if (!open.shows(opened)) return false;
  for (const id of fields) $(id).value = '';
  await loadHolds();
  return true;
}

async function placeHold(event) {
  event.preventDefault();
  clearError();
  const { opened, entry } = open;
  try {
    const reason = required('hold-reason', 'The reason for the hold');
    const reference = $('hold-reference').value.trim();
    await busy(event.submitter, 'Placing…', () => open.ctx.api(open.ctx.sitePath('holds'), { method: 'POST', body: { rid: entry.rid, reason, ...(reference ? { reference } : {}) } }));
    await answered(opened, `Hold placed on call ${callName(entry)}.`, ['hold-reason', 'hold-reference']);
  } catch (error) {
    reportFailure('Placing the hold', error, event.target);
  }
}

async function releaseHold(event) {
  event.preventDefault();
  clearError();
  const { opened, entry } = open;
  try {
    const reason = required('release-reason', 'The reason for the release');
    const reference = $('release-which-field').hidden ? '' : $('release-which').value;
    await busy(event.submitter, 'Releasing…', () => open.ctx.api(open.ctx.sitePath('holds/release'), { method: 'POST', body: { rid: entry.rid, reason, ...(reference ? { reference } : {}) } }));
    // The release form hides with the call's last own hold: the focus goes to what the call's holds are now.
    if (await answered(opened, `Hold released on call ${callName(entry)}.`, ['release-reason'])) focusIfLost('holds-state');
  } catch (error) {
    reportFailure('Releasing the hold', error, event.target);
  }
}

async function addToCase(event) {
  event.preventDefault();
  clearError();
  const caseId = $('call-case').value;
  if (!caseId) {
    fieldError($('call-case'), 'Choose the case to add this call to.');
    return;
  }
  const { opened, entry } = open;
  try {
    // Busy while it runs (a slow network): a second press would send the call again.
    await busy(event.submitter, 'Adding…', () => open.ctx.api(open.ctx.sitePath(`cases/${encodeURIComponent(caseId)}/calls`), { method: 'POST', body: { rids: [entry.rid] } }));
    await answered(opened, `Call ${callName(entry)} added to case ${caseId}.`, []);
  } catch (error) {
    reportFailure(`Adding the call to case ${caseId}`, error, event.target);
  }
}

/** The hold, release and add-to-case forms of `call` (console-call.js's, read as a form is sent), once. */
export function wireHolds(call) {
  open = call;
  $('hold-form').addEventListener('submit', (e) => void placeHold(e));
  $('release-form').addEventListener('submit', (e) => void releaseHold(e));
  $('call-case-form').addEventListener('submit', (e) => void addToCase(e));
}
