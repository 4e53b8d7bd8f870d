import { createHash } from 'node:crypto';
import { AlreadyExistsError, IntegrityError, TransientError } from './errors.ts';
import { assertName } from './layout.ts';
import type { AuditLedger } from './audit-ledger.ts';
import type { BlobStore } from './ports.ts';

// The audit trail: one hash chain per site. Record n carries the hash of record n-1, and its
// own hash covers its content and that link, so an edited, removed or inserted record breaks
// the chain at a place `verifyAuditChain` names. A record is made durable by one conditional
// write to the ledger (core/audit-ledger.ts: the catalogue table), which is also what makes two
// writers unable to take the same seq (the loser reads the new head and links after it: no
// silent fork); the sealer then copies it to `audit/{site}/{seq}.json` in the data bucket, whose
// default Object Lock retention (compliance or governance, per deployment) keeps every version.

export const AUDIT_ACTIONS = ['search', 'listen', 'download', 'hold', 'release', 'export', 'recall', 'purge', 'purge-intent', 'erase', 'case-create', 'case-add'] as const;
/**
 * `listen` is recorded once per play, `download` whenever a recording's bytes are sent as a
 * file; `purge-intent` before the purge deletes an object (state `begun`, naming it and its
 * calls; `not-deleted` when it was not deleted after all), `purge` once it is gone, with the
 * recordings it took and the same intent id (core/purge-intents.ts);
 * `case-create` and `case-add` before a case is created or calls are added to it, naming the calls.
 */
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

/** The top-level prefix of the sealed audit trail in the data bucket. */
export const AUDIT_CLASS = 'audit';

export function auditPrefix(site: string): string {
  assertName('site', site);
  return `${AUDIT_CLASS}/${site}/`;
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

export interface AuditChainDeps {
  /** Where a record is first made durable: one conditional write a record (core/audit-ledger.ts). */
  ledger: AuditLedger;
  /** The write-once copies (Object Lock), written by the sealer (`sealAudit`). */
  blobs: Pick<BlobStore, 'put'>;
  /** Attempts at taking the next seq when other writers keep winning (default 40, with jittered backoff). */
  attempts?: number;
}

/**
 * Appends one event to its site's chain and seals it: the record is written to the ledger (the
 * compare-and-set that takes the seq), then copied write-once to the bucket with everything
 * before it not yet sealed. For callers that want the record in the bucket before they go on
 * (the CLI); the functions' audit answers after the ledger write (core/audit-coalesce.ts).
 */
export async function appendAudit(deps: AuditChainDeps, event: AuditEvent): Promise<AuditRecord> {
  const { records } = await appendAuditEvents(deps, [event]);
  await sealAudit(deps, event.site);
  return records[0]!;
}

/**
 * Appends several events of one site as consecutive records in one conditional write to the
 * ledger (in the order given). Resolves once that write is durable, with the new head and the
 * records; rejects when no seq could be taken, and then nothing was written.
 */
export async function appendAuditEvents(
  deps: Pick<AuditChainDeps, 'ledger' | 'attempts'>,
  events: readonly AuditEvent[],
  /** The head as this writer last left it: tried first, without reading it (a stale one costs one failed write). */
  known?: ChainHead,
): Promise<{ head?: ChainHead; records: AuditRecord[] }> {
  const site = events[0]?.site;
  if (site === undefined) return { records: [] };
  if (events.some((e) => e.site !== site)) throw new RangeError('appendAuditEvents: every event must be of the same site');
  const records = await takeSeqs(deps, site, events, known);
  const last = records.at(-1)!;
  return { head: { seq: last.seq, hash: last.hash }, records };
}

function chainAfter(site: string, head: ChainHead | undefined, events: readonly AuditEvent[]): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prev = { seq: head?.seq ?? 0, hash: head?.hash ?? GENESIS };
  for (const event of events) {
    const body: Omit<AuditRecord, 'hash'> = { v: 1, site, seq: prev.seq + 1, prev: prev.hash, event };
    const record: AuditRecord = { ...body, hash: recordHash(body) };
    records.push(record);
    prev = { seq: record.seq, hash: record.hash };
  }
  return records;
}

/** Writes `events` after the head (conditional write, retried with jitter when another writer won); the records written. */
async function takeSeqs(deps: Pick<AuditChainDeps, 'ledger' | 'attempts'>, site: string, events: readonly AuditEvent[], known?: ChainHead): Promise<AuditRecord[]> {
  const attempts = deps.attempts ?? 40;
  for (let attempt = 0; attempt < attempts; attempt++) {
    // Writers that lost the race back off with jitter (full jitter, capped at 250 ms): a burst of
    // concurrent requests of one site (a player's searches, a page of listens) all get recorded.
    // A known head that proved stale is not a lost race: the head is read at once.
    if (attempt > 0 && !(attempt === 1 && known)) await new Promise((r) => setTimeout(r, Math.random() * Math.min(250, 5 * 2 ** attempt)));
    const head = attempt === 0 && known ? known : await deps.ledger.head(site);
    const records = chainAfter(site, head, events);
    if (await deps.ledger.append(site, records)) return records;
    // Refused: another writer took the seq, or this write landed and its answer was lost (the
    // client retried it). The stored records are then these very ones (same hashes).
    const stored = await deps.ledger.records(site, records[0]!.seq, records.length);
    if (records.every((r, i) => stored[i]?.seq === r.seq && stored[i]?.hash === r.hash)) return records;
  }
  throw new TransientError(`audit chain of site ${site}: the head moved ${attempts} times in a row; the event was not recorded`);
}

// ---- sealing: from the ledger to the write-once bucket ----

/**
 * Copies the site's records not yet sealed from the ledger to `audit/{site}/{seq}.json` in the
 * bucket, write-once (If-None-Match; the bucket's default Object Lock retention keeps them), in
 * seq order, then raises the sealed mark. Idempotent and safe to run from several places at
 * once: a record already in the bucket is left as it is, never overwritten (a copy that differs
 * from the ledger's is what `verifyAuditChain` reports). Stops at the first copy that fails, the
 * mark raised to the record before it. Resolves with the seq sealed up to.
 */
export async function sealAudit(deps: Pick<AuditChainDeps, 'ledger' | 'blobs'>, site: string, options: { from?: number; records?: readonly AuditRecord[]; mark?: boolean } = {}): Promise<number> {
  const sealed = options.from === undefined ? await deps.ledger.sealed(site) : options.from - 1;
  const records = (options.records ?? (await deps.ledger.records(site, sealed + 1, SEAL_BATCH))).filter((r) => r.seq > sealed);
  let upTo = sealed;
  try {
    for (let i = 0; i < records.length; i += SEAL_CONCURRENCY) {
      await Promise.all(records.slice(i, i + SEAL_CONCURRENCY).map((record) => copyRecord(deps.blobs, record)));
      upTo = records[Math.min(i + SEAL_CONCURRENCY, records.length) - 1]!.seq;
    }
  } finally {
    // `mark: false`: the caller raises the mark itself, later (core/audit-coalesce.ts).
    if (upTo > sealed && options.mark !== false) await deps.ledger.markSealed(site, upTo);
  }
  // More than a batch waited (a long pause of every writer): go on from where this one ended.
  return !options.records && records.length >= SEAL_BATCH ? sealAudit(deps, site, { from: upTo + 1 }) : upTo;
}

const SEAL_BATCH = 500;
const SEAL_CONCURRENCY = 8;

async function copyRecord(blobs: Pick<BlobStore, 'put'>, record: AuditRecord): Promise<void> {
  try {
    await blobs.put(auditRecordKey(record.site, record.seq), Buffer.from(`${JSON.stringify(record)}\n`), { contentType: 'application/json', ifNoneMatch: true });
  } catch (error) {
    if (!(error instanceof AlreadyExistsError)) throw error;
  }
}

// ---- verification ----

export type AuditChainVerdict =
  | { ok: true; site: string; records: number; head?: ChainHead }
  | { ok: false; site: string; records: number; seq: number; key: string; problem: string };

type StoredRecord = { key: string; record?: AuditRecord; error?: string; conflict?: string };

/** The records by seq: the bucket's, then the ledger's where the bucket has none (a ledger record unlike the bucket's noted). */
function storedBySeq(site: string, stored: { key: string; text: string }[], ledger: readonly AuditRecord[]): Map<number, StoredRecord> {
  const bySeq = new Map<number, StoredRecord>();
  for (const { key, text } of stored) {
    const seq = Number(/(\d+)\.json$/.exec(key)?.[1] ?? NaN);
    if (!Number.isSafeInteger(seq)) continue;
    try {
      bySeq.set(seq, { key, record: JSON.parse(text) as AuditRecord });
    } catch {
      bySeq.set(seq, { key, error: 'is not JSON' });
    }
  }
  for (const record of ledger) {
    const sealed = bySeq.get(record.seq);
    if (!sealed) bySeq.set(record.seq, { key: auditRecordKey(site, record.seq), record });
    else if (sealed.record && canonicalJson(sealed.record) !== canonicalJson(record)) sealed.conflict = `differs between the ledger (hash ${record.hash.slice(0, 12)}…) and its write-once copy (hash ${String(sealed.record.hash).slice(0, 12)}…)`;
  }
  return bySeq;
}

/**
 * Checks a site's chain from its stored records (any order), the records still in the ledger
 * (`ledger`, when given: those not yet sealed, and any sealed ones it still holds) and, when
 * given, its head: seqs 1..n without gap, each record's hash recomputed, each `prev` equal to the
 * hash before, a record held both in the ledger and in the bucket the same in both (the bucket's
 * is the write-once one), and the last record equal to the head (a removed tail shows only
 * there). Names the first broken link.
 */
export function verifyAuditChain(site: string, stored: { key: string; text: string }[], head?: ChainHead, ledger: readonly AuditRecord[] = []): AuditChainVerdict {
  const bySeq = storedBySeq(site, stored, ledger);
  const last = Math.max(0, head?.seq ?? 0, ...bySeq.keys());
  let prev = GENESIS;
  const fail = (seq: number, problem: string): AuditChainVerdict => ({ ok: false, site, records: bySeq.size, seq, key: auditRecordKey(site, seq), problem });
  for (let seq = 1; seq <= last; seq++) {
    const found = bySeq.get(seq);
    if (!found) return fail(seq, head && seq <= head.seq ? `record ${seq} is missing (deleted?) although the head is at ${head.seq}` : `record ${seq} is missing (deleted?)`);
    if (found.error) return fail(seq, `record ${seq} ${found.error}`);
    const r = found.record!;
    if (r.seq !== seq || r.site !== site) return fail(seq, `record ${seq} says it is seq ${r.seq} of site ${r.site}`);
    if (recordHash(r) !== r.hash) return fail(seq, `record ${seq} was altered: its content no longer hashes to ${r.hash}`);
    if (r.prev !== prev) return fail(seq, `record ${seq} does not link to record ${seq - 1} (prev ${r.prev.slice(0, 12)}…, expected ${prev.slice(0, 12)}…)`);
    if (found.conflict) return fail(seq, `record ${seq} ${found.conflict}`);
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
