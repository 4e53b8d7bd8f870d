import { InvalidInputError } from './errors.ts';
import type { ErasureRecord } from './erasure-items.ts';

// The site's erasure requests a page at a time, newest first: what a compliance officer reads
// (the console's Erasures view, `ferry erasures list`). The table keeps a request under its
// call (`pk=ERASE#{site}, sk={rid}`), and a rid says nothing of when it was asked for, so no key
// gives this order. A page therefore reads the site's request *keys* (rid, requestedAt, status:
// some 80 bytes each, one Query a megabyte, about 12,000 requests a Query), orders them here,
// and reads whole only the page's own records (one BatchGetItem a hundred). The answer stays
// a page, whatever the number of requests; what grows with it is the small key read.

export type ErasureStatus = ErasureRecord['status'];
export const ERASURE_STATUSES = ['pending', 'done'] as const satisfies readonly ErasureStatus[];

/** What a page is ordered and filtered on: the attributes the key read projects. */
export type ErasureKey = Pick<ErasureRecord, 'rid' | 'requestedAt' | 'status'>;

export interface ErasurePageOptions {
  /** Requests on the page at most (1 to ERASURES_PAGE_MAX). */
  limit: number;
  /** Only the requests after this position (the previous page's `after`). */
  after?: string;
  /** Only pending, or only done, requests. */
  status?: ErasureStatus;
}

export interface ErasurePage {
  items: ErasureRecord[];
  /** More requests follow: the position of the page's last one, to pass back as `after`. */
  after?: string;
}

export const ERASURES_PAGE_DEFAULT = 100;
/** A thousand requests of a few hundred bytes each: an answer far under Lambda's 6 MB. */
export const ERASURES_PAGE_MAX = 1000;

/** A request's place in the order: its time asked, then its rid (two requests in the same millisecond keep one order). */
export function erasurePosition(key: Pick<ErasureKey, 'rid' | 'requestedAt'>): string {
  return `${key.requestedAt}#${key.rid}`;
}

/** The rids of one page, in order (newest first), and the position to go on after when more follow. */
export function pageOfKeys(keys: readonly ErasureKey[], options: ErasurePageOptions): { rids: string[]; after?: string } {
  const { after, status, limit } = options;
  const ordered = keys
    .filter((k) => status === undefined || k.status === status)
    .map((k) => ({ rid: k.rid, at: erasurePosition(k) }))
    .filter((k) => after === undefined || k.at < after)
    .sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  const page = ordered.slice(0, limit);
  return { rids: page.map((k) => k.rid), ...(ordered.length > limit ? { after: page[page.length - 1]!.at } : {}) };
}

/** The page's records in the page's order (a lookup answers in no particular order). */
export function inPageOrder(rids: readonly string[], records: readonly ErasureRecord[]): ErasureRecord[] {
  const byRid = new Map(records.map((r) => [r.rid, r]));
  return rids.flatMap((rid) => byRid.get(rid) ?? []);
}

// ---- the API's cursor: the position, base64url ----
// Not sealed: a position only says where in this site's list to go on, which anyone who may
// read the list can see; what is checked is that it is one (a time, `#`, a recording id).

const POSITION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z#[A-Za-z0-9_-]{1,64}$/;
const BAD_CURSOR = 'cursor: not a cursor this listing gave (pass back the cursor of the previous page unchanged)';

export function encodeErasureCursor(after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url');
}

export function decodeErasureCursor(cursor: string): string {
  const after = /^[A-Za-z0-9_-]{1,256}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!POSITION.test(after) || encodeErasureCursor(after) !== cursor) throw new InvalidInputError(BAD_CURSOR, { field: 'cursor' });
  return after;
}

/** The page size asked for, checked: a whole number from 1 to ERASURES_PAGE_MAX. */
export function erasurePageLimit(limit: number | undefined): number {
  const n = limit ?? ERASURES_PAGE_DEFAULT;
  if (!Number.isInteger(n) || n < 1 || n > ERASURES_PAGE_MAX) throw new InvalidInputError(`limit: must be a whole number from 1 to ${ERASURES_PAGE_MAX}`, { field: 'limit' });
  return n;
}
