import { parseArtefactManifest } from './artefact.ts';
import type { AuditEvent } from './audit-trail.ts';
import type { Clock } from './clock.ts';
import { copyOutHeld, type CopyOutDeps, type CopyOutOptions, type CopyOutResult } from './copy-out.ts';
import { keptMetaText } from './catalogue-items.ts';
import type { ErasureStore } from './erasure-items.ts';
import { markErased } from './erasure-purge.ts';
import { deleteReplicas, type ReplicaBucket } from './erasure-replica.ts';
import { ArchivedError, messageOf, NotFoundError } from './errors.ts';
import { artefactEntryOf } from './ingest-artefact.ts';
import { ingestManifest } from './ingest.ts';
import { isPackManifestKey, packAttemptsPrefixOf, sitePrefix } from './layout.ts';
import type { LockStore } from './lock.ts';
import { parseManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueStore } from './ports.ts';
import type { DeleteOutcome, ObjectDeleter } from './purge.ts';
import type { ArchiveStore } from './recall.ts';
import type { PurgeBatch } from './retention.ts';
import { deleteTreeTargets, isTreeTarget } from './tree-purge.ts';
import { beginPurge, nowIso, type IntentDeps, type PurgeIntentStore } from './purge-intents.ts';
import { auditPurged, closeKept, finishEarlierAttempt, intentDeps, type Gone } from './purge-outcomes.ts';

export { PURGE_PRINCIPAL } from './purge-intents.ts';

// The purge's deletions (core/purge.ts plans them): one batch at a time, fenced by the site
// lock; held calls copied out first, objects before their manifests, every deletion recorded
// in the site's audit trail: announced before the first delete (a `purge-intent` record naming
// the object and its calls, core/purge-intents.ts), its outcome recorded once it is gone.

/** A manifest's text, read whole (manifests are small). */
export async function readText(blobs: Pick<BlobStore, 'get'>, key: string): Promise<string> {
  const { body } = await blobs.get(key);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString('utf8');
}

export interface BatchResult {
  index: number;
  /** Objects deleted (objects and their manifests). */
  deleted: number;
  /** Targets fully gone (object and manifest). */
  targetsDone: number;
  retained: { key: string; reason: string }[];
  retainedCount: number;
  failed: { key: string; reason: string }[];
  failedCount: number;
  /** Erasure requests carried out by this batch (their call's pack and manifest gone): marked done. */
  erased?: number;
}

const LISTED = 20;

/**
 * The most a batch's result may weigh as JSON: the Map state gathers every batch's result into
 * the execution's state beside the plan (Step Functions caps it at 256 KiB; fitPlanState keeps
 * room for this much per batch). Reasons are cut to REASON_CHARS, then entries dropped from the
 * end of the longer list; the counts stay whole.
 */
export const BATCH_RESULT_BYTES = 8 * 1024;
const REASON_CHARS = 1000;

export function withinResultBytes<R extends { retained: { key: string; reason: string }[]; failed: { key: string; reason: string }[] }>(result: R): R {
  const cut = (l: { key: string; reason: string }[]) => l.slice(0, LISTED).map((e) => (e.reason.length > REASON_CHARS ? { ...e, reason: `${e.reason.slice(0, REASON_CHARS - 1)}…` } : e));
  const out = { ...result, retained: cut(result.retained), failed: cut(result.failed) };
  while (Buffer.byteLength(JSON.stringify(out)) > BATCH_RESULT_BYTES && out.retained.length + out.failed.length > 0) {
    if (out.retained.length > out.failed.length) out.retained.pop();
    else out.failed.pop();
  }
  return out;
}

/** Days a restored copy of an archived pack stays readable for the copy-out of its held calls. */
export const COPY_OUT_RESTORE_DAYS = 7;

export interface PurgeDeleteDeps {
  /** The site's durable audit trail: a `purge-intent` record per object before it is deleted, a `purge` record once it is gone (absent: not recorded). */
  audit?: (event: AuditEvent) => void | Promise<void>;
  /** The purge's open intents (core/purge-intents.ts); absent, an intent is known open only within one batch. */
  intents?: PurgeIntentStore;
  /** The trail as written (the ledger): a retried step finds there the records an earlier attempt wrote (absent: it writes them again). */
  trail?: IntentDeps['trail'];
  /** Dates the audit records (default the system clock). */
  clock?: Clock;
  /** Asks S3 to restore an archived pack whose held calls must be copied out (absent: not asked). */
  archive?: Pick<ArchiveStore, 'requestRestore'>;
  deleter: ObjectDeleter;
  locks: Pick<LockStore, 'heartbeat'>;
  /** `head` and the catalogue's `copiesOf` and writes: a call still offsite in another copy is catalogued again from it (catalogueFromCopies). */
  blobs: Pick<BlobStore, 'get' | 'list' | 'head'>;
  catalogue: Pick<CatalogueStore, 'forgetPack' | 'forgetArtefact' | 'forgetSnapshot' | 'putSnapshot' | 'packKeysOf' | 'copiesOf' | 'putRecordings' | 'putPack' | 'putCopies'>;
  /**
   * Copy-out of held calls (core/copy-out.ts), with legal hold ON on the copies and OFF on the
   * pack they leave. Absent: a pack planned for copy-out is kept and reported failed.
   */
  copyOut?: CopyOutDeps;
  /** Erasure requests (core/erasure-purge.ts): those of a pack gone are marked done; absent, they stay pending. */
  erasures?: Pick<ErasureStore, 'getErasure' | 'markDone' | 'noteWaiting'>;
  /** The DR bucket (`replication`): the copies of the packs an erasure deletes go there first (core/erasure-replica.ts); absent, no DR bucket is touched. */
  replica?: ReplicaBucket;
}

/** How a target's kept calls are copied: held calls under legal hold, or (an erasure) every call but the erased, held only if one of them is. */
const copyOptions = (t: PurgeBatch['targets'][number]): CopyOutOptions | undefined => (t.erase ? { purpose: 'erasure', legalHold: t.keepHeld === true } : undefined);

/**
 * One purged call as the audit record names it: the recording id, then what a person searched it
 * by, as the catalogue kept it (a sidecar's transcript mapped to a field, whole, made a pack's
 * record hundreds of MB, past what an audit page can answer).
 */
function callLine(member: ReturnType<typeof parseManifest>['members'][number]): string {
  const meta = member.meta ?? {};
  const text = (field: 'callId' | 'caller' | 'called' | 'agent') => (meta[field] === undefined ? undefined : keptMetaText(field, meta[field]));
  const parts = [member.rid, `callId=${text('callId') ?? '-'}`, `start=${meta.start ?? member.mtime}`, `${text('caller') ?? '?'}→${text('called') ?? '?'}`];
  if (meta.agent !== undefined) parts.push(`agent=${text('agent')}`);
  return parts.join(' ');
}

/**
 * Forgets the catalogue entries a deleted object's manifest made, once the object is gone: the
 * catalogue never lists what is not there. The manifest itself goes only after this succeeded,
 * so a failure here is retried by the next purge (deleting an absent object is a no-op). Returns
 * the recordings forgotten, each as a person finds it again (none for an artefact).
 */
async function forgetCatalogued(deps: PurgeDeleteDeps, site: string, manifestKey: string, keep: string[] = [], erased: string[] = []): Promise<Gone> {
  const text = await readText(deps.blobs, manifestKey);
  if (isPackManifestKey(manifestKey)) {
    const m = parseManifest(text);
    // Copied-out calls are catalogued in their new pack now: their entries stay. So does the entry
    // of a call catalogued in another pack (the same recording shipped twice: the first copy is
    // the catalogue's, and it is still in the bucket).
    const rids = m.members.map((x) => x.rid).filter((rid) => !keep.includes(rid));
    const where = await deps.catalogue.packKeysOf(rids.map((rid) => ({ site, rid })));
    const forgotten = rids.filter((rid) => { const at = where.get(recordingLookupKey(site, rid)); return at === undefined || at === m.packKey; });
    // Every member is named, so that the pack's copies of calls catalogued elsewhere go with it:
    // forgetPack deletes an entry only while it names this pack, so the others' entries stay.
    await deps.catalogue.forgetPack(site, m.packId, m.members.map((x) => x.rid));
    // An erased call is not catalogued again from a copy its erasure has yet to delete.
    const again = await catalogueFromCopies(deps, site, m.packId, forgotten.filter((rid) => !erased.includes(rid)));
    const gone = new Set(forgotten.filter((rid) => !again.has(rid)));
    return { rids: [...gone], calls: m.members.filter((x) => gone.has(x.rid)).map(callLine) };
  }
  await deps.catalogue.forgetArtefact(artefactEntryOf(parseArtefactManifest(text), manifestKey));
  return { rids: [], calls: [] };
}

/**
 * The calls of a purged pack that another pack still holds (the same recording shipped twice: the
 * copy ingest recorded, putCopies), catalogued again from that pack's manifest. Without it a call
 * still offsite left every search and replay with its first copy, and the purge, which finds a
 * pack dated after the cutoff by its calls' entries, never found the second. A copy whose pack is
 * gone too (purged in the same batch) is left: its own forget removes it. Returns the rids
 * catalogued again.
 */
async function catalogueFromCopies(deps: PurgeDeleteDeps, site: string, packId: string, rids: string[]): Promise<Set<string>> {
  if (rids.length === 0) return new Set();
  const copies = await deps.catalogue.copiesOf(site, rids);
  const packs = new Map<string, string>();
  for (const list of copies.values()) for (const c of list) if (c.packId !== packId) packs.set(c.manifestKey, c.packKey);
  let ingested = 0;
  for (const [manifestKey, packKey] of packs) {
    if (!(await deps.blobs.head(packKey))) continue;
    await ingestManifest(deps, manifestKey);
    ingested++;
  }
  if (ingested === 0) return new Set();
  const where = await deps.catalogue.packKeysOf(rids.map((rid) => ({ site, rid })));
  return new Set(rids.filter((rid) => where.has(recordingLookupKey(site, rid))));
}

/** Deletes one batch: objects first, then their catalogue entries, then their manifests. Heartbeats the lock first (fencing). */
export async function deletePurgeBatch(deps: PurgeDeleteDeps, site: string, token: number, batch: PurgeBatch): Promise<BatchResult> {
  // LockLostError here stops the purge: whoever cleared our lock may be running a backup.
  await deps.locks.heartbeat(site, token);
  const intents = intentDeps(deps);
  if (batch.targets.some(isTreeTarget)) {
    // Nothing is deleted before the intent of each target is recorded (throws otherwise).
    const ids = intents ? await beginPurge(intents, site, batch.targets, callLine) : new Map<string, string>();
    const tree = await deleteTreeTargets(deps, site, batch.targets);
    const { deleted, retained, failed, targetsDone } = tree;
    const gone = new Set(deleted);
    await auditPurged(intents, site, batch.targets.filter((t) => gone.has(t.key)).map((target) => ({ target, gone: { rids: [], calls: [] } })), ids);
    await closeKept(intents, site, batch.targets, gone, ids, [...retained, ...failed]);
    return withinResultBytes({ index: batch.index, deleted: deleted.length, targetsDone, retained, retainedCount: retained.length, failed, failedCount: failed.length });
  }
  const own = (key: string) => [sitePrefix('recordings', site), sitePrefix('manifests', site), sitePrefix('backups', site), sitePrefix('logs', site)].some((p) => key.startsWith(p));
  const foreign = batch.targets.flatMap((t) => [t.key, ...(t.then ? [t.then] : [])]).filter((k) => !own(k));
  if (foreign.length) throw new Error(`purge batch ${batch.index} names keys outside site ${site}: ${foreign.slice(0, 3).join(', ')}`);

  // A retried step: what an earlier attempt deleted is not copied out or deleted again.
  const earlier = await finishEarlierAttempt(intents, site, batch.targets);
  const copied = await copyOut(deps, site, batch.targets.filter((t) => !earlier.has(t.key)));
  const { copies, copyFailed } = copied;
  // The write-ahead record: every object this batch may delete (and its DR copy, and its dead
  // attempts) is named in the trail, with its calls, before the first delete; throws otherwise.
  const ids = intents ? await beginPurge(intents, site, copied.ready, callLine, batch.rule) : new Map<string, string>();
  // An erasure's pack goes here only once its DR copy is gone: one kept there keeps it here too, for the next purge.
  const { ready, refused } = await deleteReplicas(deps.replica, copied.ready);
  for (const { target, reason } of refused) {
    copyFailed.push({ key: target.key, reason });
    if (target.erase?.length) await noteErasureWaiting(deps, site, target.erase, `pack ${target.key}: ${reason}`);
  }
  const attempts = await deleteErasedAttempts(deps.deleter, ready);
  for (const { target, reason } of attempts.kept) {
    copyFailed.push({ key: target.key, reason });
    await noteErasureWaiting(deps, site, target.erase!, `pack ${target.key}: ${reason}`);
  }
  const first = await deps.deleter.deleteObjects(attempts.packs.map((t) => t.key));
  first.deleted.push(...attempts.outcome.deleted);
  first.retained.push(...attempts.outcome.retained);
  first.failed.push(...attempts.outcome.failed, ...copyFailed);
  const gone = new Set(first.deleted);
  const forgetFailed: { key: string; reason: string }[] = [];
  const dependents: string[] = [];
  const forgotten = new Map<string, Gone>();
  const manifestGone = new Set<string>();
  for (const t of ready.filter((x) => x.then && gone.has(x.key))) {
    try {
      forgotten.set(t.key, await forgetCatalogued(deps, site, t.then!, t.keep, t.erase));
      // Point the kept calls at their copy again, in case the old manifest was ingested once more meanwhile.
      const copy = copies.get(t.key);
      if (copy && deps.copyOut) await copyOutHeld(deps.copyOut, site, t.then!, copy.rids, copyOptions(t));
      dependents.push(t.then!);
    } catch (error) {
      // Deleted by an earlier attempt at this batch (after its entries were removed): gone, not kept.
      if (error instanceof NotFoundError && !(await deps.blobs.head(t.then!))) manifestGone.add(t.then!);
      else forgetFailed.push({ key: t.then!, reason: `catalogue entries not removed, manifest kept for the next purge: ${messageOf(error)}` });
    }
  }
  const second = dependents.length ? await deps.deleter.deleteObjects(dependents) : { deleted: [], retained: [], failed: [] };
  const secondGone = new Set(second.deleted);
  const retained = [...first.retained, ...second.retained];
  const failed = [...first.failed, ...forgetFailed, ...second.failed];
  const done = ready.filter((t) => gone.has(t.key) && (!t.then || secondGone.has(t.then) || manifestGone.has(t.then)));
  await auditPurged(intents, site, done.map((target) => ({ target, gone: forgotten.get(target.key) ?? { rids: [], calls: [] } })), ids, batch.rule);
  await closeKept(intents, site, copied.ready, new Set(done.map((t) => t.key)), ids, [...retained, ...failed]);
  // Done only now: the old pack and its manifest are gone, and the purge record naming the erased calls is written.
  let erased = 0;
  const at = nowIso(deps);
  for (const t of done.filter((x) => x.erase?.length && deps.erasures)) {
    const copy = copies.get(t.key);
    const note = `pack ${t.key} and its manifest deleted${copy ? `; the pack's other ${copy.rids.length} call(s) copied to ${copy.packKey}` : ''}`;
    const later = new Set(t.eraseLater ?? []);
    erased += await markErased({ erasures: deps.erasures!, audit: deps.audit }, site, t.erase!.filter((rid) => !later.has(rid)), at, note, true);
  }
  return withinResultBytes({
    ...(erased ? { erased } : {}),
    index: batch.index,
    deleted: first.deleted.length + second.deleted.length,
    targetsDone: done.length + earlier.size,
    retained,
    retainedCount: retained.length,
    failed,
    failedCount: failed.length,
  });
}

/**
 * The dead attempts at the packs an erasure deletes (`replica`) go first: they hold the erased
 * calls too, and the pack's manifest is the only record of them. A pack one of whose dead
 * attempts is left here is kept (and its manifest), so that the next purge tries both again and
 * the request is not done while the attempt still holds the call. Returns the other targets.
 */
async function deleteErasedAttempts(deleter: ObjectDeleter, targets: PurgeBatch['targets']) {
  const dead = targets.filter((t) => t.replica && !t.then);
  const rest = targets.filter((t) => !(t.replica && !t.then));
  if (dead.length === 0) return { packs: rest, outcome: { deleted: [], retained: [], failed: [] } as DeleteOutcome, kept: [] };
  const outcome = await deleter.deleteObjects(dead.map((t) => t.key));
  const left = new Map<string, string[]>();
  for (const { key } of [...outcome.retained, ...outcome.failed]) {
    const attempts = packAttemptsPrefixOf(key);
    if (attempts) left.set(attempts, [...(left.get(attempts) ?? []), key]);
  }
  const packs: PurgeBatch['targets'] = [];
  const kept: { target: PurgeBatch['targets'][number]; reason: string }[] = [];
  for (const t of rest) {
    const attempts = t.erase?.length ? packAttemptsPrefixOf(t.key) : undefined;
    const keys = attempts ? left.get(attempts) : undefined;
    if (keys?.length) kept.push({ target: t, reason: `erasure of call(s) ${t.erase!.join(', ')} waits, pack kept: its dead attempt(s) ${keys.join(', ')} could not be deleted here; the next purge tries again` });
    else packs.push(t);
  }
  return { packs, outcome, kept };
}

/** What was asked of S3 for an archived pack: a restore (Bulk), one under way, or why none. */
async function restoreAsked(deps: PurgeDeleteDeps, key: string): Promise<string> {
  try {
    return deps.archive ? `${(await deps.archive.requestRestore(key, COPY_OUT_RESTORE_DAYS, 'Bulk')) === 'started' ? 'a restore was requested' : 'its restore is under way'} (Bulk, ready within 48 hours, readable ${COPY_OUT_RESTORE_DAYS} days)` : 'no restore could be requested by this purge';
  } catch (restoreError) {
    return `its restore could not be requested (${messageOf(restoreError)})`;
  }
}

/**
 * Why a pack's kept calls were not copied out. A pack past retention is in the archive tier (the
 * lifecycle moves packs there long before), where the copy-out cannot read it: a restore is asked
 * for, so that a later purge copies the calls out and deletes the rest; without it every purge
 * would fail on the same pack for ever. An erasure's rewrite says what the erasure waits for (the
 * pack's restore, to copy its other calls), never "held calls": its kept calls need not be held.
 */
async function copyOutFailure(deps: PurgeDeleteDeps, t: PurgeBatch['targets'][number], error: unknown): Promise<string> {
  const kept = t.keep?.length ?? 0;
  const archived = error instanceof ArchivedError ? { storageClass: error.storageClass, asked: await restoreAsked(deps, t.key) } : undefined;
  if (t.erase?.length) {
    const erased = `erasure of call(s) ${t.erase.join(', ')} waits, pack kept`;
    if (!archived) return `${erased}: the pack's other ${kept} call(s) could not be copied to a new pack (tried again by the next purge): ${messageOf(error)}`;
    return `${erased}: the pack is in the archive tier (${archived.storageClass}) and its other ${kept} call(s) must be read from it to be copied to a new pack first; ${archived.asked}: the first purge after the restore copies them and deletes the pack`;
  }
  if (!archived) return `held calls not copied out, pack kept for the next purge: ${messageOf(error)}`;
  return `${kept} held call(s) not copied out, pack kept past retention: it is in the archive tier (${archived.storageClass}); ${archived.asked}: the first purge after the restore copies the held call(s) out and deletes the rest`;
}

/** Writes on each erased call's request what its erasure waits for (the reason the copy-out failed); a request done meanwhile is left done. */
async function noteErasureWaiting(deps: PurgeDeleteDeps, site: string, rids: string[], reason: string): Promise<void> {
  if (!deps.erasures) return;
  const at = nowIso(deps);
  for (const rid of rids) {
    const request = await deps.erasures.getErasure(site, rid);
    if (request?.status !== 'pending') continue;
    await deps.erasures.noteWaiting({ ...request, waiting: reason, waitingAt: at }).catch((noteError: unknown) => {
      if (!(noteError instanceof NotFoundError)) throw noteError;
    });
  }
}

/**
 * Copies the held calls of each `keep` target out to their own held pack, then sets legal
 * hold OFF on the pack they leave (its held calls now live, held, elsewhere). A target whose
 * copy-out failed is not deleted: it is reported failed and the next purge tries again.
 */
async function copyOut(deps: PurgeDeleteDeps, site: string, targets: PurgeBatch['targets']) {
  const ready: PurgeBatch['targets'] = [];
  const copies = new Map<string, CopyOutResult>();
  const copyFailed: { key: string; reason: string }[] = [];
  for (const t of targets) {
    if (!t.keep?.length || !t.then) {
      ready.push(t);
      continue;
    }
    try {
      if (!deps.copyOut) throw new Error('this purge cannot copy out (no copy-out dependencies)');
      copies.set(t.key, await copyOutHeld(deps.copyOut, site, t.then, t.keep, copyOptions(t)));
      await deps.copyOut.holder.setLegalHold(t.key, false);
      await deps.copyOut.holder.setLegalHold(t.then, false);
      ready.push(t);
    } catch (error) {
      const reason = await copyOutFailure(deps, t, error);
      copyFailed.push({ key: t.key, reason });
      if (t.erase?.length) await noteErasureWaiting(deps, site, t.erase, `pack ${t.key}: ${reason}`);
    }
  }
  return { ready, copies, copyFailed };
}
