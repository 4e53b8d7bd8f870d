import { createHash } from 'node:crypto';
import { IntegrityError, TransientError } from './errors.ts';
import { assertName } from './layout.ts';
import type { BlobStore } from './ports.ts';

// The audit trail: one hash chain per site. Record n carries the hash of record n-1, and its
// own hash covers its content and that link, so an edited, removed or inserted record breaks
// the chain at a place `verifyAuditChain` names. Records are objects `audit/{site}/{seq}.json`
// in the data bucket, whose default Object Lock retention (compliance or governance, per
// deployment) keeps every version; the chain head (last seq and hash) lives in a store with
// conditional writes, so two writers can never both take the same seq: the loser reads the
// new head and links after it (no silent fork).

export const AUDIT_ACTIONS = ['search', 'listen', 'download', 'hold', 'release', 'export', 'recall'] as const;
/** `listen` is recorded once per play, `download` whenever a recording's bytes are sent as a file. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEvent {
  at: string;
  action: AuditAction;
  site: string;
  rid?: string;
  query?: Record<string, string | number>;
  principal?: string;
  /** The officer a console-minted replay link was signed for (the principal is then the console's role). */
  officer?: string;
  /** Free-form details of a hold, release or export (case, reason, bundle hash…). */
  detail?: Record<string, string | number | string[]>;
}

export interface AuditRecord {
  v: 1;
  site: string;
  /** 1, 2, 3… without gaps. */
  seq: number;
  /** The previous record's hash; 64 zeros for the first record. */
  prev: string;
  event: AuditEvent;
  /** SHA-256 (hex) of the canonical JSON of every other field. */
  hash: string;
}

export const GENESIS = '0'.repeat(64);
const SEQ_WIDTH = 12;

export function auditPrefix(site: string): string {
  assertName('site', site);
  return `audit/${site}/`;
}

/** `audit/{site}/{seq, 12 digits}.json`: listing order is chain order. */
export function auditRecordKey(site: string, seq: number): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`audit seq ${seq} is not a whole number >= 1`);
  return `${auditPrefix(site)}${String(seq).padStart(SEQ_WIDTH, '0')}.json`;
}

/** JSON with object keys sorted at every level: the bytes a hash is taken of. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function recordHash(record: Omit<AuditRecord, 'hash'>): string {
  const { v, site, seq, prev, event } = record;
  return createHash('sha256').update(canonicalJson({ v, site, seq, prev, event })).digest('hex');
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** Where each site's chain head lives: a store with a compare-and-set. */
export interface AuditHeadStore {
  /** The head as last advanced (strongly consistent); undefined before the first record. */
  get(site: string): Promise<ChainHead | undefined>;
  /**
   * Moves the head from `from` (undefined: no head yet) to `to` only if it is still at `from`;
   * false when another writer moved it first. Not idempotent: a retry after a lost answer
   * sees its own head and gets false.
   */
  advance(site: string, from: ChainHead | undefined, to: ChainHead): Promise<boolean>;
}

export interface AuditChainDeps {
  heads: AuditHeadStore;
  blobs: Pick<BlobStore, 'put'>;
  /** Attempts at taking the next seq when other writers keep winning (default 40, with jittered backoff). */
  attempts?: number;
}

/**
 * Appends one event to its site's chain: takes the next seq on the head (compare-and-set),
 * then writes the record. If the write fails after the head moved, the chain has a gap at
 * that seq, which `verifyAuditChain` reports: the caller's request fails, nothing is lost
 * silently.
 */
export async function appendAudit(deps: AuditChainDeps, event: AuditEvent): Promise<AuditRecord> {
  const [record] = await takeSeqs(deps, event.site, [event]);
  await writeRecord(deps, record!);
  return record!;
}

/**
 * Appends several events of one site as consecutive records with one move of the head (one
 * compare-and-set for all of them, in the order given), then writes the records at once.
 * Resolves when the head has moved, with the new head and each record's write: a write that
 * fails rejects for its own event only (its seq is then a gap `verifyAuditChain` reports); a
 * head that cannot be moved rejects the whole call, and no record is written.
 */
export async function appendAuditEvents(
  deps: AuditChainDeps,
  events: readonly AuditEvent[],
  /** The head as this writer last left it: tried first, without reading it (a stale one costs one failed move). */
  known?: ChainHead,
): Promise<{ head?: ChainHead; written: Promise<AuditRecord>[] }> {
  const site = events[0]?.site;
  if (site === undefined) return { written: [] };
  if (events.some((e) => e.site !== site)) throw new RangeError('appendAuditEvents: every event must be of the same site');
  const records = await takeSeqs(deps, site, events, known);
  const last = records.at(-1)!;
  return { head: { seq: last.seq, hash: last.hash }, written: records.map((record) => writeRecord(deps, record).then(() => record)) };
}

/** Moves the head past `events` (compare-and-set, retried with jitter when another writer won); the records to write. */
async function takeSeqs(deps: AuditChainDeps, site: string, events: readonly AuditEvent[], known?: ChainHead): Promise<AuditRecord[]> {
  const attempts = deps.attempts ?? 40;
  for (let attempt = 0; attempt < attempts; attempt++) {
    // Writers that lost the race back off with jitter (full jitter, capped at 250 ms): a burst of
    // concurrent requests of one site (a player's searches, a page of listens) all get recorded.
    // A known head that proved stale is not a lost race: the head is read at once.
    if (attempt > 0 && !(attempt === 1 && known)) await new Promise((r) => setTimeout(r, Math.random() * Math.min(250, 5 * 2 ** attempt)));
    const head = attempt === 0 && known ? known : await deps.heads.get(site);
    const records: AuditRecord[] = [];
    let prev = { seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS };
    for (const event of events) {
      const body: Omit<AuditRecord, 'hash'> = { v: 1, site, seq: prev.seq + 1, prev: prev.hash, event };
      const record: AuditRecord = { ...body, hash: recordHash(body) };
      records.push(record);
      prev = { seq: record.seq, hash: record.hash };
    }
    if (await deps.heads.advance(site, head, prev)) return records;
  }
  throw new TransientError(`audit chain of site ${site}: the head moved ${attempts} times in a row; the event was not recorded`);
}

async function writeRecord(deps: AuditChainDeps, record: AuditRecord): Promise<void> {
  await deps.blobs.put(auditRecordKey(record.site, record.seq), Buffer.from(`${JSON.stringify(record)}\n`), { contentType: 'application/json', ifNoneMatch: true });
}

/** In-memory head store (tests, the local cloud without a table). */
export class MemoryAuditHeads implements AuditHeadStore {
  private readonly heads = new Map<string, ChainHead>();
  async get(site: string): Promise<ChainHead | undefined> {
    await Promise.resolve();
    const head = this.heads.get(site);
    return head && { ...head };
  }
  async advance(site: string, from: ChainHead | undefined, to: ChainHead): Promise<boolean> {
    await Promise.resolve();
    if (this.heads.get(site)?.seq !== from?.seq) return false;
    this.heads.set(site, { ...to });
    return true;
  }
}

// ---- verification ----

export type AuditChainVerdict =
  | { ok: true; site: string; records: number; head?: ChainHead }
  | { ok: false; site: string; records: number; seq: number; key: string; problem: string };

/**
 * Checks a site's chain from its stored records (any order) and, when given, its head:
 * seqs 1..n without gap, each record's hash recomputed, each `prev` equal to the hash before,
 * and the last record equal to the head (a removed tail shows only there). Names the first
 * broken link.
 */
export function verifyAuditChain(site: string, stored: { key: string; text: string }[], head?: ChainHead): AuditChainVerdict {
  const bySeq = new Map<number, { key: string; record?: AuditRecord; error?: string }>();
  for (const { key, text } of stored) {
    const seq = Number(/(\d+)\.json$/.exec(key)?.[1] ?? NaN);
    if (!Number.isSafeInteger(seq)) continue;
    try {
      bySeq.set(seq, { key, record: JSON.parse(text) as AuditRecord });
    } catch {
      bySeq.set(seq, { key, error: 'is not JSON' });
    }
  }
  const last = Math.max(0, head?.seq ?? 0, ...bySeq.keys());
  let prev = GENESIS;
  const fail = (seq: number, problem: string): AuditChainVerdict => ({ ok: false, site, records: bySeq.size, seq, key: auditRecordKey(site, seq), problem });
  for (let seq = 1; seq <= last; seq++) {
    const found = bySeq.get(seq);
    if (!found) return fail(seq, head && seq <= head.seq ? `record ${seq} is missing (deleted?) although the head is at ${head.seq}` : `record ${seq} is missing (deleted?)`);
    if (!found.record) return fail(seq, `record ${seq} ${found.error}`);
    const r = found.record;
    if (r.seq !== seq || r.site !== site) return fail(seq, `record ${seq} says it is seq ${r.seq} of site ${r.site}`);
    if (recordHash(r) !== r.hash) return fail(seq, `record ${seq} was altered: its content no longer hashes to ${r.hash}`);
    if (r.prev !== prev) return fail(seq, `record ${seq} does not link to record ${seq - 1} (prev ${r.prev.slice(0, 12)}…, expected ${prev.slice(0, 12)}…)`);
    prev = r.hash;
  }
  if (head && head.seq > 0 && head.hash !== prev) return fail(head.seq, `the head is at seq ${head.seq} with hash ${head.hash.slice(0, 12)}…, but the stored chain ends with ${prev.slice(0, 12)}…`);
  if (head && last > head.seq) return fail(head.seq + 1, `records after the head (seq ${head.seq}) were added outside the chain`);
  return { ok: true, site, records: last, ...(head ? { head } : {}) };
}

/** Fails with IntegrityError naming the first broken link (for callers that want an exception). */
export function assertAuditChain(verdict: AuditChainVerdict): void {
  if (!verdict.ok) throw new IntegrityError(`audit chain of site ${verdict.site} is broken at ${verdict.key}: ${verdict.problem}`);
}

// ---- search ----

export interface AuditFilter {
  from?: Date;
  to?: Date;
  principal?: string;
  action?: AuditAction;
}

/** Events in [from, to), by principal (exact) and action. */
export function matchesAudit(event: AuditEvent, filter: AuditFilter): boolean {
  const at = Date.parse(event.at);
  if (filter.from && at < filter.from.getTime()) return false;
  if (filter.to && at >= filter.to.getTime()) return false;
  if (filter.principal !== undefined && event.principal !== filter.principal && event.officer !== filter.principal) return false;
  if (filter.action !== undefined && event.action !== filter.action) return false;
  return true;
}

export const AUDIT_CSV_COLUMNS = ['seq', 'at', 'site', 'action', 'principal', 'officer', 'rid', 'query', 'detail', 'hash'] as const;

function csvCell(value: string): string {
  // A leading = + - @ would be a formula in a spreadsheet: quoted and prefixed with '.
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n']/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** RFC 4180 CSV (CRLF), one line per record, header first. */
export function auditCsv(records: AuditRecord[]): string {
  const lines = [AUDIT_CSV_COLUMNS.join(',')];
  for (const r of records) {
    const e = r.event;
    const cells = [String(r.seq), e.at, e.site, e.action, e.principal ?? '', e.officer ?? '', e.rid ?? '', e.query ? canonicalJson(e.query) : '', e.detail ? canonicalJson(e.detail) : '', r.hash];
    lines.push(cells.map(csvCell).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}
