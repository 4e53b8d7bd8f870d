import { messageOf } from './errors.ts';
import { NAME_PATTERN, sitePrefix, treeIndexKey, treeSnapshotManifestPrefix } from './layout.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';
import type { DeleteOutcome, ObjectDeleter } from './purge.ts';
import { readSmallObject } from './read-small.ts';
import { batchTargets, type BatchTarget, type PurgeBatch, type PurgeTarget } from './retention.ts';
import { parseTreeSnapshotManifest, snapshotSummary, type TreeSnapshotManifest } from './tree-manifest.ts';
import { planTreeRetention, retentionFor, type KeepReason, type SiteTreeRetention, type SnapshotFacts, type StoredObject, type TreeLockWait, type TreeRetention, type TreeRetentionPlan } from './tree-retention.ts';

// The purge of tree snapshots (file shares), called from core/purge.ts: plan with the pure
// planner (core/tree-retention.ts) over the snapshot manifests and a listing of the site's
// `trees/` objects; delete in an order a crash cannot turn into a broken snapshot:
//
//  1. a forgotten snapshot's catalogue item, then its manifest: from then on the snapshot
//     exists for nobody (a manifest that Object Lock keeps gets its catalogue item back);
//  2. its index;
//  3. packs, each only if, at that moment, no snapshot manifest of its source lists it (read
//     again at delete time, so a batch running beside another, or a snapshot published since
//     the plan, never loses a pack it needs; a skipped pack is reported and found again later).
//
// A purge that stops between 1 and 3 leaves packs and indexes that no manifest names: the next
// plan finds them as orphans (older than the grace period) and deletes them.

export const TREE_TARGET_KINDS = ['snapshot', 'tree-index', 'tree-pack'] as const;
export type TreeTargetKind = (typeof TREE_TARGET_KINDS)[number];

export function isTreeTarget(t: Pick<PurgeTarget, 'kind'>): boolean {
  return (TREE_TARGET_KINDS as readonly string[]).includes(t.kind);
}

export interface TreePurgeSummary {
  /** Snapshots forgotten (planned) and kept, over every source. */
  snapshots: number;
  keptSnapshots: number;
  packs: number;
  indexes: number;
  /** Sources left alone because one of their manifests could not be read (its packs are unknown). */
  skippedSources: string[];
  unreadable: number;
  truncated: boolean;
  /** Forgotten snapshots and packs still under Object Lock, over every source: not planned (core/tree-retention.ts); absent when none. */
  locked?: TreeLockWait;
}

/** What the rules keep of one source and what stays after the purge (`ferry purge plan` says it per source; not in the workflow's state). */
export interface TreeSourceKept {
  source: string;
  /** Snapshots the rules keep, and how many each rule keeps (one snapshot can fill several). */
  kept: number;
  byRule: Record<KeepReason, number>;
  /** The policy the source is planned with (the site's, with the source's overrides). */
  policy: TreeRetention;
  /** Forgotten and planned; forgotten but still under Object Lock (they stay until a later purge). */
  forgotten: number;
  waiting: number;
  /** The oldest snapshot the rules keep: the furthest back `ferry restore tree --at` reaches once the forgotten ones are gone. */
  oldestKept?: { snapshotId: string; takenAt: string };
}

function sourceKept(source: string, policy: TreeRetention, plan: TreeRetentionPlan): TreeSourceKept {
  const byRule: Record<KeepReason, number> = { newest: 0, daily: 0, weekly: 0, monthly: 0, 'before-mass-change': 0 };
  for (const k of plan.kept) for (const r of k.reasons) byRule[r]++;
  const oldest = plan.kept.map((k) => k.snapshot).reduce<SnapshotFacts | undefined>((a, b) => (!a || b.takenAt < a.takenAt ? b : a), undefined);
  return { source, kept: plan.kept.length, byRule, policy, forgotten: plan.forgotten.length, waiting: plan.waiting.length, ...(oldest ? { oldestKept: { snapshotId: oldest.snapshotId, takenAt: oldest.takenAt } } : {}) };
}

export interface TreePurgePlan {
  targets: PurgeTarget[];
  summary: TreePurgeSummary;
  /** Snapshots dated after now plus the clock margin, over every source: kept, counted by no rule (core/purge.ts names them in its summary). */
  futureDated: SnapshotFacts[];
}

/** The source of a key under `manifests/{site}/trees/{source}/…` or `trees/{site}/{source}/…`. */
function sourceOf(key: string, prefix: string): string | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const source = key.slice(prefix.length).split('/')[0];
  return source !== undefined && NAME_PATTERN.test(source) ? source : undefined;
}

async function readSnapshot(blobs: Pick<BlobStore, 'get'>, site: string, source: string, key: string): Promise<TreeSnapshotManifest> {
  const m = parseTreeSnapshotManifest(await readSmallObject(blobs, key, 16 * 1024 * 1024, 'tree snapshot manifest'));
  const packs = `${sitePrefix('trees', site)}${source}/packs/`;
  if (m.site !== site || m.source !== source) throw new Error(`snapshot manifest ${key} names ${m.site}/${m.source}`);
  if (m.index.key !== treeIndexKey(site, source, m.snapshotId) || m.packs.some((p) => !p.key.startsWith(packs) || p.key.split('/').includes('..'))) {
    throw new Error(`snapshot manifest ${key} names objects outside ${sitePrefix('trees', site)}${source}/`);
  }
  return m;
}

/** Every readable snapshot of the site by source; a source with a manifest that cannot be read is unsafe (its packs are unknown). */
async function gatherSnapshots(blobs: Pick<BlobStore, 'list' | 'get'>, site: string): Promise<{ snapshots: Map<string, SnapshotFacts[]>; unsafe: Set<string>; unreadable: number }> {
  const manifestPrefix = treeSnapshotManifestPrefix(site);
  const snapshots = new Map<string, SnapshotFacts[]>();
  const unsafe = new Set<string>();
  let unreadable = 0;
  for await (const info of blobs.list(manifestPrefix)) {
    const source = sourceOf(info.key, manifestPrefix);
    if (source === undefined || !info.key.endsWith('.json')) continue;
    try {
      const m = await readSnapshot(blobs, site, source, info.key);
      const facts: SnapshotFacts = { snapshotId: m.snapshotId, takenAt: m.takenAt, manifestKey: info.key, indexKey: m.index.key, packs: m.packs.map((p) => p.key) };
      if (m.massChange) facts.massChangeFrom = m.massChange.parentTakenAt;
      // The bucket's time for the object is when its Object Lock started; the manifest's own createdAt is the agent's clock.
      facts.createdAt = info.lastModified?.toISOString() ?? m.createdAt;
      const list = snapshots.get(source) ?? [];
      list.push(facts);
      snapshots.set(source, list);
    } catch {
      unreadable++;
      unsafe.add(source);
    }
  }
  return { snapshots, unsafe, unreadable };
}

/** Every object under each source's `packs/` and `index/`, with when it was written. */
async function listStored(blobs: Pick<BlobStore, 'list'>, site: string): Promise<Map<string, { packs: StoredObject[]; indexes: StoredObject[] }>> {
  const objectPrefix = sitePrefix('trees', site);
  const stored = new Map<string, { packs: StoredObject[]; indexes: StoredObject[] }>();
  for await (const info of blobs.list(objectPrefix)) {
    const source = sourceOf(info.key, objectPrefix);
    if (source === undefined) continue;
    const entry = stored.get(source) ?? { packs: [], indexes: [] };
    const rest = info.key.slice(`${objectPrefix}${source}/`.length);
    if (rest.startsWith('packs/')) entry.packs.push({ key: info.key, lastModified: info.lastModified });
    else if (rest.startsWith('index/')) entry.indexes.push({ key: info.key, lastModified: info.lastModified });
    stored.set(source, entry);
  }
  return stored;
}

function sumLocked(locked: TreeLockWait[]): TreeLockWait {
  return locked.reduce((a, b) => ({ snapshots: a.snapshots + b.snapshots, packs: a.packs + b.packs, firstFree: b.firstFree < a.firstFree ? b.firstFree : a.firstFree }));
}

/** What the tree retention of one site deletes, at most `maxTargets` targets (the rest waits for the next run); nothing still under Object Lock. */
export async function planTreePurge(
  deps: { blobs: Pick<BlobStore, 'list' | 'get'> },
  input: { site: string; now: Date; policy: SiteTreeRetention; maxTargets: number; objectLockDays?: number; onTarget?: (t: PurgeTarget) => void; onSource?: (kept: TreeSourceKept) => void },
): Promise<TreePurgePlan> {
  const { snapshots, unsafe, unreadable } = await gatherSnapshots(deps.blobs, input.site);
  const stored = await listStored(deps.blobs, input.site);

  const summary: TreePurgeSummary = { snapshots: 0, keptSnapshots: 0, packs: 0, indexes: 0, skippedSources: [...unsafe].sort(), unreadable, truncated: false };
  const forgotten: PurgeTarget[] = [];
  const indexes: PurgeTarget[] = [];
  const packs: PurgeTarget[] = [];
  const futureDated: SnapshotFacts[] = [];
  const locked: TreeLockWait[] = [];
  for (const source of [...new Set([...snapshots.keys(), ...stored.keys()])].sort()) {
    if (unsafe.has(source)) continue;
    const policy = retentionFor(input.policy, source);
    const plan = planTreeRetention({ now: input.now, policy, snapshots: snapshots.get(source) ?? [], storedPacks: stored.get(source)?.packs ?? [], storedIndexes: stored.get(source)?.indexes ?? [], objectLockDays: input.objectLockDays });
    summary.keptSnapshots += plan.kept.length;
    input.onSource?.(sourceKept(source, policy, plan));
    if (plan.locked) locked.push(plan.locked);
    futureDated.push(...plan.futureDated);
    const forgottenIndexes = new Set(plan.forgotten.map((s) => s.indexKey));
    for (const s of [...plan.forgotten].reverse()) {
      forgotten.push({ key: s.manifestKey, then: s.indexKey, kind: 'snapshot', source, reason: `snapshot ${s.snapshotId} (${s.takenAt}) is kept by no daily, weekly or monthly rule, and no mass change started from it in the last ${retentionFor(input.policy, source).keepBeforeMassChangeDays} day(s)` });
    }
    for (const i of plan.indexes) if (!forgottenIndexes.has(i.key)) indexes.push({ key: i.key, kind: 'tree-index', source, reason: i.reason });
    for (const p of plan.packs) packs.push({ key: p.key, kind: 'tree-pack', source, reason: p.reason });
  }
  // Snapshots first (they make their packs unreferenced), then orphan indexes, then packs.
  const all = [...forgotten, ...indexes, ...packs];
  const targets = all.slice(0, Math.max(0, input.maxTargets));
  summary.truncated = targets.length < all.length;
  summary.snapshots = targets.filter((t) => t.kind === 'snapshot').length;
  summary.indexes = targets.filter((t) => t.kind === 'tree-index').length;
  summary.packs = targets.filter((t) => t.kind === 'tree-pack').length;
  if (locked.length) summary.locked = sumLocked(locked);
  for (const t of targets) input.onTarget?.(t);
  return { targets, summary, futureDated };
}

/**
 * Tree targets in batches of their own (the delete step handles them in its own order), one
 * source per batch, numbered from `first`. Batches run side by side: a source whose targets fit
 * one batch has its manifests deleted before its packs are checked; a larger one may see a pack
 * still listed by a manifest another batch is deleting, and that pack waits for the next purge.
 */
export function treeBatches(targets: PurgeTarget[], objects: number, first: number): PurgeBatch[] {
  const bySource = new Map<string, PurgeTarget[]>();
  for (const t of targets) bySource.set(t.source, [...(bySource.get(t.source) ?? []), t]);
  return [...bySource.values()].flatMap((list) => batchTargets(list, objects)).map((b, i) => ({ ...b, index: first + i }));
}

// ---- delete ----

export interface TreeDeleteDeps {
  deleter: ObjectDeleter;
  blobs: Pick<BlobStore, 'get' | 'list'>;
  catalogue: Pick<CatalogueStore, 'forgetSnapshot' | 'putSnapshot'>;
}

export interface TreeDeleteOutcome extends DeleteOutcome {
  /** Targets fully gone. */
  targetsDone: number;
}

/** Every pack key the live snapshot manifests of `source` list (a manifest that cannot be read protects the whole source). */
async function livePacks(deps: TreeDeleteDeps, site: string, source: string): Promise<Set<string> | 'unknown'> {
  const keys = new Set<string>();
  for await (const info of deps.blobs.list(treeSnapshotManifestPrefix(site, source))) {
    if (!info.key.endsWith('.json')) continue;
    try {
      for (const p of (await readSnapshot(deps.blobs, site, source, info.key)).packs) keys.add(p.key);
    } catch {
      return 'unknown';
    }
  }
  return keys;
}

/** Deletes one batch of tree targets in the crash-safe order (see the top of this file). Keys must lie under the site's prefixes. */
export async function deleteTreeTargets(deps: TreeDeleteDeps, site: string, targets: BatchTarget[]): Promise<TreeDeleteOutcome> {
  const manifests = treeSnapshotManifestPrefix(site);
  const objects = sitePrefix('trees', site);
  const foreign = targets.flatMap((t) => [t.key, ...(t.then ? [t.then] : [])]).filter((k) => !k.startsWith(k.endsWith('.json') ? manifests : objects) || k.split('/').includes('..'));
  if (foreign.length) throw new Error(`purge batch names keys outside the trees of site ${site}: ${foreign.slice(0, 3).join(', ')}`);
  const out: TreeDeleteOutcome = { deleted: [], retained: [], failed: [], targetsDone: 0 };
  const merge = (o: DeleteOutcome) => {
    out.deleted.push(...o.deleted);
    out.retained.push(...o.retained);
    out.failed.push(...o.failed);
  };

  // 1-2. Snapshots: catalogue item, manifest, then index.
  for (const t of targets.filter((x) => x.kind === 'snapshot')) {
    let manifest: TreeSnapshotManifest | undefined;
    try {
      const source = sourceOf(t.key, manifests);
      manifest = source === undefined ? undefined : await readSnapshot(deps.blobs, site, source, t.key);
    } catch (error) {
      if ((error as { name?: string }).name !== 'NotFoundError') {
        out.failed.push({ key: t.key, reason: `snapshot manifest unreadable, kept: ${messageOf(error)}` });
        continue;
      }
    }
    if (manifest) await deps.catalogue.forgetSnapshot(manifest);
    const first = await deps.deleter.deleteObjects([t.key]);
    merge(first);
    if (!first.deleted.includes(t.key)) {
      // Object Lock (or a failure) keeps the snapshot: it stays listed.
      if (manifest) await deps.catalogue.putSnapshot(snapshotSummary(manifest, t.key));
      continue;
    }
    // Again once the manifest is gone: a catalogue rebuild that read it before could have put the item back since the first forget.
    if (manifest) await deps.catalogue.forgetSnapshot(manifest);
    const second = t.then ? await deps.deleter.deleteObjects([t.then]) : { deleted: [], retained: [], failed: [] };
    merge(second);
    if (!t.then || second.deleted.includes(t.then)) out.targetsDone++;
  }

  // Orphan indexes.
  const orphanIndexes = targets.filter((x) => x.kind === 'tree-index').map((x) => x.key);
  if (orphanIndexes.length) {
    const o = await deps.deleter.deleteObjects(orphanIndexes);
    merge(o);
    out.targetsDone += o.deleted.length;
  }

  // 3. Packs no live manifest lists.
  const packTargets = targets.filter((x) => x.kind === 'tree-pack');
  const live = new Map<string, Set<string> | 'unknown'>();
  const deletable: string[] = [];
  for (const t of packTargets) {
    const source = sourceOf(t.key, objects)!;
    if (!live.has(source)) live.set(source, await livePacks(deps, site, source));
    const listed = live.get(source)!;
    if (listed === 'unknown') out.failed.push({ key: t.key, reason: 'kept: a snapshot manifest of its source cannot be read, so whether it is needed is unknown' });
    else if (listed.has(t.key)) out.failed.push({ key: t.key, reason: 'kept: a snapshot manifest still lists it (the next purge looks again)' });
    else deletable.push(t.key);
  }
  if (deletable.length) {
    const o = await deps.deleter.deleteObjects(deletable);
    merge(o);
    out.targetsDone += o.deleted.length;
  }
  return out;
}
