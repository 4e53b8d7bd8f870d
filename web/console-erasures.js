// Erasure at a data subject's request: the call page's action (a modal dialog that says what
// erasure does and that it cannot be undone; the reason required, the request's reference
// optional) and the site's list of requests, pending and done (or one of them: Status). The API decides
// (core/erasures.ts): refused while any legal hold stands (409, naming the hold) or when the call
// is not catalogued (404); that reason is the notice. The API audits every request (`erase`).

import { refusalText, SignedOutError } from './console-api.js';
import { printable } from './shared.js';
import { $, busy, cell, clearError, clearFieldError, el, focusIfLost, notify, required, showError, timeEl, whenText } from './console-ui.js';

const erase = { ctx: undefined, entry: undefined, done: undefined };

/** The call as the officer knows it: its call id, else its recording id. */
const nameOf = (entry) => printable(entry.meta?.callId ?? entry.rid);

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
  const signOuts = ctx.signOuts();
  let answer;
  try {
    answer = await busy($('erase-confirm'), 'Erasing…', () => ctx.api(ctx.sitePath('erasures'), { method: 'POST', body: { rid: entry.rid, reason, ...(reference ? { reference } : {}) } }));
  } catch (error) {
    $('erase-dialog').close();
    if (error instanceof SignedOutError || signOuts !== ctx.signOuts()) return;
    // The API's reason is what the officer acts on (which hold to have released; a call already purged): the notice says it.
    notify(refusalText(`Erasing call ${name}`, error));
    return;
  }
  $('erase-dialog').close();
  // Signed out meanwhile: the call and its erasure are not said to the next officer at the desk.
  if (signOuts !== ctx.signOuts()) return;
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

/** Requests a page of the view shows: the newest first, Show more appends the next ones. */
export const ERASURES_VIEW_PAGE = 50;

/** The states the view can be filtered to (the API's `status`); '' is every request. */
const STATUSES = ['', 'pending', 'done'];

/** The view's listing: the site it is of, the state it is filtered to, the next page's cursor, the rids shown, what each state counts. */
const listing = { site: undefined, status: '', cursor: undefined, shown: new Set(), pending: 0, done: 0, generation: 0 };

/** What the status line says of a list filtered to one state: how many of it are shown, whether older ones follow, that the others are not shown. */
function filteredText(n, status) {
  const others = `${status === 'pending' ? 'Done' : 'Pending'} requests are not shown.`;
  if (n === 0) return `No ${status} erasure requests for this site. ${others}`;
  const counts = `${n} ${status} request${n === 1 ? '' : 's'}`;
  if (!listing.cursor) return `${counts}, newest first. ${others}`;
  return `${counts} shown, newest first; older ${status} requests follow: Show more lists them. ${others}`;
}

function listingText() {
  const n = listing.shown.size;
  if (listing.status) return filteredText(n, listing.status);
  if (n === 0) return 'No erasure requests for this site.';
  const counts = `${n} request${n === 1 ? '' : 's'}`;
  if (!listing.cursor) return `${counts}: ${listing.pending} pending, ${listing.done} done.`;
  return `${counts} shown, newest first (${listing.pending} pending, ${listing.done} done); older requests follow: Show more lists them.`;
}

/** Appends a page's requests (one the view shows already is not shown twice) and says where the list stands. */
function appendPage(tbody, answer) {
  for (const e of answer.items ?? []) {
    if (listing.shown.has(e.rid)) continue;
    listing.shown.add(e.rid);
    if (e.status === 'done') listing.done++;
    else listing.pending++;
    addRow(tbody, e);
  }
  listing.cursor = answer.cursor;
  $('erasures-more').hidden = !listing.cursor;
  $('erasures-status').textContent = listingText();
}

/** Reads the next page (the first without a cursor); false when the answer came too late (another site, the view opened again). */
async function readPage(ctx) {
  const mine = listing.generation;
  // The filter goes with every page: a cursor says where to go on, not which requests.
  const query = { limit: String(ERASURES_VIEW_PAGE), ...(listing.status ? { status: listing.status } : {}), ...(listing.cursor ? { cursor: listing.cursor } : {}) };
  const answer = await ctx.api(ctx.sitePath('erasures'), { query });
  if (mine !== listing.generation || listing.site !== ctx.site()) return false;
  appendPage($('erasures').tBodies[0], answer);
  return true;
}

async function showMore(ctx) {
  const button = $('erasures-more');
  if (!listing.cursor || button.getAttribute('aria-busy') === 'true') return;
  clearError();
  try {
    await busy(button, 'Reading more…', () => readPage(ctx));
  } catch (error) {
    if (error instanceof SignedOutError) return;
    showError(refusalText('Reading more erasure requests', error));
  }
  // The last page read: the button is gone, the focus goes to what the list now says.
  focusIfLost('erasures-status');
}

/**
 * The Status filter chosen: the list read again from its first page, the entry's address saying
 * it (`status=pending`) so that a reload or a bookmark shows the same. The entry is replaced, not
 * added: the arrow keys choose each state they pass over, and Back would step through them.
 */
function chooseStatus(ctx) {
  const status = $('erasures-filter').value;
  ctx.keep({ status });
  void openErasures(ctx, status);
}

let wiredControls = false;

function wireControls(ctx) {
  if (wiredControls) return;
  wiredControls = true;
  $('erasures-more').addEventListener('click', () => void showMore(ctx));
  $('erasures-filter').addEventListener('change', () => chooseStatus(ctx));
}

/** Starts the list again (another site, another filter, the view opened anew): an answer for the list before is dropped. */
function resetListing(site, status) {
  Object.assign(listing, { site, status, cursor: undefined, shown: new Set(), pending: 0, done: 0, generation: listing.generation + 1 });
  $('erasures').tBodies[0].replaceChildren();
  $('erasures-more').hidden = true;
}

/** The erasures view: the site's requests (all, or `status`: pending or done only), newest first, a page at a time. */
export async function openErasures(ctx, status = '') {
  wireControls(ctx);
  const line = $('erasures-status');
  const known = STATUSES.includes(status);
  resetListing(ctx.site(), known ? status : '');
  $('erasures-filter').value = listing.status;
  if (!known) {
    // Refused naming it, as the search refuses an address it cannot take, rather than listed unfiltered.
    line.textContent = '';
    showError(`The address asks for status=${status}, which the Erasures view does not take (pending or done): choose one in Status, or Erasures in the navigation for all.`);
    return;
  }
  line.textContent = 'Reading the erasure requests…';
  const mine = listing.generation;
  try {
    await readPage(ctx);
  } catch (error) {
    if (error instanceof SignedOutError || mine !== listing.generation) return;
    line.textContent = 'The erasure requests could not be read.';
    showError(refusalText('Reading the erasure requests', error));
  }
}

/** Signed out: nothing of the list stays, and an answer still on its way is dropped. */
export function forgetErasures() {
  resetListing(undefined, '');
  $('erasures-filter').value = '';
  $('erasures-status').textContent = '';
}
