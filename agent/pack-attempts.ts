import { posix } from 'node:path';
import type { BlobStore } from '../core/ports.ts';
import type { PackManifest } from '../core/manifest.ts';
import { parseManifest } from '../core/manifest.ts';
import { packAttemptOf, packAttemptsPrefix, packKey, packManifestKey } from '../core/layout.ts';
import { packId as makePackId } from '../core/ids.ts';
import { AlreadyExistsError, IntegrityError } from '../core/errors.ts';
import { readAll } from './recover.ts';
import { verifyObject, type VerifyMode } from './verify.ts';
import type { Journal } from './journal.ts';
import type { BuilderStore } from './pack-builder.ts';
import type { BatchWork } from './sources/recordings.ts';

// What the store may already hold of a pack: earlier attempts (dead objects under the pack's
// attempt keys) and its manifest (the batch committed before a crash or a lost journal).
//
// Asking the store costs two requests a pack (the manifest's HEAD, a listing of the attempts)
// before anything is sent. They are skipped for a pack the journal never saw begin, on a store
// that refuses to replace an object (If-None-Match: *, which the deployed policy demands of every
// object-creating request): that pack is sent straight to its first attempt's key, and an earlier
// attempt the journal does not know of (a lost or stale state directory) surfaces there as the
// store's refusal of the pack or of its manifest. Nothing is published over it: the attempt
// stops (EarlierAttemptError) and the batch is shipped again with both questions asked.

/** What a pack is cut from; recomputable after a crash from the journal's record. */
export function planPack(site: string, work: BatchWork) {
  const stamps = work.recordings.flatMap((f) => {
    const sidecar = work.sidecars.get(f.name);
    return sidecar ? [f, sidecar] : [f];
  });
  const id = makePackId(site, work.source, work.batch, stamps.map((s) => ({ path: s.name, size: s.size, mtimeMs: s.mtimeMs })));
  const at = new Date(work.oldestMs);
  return {
    packId: id,
    packKey: packKey(site, id, at),
    attempts: packAttemptsPrefix(site, id, at),
    manifestKey: packManifestKey(site, id, at),
    stamps,
  };
}

export type PackPlan = ReturnType<typeof planPack>;

/** The key an attempt publishes under, and the earlier attempts' keys its manifest lists as dead. */
export interface Attempt {
  key: string;
  dead: string[];
}

/**
 * An attempt sent without asking the store first met an object it may not replace: the pack's
 * key or its manifest's was taken by an earlier attempt. Nothing was published by this attempt.
 */
export class EarlierAttemptError extends Error {
  override readonly name = 'EarlierAttemptError';
}

/**
 * Whether the pack may go to its first attempt's key without asking the store: the journal never
 * saw it begin (so no attempt of this state directory reached the store), and the store refuses
 * to replace an object (so an attempt of a lost state directory cannot be overwritten).
 */
export function mayShipUnasked(store: Pick<BlobStore, 'features'>, journal: Pick<Journal, 'begunBefore'>, plan: PackPlan): boolean {
  return store.features.conditionalPut && !journal.begunBefore(plan.packId);
}

/** The first attempt's key with nothing dead: what an unasked attempt publishes under. */
export const firstAttempt = (plan: PackPlan): Attempt => ({ key: plan.packKey, dead: [] });

/**
 * The key this attempt publishes under: the one after the last attempt the store holds. The
 * earlier attempts' objects never became the pack (else its manifest would exist): they are dead.
 */
export async function nextAttempt(store: Pick<BlobStore, 'list'>, plan: PackPlan): Promise<Attempt> {
  const dead: string[] = [];
  let last = -1;
  for await (const o of store.list(plan.attempts)) {
    const n = packAttemptOf(plan.attempts, o.key);
    if (n === undefined) continue;
    dead.push(o.key);
    last = Math.max(last, n);
  }
  return { key: last < 0 ? plan.packKey : `${plan.attempts}-${last + 1}.tar`, dead };
}

/** The batch's manifest when an earlier attempt already committed it (its answer lost, or a crash) and its pack verifies. */
export async function committedBefore(
  ctx: { store: Pick<BlobStore, 'head' | 'get'>; verify: VerifyMode },
  plan: PackPlan,
  work: BatchWork,
): Promise<PackManifest | undefined> {
  if (!(await ctx.store.head(plan.manifestKey))) return undefined;
  const manifest = parseManifest(await readAll(ctx.store, plan.manifestKey));
  const paths = work.recordings.map((r) => (work.batch ? posix.join(work.batch, r.name) : r.name)).sort();
  const same =
    manifest.packId === plan.packId &&
    packAttemptOf(plan.attempts, manifest.packKey) !== undefined &&
    manifest.batch.files === plan.stamps.length &&
    JSON.stringify(manifest.members.map((m) => m.path).sort()) === JSON.stringify(paths);
  if (!same) {
    throw new IntegrityError(`a different manifest is already published at ${plan.manifestKey} and cannot be replaced (write-once)`);
  }
  await verifyObject(ctx.store, manifest.packKey, manifest.pack, ctx.verify);
  return manifest;
}

/**
 * The store as the pack's uploader sees it, noting whether a publishing write was refused
 * because the key was taken (the uploader accepts that for its caller to verify).
 */
export function noticingTakenKeys(store: BlobStore): { store: BuilderStore; taken: () => boolean } {
  let taken = false;
  const note = (error: unknown): never => {
    if (error instanceof AlreadyExistsError) taken = true;
    throw error;
  };
  const watched: BuilderStore = {
    features: store.features,
    put: (key, body, options) => store.put(key, body, options).catch(note),
    completeMultipart: (key, id, parts, options) => store.completeMultipart(key, id, parts, options).catch(note),
    createMultipart: (key, options) => store.createMultipart(key, options),
    uploadPart: (...args) => store.uploadPart(...args),
    abortMultipart: (key, id) => store.abortMultipart(key, id),
    head: (key) => store.head(key),
  };
  return { store: watched, taken: () => taken };
}
