import { createHash } from 'node:crypto';
import type { AuditLedger } from './audit-ledger.ts';
import type { AuditEvent, AuditRecord } from './audit-trail.ts';
import type { Clock } from './clock.ts';
import { messageOf } from './errors.ts';
import { isPackManifestKey } from './layout.ts';
import { parseManifest } from './manifest.ts';
import type { BlobStore } from './ports.ts';
import type { PurgeBatch } from './retention.ts';

// The purge's write-ahead record. Before an object is deleted, its `purge-intent` record (state
// `begun`) names it and, for a pack, the calls its manifest lists; it is durable in the site's
// audit trail, and the intent is noted open in the purge's own store (PurgeIntentStore), before
// the first delete. Once the object and its manifest are gone, the `purge` record of the object
// names the same intent id and the intent is closed. So a failure between the deletes and that
// record (throttling, a timeout of the function or the workflow, a crash) leaves the ledger
// saying what was about to go, and the intent open, where the next purge finds it:
//  - the object and its manifest gone: it writes the `purge` record (`completed`) and closes it;
//  - the object still there: nothing was deleted under it; a `purge-intent` record (state
//    `not-deleted`) says so and closes it (a later deletion begins a new intent);
//  - the object gone, its manifest still there: the purge plans the manifest again, and the
//    batch that deletes it writes the `purge` record under the same intent, which it finds open.
// The intent id is the object's (its key hashed with the site): a retried step, or the next run
// deleting what a failed one began, continues the intent, never records a second one.
// Each record about an intent is written once: before it, the intent item notes it `pending`
// with the trail's head; a retry that finds it pending (the step stopped between the record and
// what follows it) looks it up in the trail after that head and writes it only if it is absent.
// An intent whose begun record never reached the trail is closed without a record (nothing was
// announced, nothing deleted); one whose outcome is in the trail is closed, never settled again.

export interface PurgeIntent {
  site: string;
  id: string;
  /** The object the intent names, and its manifest (deleted after it). */
  key: string;
  manifest?: string;
  kind: PurgeBatch['targets'][number]['kind'];
  /** When the `purge-intent` record was written. */
  at: string;
  /** Calls the intent record names (a pack's, as its manifest listed them). */
  recordings?: number;
  /** The record about to be written (`begun`, or the `outcome` that closes it) and the trail's last seq before it. */
  pending?: PendingRecord;
}

export interface PendingRecord {
  record: 'begun' | 'outcome';
  from: number;
}

/** The time a purge record is dated: the deps' clock, else the system's. */
export function nowIso(deps: { clock?: Clock | undefined }): string {
  return (deps.clock?.now() ?? new Date()).toISOString();
}

/** Who the audit trail names as having deleted what the retention let go. */
export const PURGE_PRINCIPAL = 'ferry purge (retention)';

/** The purge's open intents (the catalogue table, `PURGEINTENT#{site}`; memory in tests and the CLI). */
export interface PurgeIntentStore {
  getIntent(site: string, id: string): Promise<PurgeIntent | undefined>;
  putIntent(intent: PurgeIntent): Promise<void>;
  listIntents(site: string): Promise<PurgeIntent[]>;
  /** Idempotent: closing one already closed does nothing. */
  closeIntent(site: string, id: string): Promise<void>;
}

export class MemoryPurgeIntentStore implements PurgeIntentStore {
  private readonly items = new Map<string, PurgeIntent>();
  async getIntent(site: string, id: string): Promise<PurgeIntent | undefined> {
    await Promise.resolve();
    const found = this.items.get(`${site}/${id}`);
    return found && { ...found };
  }
  async putIntent(intent: PurgeIntent): Promise<void> {
    await Promise.resolve();
    this.items.set(`${intent.site}/${intent.id}`, { ...intent });
  }
  async listIntents(site: string): Promise<PurgeIntent[]> {
    await Promise.resolve();
    return [...this.items.values()].filter((i) => i.site === site).sort((a, b) => a.id.localeCompare(b.id));
  }
  async closeIntent(site: string, id: string): Promise<void> {
    await Promise.resolve();
    this.items.delete(`${site}/${id}`);
  }
}

/** The intent id of an object: the same for every attempt at deleting it. */
export function purgeIntentId(site: string, key: string): string {
  return createHash('sha256').update(`${site}\n${key}`).digest('hex').slice(0, 24);
}

export interface IntentDeps {
  audit: (event: AuditEvent) => void | Promise<void>;
  intents: PurgeIntentStore;
  /** `list` tells whether an object is still there (the purge may list what it deletes; it may not read a backup). */
  blobs: Pick<BlobStore, 'get' | 'list'>;
  /** The trail as written (the ledger): where a retry finds a record it may have written already; absent, a retry writes it again. */
  trail?: Pick<AuditLedger, 'head' | 'records'>;
  clock?: Clock;
  principal: string;
}

/** Whether a record is the `begun` record or an outcome (a `purge` record, or a `purge-intent` in another state) of intent `id`. */
function isRecordOf(r: AuditRecord, id: string, record: PendingRecord['record']): boolean {
  const d = r.event.detail;
  if (d?.intent !== id) return false;
  if (record === 'begun') return r.event.action === 'purge-intent' && d.state === 'begun';
  return r.event.action === 'purge' || (r.event.action === 'purge-intent' && d.state !== 'begun');
}

/** Whether the trail holds the record the intent notes pending (looked up after the seq it noted). */
async function pendingWritten(deps: Pick<IntentDeps, 'trail'>, intent: PurgeIntent): Promise<boolean> {
  const { pending } = intent;
  if (!pending || !deps.trail) return false;
  let from = pending.from + 1;
  for (;;) {
    const page = await deps.trail.records(intent.site, from, 500);
    if (page.length === 0) return false;
    if (page.some((r) => r.seq >= from && isRecordOf(r, intent.id, pending.record))) return true;
    from = page.at(-1)!.seq + 1;
  }
}

/**
 * Writes a record about `intent` once: when the intent notes this record pending and the trail
 * holds it, nothing is written; otherwise the intent is noted with the record pending (and the
 * trail's head) first, then the record is written. Returns the intent as noted.
 */
async function recordOnce(deps: IntentDeps, intent: PurgeIntent, record: PendingRecord['record'], event: AuditEvent): Promise<PurgeIntent> {
  if (intent.pending?.record === record && (await pendingWritten(deps, intent))) return intent;
  const from = deps.trail ? ((await deps.trail.head(intent.site))?.seq ?? 0) : 0;
  const noted: PurgeIntent = { ...intent, pending: { record, from } };
  await deps.intents.putIntent(noted);
  await deps.audit(event);
  return noted;
}

/** Writes the outcome of an open intent once, then closes it (a retry after the record only closes it). */
export async function recordOutcome(deps: IntentDeps, intent: PurgeIntent, event: AuditEvent): Promise<void> {
  await recordOnce(deps, intent, 'outcome', event);
  await deps.intents.closeIntent(intent.site, intent.id);
}

/** The outcome of an intent whose object and manifest an earlier attempt deleted without recording it: the calls are the intent record's. */
export function completedEvent(deps: Pick<IntentDeps, 'clock' | 'principal'>, intent: PurgeIntent, note: string): AuditEvent {
  const at = nowIso(deps);
  const named: Record<string, string | number> = intent.recordings !== undefined ? { recordings: intent.recordings, calls: `as named by its purge-intent record (intent ${intent.id})` } : {};
  const detail = { intent: intent.id, state: 'completed', object: intent.key, kind: intent.kind, ...(intent.manifest ? { manifest: intent.manifest } : {}), ...named, note };
  return { at, action: 'purge', site: intent.site, principal: deps.principal, detail };
}

type Target = PurgeBatch['targets'][number];

/** Whether `key` is still in the bucket (a listing of its own name). */
export async function stillThere(blobs: Pick<BlobStore, 'list'>, key: string): Promise<boolean> {
  for await (const info of blobs.list(key)) if (info.key === key) return true;
  return false;
}

/** The calls a pack target takes, as the audit records name them (`callLine`), read from its manifest before anything is deleted. */
async function callsOf(deps: Pick<IntentDeps, 'blobs'>, t: Target, callLine: (m: ReturnType<typeof parseManifest>['members'][number]) => string): Promise<Record<string, string | number | string[]>> {
  if (!t.then || !isPackManifestKey(t.then)) return {};
  try {
    const { body } = await deps.blobs.get(t.then);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
    const keep = new Set(t.keep ?? []);
    const members = parseManifest(Buffer.concat(chunks).toString('utf8')).members.filter((m) => !keep.has(m.rid));
    return { recordings: members.length, rids: members.map((m) => m.rid), calls: members.map(callLine) };
  } catch (error) {
    return { calls: [`not named: manifest ${t.then} could not be read before the delete (${messageOf(error)})`] };
  }
}

/**
 * Writes the `purge-intent` record of each target not yet begun (its intent not open), then notes
 * it open; resolves once every target has one. Throws when a record cannot be written: the caller
 * then deletes nothing. Returns each target's intent id.
 */
export async function beginPurge(deps: IntentDeps, site: string, targets: readonly Target[], callLine: Parameters<typeof callsOf>[2], rule?: PurgeBatch['rule']): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const t of targets) {
    const id = purgeIntentId(site, t.key);
    ids.set(t.key, id);
    // Begun by an earlier attempt (a retried step, or a run that stopped): its record stands,
    // unless that attempt stopped before writing it (then it is written now, once).
    const earlier = await deps.intents.getIntent(site, id);
    if (earlier && earlier.pending?.record !== 'begun') continue;
    if (earlier && (await pendingWritten(deps, earlier))) {
      await deps.intents.putIntent(noPending(earlier));
      continue;
    }
    const at = nowIso(deps);
    const named = await callsOf(deps, t, callLine);
    const days: Record<string, string | number> = t.kind === 'pack' && rule && t.rule !== 'erasure' ? { retentionDays: rule.retentionDays, cutoff: rule.cutoff } : {};
    const erasure: Record<string, string[]> = t.erase?.length ? { erased: t.erase } : {};
    const intent: PurgeIntent = { site, id, key: t.key, ...(t.then ? { manifest: t.then } : {}), kind: t.kind, at, ...(typeof named.recordings === 'number' ? { recordings: named.recordings } : {}) };
    const event: AuditEvent = { at, action: 'purge-intent', site, principal: deps.principal, detail: { intent: id, state: 'begun', object: t.key, kind: t.kind, rule: t.rule ?? 'retention', ...days, ...(t.then ? { manifest: t.then } : {}), ...erasure, ...named } };
    // Noted pending, written, then noted open (announced): a retry between the two finds it in the trail.
    await deps.intents.putIntent(noPending(await recordOnce(deps, intent, 'begun', event)));
  }
  return ids;
}

function noPending(intent: PurgeIntent): PurgeIntent {
  const { pending: _pending, ...rest } = intent;
  return rest;
}

/**
 * Closes the intents of the targets a batch did not delete while their object is still there: a
 * `purge-intent` record (state `not-deleted`, the reason) each. An intent whose object is gone
 * (its manifest kept) stays open: the next purge deletes the manifest and records the outcome.
 */
export async function closeNotDeleted(deps: IntentDeps, site: string, kept: { target: Target; id: string; reason: string }[]): Promise<void> {
  for (const { target, id, reason } of kept) {
    const intent = await deps.intents.getIntent(site, id);
    if (!intent) continue;
    if (!(await stillThere(deps.blobs, target.key))) continue;
    const at = nowIso(deps);
    await recordOutcome(deps, intent, { at, action: 'purge-intent', site, principal: deps.principal, detail: { intent: id, state: 'not-deleted', object: target.key, reason } });
  }
}

export interface IntentsSettled {
  /** Deletions an earlier purge began and finished without recording their outcome: recorded now. */
  completed: number;
  /** Intents of objects still there: nothing was deleted under them; closed. */
  notDeleted: number;
  /** Left open: the object is gone and its manifest is not (this purge deletes it). */
  open: number;
  /** Closed without a record: an earlier purge wrote its outcome and stopped before closing it, or stopped before announcing it. */
  closed?: number;
}

/**
 * Settles the intents an earlier purge left open (run by the plan step, under the site's lock,
 * before any batch of this purge): see the file's comment.
 */
export async function settleOpenIntents(deps: IntentDeps, site: string): Promise<IntentsSettled | undefined> {
  const open = await deps.intents.listIntents(site);
  if (open.length === 0) return undefined;
  const out: IntentsSettled = { completed: 0, notDeleted: 0, open: 0 };
  for (const intent of open) {
    // Its outcome in the trail already, or its begun record never written: closed, nothing recorded again.
    const written = await pendingWritten(deps, intent);
    if (intent.pending?.record === 'outcome' ? written : intent.pending?.record === 'begun' && deps.trail && !written) {
      await deps.intents.closeIntent(site, intent.id);
      out.closed = (out.closed ?? 0) + 1;
      continue;
    }
    const at = nowIso(deps);
    if (await stillThere(deps.blobs, intent.key)) {
      await recordOutcome(deps, intent, { at, action: 'purge-intent', site, principal: deps.principal, detail: { intent: intent.id, state: 'not-deleted', object: intent.key, reason: `found still there by a later purge: the purge that began deleting it (${intent.at}) stopped before the delete` } });
      out.notDeleted++;
      continue;
    }
    if (intent.manifest && (await stillThere(deps.blobs, intent.manifest))) {
      out.open++;
      continue;
    }
    await recordOutcome(deps, intent, completedEvent(deps, intent, `deleted by the purge that began it (${intent.at}), which stopped before recording the outcome; recorded by a later purge`));
    out.completed++;
  }
  return out;
}

/** A `begun` intent of the trail with no outcome after it, as `ferry audit verify` lists them. */
export interface OpenIntentRecord {
  seq: number;
  intent: string;
  object: string;
  at: string;
}

/**
 * The `purge-intent` records (state `begun`) no later record closes: a `purge` record or a
 * `purge-intent` record in another state naming the same intent. Records in chain order.
 */
export function openIntentRecords(records: Iterable<AuditRecord>): OpenIntentRecord[] {
  const open = new Map<string, OpenIntentRecord>();
  for (const r of records) {
    const intent = r.event.detail?.intent;
    if (typeof intent !== 'string') continue;
    if (r.event.action === 'purge-intent' && r.event.detail?.state === 'begun') {
      if (!open.has(intent)) open.set(intent, { seq: r.seq, intent, object: String(r.event.detail.object), at: r.event.at });
    } else if (r.event.action === 'purge' || r.event.action === 'purge-intent') open.delete(intent);
  }
  return [...open.values()];
}
