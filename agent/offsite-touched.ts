import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { parseManifest, type PackManifest } from '../core/manifest.ts';
import type { FileStamp } from './journal.ts';
import { hasExtension, type BatchWork } from './sources/recordings.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import type { RecordingsSourceConfig } from '../core/config.ts';
import { packAttemptsPrefixOf, sitePrefix } from '../core/layout.ts';
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
// batch shipped in several packs, a manifest the store no longer holds) ships as before. A batch
// the copy has not finished (files still to come) is found too: its files now are in that pack.

/**
 * The old stamp of each file the plan would pack (recordings, then their sidecars): the earliest
 * of the same name and size that shipped from the batch (the one its pack was planned with: the
 * later ones are earlier touches found offsite, recorded under their own times, which a second
 * copy or a scanner touching them again adds). Undefined unless every file has one, and at least
 * one recording's time differs (a batch of unchanged stamps is not this case). The content
 * decides anyway: the pack's manifest must list each file's very bytes.
 */
function stampsBefore(plan: PackPlan, shipped: readonly FileStamp[]): Map<string, FileStamp> | undefined {
  const before = new Map<string, FileStamp>();
  for (const s of plan.stamps) {
    const same = shipped.filter((o) => o.name === s.name && o.size === s.size);
    if (same.length === 0) return undefined;
    before.set(s.name, same.reduce((a, b) => (b.mtimeMs < a.mtimeMs ? b : a)));
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

/**
 * Whether every recording of `work` is a member of the manifest holding the bytes it lists (its
 * sidecar too, when the batch holds one). Members the batch does not hold are allowed: a copy
 * that stopped between two files of the batch, the rest still to come.
 */
async function sameContent(ctx: ShipContext, work: BatchWork, manifest: PackManifest): Promise<boolean> {
  const dir = join(ctx.sourceRoot, work.batch);
  const members = new Map(manifest.members.map((m) => [m.path, m]));
  for (const rec of work.recordings) {
    const m = members.get(work.batch ? posix.join(work.batch, rec.name) : rec.name);
    if (!m || m.length !== rec.size || (await sha256Of(ctx, join(dir, rec.name), rec)) !== m.sha256) return false;
    const sidecar = work.sidecars.get(rec.name);
    if (sidecar && (m.sidecar?.length !== sidecar.size || (await sha256Of(ctx, join(dir, sidecar.name), sidecar)) !== m.sidecar.sha256)) return false;
  }
  return true;
}

/**
 * The batch found offsite under the times it shipped with (see above), recorded as shipped in
 * that pack (nothing sent); undefined when it is not, and the batch ships as before. A store or
 * file error while looking is not the batch's failure: it ships as before, and that shipping
 * meets and reports the error if it lasts.
 */
export async function offsiteUnderOtherTimes(
  ctx: ShipContext,
  work: BatchWork,
  source: Pick<RecordingsSourceConfig, 'extensions' | 'metadata'>,
  /** `source\tpath` → manifest key of what the store's manifests list as shipped that the journal does not know (a state directory older than the agent's last run). */
  elsewhere?: ReadonlyMap<string, string>,
): Promise<ShipResult | undefined> {
  const shipped = ctx.journal.shippedStamps(work.source, work.batch);
  // A batch nothing of which shipped (the common case): nothing to look for.
  if (shipped.length === 0 && elsewhere === undefined) return undefined;
  const plan = planPack(ctx.site, work);
  let keys: (string | undefined)[];
  if (shipped.length > 0) {
    const before = stampsBefore(plan, shipped);
    if (!before) return undefined;
    keys = [batchAsShipped(work, shipped, source), filesAsShipped(work, before)].map((w) => (w ? planPack(ctx.site, w).manifestKey : undefined));
  } else {
    // Shipped by the agent's last run after this state directory was copied (an old PC's last
    // pass while the copy ran): the store's manifests name the pack.
    const named = new Set(work.recordings.map((r) => elsewhere?.get(`${work.source}\t${work.batch}/${r.name}`)));
    if (named.size !== 1 || named.has(undefined)) return undefined;
    keys = [...named];
  }
  const manifest = await packShippedBefore(ctx, work, keys).catch(() => undefined);
  if (!manifest) return undefined;
  const sent = new Map(manifest.members.map((m) => [m.path, m.length]));
  const bytes = work.recordings.reduce((n, r) => n + (sent.get(work.batch ? posix.join(work.batch, r.name) : r.name) ?? 0), 0);
  // Recorded under this listing's pack id, pointing at the pack that holds the bytes (recovery
  // after a kill between the two lines finds that manifest and counts the batch shipped).
  await ctx.journal.begin({ packId: plan.packId, source: work.source, batch: work.batch, packKey: manifest.packKey, manifestKey: manifest.key, files: plan.stamps, found: true });
  await ctx.journal.published(plan.packId, work.recordings.length, bytes, true);
  return { packId: manifest.packId, packKey: manifest.packKey, manifestKey: manifest.key, recordings: work.recordings.length, bytes, issues: [], alreadyOffsite: true };
}

/**
 * The batch as it first shipped: every name that shipped from it under its earliest stamp (the
 * copy's part already found offsite is recorded under later ones). One pack, as a batch closed
 * whole ships; when it shipped in several, its manifest is not found and the batch ships as before.
 */
function batchAsShipped(work: BatchWork, shipped: readonly FileStamp[], source: Pick<RecordingsSourceConfig, 'extensions' | 'metadata'>): BatchWork | undefined {
  const byName = new Map<string, FileStamp>();
  for (const s of shipped) if ((byName.get(s.name)?.mtimeMs ?? Infinity) > s.mtimeMs) byName.set(s.name, s);
  const names = new Set(byName.keys());
  const resolver = createMetadataExtractor(source.metadata);
  const recordings = [...byName.values()].filter((f) => hasExtension(f.name, source.extensions)).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  if (recordings.length === 0) return undefined;
  const sidecars = new Map<string, FileStamp>();
  for (const r of recordings) {
    const name = resolver.sidecarNameFor(r.name, names);
    const stamp = name === undefined ? undefined : byName.get(name);
    if (stamp) sidecars.set(r.name, stamp);
  }
  return { ...work, recordings, sidecars, oldestMs: Math.min(...recordings.map((r) => r.mtimeMs)) };
}

/** The batch's files now, each under the stamp it shipped with. */
function filesAsShipped(work: BatchWork, before: ReadonlyMap<string, FileStamp>): BatchWork {
  const recordings = work.recordings.map((r) => before.get(r.name)!);
  const sidecars = new Map([...work.sidecars].map(([name, s]) => [name, before.get(s.name)!]));
  return { ...work, recordings, sidecars, oldestMs: Math.min(...recordings.map((r) => r.mtimeMs)) };
}

/**
 * The manifest of the pack the batch shipped in, tried at each of `keys` (the whole batch as it
 * shipped, then the files it holds now under their old stamps), when it holds this very content;
 * undefined otherwise.
 */
async function packShippedBefore(ctx: ShipContext, work: BatchWork, keys: (string | undefined)[]): Promise<(PackManifest & { key: string }) | undefined> {
  for (const key of new Set(keys)) {
    if (key === undefined || !(await ctx.store.head(key))) continue;
    const manifest = parseManifest(await readAll(ctx.store, key));
    // Its own pack, of this site, source and batch (as ingest checks a manifest's placement).
    const own = key.endsWith(`/${manifest.packId}.json`) && manifest.packKey.startsWith(sitePrefix('recordings', ctx.site)) && packAttemptsPrefixOf(manifest.packKey)?.endsWith(`/${manifest.packId}`) === true;
    const same = own && manifest.site === ctx.site && manifest.source === work.source && manifest.batch.path === work.batch;
    if (!same || !(await sameContent(ctx, work, manifest))) return undefined;
    // The files did not change while they were read (a copy still writing them is not this case).
    for (const stamp of planPack(ctx.site, work).stamps) assertUnchanged(join(ctx.sourceRoot, work.batch, stamp.name), stamp);
    // The pack is still there at its size (a purge may have taken it). Its bytes were verified
    // when it was published (its manifest was written only then): not read back again here,
    // which would download every pack of the recorder's disk to save sending it.
    await verifyObject(ctx.store, manifest.packKey, manifest.pack, 'checksum');
    return { ...manifest, key };
  }
  return undefined;
}
