// What the Search calls view says of a search's answer (console-search.js): the status line and
// page label (which calls of how many: the count asked after the first page), the hints under an
// empty search, and a site the officer may not search said as such.

import { ApiError, refusalText } from './console-api.js';
import { $ } from './console-ui.js';
import { isRepeatedWallTime, localText, zoneName } from './shared.js';

/**
 * A search refused for its site (403: not one of the officer's sites, whether or not it exists;
 * 404: the deployment has no such site, said only to who sees every site): said as such, not as a
 * search that "found nothing", which read like a site with no calls.
 */
export function siteRefusal(site, error) {
  if (!(error instanceof ApiError) || (error.status !== 403 && error.status !== 404)) return undefined;
  return {
    error: `Site ${site} cannot be searched (HTTP ${error.status}): ${error.message}.`,
    status: error.status === 403 ? `No search ran: ${site} is not one of your sites.` : `No search ran: this deployment has no site ${site}.`,
  };
}

/**
 * How many calls `search` matches (GET …/recordings/count, bounded by the API), kept in
 * `search.total` and said in the status when it comes, if `search` is still the one shown (`shown()`).
 */
export async function countSearch(ctx, search, shown) {
  search.total = { counting: true };
  // Said while it runs (a count can take seconds): the page was drawn before the count began.
  if (shown() && search.items.length) renderStatus(search);
  const { limit: _limit, sort: _sort, ...filters } = search.params;
  try {
    const answer = await ctx.api(`sites/${encodeURIComponent(search.site)}/recordings/count`, { query: filters });
    search.total = { count: answer.count, more: answer.more, ...(answer.stopped ? { stopped: answer.stopped } : {}) };
  } catch (error) {
    search.total = { failed: refusalText('Counting the calls', error) };
  }
  if (shown() && search.items.length) renderStatus(search);
}

const number = (n) => n.toLocaleString('en');

/** Under an empty search by number: numbers are matched as the recorder wrote them, as the CLI says. */
const NUMBER_HINT = ' Numbers are matched as the recorder wrote them (spaces, dashes, brackets, a (0) after the country code ignored; 00 and + are the same): try the national form (0…) and the international one (+ and the country code).';

/**
 * An agent or call id finds only the whole value as the recorder wrote it, capitals included (the
 * catalogue's index is keyed on it): "alice martin" finds no call of "Alice Martin", and an empty
 * list said nothing of it, so the officer took it for no call at all.
 */
function exactHint(params) {
  if (!params.agent && !params.callId) return '';
  const named = params.agent && params.callId ? 'Agents and call ids' : params.agent ? 'Agents' : 'Call ids';
  return ` ${named} are matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it.`;
}

/**
 * When From or To is a wall time the clocks showed twice (the night they went back), which
 * occurrence was searched, with its offset: From is the first, To the second, unless a shared
 * address named the other.
 */
function repeatedHourNote(params) {
  const ends = [['From', params.from], ['To', params.to]].filter(([, iso]) => iso && isRepeatedWallTime(iso));
  if (ends.length === 0) return '';
  return ` The clocks went back in ${zoneName()} that night and showed ${ends.length === 2 ? 'these times' : 'this time'} twice: searched ${ends.map(([name, iso]) => `${name} ${localText(iso)}`).join(', ')}.`;
}

/**
 * The status line and page label of the page shown: which calls of how many ("calls 26–50 of
 * 2,381", "of more than 10,000" past the count's bound). A last page tells the total by itself;
 * before it, the count the API answered (countSearch), or that it is being counted.
 */
export function renderStatus(search) {
  const { items, index, cursors, params, total } = search;
  const more = Boolean(cursors[index + 1]);
  const size = Number(params.limit);
  const first = (search.before?.[index] ?? index * size) + 1;
  const last = first + items.length - 1;
  if (search.stopped) {
    stoppedStatus(search, first, last);
    return;
  }
  if (items.length === 0) {
    $('status').textContent = index === 0 ? `No calls ${searched(search)} match this search.${params.number ? NUMBER_HINT : ''}${exactHint(params)}${repeatedHourNote(params)}` : 'No more calls.';
    $('page-label').textContent = '';
    return;
  }
  $('page-label').textContent = `Page ${index + 1}`;
  // All the calls on the first page: said as plainly as that.
  if (index === 0 && !more) {
    $('status').textContent = `${items.length === 1 ? '1 call matches this search.' : `${number(items.length)} calls match this search.`}${repeatedHourNote(params)}`;
    return;
  }
  const counted = !more ? { count: last, more: false } : total?.count !== undefined ? total : undefined;
  const of = counted ? ` of ${ofText(counted, last)}` : '';
  const after = counted ? '' : total?.failed ? `, more available (the total is not known: ${total.failed})` : total?.counting ? ', more available; counting them…' : ', more available';
  // "counting them…" ends the sentence itself: no full stop after the ellipsis.
  $('status').textContent = `${items.length} call${items.length === 1 ? '' : 's'} on this page (calls ${number(first)}–${number(last)}${of})${after}${after.endsWith('…') ? '' : '.'}${repeatedHourNote(params)}`;
  // The pages so far as they were (a page that stopped holds fewer calls), then full pages for the rest.
  const pages = counted && !counted.more ? index + 1 + Math.ceil(Math.max(0, counted.count - last) / size) : undefined;
  $('page-label').textContent = `Page ${index + 1}${pages ? ` of ${number(pages)}` : ''}`;
}

/**
 * How many a count said: "2,381", "more than 10,000", or, stopped at its read budget, "at least 4
 * (…)": never fewer than the `last` call shown (each page reads on with a budget of its own, so
 * the pages may have found more than the count did).
 */
function ofText(counted, last) {
  if (counted.stopped) return `at least ${number(Math.max(counted.count, last))} (stopped after reading ${number(counted.stopped.read)} calls: narrow the time range)`;
  return `${counted.more ? 'more than ' : ''}${number(counted.count)}`;
}

/** Where and when the search looked: "at demo between 1 Nov 09:00 and 2 Nov 09:00 (Europe/London)". */
function searched(search) {
  const { from, to } = search.params;
  const range = from && to ? ` between ${localText(from)} and ${localText(to)}` : from ? ` from ${localText(from)} on` : to ? ` up to ${localText(to)}` : '';
  return `at ${search.site}${range}${range ? ` (${zoneName()})` : ''}`;
}

/**
 * A page that stopped at the API's read budget before it filled (a filter few calls match, over
 * a long range): what it found so far, never "no calls match", and that Next reads on.
 */
function stoppedStatus(search, first, last) {
  const { items, index, stopped, params } = search;
  // A full page that stopped before the call that would prove more follow: not "without filling".
  const read =
    items.length >= Number(params.limit)
      ? `the search stopped after reading ${number(stopped.read)} calls ${searched(search)}, before it could tell whether more match`
      : `the search read ${number(stopped.read)} calls ${searched(search)} without filling this page`;
  const which = first === last ? `call ${number(first)}` : `calls ${number(first)}–${number(last)}`;
  const found = items.length === 0 ? `No calls found on this page yet: ${read}` : `${items.length} call${items.length === 1 ? '' : 's'} on this page (${which}): ${read}`;
  $('status').textContent = `${found}. Next reads on; narrowing the time range is faster.`;
  $('page-label').textContent = `Page ${index + 1}`;
}
