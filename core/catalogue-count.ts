import type { CatalogueStore, ReadBudget, RecordingQuery } from './ports.ts';

// How many calls a search matches, counted up to a bound. The catalogue's indexes are in call-start
// order and DynamoDB keeps no count per key range, so a count is a read of every match: bounded,
// it costs what a duration sort's window costs (COUNT_LIMIT items, about 6 MB of reads, ten Query
// pages) however large the site, and a broader search is said as "more than COUNT_LIMIT".

/** Most calls a count reads; a search that matches more is "more than" this. */
export const COUNT_LIMIT = 10_000;

/** Calls a count reads per page (the catalogue's largest page). */
const COUNT_PAGE = 1000;

export interface RecordingCount {
  /** Calls that match; with `more`, the bound reached: more than `count` match. */
  count: number;
  more: boolean;
  /**
   * The read budget ran out first (a filter few calls match, over a long range): `count` calls
   * match among the first `read` calls read, and more may (`more` is true), so the count is "at
   * least"; narrowing the time range lets it finish.
   */
  stopped?: { read: number };
}

/** The filters of a search, without its paging (a count has none; its order changes nothing). */
export type CountQuery = Omit<RecordingQuery, 'cursor' | 'limit' | 'sort'>;

/**
 * Counts the calls `query` matches through the catalogue's own search (so whatever the catalogue
 * given leaves out, an erased call, is left out of the count too), page after page in start
 * order, stopping once more than `limit` are seen, or once the pages have read `budget` (its
 * items shared by all the pages; its deadline each one's).
 */
export async function countRecordings(catalogue: Pick<CatalogueStore, 'searchRecordings'>, query: CountQuery, limit = COUNT_LIMIT, budget?: ReadBudget): Promise<RecordingCount> {
  let count = 0;
  let read = 0;
  let cursor: string | undefined;
  do {
    const left = budget?.items === undefined ? undefined : budget.items - read;
    if (left !== undefined && left < 1) return { count, more: true, stopped: { read } };
    const pageBudget = budget ? { ...budget, ...(left !== undefined ? { items: left } : {}) } : undefined;
    // The last page asks for one more than the bound leaves: enough to tell "exactly" from "more".
    const page = await catalogue.searchRecordings({ ...query, sort: 'start', limit: Math.min(COUNT_PAGE, limit + 1 - count), ...(cursor ? { cursor } : {}), ...(pageBudget ? { budget: pageBudget } : {}) });
    count += page.items.length;
    read += page.read ?? 0;
    if (count > limit) return { count: limit, more: true };
    if (page.stopped) return { count, more: true, stopped: { read } };
    cursor = page.cursor;
  } while (cursor);
  return { count, more: false };
}
