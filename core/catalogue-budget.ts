import { InvalidInputError } from './errors.ts';
import { compareKeys, encodeCursor, orderKeyOf } from './catalogue-cursor.ts';
import { itemToEntry } from './catalogue-items.ts';
import { responseBytes } from './response-bytes.ts';
import type { ReadBudget, CatalogueEntry, RecordingPage, RecordingSort } from './ports.ts';
import { systemClock, type Clock } from './clock.ts';

// A search page's read budget (ReadBudget), shared by MemoryCatalogue and DynamoCatalogue: how
// many index entries each read may take, and the page of a search that ran out of it. The
// indexes are in start order and a filter on direction or duration is applied to what a Query
// reads, so a filter few calls match reads on through the site; bounded, it stops and says so.

/**
 * The most catalogue entries one search page or count reads, unless the deployment says
 * (search.readLimit): an entry is about 600 bytes, so 50,000 are about 30 MB of Query pages,
 * some 30 requests of 1 MB, a few seconds, well inside the functions' 25 s timeout.
 */
export const SEARCH_READ_LIMIT_DEFAULT = 50_000;

/** Of the function's remaining time, what no read may start in: left for the answer and its audit record. */
export const SEARCH_TIME_MARGIN_MS = 5_000;

/**
 * A search request's budget: `readLimit` entries, and a deadline SEARCH_TIME_MARGIN_MS before the
 * function's own (its Lambda context's getRemainingTimeInMillis; none when run without one).
 */
export function searchBudget(readLimit: number, context: unknown, clock: Clock = systemClock): ReadBudget {
  const remaining = (context as { getRemainingTimeInMillis?: () => number } | undefined)?.getRemainingTimeInMillis;
  return { items: readLimit, ...(typeof remaining === 'function' ? { deadline: clock.now().getTime() + remaining() - SEARCH_TIME_MARGIN_MS } : {}) };
}

/** Checks a budget: `items` a whole number of at least 1, `deadline` a time (epoch ms). */
export function checkBudget(budget: ReadBudget | undefined): ReadBudget | undefined {
  if (budget === undefined) return undefined;
  const { items, deadline } = budget;
  if (items !== undefined && (!Number.isSafeInteger(items) || items < 1)) throw new InvalidInputError(`budget.items must be a whole number of at least 1, got ${String(items)}`);
  if (deadline !== undefined && !Number.isFinite(deadline)) throw new InvalidInputError(`budget.deadline must be a time in milliseconds, got ${String(deadline)}`);
  return budget;
}

/**
 * The reads of one page against its budget. Each read (one Query request of one branch) asks
 * for a grant first, which is its Limit: never more than what is left, nor more than the
 * branch's share (the budget over the branches, so that the shards' first reads, which start
 * together, do not take it all); a branch's first read always gets at least one item, so
 * that every page moves its cursor on.
 */
export class ReadMeter {
  /** Entries read so far (ScannedCount). */
  read = 0;
  private reserved = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly budget: ReadBudget | undefined,
    private readonly branches: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * The Limit of the next read (`natural`: the plan's own, undefined for none); 0: the budget is
   * spent, do not read. While other reads are out, what they were granted is not spent yet: a
   * read that finds nothing left waits for them to come back and asks again.
   */
  async grant(natural: number | undefined, first: boolean): Promise<number | undefined> {
    for (;;) {
      const n = this.tryGrant(natural, first);
      if (n !== 0 || this.reserved === 0) return n;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private tryGrant(natural: number | undefined, first: boolean): number | undefined {
    const budget = this.budget;
    if (!budget) return natural;
    if (!first && budget.deadline !== undefined && this.clock.now().getTime() >= budget.deadline) return 0;
    if (budget.items === undefined) return natural;
    const share = Math.max(1, Math.ceil(budget.items / this.branches));
    let n = Math.min(budget.items - this.read - this.reserved, share, natural ?? Number.POSITIVE_INFINITY);
    if (first) n = Math.max(1, n);
    if (n <= 0) return 0;
    this.reserved += n;
    return n;
  }

  /** A read came back: `granted` was its grant, `scanned` what it read. */
  settle(granted: number | undefined, scanned: number): void {
    if (this.budget?.items !== undefined && granted !== undefined) this.reserved -= granted;
    this.read += scanned;
    for (const resolve of this.waiting.splice(0)) resolve();
  }
}

/** Whether `key` comes after `through` in the sort's order (a start sort: ascending or descending). */
export function beyond(key: string, through: string, sort: RecordingSort): boolean {
  return compareKeys(key, through, sort) > 0;
}

/**
 * The page of a search whose budget ran out after reading every branch through `through` (a
 * start sort key): its matches up to there (at most the limit), and a cursor that goes on
 * after it. A duration sort cannot answer from part of its matches: refused naming `sort`.
 */
export function stoppedPageOf(matches: Record<string, unknown>[], through: string, sort: RecordingSort, read: number): RecordingPage {
  if (sort === 'duration' || sort === '-duration') {
    throw new InvalidInputError(
      `sort: ordering by duration needs every matching call, and this search read ${read} calls without reaching the end of its range; ` +
        'narrow the time range (from/to) or sort by start',
      { field: 'sort' },
    );
  }
  const { entries, last } = entriesWithin(matches, matches.length);
  // Cut for its bytes: the page goes on after its last call, as any full page does.
  if (last) return { items: entries, cursor: encodeCursor(orderKeyOf(last, sort), sort), read };
  return { items: entries, cursor: encodeCursor(through, sort), read, stopped: true };
}

/**
 * The most bytes of calls one page answers, counted escaped as the function returns them
 * (core/response-bytes.ts). A function answers at most 6 MB, and a page of 1,000 calls with long
 * paths, metadata texts and issues could pass that: a page is cut before the call that would pass
 * PAGE_BYTES, never below one.
 */
export const PAGE_BYTES = 4 * 1024 * 1024;

/**
 * The entries of the first `limit` items, cut before the one that would take the page past
 * PAGE_BYTES of JSON; `last`: the last item kept, when the page was cut (its cursor goes on after it).
 */
export function entriesWithin(items: readonly Record<string, unknown>[], limit: number): { entries: CatalogueEntry[]; last?: Record<string, unknown> } {
  const entries: CatalogueEntry[] = [];
  let bytes = 0;
  for (const item of items.slice(0, limit)) {
    const entry = itemToEntry(item);
    bytes += responseBytes(entry) + 1;
    if (bytes > PAGE_BYTES && entries.length > 0) return { entries, last: items[entries.length - 1] };
    entries.push(entry);
  }
  return { entries };
}
