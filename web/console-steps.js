// Stepping through the calls found from a call opened from them (a lead scoring an agent's calls
// one after the other): the call's place in the list, and Previous call / Next call, which go on
// to the page before or after when the call is at the edge of its page, as the list's pager would.

import { loadSearchPage, shownSearch } from './console-search.js';
import { $, clearError, showError } from './console-ui.js';

/**
 * Where `rid` stands among the calls of the page found at `site` (a call opened from the list):
 * its place, and the calls before and after it, to score one call after the other without going
 * back to the list. Undefined when the call is not on the page shown (a link, another search).
 */
export function callsAround(site, rid) {
  const search = shownSearch();
  if (!search || search.site !== site || search.loading) return undefined;
  const rows = [...$('results').tBodies[0].rows].filter((row) => row.dataset.rid);
  const i = rows.findIndex((row) => row.dataset.rid === rid);
  if (i < 0) return undefined;
  return {
    index: i,
    count: rows.length,
    page: search.index,
    previous: rows[i - 1]?.dataset.rid,
    next: rows[i + 1]?.dataset.rid,
    // The first call of a page steps back to the page before, the last one on to the page after (when the search has one).
    pageBefore: search.index > 0,
    pageAfter: Boolean(search.cursors[search.index + 1]),
  };
}

/** Most pages with no call (each stopped at the read budget) one step goes through before it stops and says so. */
const EMPTY_PAGES_STEPPED = 5;

/**
 * The call after (`delta` 1) or before (-1) `rid` among the calls found: on its page, else the
 * first call of the next page or the last of the previous one, which is loaded into the list (as
 * its pager would: the same search, Back to the calls found shows that page). Undefined when there
 * is none, and when that page could not be loaded (the error the search gives is shown).
 */
async function stepCall(site, rid, delta) {
  const around = callsAround(site, rid);
  if (!around) return undefined;
  const near = delta > 0 ? around.next : around.previous;
  if (near) return near;
  const search = shownSearch();
  for (let stepped = 0; stepped < EMPTY_PAGES_STEPPED; stepped++) {
    if (delta > 0 ? !search.cursors[search.index + 1] : search.index === 0) return undefined;
    const index = search.index + delta;
    const loaded = await loadSearchPage(index, $('call-steps'));
    if (!loaded || shownSearch() !== search) return undefined;
    const rids = search.items.map((entry) => entry.rid);
    if (rids.length > 0) return delta > 0 ? rids[0] : rids[rids.length - 1];
  }
  throw new Error(`Pages ${around.page + 2} to ${search.index + 1} of the calls found hold no call (each stopped at the catalogue's read limit): go back to the calls found and narrow the search.`);
}

/** The Previous call / Next call buttons of the call view (once, as the page loads). */
export function wireSteps(call) {
  for (const [id, delta] of [['previous-call', -1], ['next-call', 1]]) $(id).addEventListener('click', () => void step(call, delta));
}

/** Opens the call before or after this one among the calls found, loading the page before or after when this one is at its edge. */
async function step(call, delta) {
  const { ctx, rid, opened } = call;
  if (!call.around) return;
  const edge = !(delta > 0 ? call.around.next : call.around.previous);
  clearError();
  $('previous-call').disabled = $('next-call').disabled = true;
  if (edge) $('call-position').textContent = `Loading page ${call.around.page + 1 + delta} of the calls found…`;
  try {
    const to = await stepCall(ctx.site(), rid, delta);
    // Another call opened, or the view left (Back to the calls found), while the page loaded: the officer is not taken away from it.
    if (!call.shows(opened)) return;
    if (to) return void (await ctx.navigate({ view: 'call', rid: to }));
    showSteps(call, rid);
  } catch (error) {
    if (!call.shows(opened)) return;
    showSteps(call, rid);
    showError(error.message);
  }
}

/** The call's place among the calls found (its page), with the calls before and after it; nothing when it was not opened from them. */
export function showSteps(call, rid) {
  call.around = callsAround(call.ctx.site(), rid);
  const around = call.around;
  $('call-steps').hidden = !around;
  if (!around) return;
  const last = !around.next && !around.pageAfter;
  const edge = !around.next && around.pageAfter ? ` (Next call opens page ${around.page + 2})` : '';
  $('call-position').textContent = `Call ${around.index + 1} of ${around.count} on page ${around.page + 1}${last ? ' (the last call found)' : edge}`;
  $('previous-call').disabled = !around.previous && !around.pageBefore;
  $('next-call').disabled = last;
}

