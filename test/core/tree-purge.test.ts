import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ingestTreeSnapshot } from '../../core/ingest-tree.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { BlobStoreDeleter, deletePurgeBatch, planPurge, type ObjectDeleter } from '../../core/purge.ts';
import { purgeReport } from '../../core/purge-report.ts';
import type { BlobStore } from '../../core/ports.ts';
import { parseTreeSnapshotManifest, treeEntrySchema, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import type { SiteTreeRetentionInput } from '../../core/tree-retention.ts';
import { DEFAULT_WORKFLOW_CONFIG, sitePurgeSchema, type SitePurgeSettings } from '../../core/workflow-config.ts';
import { publishSnapshot, publishTreePack, type SnapshotFixture, type TreePackFixture } from '../support/tree-fixtures.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';

// The purge of tree snapshots over memory stores: what the trees policy forgets goes (catalogue
// item, manifest, index, packs no kept snapshot lists), every kept snapshot still restores byte
// for byte, and a purge stopped half-way leaves only orphans that a later purge finds.

const DAY = 86_400_000;
const START = new Date('2026-03-01T22:00:00.000Z');
const SITE = 'site-a';

async function readAll(blobs: Pick<BlobStore, 'get'>, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const { body } = await blobs.get(key, range);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Restores a snapshot in memory from its manifest: every file of the index read from its pack by offset, its SHA-256 checked. */
async function restoresExactly(blobs: Pick<BlobStore, 'get'>, manifestKey: string): Promise<number> {
  const m: TreeSnapshotManifest = parseTreeSnapshotManifest(await readAll(blobs, manifestKey));
  const lines = gunzipSync(await readAll(blobs, m.index.key)).toString('utf8').trim().split('\n').slice(1);
  for (const line of lines) {
    const e = treeEntrySchema.parse(JSON.parse(line));
    const bytes = await readAll(blobs, m.packs[e.pack!]!.key, { start: e.offset!, end: e.offset! + e.size - 1 });
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(e.sha256);
  }
  return lines.length;
}

/** Six nightly snapshots of one share; each adds a pack and keeps listing the first (content shared across the history). */
async function history(clock: ManualClock) {
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const packs: TreePackFixture[] = [];
  const snaps: SnapshotFixture[] = [];
  for (let d = 0; d < 6; d++) {
    const at = new Date(START.getTime() + d * DAY);
    clock.set(at);
    packs.push(await publishTreePack(blobs, SITE, 'share', at, [`day ${d} minutes`, `day ${d} slides`]));
    const listed = d === 0 ? [packs[0]!] : [packs[0]!, packs[d]!];
    snaps.push(await publishSnapshot(blobs, { site: SITE, source: 'share', takenAt: at.toISOString(), packs: listed }));
    await ingestTreeSnapshot({ blobs, catalogue }, snaps[d]!.manifestKey);
  }
  return { blobs, catalogue, holds: new MemoryHoldStore(), packs, snaps };
}

const settings = (trees: SiteTreeRetentionInput, objectLockDays?: number): SitePurgeSettings => sitePurgeSchema.parse({ retentionDays: 3650, keepFullCycles: 2, trees, ...(objectLockDays === undefined ? {} : { objectLockDays }) });

/** When the bucket's default retention locks each object it holds now (`lockDays` from when it was written), as S3 would refuse its delete. */
async function bucketLock(blobs: MemoryBlobStore, lockDays: number | undefined, now: Date): Promise<(key: string) => string | undefined> {
  const until = new Map<string, number>();
  for await (const info of blobs.list('')) {
    const t = info.lastModified!.getTime() + (lockDays ?? 0) * DAY;
    if (lockDays && t > now.getTime()) until.set(info.key, t);
  }
  return (key) => {
    const t = until.get(key);
    return t === undefined ? undefined : new Date(t).toISOString();
  };
}

async function purge(deps: { blobs: MemoryBlobStore; catalogue: MemoryCatalogue; holds: MemoryHoldStore }, now: Date, trees: SiteTreeRetentionInput, deleter: ObjectDeleter = new BlobStoreDeleter(deps.blobs), objectLockDays?: number) {
  const plan = await planPurge(deps, { site: SITE, settings: settings(trees, objectLockDays), now, maxTargets: 500, batchObjects: 4 });
  const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(now));
  const { token } = await locks.acquire({ site: SITE, holder: 'test', operation: 'purge' });
  const results = [];
  for (const batch of plan.batches) results.push(await deletePurgeBatch({ deleter, locks, blobs: deps.blobs, catalogue: deps.catalogue }, SITE, token, batch));
  return { plan, results };
}

describe('tree snapshot purge', () => {
  it('keeps the snapshot a mass change started from, with its packs, where the daily rule alone would forget it, and it still restores exactly', async () => {
    const clock = new ManualClock(START);
    const blobs = new MemoryBlobStore({ clock });
    const catalogue = new MemoryCatalogue();
    const packs: TreePackFixture[] = [];
    const snaps: SnapshotFixture[] = [];
    for (let d = 0; d < 6; d++) {
      const at = new Date(START.getTime() + d * DAY);
      clock.set(at);
      packs.push(await publishTreePack(blobs, SITE, 'share', at, [`day ${d} minutes`, `day ${d} slides`]));
      // Day 3's snapshot found most files of day 2's rewritten (a share encrypted in place).
      const edit = d === 3 ? (m: TreeSnapshotManifest) => Object.assign(m, { changes: { previousFiles: 4, changed: 4, rewritten: 4, replaced: 0 }, massChange: { percent: 50, minFiles: 1, parentTakenAt: snaps[2]!.manifest.takenAt } }) : undefined;
      snaps.push(await publishSnapshot(blobs, { site: SITE, source: 'share', takenAt: at.toISOString(), packs: d === 0 ? [packs[0]!] : [packs[0]!, packs[d]!], ...(edit ? { edit } : {}) }));
      await ingestTreeSnapshot({ blobs, catalogue }, snaps[d]!.manifestKey);
    }
    const deps = { blobs, catalogue, holds: new MemoryHoldStore() };
    const { plan } = await purge(deps, new Date(START.getTime() + 6 * DAY), { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 });
    expect(plan.summary.trees).toMatchObject({ snapshots: 3, keptSnapshots: 3 });
    expect(await blobs.head(snaps[2]!.manifestKey)).toBeDefined();
    expect(await blobs.head(packs[2]!.key)).toBeDefined();
    expect(await restoresExactly(blobs, snaps[2]!.manifestKey)).toBe(4);
    for (const d of [0, 1, 3]) expect(await blobs.head(snaps[d]!.manifestKey)).toBeUndefined();
  });

  it('forgets what the policy does not keep, deletes packs only no kept snapshot lists, and every kept snapshot still restores exactly', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    const { plan, results } = await purge(deps, now, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 });
    expect(plan.summary.trees).toMatchObject({ snapshots: 4, keptSnapshots: 2, packs: 3, indexes: 0, skippedSources: [], truncated: false });
    expect(results.reduce((n, r) => n + r.failedCount + r.retainedCount, 0)).toBe(0);

    const [kept, forgotten] = [deps.snaps.slice(4), deps.snaps.slice(0, 4)];
    for (const s of kept) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBe(4);
    for (const s of forgotten) {
      expect(await deps.blobs.head(s.manifestKey)).toBeUndefined();
      expect(await deps.blobs.head(s.manifest.index.key)).toBeUndefined();
    }
    expect(await deps.blobs.head(deps.packs[0]!.key)).toBeDefined(); // shared with the kept ones
    for (const p of deps.packs.slice(1, 4)) expect(await deps.blobs.head(p.key)).toBeUndefined();
    const listed = (await deps.catalogue.listSnapshots({ site: SITE, source: 'share' })).items.map((s) => s.snapshotId);
    expect(listed).toEqual(kept.map((s) => s.manifest.snapshotId).reverse());

    const report = purgeReport({ site: SITE, startedAt: now.toISOString(), plan, deleted: results }, now, DEFAULT_WORKFLOW_CONFIG);
    expect(report.outcome).toBe('DONE');
    expect(report.alert.message).toMatch(/tree snapshots: 4 forgotten, 2 kept; 3 pack\(s\) no kept snapshot lists, 0 orphan index\(es\)/);
  });

  it('keeps every genuine snapshot and pack the rules keep when 14 forged snapshots dated 2099 are published beside them, keeps the forged ones too, and reports them as a warning', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    // As the review's attack: 12 in distinct months of 2099 and 2 more days, listing no packs, through ingest (catalogued, said).
    const dates = [...Array.from({ length: 12 }, (_, m) => `2099-${String(m + 1).padStart(2, '0')}-01T00:00:00.000Z`), '2099-12-02T00:00:00.000Z', '2099-12-03T00:00:00.000Z'];
    const forged: SnapshotFixture[] = [];
    for (const takenAt of dates) forged.push(await publishSnapshot(deps.blobs, { site: SITE, source: 'share', takenAt, packs: [] }));
    const said = await Promise.all(forged.map((f) => ingestTreeSnapshot({ blobs: deps.blobs, catalogue: deps.catalogue, clock: new ManualClock(now) }, f.manifestKey)));
    for (const r of said) expect(r.futureDated).toMatch(/taken at 2099-.*after now .*: catalogued/);

    const { plan, results } = await purge(deps, now, {});
    // The default policy (14/8/12) keeps all six genuine snapshots, forgets nothing.
    expect(plan.summary.trees).toMatchObject({ snapshots: 0, keptSnapshots: 6, packs: 0, indexes: 0 });
    expect(plan.summary.futureDated?.count).toBe(14);
    expect(plan.summary.futureDated?.named).toHaveLength(5);
    expect(plan.summary.futureDated?.named[0]).toMatch(/^manifests\/site-a\/trees\/share\/2099\/.* \(taken 2099-/);
    for (const s of [...deps.snaps, ...forged]) expect(await deps.blobs.head(s.manifestKey)).toBeDefined();
    for (const s of deps.snaps) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBeGreaterThan(0);

    const report = purgeReport({ site: SITE, startedAt: now.toISOString(), plan, deleted: results }, now, DEFAULT_WORKFLOW_CONFIG);
    expect(report.outcome).toBe('DONE');
    expect(report.alert.severity).toBe('warning');
    expect(report.alert.subject).toMatch(/items dated in the future/);
    expect(report.alert.message).toMatch(/dated in the future \(after now \+ 24 h\): 14 full backup\(s\), log segment\(s\) or tree snapshot\(s\), kept and counted toward no rule: manifests\/site-a\/trees\/share\/2099\//);
    expect(report.alert.message).toMatch(/… and 9 more/);
    expect(report.alert.message).toMatch(/agent key/);
  });

  it('with a narrow policy still keeps the newest genuine snapshots per rule beside forged ones dated 2099', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    for (const takenAt of ['2099-01-01T00:00:00.000Z', '2099-01-02T00:00:00.000Z']) await publishSnapshot(deps.blobs, { site: SITE, source: 'share', takenAt, packs: [] });
    const { plan } = await purge(deps, now, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 });
    // The same as without the forged ones (the first test of this file): the two newest genuine kept.
    expect(plan.summary.trees).toMatchObject({ snapshots: 4, keptSnapshots: 2, packs: 3 });
    for (const s of deps.snaps.slice(4)) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBe(4);
  });

  it('a purge stopped after the manifests leaves orphans that the next purge deletes once past the grace period', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    // Every index and pack deletion fails this time: only catalogue items and manifests go.
    const real = new BlobStoreDeleter(deps.blobs);
    const crashing: ObjectDeleter = { deleteObjects: async (keys) => (keys.every((k) => k.endsWith('.json')) ? real.deleteObjects(keys) : { deleted: [], retained: [], failed: keys.map((key) => ({ key, reason: 'stopped' })) }) };
    await purge(deps, now, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 }, crashing);
    expect(await deps.blobs.head(deps.snaps[0]!.manifestKey)).toBeUndefined();
    expect(await deps.blobs.head(deps.snaps[0]!.manifest.index.key)).toBeDefined();
    expect(await deps.blobs.head(deps.packs[3]!.key)).toBeDefined();

    // Within the grace period of the young orphans: only the older ones go.
    const soon = await purge(deps, now, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0, orphanGraceDays: 4 });
    expect(soon.plan.summary.trees).toMatchObject({ snapshots: 0, packs: 1, indexes: 2 });
    expect(await deps.blobs.head(deps.packs[1]!.key)).toBeUndefined();
    expect(await deps.blobs.head(deps.packs[2]!.key)).toBeDefined();

    const later = await purge(deps, new Date(now.getTime() + 8 * DAY), { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 });
    expect(later.plan.summary.trees).toMatchObject({ snapshots: 0, packs: 2, indexes: 2 });
    for (const p of deps.packs.slice(1, 4)) expect(await deps.blobs.head(p.key)).toBeUndefined();
    for (const s of deps.snaps.slice(4)) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBe(4);
  });

  it('never deletes a planned pack that a snapshot published since the plan lists', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    const plan = await planPurge(deps, { site: SITE, settings: settings({ keepDaily: 1, keepWeekly: 0, keepMonthly: 0 }), now, maxTargets: 500, batchObjects: 100 });
    // The agent publishes a snapshot that lists an old pack (content back after a rename) before the deletes run.
    const late = await publishSnapshot(deps.blobs, { site: SITE, source: 'share', takenAt: now.toISOString(), packs: [deps.packs[0]!, deps.packs[2]!] });
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(now));
    const { token } = await locks.acquire({ site: SITE, holder: 'test', operation: 'purge' });
    const results = [];
    for (const batch of plan.batches) results.push(await deletePurgeBatch({ deleter: new BlobStoreDeleter(deps.blobs), locks, blobs: deps.blobs, catalogue: deps.catalogue }, SITE, token, batch));
    expect(results.flatMap((r) => r.failed)).toEqual([{ key: deps.packs[2]!.key, reason: expect.stringMatching(/kept: a snapshot manifest still lists it/) }]);
    expect(await restoresExactly(deps.blobs, late.manifestKey)).toBe(4);
  });

  it('keeps a snapshot whose manifest Object Lock protects, in the store and in the catalogue, with all its packs', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    const now = new Date(START.getTime() + 6 * DAY);
    const locked = deps.snaps[1]!.manifestKey;
    const deleter = new BlobStoreDeleter(deps.blobs, (key) => (key === locked ? '2026-09-01' : undefined));
    const { results } = await purge(deps, now, { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 }, deleter);
    expect(results.flatMap((r) => r.retained)).toEqual([{ key: locked, reason: expect.stringMatching(/Object Lock/) }]);
    expect(await restoresExactly(deps.blobs, locked)).toBe(4);
    const listed = (await deps.catalogue.listSnapshots({ site: SITE, source: 'share' })).items.map((s) => s.snapshotId);
    expect(listed).toContain(deps.snaps[1]!.manifest.snapshotId);
  });

  it('leaves out of its plan the snapshots the rules forget whose manifest is still under Object Lock, keeps them restorable and listed, says how many wait and when the first comes free, and deletes them once the lock ends', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    // Snapshots 0-2 were written 30.5 days ago or more, 3 and 4 less: with keepDaily 1, 0-4 are forgotten but only 0-2 may go.
    const now = new Date(START.getTime() + 32.5 * DAY);
    const daily1 = { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 };
    const { plan, results } = await purge(deps, now, daily1, new BlobStoreDeleter(deps.blobs, await bucketLock(deps.blobs, 30, now)), 30);
    const firstFree = new Date(START.getTime() + 33 * DAY).toISOString();
    expect(plan.summary.trees).toMatchObject({ snapshots: 3, keptSnapshots: 1, packs: 2, truncated: false, locked: { snapshots: 2, packs: 0, firstFree } });
    // S3 refused nothing: nothing locked was planned.
    expect(results.flatMap((r) => [...r.retained, ...r.failed])).toEqual([]);
    for (const s of deps.snaps.slice(0, 3)) expect(await deps.blobs.head(s.manifestKey)).toBeUndefined();
    for (const s of deps.snaps.slice(3)) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBe(4);
    const listed = (await deps.catalogue.listSnapshots({ site: SITE, source: 'share' })).items.map((s) => s.snapshotId);
    expect(listed.sort()).toEqual(deps.snaps.slice(3).map((s) => s.manifest.snapshotId).sort());

    const report = purgeReport({ site: SITE, startedAt: now.toISOString(), plan, deleted: results }, now, DEFAULT_WORKFLOW_CONFIG);
    expect(report.outcome).toBe('DONE');
    expect(report.alert.severity).toBe('info');
    expect(report.alert.message).toContain(`waiting for their Object Lock: 2 tree snapshot(s) (with the packs they list) past the rules but still locked, not planned (the first comes free on ${firstFree}; a later purge deletes them)`);
    expect(report.alert.message).not.toMatch(/skipped \(Object Lock/);

    // Once their lock has ended, the next purge deletes them and the packs only they listed.
    const later = new Date(START.getTime() + 35 * DAY);
    const next = await purge(deps, later, daily1, new BlobStoreDeleter(deps.blobs, await bucketLock(deps.blobs, 30, later)), 30);
    expect(next.plan.summary.trees).toMatchObject({ snapshots: 2, packs: 2 });
    expect(next.plan.summary.trees?.locked).toBeUndefined();
    for (const s of deps.snaps.slice(0, 5)) expect(await deps.blobs.head(s.manifestKey)).toBeUndefined();
    expect(await restoresExactly(deps.blobs, deps.snaps[5]!.manifestKey)).toBe(4);
  });

  it('leaves a source alone when one of its manifests cannot be read, and says so', async () => {
    const clock = new ManualClock(START);
    const deps = await history(clock);
    await deps.blobs.put('manifests/site-a/trees/share/2026/03/09/s00000000000000000000009.json', Buffer.from('{ torn'));
    const now = new Date(START.getTime() + 60 * DAY);
    const { plan } = await purge(deps, now, { keepDaily: 1, keepWeekly: 0, keepMonthly: 0 });
    expect(plan.summary.trees).toMatchObject({ snapshots: 0, packs: 0, skippedSources: ['share'], unreadable: 1 });
    for (const s of deps.snaps) expect(await restoresExactly(deps.blobs, s.manifestKey)).toBe(s === deps.snaps[0] ? 2 : 4);
  });
});

describe('tree snapshot purge (property)', () => {
  it('over random histories, policies, Object Lock periods, batch sizes and batch orders, nothing locked is planned, every surviving manifest restores exactly and only forgotten snapshots are gone', async () => {
    const historyArb = fc.record({
      snapshots: fc.array(fc.record({ ageHours: fc.integer({ min: 0, max: 60 * 24 }), packs: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 8 }),
      policy: fc.record({ keepDaily: fc.integer({ min: 0, max: 4 }), keepWeekly: fc.integer({ min: 0, max: 3 }), keepMonthly: fc.integer({ min: 0, max: 2 }) }),
      // Days after START each pack was written (before or after the snapshots that list it), and the bucket's lock (absent: none known).
      packDays: fc.array(fc.integer({ min: 0, max: 70 }), { minLength: 8, maxLength: 8 }),
      objectLockDays: fc.option(fc.integer({ min: 0, max: 90 }), { nil: undefined }),
      batchObjects: fc.integer({ min: 1, max: 6 }),
      order: fc.func(fc.integer()),
    });
    await fc.assert(
      fc.asyncProperty(historyArb, async (h) => {
        const now = new Date(START.getTime() + 70 * DAY);
        const clock = new ManualClock(START);
        const blobs = new MemoryBlobStore({ clock });
        const catalogue = new MemoryCatalogue();
        const packs: TreePackFixture[] = [];
        for (const [i, d] of h.packDays.entries()) {
          clock.set(new Date(START.getTime() + d * DAY));
          packs.push(await publishTreePack(blobs, SITE, 'share', START, [`content ${i}`, `more ${i}`]));
        }
        const snaps: SnapshotFixture[] = [];
        for (const [i, s] of h.snapshots.entries()) {
          const takenAt = new Date(now.getTime() - s.ageHours * 3_600_000 - i);
          clock.set(takenAt);
          snaps.push(await publishSnapshot(blobs, { site: SITE, source: 'share', takenAt: takenAt.toISOString(), packs: s.packs.map((p) => packs[p]!) }));
          await ingestTreeSnapshot({ blobs, catalogue }, snaps.at(-1)!.manifestKey);
        }
        const plan = await planPurge({ blobs, holds: new MemoryHoldStore(), catalogue: new MemoryCatalogue() }, { site: SITE, settings: settings(h.policy, h.objectLockDays), now, maxTargets: 500, batchObjects: h.batchObjects });
        // Nothing planned is still locked: S3 would refuse it in every purge.
        const lockedUntil = await bucketLock(blobs, h.objectLockDays, now);
        const planned = plan.batches.flatMap((b) => b.targets.flatMap((t) => [t.key, ...(t.then ? [t.then] : [])]));
        expect(planned.filter((key) => lockedUntil(key) !== undefined)).toEqual([]);
        const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(now));
        const { token } = await locks.acquire({ site: SITE, holder: 'p', operation: 'purge' });
        const batches = [...plan.batches].sort((a, b) => h.order(a.index) - h.order(b.index));
        const results = [];
        for (const batch of batches) results.push(await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs, lockedUntil), locks, blobs, catalogue }, SITE, token, batch));
        expect(results.flatMap((r) => r.retained)).toEqual([]);

        const alive: SnapshotFixture[] = [];
        for (const s of snaps) if (await blobs.head(s.manifestKey)) alive.push(s);
        expect(alive.length).toBe(plan.summary.trees!.keptSnapshots + (plan.summary.trees!.locked?.snapshots ?? 0));
        for (const s of alive) expect(await restoresExactly(blobs, s.manifestKey)).toBe(s.manifest.counts.files);
        const listed = (await catalogue.listSnapshots({ site: SITE, limit: 1000 })).items.map((x) => x.manifestKey).sort();
        expect(listed).toEqual(alive.map((s) => s.manifestKey).sort());
      }),
      { numRuns: 40 },
    );
  }, 60_000);
});
