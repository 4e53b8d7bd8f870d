// The Search calls view: the form (filled from the address's route, read back into the API's
// query), the calls found page by page with the API's cursor, and the selection of calls ticked
// across pages, added to a case or exported. Where the search goes in the address and the tab's
// history is console.js's: a search run is handed to `ctx.recordSearch`.

import { refusalText } from './console-api.js';
import { loadCaseOptions, startExport } from './console-cases.js';
import { $, busy, cell, checkOrder, checkRange, clearError, clearFieldError, el, fieldError, focusIfLost, giveFocusBack, notify, reportFailure, required, showError, timeEl } from './console-ui.js';
import { countSearch, renderStatus, siteRefusal } from './console-search-status.js';
import { fieldInstant } from './console-zone.js';
import { durationText, printable, wallText } from './shared.js';

/** New calls one request adds to a case (the API's CASE_HOLD_BATCH: a held case takes no more a request). */
const CASE_ADD_PART = 500;

const state = {
  ctx: undefined,
  /** The search the table shows: its site and filters, the cursors of the pages seen, which page. */
  search: undefined,
  /** Calls ticked in the results, across pages: rid → entry. */
  selected: new Map(),
};

const FILTERS = ['agent', 'number', 'callId', 'direction', 'minDuration', 'maxDuration', 'sort'];
/** What a search is in its history entry's route (keepRoute): its filters, `from` and `to` (ISO, UTC) and the page size when it is not the default (the address: all but the filters that can name a person, console.js's PERSONAL). */
const SEARCH_KEYS = ['from', 'to', ...FILTERS, 'limit'];
const DEFAULT_LIMIT = '25';

function addressParams(params) {
  const out = {};
  for (const name of SEARCH_KEYS) if (params[name] !== undefined && params[name] !== '' && !(name === 'limit' && params[name] === DEFAULT_LIMIT)) out[name] = params[name];
  return out;
}

/** A search's filters as one string, to tell whether two routes ask for the same search. */
export const searchKey = (params) => new URLSearchParams(Object.entries(addressParams(params)).sort(([a], [b]) => (a < b ? -1 : 1))).toString();

/** The entry of `site`'s calls found: with the filters of the search shown when it is that site's. */
export function searchRoute(site) {
  const params = state.search?.site === site ? addressParams(state.search.params) : {};
  return { site, view: 'search', ...params };
}

/** The filters of the search shown, as its route holds them (another site is searched with them); none when no search is shown. */
export function shownFilters() {
  return state.search ? addressParams(state.search.params) : {};
}

/** The calls ticked, across pages. */
const selectedRids = () => [...state.selected.keys()];

/**
 * Puts the search the address asks for into the form (a reload, Back, a bookmark). A value the
 * form cannot hold (a date that is not one, a direction it does not offer) is an error naming
 * it, not a search run without it.
 */
function fillSearch(wanted) {
  for (const name of ['from', 'to', 'agent', 'number', 'callId', 'minDuration', 'maxDuration']) {
    const value = wanted[name] ?? '';
    const field = $(name);
    field.value = (name === 'from' || name === 'to') && value ? wallText(value).replace(' ', 'T') : value;
    // The address's instant, kept while the field shows it: a wall time of the hour the clocks go
    // back stands for two instants, and the one asked for is the one searched (readSearch).
    if (name === 'from' || name === 'to') Object.assign(field.dataset, { iso: value && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : '', wall: field.value });
  }
  for (const name of ['direction', 'sort']) $(name).value = wanted[name] ?? '';
  $('limit').value = wanted.limit ?? DEFAULT_LIMIT;
  for (const name of SEARCH_KEYS) {
    const value = wanted[name];
    if (value === undefined) continue;
    const field = $(name);
    const held = name === 'from' || name === 'to' ? field.value && !Number.isNaN(Date.parse(value)) : field.value === value;
    if (!held) throw new Error(`The address asks for ${name}=${value}, which the search form does not take. Change the search and press Search.`);
  }
}

function readSearch() {
  const params = { limit: $('limit').value };
  const from = fieldInstant('From', $('from'));
  const to = fieldInstant('To', $('to'), { last: true });
  checkRange($('from'), $('to'), from, to);
  if (from) params.from = from;
  if (to) params.to = to;
  for (const name of FILTERS) {
    const value = $(name).value.trim();
    if (value) params[name] = value;
  }
  for (const name of ['minDuration', 'maxDuration']) {
    if (params[name] !== undefined && !/^\d+$/.test(params[name])) throw fieldError($(name), `${name === 'minDuration' ? 'Shortest' : 'Longest'} must be a whole number of seconds.`);
    clearFieldError($(name));
  }
  // A shortest longer than the longest matches nothing: refused at Shortest, as the API refuses it.
  const [min, max] = [params.minDuration, params.maxDuration].map((v) => (v === undefined ? undefined : Number(v)));
  checkOrder($('minDuration'), $('maxDuration'), min !== undefined && max !== undefined && min > max, 'Shortest must not be more than Longest: choose a smaller Shortest, or a larger Longest.');
  return params;
}

function toggleSelected(entry, on) {
  if (on) state.selected.set(entry.rid, entry);
  else state.selected.delete(entry.rid);
  showSelection();
}

/** The selection's legend: how many calls, and how many of them are not on the page shown (an export takes them all). */
function showSelection() {
  const n = state.selected.size;
  const onPage = new Set((state.search?.items ?? []).map((e) => e.rid));
  const elsewhere = [...state.selected.keys()].filter((rid) => !onPage.has(rid)).length;
  $('selected-count').textContent = n === 0 ? 'No calls selected' : `${n} call${n === 1 ? '' : 's'} selected${elsewhere ? ` (${elsewhere} not on this page)` : ''}`;
  $('selection').disabled = n === 0;
}

/** Forgets the search shown and the calls ticked (sign-out): nothing of them stays for the next officer. */
export function forgetSearch() {
  state.search = undefined;
  clearSelection();
  clearResults();
}

/** Unticks every call: a new search, a finished export or addition, the button, a sign-out, another site. */
function clearSelection() {
  state.selected.clear();
  for (const box of $('results').querySelectorAll('tbody input[type=checkbox]')) box.checked = false;
  showSelection();
}

function addRow(entry) {
  const meta = entry.meta ?? {};
  const row = $('results').tBodies[0].insertRow();
  row.dataset.rid = entry.rid;
  const box = el('input', undefined, { type: 'checkbox', 'aria-label': `Select call ${meta.callId ?? entry.rid}` });
  box.checked = state.selected.has(entry.rid);
  box.addEventListener('click', (e) => e.stopPropagation());
  box.addEventListener('change', () => toggleSelected(entry, box.checked));
  row.setAttribute('role', 'row');
  cell(row, box, 'select officer-only');
  cell(row, timeEl(entry.start));
  cell(row, callIdCell(entry), 'mono');
  cell(row, meta.agent);
  cell(row, `${meta.caller ?? '?'} → ${meta.called ?? '?'}`, 'mono');
  cell(row, meta.direction);
  cell(row, durationText(entry), 'num');
  const open = el('button', 'Open', { type: 'button', className: 'play', 'aria-label': `Open call ${meta.callId ?? entry.rid}` });
  cell(row, open, 'open');
  labelCells(row);
  // The row is the mouse target; the button the keyboard one (its click bubbles here).
  row.addEventListener('click', () => void state.ctx.navigate({ view: 'call', rid: entry.rid }));
}

/**
 * The call id and, on a narrow line of its own under it, the recorder host whose agent shipped the
 * call (its manifest's `shippedBy`): after a failover two hosts ship one site, each numbering its
 * own calls, and two results with one call id differ only by it. Cut short with an ellipsis when
 * long (the whole name, and the agent id, in its tooltip); nothing for a call shipped before
 * agents named their host (its page says so).
 */
function callIdCell(entry) {
  const id = el('span', entry.meta?.callId ?? entry.rid);
  const host = entry.shippedBy?.host;
  if (!host) return id;
  const wrap = document.createDocumentFragment();
  // Escaped as on the call page: a manifest's words are the site's (control characters, bidi marks).
  const by = el('span', `shipped by ${printable(host)}`, { className: 'result-host', title: `shipped by ${printable(host)}${entry.shippedBy.agentId ? ` (agent id ${printable(entry.shippedBy.agentId)})` : ''}` });
  wrap.append(id, by);
  return wrap;
}

/**
 * Each cell of a result row named after its column (`data-label`, the header's visible text): at a
 * phone's width the rows are stacked (console.css), each value shown beside its column's name,
 * the table's headers out of sight. The table keeps its roles whatever its layout (explicit
 * `role`s: a table drawn as blocks is otherwise no table to a screen reader).
 */
function labelCells(row) {
  const headers = [...$('results').tHead.rows[0].cells];
  for (const [i, td] of [...row.cells].entries()) {
    td.setAttribute('role', 'cell');
    const header = headers[i];
    const label = header && !header.querySelector('.visually-hidden') ? header.textContent.trim() : '';
    if (label) td.dataset.label = label;
  }
}

/** Loads page `index` of the search shown into the table; false when it failed (said beside `near`: the search form unless told). */
export async function loadSearchPage(index, near = $('search')) {
  const search = state.search;
  const mine = search;
  const table = $('results');
  table.setAttribute('aria-busy', 'true');
  $('prev').disabled = true;
  $('next').disabled = true;
  $('status').textContent = 'Searching…';
  // A count answering meanwhile must not draw the page on screen over "Searching…" (countSearch).
  search.loading = true;
  try {
    const cursor = search.cursors[index];
    const page = await state.ctx.api(`sites/${encodeURIComponent(search.site)}/recordings`, { query: { ...search.params, ...(cursor ? { cursor } : {}) } });
    if (mine !== state.search) return false;
    search.index = index;
    search.cursors[index + 1] = page.cursor ?? null;
    search.items = page.items;
    search.stopped = page.stopped;
    search.loading = false;
    search.failed = false;
    // Calls before each page: a page that stopped at the read budget holds fewer than a page's size.
    search.before ??= [0];
    search.before[index + 1] = (search.before[index] ?? 0) + page.items.length;
    renderResults();
    // The first page that holds calls and has more after it, they are counted (once a search): the
    // page does not wait for the count. Not beside a page that stopped at the read budget: its status
    // shows no total, and a count over the same range would read as far and stop there too.
    if (page.cursor && !page.stopped && !search.total) void countSearch(state.ctx, search, () => search === state.search && !search.loading && !search.failed);
    return true;
  } catch (error) {
    if (mine !== state.search) return false;
    // Nothing of the last page shown stands over the failure: a count answering later, another
    // time zone chosen, would draw it again over the empty table and hide "The search failed."
    search.failed = true;
    // The rows of an earlier search (another site, other filters) must not stand under this one.
    clearResults();
    const site = siteRefusal(search.site, error);
    // Beside the search form, scrolled to, not at the top of the page: on a phone the top is
    // screens away from the Search button or the pager the officer just pressed.
    showError(site ? site.error : refusalText('The search', error), near);
    $('status').textContent = site ? site.status : 'The search failed.';
    return false;
  } finally {
    mine.loading = false;
    if (mine === state.search) table.removeAttribute('aria-busy');
  }
}

function renderResults() {
  const { items, index, cursors } = state.search;
  $('results').tBodies[0].replaceChildren();
  for (const entry of items) addRow(entry);
  renderStatus(state.search);
  $('prev').disabled = index === 0;
  $('next').disabled = !cursors[index + 1];
  showSelection();
}

/** Shows the rows of the search again (another time zone chosen): nothing asked of the API. */
export function reshowResults() {
  if (state.search?.items && !state.search.failed) renderResults();
}

/** Empties the results: no rows, no page, nothing said about a search that is not on screen (the ticked calls stay ticked). */
function clearResults() {
  $('results').tBodies[0].replaceChildren();
  $('page-label').textContent = '';
  $('status').textContent = '';
  $('prev').disabled = true;
  $('next').disabled = true;
}

function submitSearch(event) {
  event?.preventDefault();
  clearError();
  let params;
  try {
    params = readSearch();
  } catch (error) {
    state.search = undefined;
    clearResults();
    if (!error.atField) showError(error.message);
    return Promise.resolve();
  }
  const site = state.ctx.site();
  // Pressed again while this very search's first page is still being read (a double click on a
  // slow network): nothing more is asked, so one search makes one audit record and one entry of
  // the history. Pressed once its page is shown, it is asked again (the officer's refresh).
  const shown = state.search;
  if (event && shown?.loading && shown.before === undefined && shown.site === site && searchKey(shown.params) === searchKey(params)) return Promise.resolve();
  // A new search starts a new selection: calls ticked for another customer must not ride along into this one's export.
  if (event) clearSelection();
  state.search = { site, params, cursors: [null], index: 0, items: [] };
  // The search asked for goes into the history (an officer's: a new entry, the empty form's replaced),
  // so that a reload and Back come back to it.
  state.ctx.recordSearch(searchRoute(state.search.site), { replace: !event });
  return loadSearchPage(0);
}

/**
 * The calls found of `r`: run when the entry holds another search than the one shown (another
 * site, a reload, Back, a bookmark). Back from a call (`left`): the focus goes to that call's
 * Open button, so that the officer working through the list goes on from where they were.
 */
export async function openSearch(ctx, r, site, left) {
  state.ctx = ctx;
  const wanted = Object.fromEntries(SEARCH_KEYS.filter((name) => r[name] !== undefined).map((name) => [name, r[name]]));
  if (!state.search || state.search.site !== site || searchKey(state.search.params) !== searchKey(wanted)) {
    clearSelection();
    try {
      fillSearch(wanted);
    } catch (error) {
      state.search = undefined;
      clearResults();
      showError(error.message);
      return;
    }
    await submitSearch();
  }
  const open = left && [...$('results').tBodies[0].rows].find((row) => row.dataset.rid === left)?.querySelector('button.play');
  if (open) open.focus();
  // A listener has no cases to add calls to (officers' only): nothing to ask.
  if (!ctx.listener()) void loadCaseOptions(ctx, $('selection-case'));
}

/** The search the table shows (its site, filters, cursors and page), for stepping through its calls (console-steps.js); undefined when none. */
export const shownSearch = () => state.search;

/** The search form empty and nothing run: what an entry another sign-in wrote is shown as. */
export function showEmptySearch() {
  state.search = undefined;
  clearSelection();
  fillSearch({});
  clearResults();
  $('status').textContent = 'Fill in the search and press Search.';
}

async function addSelectedToCase() {
  clearError();
  const caseId = $('selection-case').value;
  if (!caseId) {
    fieldError($('selection-case'), 'Choose the case to add the selected calls to.');
    return;
  }
  try {
    const rids = selectedRids();
    // A held case takes CASE_ADD_PART new calls a request (each is held before it is added): sent in parts,
    // each again while the answer says members of the case are still to be held (202). Busy meanwhile:
    // a second press on a slow network would send every part again.
    await busy($('add-selected'), 'Adding…', async () => {
      for (let i = 0; i < rids.length; i += CASE_ADD_PART) {
        let answer;
        do answer = await state.ctx.api(state.ctx.sitePath(`cases/${encodeURIComponent(caseId)}/calls`), { method: 'POST', body: { rids: rids.slice(i, i + CASE_ADD_PART) } });
        while (answer?.remaining > 0);
      }
    });
    clearSelection();
    notify(`${rids.length} call${rids.length === 1 ? '' : 's'} added to case ${caseId}.`);
    // The selection (and the button pressed with it) is disabled now: the officer is told where the calls went.
    focusIfLost('notice');
  } catch (error) {
    reportFailure(`Adding calls to case ${caseId}`, error, $('selection'));
  }
}

// ---- wiring ----

/** The search form, its pager and the selection's buttons (once, as the page loads). */
export function wireSearch(ctx) {
  state.ctx = ctx;
  $('search').addEventListener('submit', (e) => void submitSearch(e));
  $('search').addEventListener('reset', (e) => {
    e.preventDefault();
    for (const name of ['from', 'to', 'agent', 'number', 'callId', 'minDuration', 'maxDuration']) $(name).value = '';
    $('direction').value = '';
    $('sort').value = '';
    clearError();
  });
  // The pager's buttons are disabled while a page loads, which drops the keyboard focus: it is
  // given back to the same button, or to the results' heading when that button is now disabled.
  const page = (button, delta) => void loadSearchPage(state.search.index + delta).then(() => giveFocusBack(button, 'results-title'));
  $('prev').addEventListener('click', () => page($('prev'), -1));
  $('next').addEventListener('click', () => page($('next'), 1));
  $('clear-selection').addEventListener('click', () => {
    clearSelection();
    $('results-title').tabIndex = -1;
    $('results-title').focus();
  });
  $('selection-reason').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      $('export-selected').click();
    }
  });
  $('add-selected').addEventListener('click', () => void addSelectedToCase());
  $('export-selected').addEventListener('click', () => {
    clearError();
    let reason;
    try {
      reason = required('selection-reason', 'The reason for the export');
    } catch (error) {
      reportFailure('The export', error, $('selection'));
      return;
    }
    const rids = selectedRids();
    clearSelection();
    $('selection-reason').value = '';
    void ctx.navigate({ view: 'cases' });
    void startExport(ctx, { rids, reason });
  });
}
