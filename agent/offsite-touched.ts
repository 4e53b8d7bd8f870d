import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { parseManifest, type PackManifest } from '../core/manifest.ts';
import type { FileStamp } from './journal.ts';
import type { BatchWork } from './sources/recordings.ts';
import { packAttemptOf } from '../core/layout.ts';
import { planPack, type PackPlan } from './pack-attempts.ts';
import { readAll } from './recover.ts';
import { verifyObject } from './verify.ts';
import { assertUnchanged, openReadOnly, type ShipContext, type ShipResult } from './ship-batch.ts';

// A batch whose recordings shipped before under other file times, with the same names and sizes:
// a calls folder copied without its times (`cp -r`, a Windows Explorer copy: a recorder moved to
// a new PC as its manual says, its state directory copied along), or a backup tool that touched
// them. Pack ids and the manifest's dated folder come from file times, so the batch would ship
// again whole: every byte of the recorder's disk sent over the site's uplink a second time and
// stored a second time, and a critical alert saying the recordings changed. The pack that
// shipped them is found from the stamps the journal kept (its id and date are those stamps'),
// its manifest read back (the agent may read its own site's objects), and every file of the
// batch hashed here: when each holds the very bytes the manifest lists, the batch is recorded as
// shipped in that pack and nothing is sent. Anything else (another content, a member missing, the
// batch shipped in several packs, a manifest the store no longer holds) ships as before.

/**
 * The old stamp of each file the plan would pack (recordings, then their sidecars): the one of
 * the same name and size that shipped from the batch. Undefined unless every file has exactly
 * one, and at least one recording's time differs (a batch of unchanged stamps is not this case).
 */
function stampsBefore(plan: PackPlan, shipped: readonly FileStamp[]): Map<string, FileStamp> | undefined {
  const before = new Map<string, FileStamp>();
  for (const s of plan.stamps) {
    const same = shipped.filter((o) => o.name === s.name && o.size === s.size);
    if (same.length !== 1) return undefined;
    before.set(s.name, same[0]!);
  }
  return plan.stamps.some((s) => Math.trunc(before.get(s.name)!.mtimeMs) !== Math.trunc(s.mtimeMs)) ? before : undefined;
}

/** SHA-256 of a file read read-only (no lock, no atime); undefined when it is not `stamp.size` bytes now. */
async function sha256Of(ctx: Pick<ShipContext, 'openFile'>, path: string, stamp: FileStamp): Promise<string | undefined> {
  const handle = await openReadOnly(ctx, path);
  try {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of handle.createReadStream({ autoClose: false, start: 0 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return size === stamp.size ? hash.digest('hex') : undefined;
  } finally {
    await handle.close();
  }
}

/** Whether every member of the manifest is a file of the batch holding the bytes the manifest lists, and the batch has no other. */
async function sameContent(ctx: ShipContext, work: BatchWork, manifest: PackManifest): Promise<boolean> {
  const dir = join(ctx.sourceRoot, work.batch);
  const pathOf = (name: string) => (work.batch ? posix.join(work.batch, name) : name);
  const recordings = new Map(work.recordings.map((r) => [pathOf(r.name), r]));
  if (manifest.members.length !== recordings.size) return false;
  for (const m of manifest.members) {
    const rec = recordings.get(m.path);
    if (!rec || m.length !== rec.size) return false;
    const sidecar = work.sidecars.get(rec.name);
    if ((sidecar === undefined) !== (m.sidecar === undefined)) return false;
    if ((await sha256Of(ctx, join(dir, rec.name), rec)) !== m.sha256) return false;
    if (sidecar && m.sidecar && (m.sidecar.length !== sidecar.size || (await sha256Of(ctx, join(dir, sidecar.name), sidecar)) !== m.sidecar.sha256)) return false;
  }
  return true;
}

/**
 * The batch found offsite under the times it shipped with (see above), recorded as shipped in
 * that pack (nothing sent); undefined when it is not, and the batch ships as before. A store or
 * file error while looking is not the batch's failure: it ships as before, and that shipping
 * meets and reports the error if it lasts.
 */
export async function offsiteUnderOtherTimes(ctx: ShipContext, work: BatchWork): Promise<ShipResult | undefined> {
  const shipped = ctx.journal.shippedStamps(work.source, work.batch);
  if (shipped.length === 0) return undefined;
  const plan = planPack(ctx.site, work);
  const before = stampsBefore(plan, shipped);
  if (!before) return undefined;
  const manifest = await packShippedBefore(ctx, work, before).catch(() => undefined);
  if (!manifest) return undefined;
  const bytes = manifest.members.reduce((n, m) => n + m.length, 0);
  // Recorded under this listing's pack id, pointing at the pack that holds the bytes (recovery
  // after a kill between the two lines finds that manifest and counts the batch shipped).
  await ctx.journal.begin({ packId: plan.packId, source: work.source, batch: work.batch, packKey: manifest.packKey, manifestKey: manifest.key, files: plan.stamps });
  await ctx.journal.published(plan.packId, manifest.members.length, bytes, true);
  return { packId: manifest.packId, packKey: manifest.packKey, manifestKey: manifest.key, recordings: manifest.members.length, bytes, issues: [], alreadyOffsite: true };
}

/** The manifest of the pack the batch shipped in under its old stamps, when it holds this very content; undefined otherwise. */
async function packShippedBefore(ctx: ShipContext, work: BatchWork, before: ReadonlyMap<string, FileStamp>): Promise<(PackManifest & { key: string }) | undefined> {
  const recordings = work.recordings.map((r) => before.get(r.name)!);
  const sidecars = new Map([...work.sidecars].map(([name, s]) => [name, before.get(s.name)!]));
  const old = planPack(ctx.site, { ...work, recordings, sidecars, oldestMs: Math.min(...recordings.map((r) => r.mtimeMs)) });
  if (!(await ctx.store.head(old.manifestKey))) return undefined;
  const manifest = parseManifest(await readAll(ctx.store, old.manifestKey));
  const same = manifest.site === ctx.site && manifest.source === work.source && manifest.batch.path === work.batch && manifest.packId === old.packId && packAttemptOf(old.attempts, manifest.packKey) !== undefined;
  if (!same || !(await sameContent(ctx, work, manifest))) return undefined;
  // The files did not change while they were read (a copy still writing them is not this case).
  for (const stamp of planPack(ctx.site, work).stamps) assertUnchanged(join(ctx.sourceRoot, work.batch, stamp.name), stamp);
  await verifyObject(ctx.store, manifest.packKey, manifest.pack, ctx.verify);
  return { ...manifest, key: old.manifestKey };
}
