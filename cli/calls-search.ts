import { printable } from './printable.ts';
import { checkAtText } from './at-time.ts';
import { searchTimeIn, startText } from './search-times.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../core/catalogue-schema.ts';
import { InvalidInputError } from '../core/errors.ts';
import type { CatalogueEntry } from '../core/ports.ts';
import { collectPages, type Page } from '../core/paging.ts';
import { apiFor, getJson, type CloudOptions } from './api-client.ts';

// `ferry calls search`: the catalogue API's search, page by page, and the table a compliance
// officer reads (which calls of how many, through the API's count; what an empty search means).

export interface SearchOptions extends CloudOptions {
  site: string;
  from?: string;
  to?: string;
  agent?: string;
  number?: string;
  callId?: string;
  direction?: string;
  minDuration?: string;
  maxDuration?: string;
  sort?: string;
  limit?: string;
  all?: boolean;
  json?: boolean;
  /** IANA zone the table's starts are shown in and a --from/--to without an offset is read in. */
  tz?: string;
}

export async function searchCalls(opts: SearchOptions): Promise<CatalogueEntry[]> {
  return (await searchCallPages(opts)).items;
}

/** One page of the catalogue API's search; `stopped`: it read its budget before it filled. */
interface SearchPage extends Page<CatalogueEntry> {
  stopped?: { read: number };
}

/** The first page of a search (or every page, `all`), and what the table's last line needs. */
export interface SearchAnswer {
  items: CatalogueEntry[];
  /** More calls (may) match than the page shows. */
  more: boolean;
  /** The first page stopped at the API's read budget (a filter few calls match, over a long range). */
  stopped?: { read: number };
  /** The search's filters as sent (no limit, no cursor): what its count asks for. */
  filters: URLSearchParams;
}

/**
 * The calls matching a search: every page with `all`, else the first, with `more` saying whether
 * further calls match. A filter given empty (an unset shell variable) is refused by name, never
 * dropped: dropped, it would list every call.
 */
export async function searchCallPages(opts: SearchOptions, onPage?: (items: CatalogueEntry[]) => void): Promise<SearchAnswer> {
  const params = new URLSearchParams();
  const given = { from: opts.from, to: opts.to, agent: opts.agent, number: opts.number, callId: opts.callId, direction: opts.direction, minDuration: opts.minDuration, maxDuration: opts.maxDuration, sort: opts.sort, limit: opts.limit };
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    if (v.trim() === '') throw new InvalidInputError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is empty: give a value, or leave the option out`);
    // A time without a zone (or `now`) is told here with what to type, as `restore --at` is, not refused by the API;
    // with --tz it is read in that zone.
    params.set(k, k === 'from' || k === 'to' ? (opts.tz ? searchTimeIn(v, opts.tz, k) : checkAtText(v, undefined, undefined, `--${k}`)) : v);
  }
  const filters = new URLSearchParams([...params].filter(([k]) => k !== 'limit' && k !== 'sort'));
  const api = apiFor(opts);
  let more = false;
  let stopped: { read: number } | undefined;
  const items = await collectPages(async (cursor) => {
    if (cursor) params.set('cursor', cursor);
    const page = await getJson<SearchPage>(api, `/sites/${encodeURIComponent(opts.site)}/recordings?${params}`);
    // Handed on page by page (--all of a million calls is printed as it comes, never held whole).
    if (onPage) {
      onPage(page.items);
      return { items: [], ...(opts.all && page.cursor ? { cursor: page.cursor } : {}) };
    }
    if (opts.all) return page;
    more = Boolean(page.cursor);
    stopped = page.stopped;
    return { items: page.items };
  });
  return { items, more, filters, ...(stopped ? { stopped } : {}) };
}

/** What the catalogue API's count said of a search, or why there is none. */
export type SearchTotal = { count: number; more: boolean; stopped?: { read: number } } | { failed: string };

/**
 * How many calls the search matches: GET …/recordings/count with its filters (the console's
 * count: exact up to 10,000, "more than" past it, "at least" when it stopped at the read
 * budget). A count that fails is said, not thrown: the page is shown all the same.
 */
export async function countCalls(opts: SearchOptions, filters: URLSearchParams): Promise<SearchTotal> {
  try {
    const answer = await getJson<{ count: number; more: boolean; stopped?: { read: number } }>(apiFor(opts), `/sites/${encodeURIComponent(opts.site)}/recordings/count${filters.size ? `?${filters}` : ''}`);
    return { count: answer.count, more: answer.more, ...(answer.stopped ? { stopped: answer.stopped } : {}) };
  } catch (error) {
    return { failed: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * `calls search --all`: each page printed as it arrives, as the one-page output would print them
 * all (the same JSON array, the same table with the first page's column widths), so memory stays
 * one page and a reader sees the first calls at once.
 */
export async function printAllCalls(opts: SearchOptions, out: { write(text: string): unknown }): Promise<number> {
  let count = 0;
  let marked = false;
  let widths: number[] | undefined;
  await searchCallPages(opts, (items) => {
    for (const e of items) {
      if (e.issues?.length) marked = true;
      if (opts.json) out.write(`${count === 0 ? '[\n' : ',\n'}${JSON.stringify(e, null, 2).replace(/^/gm, '  ')}`);
      count++;
    }
    if (opts.json || items.length === 0) return;
    const rows = items.map((e) => callRow(e, opts.tz));
    const header = callHeader(opts.tz);
    if (!widths) {
      widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      out.write(`${fmtRow(header, widths)}\n`);
    }
    out.write(`${rows.map((r) => fmtRow(r, widths!)).join('\n')}\n`);
  });
  if (opts.json) out.write(count === 0 ? '[]\n' : '\n]\n');
  else out.write(count === 0 ? `no recordings found\n${noMatchHints(opts)}` : `${count} recording(s)\n${marked ? `${ISSUES_LEGEND}\n` : ''}`);
  return count;
}

/** Under a table with a call marked `!`: what the mark means. */
const ISSUES_LEGEND = "! the recorder's metadata could not all be read (e.g. a start taken from the file's time): `ferry calls search --json` lists the issues";

const callHeader = (tz?: string) => [`start (${tz ?? 'UTC'})`, 'call id', 'agent', 'caller → called', 'length', 'shipped by', 'id (for `ferry calls play`)'];

/**
 * One call as a table row; every cell comes from a recorder's sidecar or its agent: shown, never
 * obeyed, by the terminal. `shipped by`: the recorder host whose agent shipped it (two hosts number
 * their calls alike after a failover); `not recorded` for a call shipped before 2026-12-07.
 */
function callRow(e: CatalogueEntry, tz?: string): string[] {
  return [`${startText(e.start, tz)}${e.issues?.length ? ' !' : ''}`, e.meta.callId ?? '-', e.meta.agent ?? '-', `${e.meta.caller ?? '?'} → ${e.meta.called ?? '?'}`, e.meta.durationSec !== undefined ? `${Math.round(e.meta.durationSec)}s` : '-', e.shippedBy?.host ?? 'not recorded', `${e.site}/${e.rid}`].map(printable);
}

const fmtRow = (r: string[], widths: number[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();

/**
 * A number searched for finds the text the recorder wrote (separators removed): one written
 * without its country code misses the calls stored in the international form, and the other way
 * round. Said under "no recordings found".
 */
export function numberHint(number: string | undefined): string {
  if (number === undefined) return '';
  const typed = number.trim();
  const other = typed.startsWith('+') || /^00[1-9]/.test(typed) ? 'the national form too (0…), as a recorder may have written it' : 'the international form too (+ and the country code)';
  return `  numbers are matched as the recorder wrote them (spaces, dashes, dots, slashes, brackets, tel:, a (0) after the country code ignored; 00 and + are the same): search ${other}\n`;
}

/**
 * An agent or call id searched for matches only the whole value as the recorder wrote it, capitals
 * included (the catalogue's index is keyed on it): `alice martin` finds no call of `Alice Martin`,
 * and nothing else said so. Said under "no recordings found", with the number's hint.
 */
export function exactHint(filters: { agent?: string; callId?: string }): string {
  const named = [filters.agent !== undefined ? 'agents' : '', filters.callId !== undefined ? 'call ids' : ''].filter(Boolean).join(' and ');
  if (!named) return '';
  return `  ${named} are matched whole and exactly as the recorder wrote them, capitals included (alice martin does not find Alice Martin): type the value as the recorder writes it\n`;
}

/** What "no recordings found" says under it: how the filters given match. */
export function noMatchHints(filters: { number?: string; agent?: string; callId?: string }): string {
  return `${numberHint(filters.number)}${exactHint(filters)}`;
}

const number = (n: number) => n.toLocaleString('en');

/**
 * What a page that stopped at the read budget did: read without filling the page, or, full,
 * stopped before the call that would tell whether more match (`limit`: the page size asked for).
 */
export function stoppedText(shown: number, read: number, limit: string | undefined): string {
  const full = shown >= (limit === undefined ? DEFAULT_PAGE_SIZE : Number(limit));
  return full ? `the search stopped after reading ${number(read)} calls, before it could tell whether more match` : `the search read ${number(read)} calls without filling the page`;
}

/** The table's last line when more calls match than it shows: which of how many, and how to see the rest. */
function moreLine(shown: number, total: SearchTotal | undefined, stopped: { read: number } | undefined, limit: string | undefined): string {
  const rest = `--all lists every one (or --limit N, up to ${MAX_PAGE_SIZE} a page)`;
  if (stopped) return `${shown} recording(s) shown: ${stoppedText(shown, stopped.read, limit)} (a filter few calls match); --all reads on, or narrow --from/--to`;
  if (!total) return `${shown} recording(s) shown; more match: ${rest}`;
  if ('failed' in total) return `${shown} recording(s) shown; more match (the total is not known: ${total.failed}): ${rest}`;
  // A count that stopped may have read less far than the page did: never "at least" fewer than shown.
  const of = total.stopped ? `at least ${number(Math.max(total.count, shown))} (stopped after reading ${number(total.stopped.read)} calls: narrow --from/--to)` : `${total.more ? 'more than ' : ''}${number(total.count)}`;
  return `calls 1–${number(shown)} of ${of}: ${rest}`;
}

export function renderCalls(
  items: CatalogueEntry[],
  more = false,
  filters: { number?: string; agent?: string; callId?: string; tz?: string; limit?: string } = {},
  answer: { total?: SearchTotal; stopped?: { read: number } } = {},
): string {
  if (items.length === 0 && answer.stopped && more) return `no recordings found yet: the search read ${number(answer.stopped.read)} calls without finding one (a filter few calls match); --all reads on, or narrow --from/--to\n`;
  if (items.length === 0) return `no recordings found\n${noMatchHints(filters)}`;
  const rows = items.map((e) => callRow(e, filters.tz));
  const header = callHeader(filters.tz);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => fmtRow(r, widths);
  const count = more ? moreLine(items.length, answer.total, answer.stopped, filters.limit) : `${items.length} recording(s)`;
  const marked = items.some((e) => e.issues?.length) ? `${ISSUES_LEGEND}\n` : '';
  return `${[fmt(header), ...rows.map(fmt)].join('\n')}\n${count}\n${marked}`;
}
