import { auditRecordKey, matchesAudit, type AuditFilter, type AuditRecord, type ChainHead } from './audit-trail.ts';
import { ledgerRecord, type AuditLedger } from './audit-ledger.ts';
import { NotFoundError } from './errors.ts';
import { mapLimit } from './map-limit.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { responseBytes } from './response-bytes.ts';

// Reading a site's audit trail for the audit view (console and IAM API): newest first, by seq,
// from the chain head down. A page stops at `limit` matches or after `budget` records read, so
// one request stays bounded whatever the trail's length, or once its records fill AUDIT_PAGE_BYTES
// (an answer must stay under Lambda's 6 MB); the cursor is the seq to go on below.

export interface AuditReader {
  /** The site's chain head (last seq); undefined before the first record. */
  head(site: string): Promise<ChainHead | undefined>;
  /** Record `seq` of the site's chain; undefined when it is missing (a gap `ferry audit verify` reports). */
  read(site: string, seq: number): Promise<AuditRecord | undefined>;
  /**
   * Records `hi` down to `lo` (both included), newest first, undefined where one is missing.
   * Optional: a page of a reader without it reads one record at a time. `page` is one object a
   * page hands to each of its range reads, for what they may learn once (the sealed mark).
   */
  readRange?(site: string, lo: number, hi: number, page?: RangePage): Promise<(AuditRecord | undefined)[]>;
  /** The purge's open intents (core/purge-intents.ts): the view marks their `begun` records open. Optional. */
  openIntents?(site: string): Promise<{ id: string; at: string }[]>;
}

/** What the range reads of one page share. */
export interface RangePage {
  /** The site's sealed mark as the page's first range read found it. */
  sealed?: number;
}

/** Bucket copies a range reads at once (each is one GET). */
const RANGE_GETS = 16;

/**
 * The site's trail where it is: the head from the ledger, each record from the write-once bucket
 * (`audit/{site}/`) or, not yet sealed there, from the ledger.
 */
export function auditTrailReader(deps: { ledger: Pick<AuditLedger, 'head' | 'records' | 'sealed'>; blobs: Pick<BlobStore, 'get'>; intents?: { listIntents(site: string): Promise<{ id: string; at: string }[]> } }): AuditReader {
  // A record is read whole (a purge record names each call of its pack: about 3 MB for 20,000
  // calls); the view shows its long lists cut (membersShown), the rest read in pages.
  const read = async (site: string, seq: number): Promise<AuditRecord | undefined> => {
    try {
      const text = (await readSmallObject(deps.blobs, auditRecordKey(site, seq), AUDIT_RECORD_MAX_BYTES, 'audit record')).toString('utf8');
      return JSON.parse(text) as AuditRecord;
    } catch (error) {
      if (error instanceof NotFoundError) return ledgerRecord(deps.ledger, site, seq);
      throw error;
    }
  };
  const intents = deps.intents;
  return {
    head: (site) => deps.ledger.head(site),
    read,
    ...(intents ? { openIntents: (site: string) => intents.listIntents(site) } : {}),
    // The records above the sealed mark are not in the bucket yet (or were copied from the
    // ledger's very items): a few ledger Queries read them all, where one GET a record would
    // first miss in the bucket and then query the ledger anyway. Sealed records are read from
    // their write-once copies, as `read` does. A page reads the mark once: it only ever rises,
    // and a record sealed since is still found (the ledger keeps it; one it lacks is read from
    // the bucket), so a mark a few requests old costs at most a Query more, never a record.
    async readRange(site, lo, hi, page = {}) {
      const sealed = (page.sealed ??= await deps.ledger.sealed(site));
      const fromLedger = hi > sealed ? await ledgerRange(deps.ledger, site, Math.max(lo, sealed + 1), hi) : new Map<number, AuditRecord>();
      const seqs = Array.from({ length: hi - lo + 1 }, (_, i) => hi - i);
      return mapLimit(seqs, RANGE_GETS, (seq) => (fromLedger.has(seq) ? Promise.resolve(fromLedger.get(seq)) : read(site, seq)));
    },
  };
}

/** The ledger's records `lo`..`hi` by seq (a ledger read may stop short of `hi`: it counts whole writes). */
async function ledgerRange(ledger: Pick<AuditLedger, 'records'>, site: string, lo: number, hi: number): Promise<Map<number, AuditRecord>> {
  const out = new Map<number, AuditRecord>();
  for (let from = lo; from <= hi; ) {
    const records = await ledger.records(site, from, hi - from + 1);
    const top = Math.max(from - 1, ...records.map((r) => r.seq));
    for (const record of records) if (record.seq >= from && record.seq <= hi) out.set(record.seq, record);
    // Nothing at or above `from`: the ledger holds no more of them.
    if (top < from) break;
    from = top + 1;
  }
  return out;
}

export interface AuditPageQuery {
  site: string;
  filter: AuditFilter;
  limit: number;
  /** Read records with a seq below this one (the previous page's cursor); absent: from the head. */
  below?: number;
  /** Most records read for one page (default AUDIT_PAGE_BUDGET). */
  budget?: number;
  /** Records read at once (default 16). */
  concurrency?: number;
  /** Most bytes of records (as JSON) one page holds (default AUDIT_PAGE_BYTES); a page always holds at least one. */
  maxBytes?: number;
}

export interface AuditPage {
  /** The records, those naming more members than a page shows cut (membersShown). */
  records: AuditRecord[];
  /** The lists cut, by the seq of their record; absent when none was. */
  cut?: Record<number, Record<string, MembersWindow>>;
  /** Where the next page starts (records below this seq); absent when the trail is read to its start. */
  below?: number;
}

/** Most records one range read of a page asks for. */
const RANGE_MOST = 500;

/** Records one page reads at most: a page may hold fewer than `limit` matches, with a cursor to go on. */
export const AUDIT_PAGE_BUDGET = 2000;
/**
 * Bytes of records (their JSON) one page holds at most. A Lambda answer is at most 6 MB, and a
 * purge record of a pack names its 100 calls (~16 KB): 1,000 of them are 16 MB. The CSV doubles
 * every quote of a record's JSON and the answer's JSON escapes them again, so a page is cut at half
 * the limit, its records counted as the answer escapes them (core/response-bytes.ts), and its
 * cursor given, whatever `limit` asked for.
 */
export const AUDIT_PAGE_BYTES = 3 * 1024 * 1024;
/**
 * Records are appended in time order, give or take the clocks of concurrent writers: reading
 * newest first, the page stops once records are this much older than `from`.
 */
export const AUDIT_CLOCK_SKEW_MS = 5 * 60_000;

/** One page of the site's trail, newest first, filtered (from ≤ at < to, principal, action). */
export async function searchAuditPage(reader: AuditReader, query: AuditPageQuery): Promise<AuditPage> {
  const head = await reader.head(query.site);
  let next = Math.min((head?.seq ?? 0) + 1, query.below ?? Number.MAX_SAFE_INTEGER) - 1;
  const budget = query.budget ?? AUDIT_PAGE_BUDGET;
  const concurrency = query.concurrency ?? 16;
  const oldest = query.filter.from ? query.filter.from.getTime() - AUDIT_CLOCK_SKEW_MS : undefined;
  const maxBytes = query.maxBytes ?? AUDIT_PAGE_BYTES;
  const records: AuditRecord[] = [];
  const cut: Record<number, Record<string, MembersWindow>> = {};
  const done = (below?: number): AuditPage => ({ records, ...(Object.keys(cut).length ? { cut } : {}), ...(below !== undefined ? { below } : {}) });
  let read = 0;
  let bytes = 0;
  // A reader that reads ranges takes growing ones: a page that fills at once reads little past
  // it, a filter that rarely matches soon reads many records a request.
  let span = reader.readRange ? Math.max(concurrency, query.limit) : concurrency;
  const rangePage: RangePage = {};
  while (next >= 1 && read < budget) {
    const count = Math.min(span, next, budget - read);
    const seqs = Array.from({ length: count }, (_, i) => next - i);
    const batch = reader.readRange ? await reader.readRange(query.site, next - count + 1, next, rangePage) : await Promise.all(seqs.map((seq) => reader.read(query.site, seq)));
    if (reader.readRange) span = Math.min(span * 2, RANGE_MOST);
    for (let i = 0; i < batch.length; i++) {
      const record = batch[i];
      if (record && oldest !== undefined && Date.parse(record.event.at) < oldest) return done();
      if (record && matchesAudit(record.event, query.filter)) {
        // A record naming more members than a page shows is held cut (its lists read in pages: membersShown).
        const shown = membersShown(record, 0, AUDIT_MEMBERS_SHOWN);
        const size = responseBytes(shown.record);
        // Full by bytes: this record starts the next page.
        if (records.length > 0 && bytes + size > maxBytes) return done(seqs[i]! + 1);
        records.push(shown.record);
        if (shown.members) cut[record.seq] = shown.members;
        bytes += size;
      }
      read++;
      next = seqs[i]! - 1;
      if (records.length >= query.limit) return done(next >= 1 ? next + 1 : undefined);
    }
  }
  return done(next >= 1 ? next + 1 : undefined);
}

/**
 * The largest record the view reads from the bucket: a purge record of a pack of 400,000 calls
 * (about 154 bytes a call). A record is read whole, and shown cut (membersShown).
 */
export const AUDIT_RECORD_MAX_BYTES = 64 * 1024 * 1024;
/**
 * Members (entries of one of a record's lists: a purge's rids and calls, an export's rids) the
 * view shows of a record in a page of the trail; the rest are read in pages of the record
 * (`GET …/audit?seq=…&offset=…`), up to AUDIT_MEMBERS_PAGE at a time.
 */
export const AUDIT_MEMBERS_SHOWN = 500;
export const AUDIT_MEMBERS_PAGE = 5000;

/** Where a cut list of a record stands: its entries shown start at `offset`, `shown` of its `total`. */
export interface MembersWindow {
  offset: number;
  shown: number;
  total: number;
}

/** What the view holds of a record: the record with each list longer than `limit` cut to [offset, offset+limit), and the lists cut. */
export interface ShownRecord {
  record: AuditRecord;
  /** Absent when no list was cut (the record is whole). */
  members?: Record<string, MembersWindow>;
}

/**
 * The record with its lists cut to `limit` entries from `offset` (each list longer than `limit`;
 * shorter ones whole, past `offset` empty). The hash is the whole record's: `ferry audit verify`
 * checks the stored record, never a view of it.
 */
export function membersShown(record: AuditRecord, offset: number, limit: number): ShownRecord {
  const detail = record.event.detail;
  if (!detail) return { record };
  const long = Object.entries(detail).filter((e): e is [string, string[]] => Array.isArray(e[1]) && (e[1].length > limit || offset > 0));
  if (long.length === 0) return { record };
  const cut = { ...detail };
  const members: Record<string, MembersWindow> = {};
  for (const [name, list] of long) {
    cut[name] = list.slice(offset, offset + limit);
    members[name] = { offset, shown: cut[name].length, total: list.length };
  }
  return { record: { ...record, event: { ...record.event, detail: cut } }, members };
}

/** Whether a record is the `begun` record of an intent still open (`open`: the purge's open intents, by id and time). */
export function isOpenIntent(record: AuditRecord, open: readonly { id: string; at: string }[]): boolean {
  const d = record.event.detail;
  return record.event.action === 'purge-intent' && d?.state === 'begun' && open.some((o) => o.id === d.intent && o.at === record.event.at);
}

/** A record as the audit view lists it: the event's fields flat, the case named, the chain position kept. */
export interface AuditItem {
  seq: number;
  at: string;
  site: string;
  action: string;
  principal?: string;
  officer?: string;
  rid?: string;
  case?: string;
  query?: Record<string, string | number>;
  details?: Record<string, string | number | string[]>;
  /** The lists of `details` cut to a window (a record naming more members than a page shows): the rest by `GET …/audit?seq=…&offset=…`. */
  members?: Record<string, MembersWindow>;
  /** A `purge-intent` record (state `begun`) whose outcome no record gives yet: the next purge records it. */
  open?: true;
  hash: string;
}

export function auditItemOf(record: AuditRecord, members?: Record<string, MembersWindow>): AuditItem {
  const e = record.event;
  const caseId = e.detail?.caseId ?? e.detail?.case ?? e.query?.caseId ?? e.query?.case;
  const item: AuditItem = { seq: record.seq, at: e.at, site: e.site, action: e.action, hash: record.hash };
  if (e.principal !== undefined) item.principal = e.principal;
  if (e.officer !== undefined) item.officer = e.officer;
  if (e.rid !== undefined) item.rid = e.rid;
  if (typeof caseId === 'string') item.case = caseId;
  if (e.query !== undefined) item.query = e.query;
  if (e.detail !== undefined) item.details = e.detail;
  if (members) item.members = members;
  return item;
}
