import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { packKey, packManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { DEFAULT_ORPHAN_GRACE_DAYS, findOrphanPacks } from '../../core/orphan-sweep.ts';
import { BlobStoreDeleter, deletePurgeBatch, planPurge } from '../../core/purge.ts';
import { purgeReport } from '../../core/purge-report.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';

// The orphan sweep: pack attempts whose manifest never came are deleted once past the grace
// period; a pack whose manifest exists, or could still come, never is.

const DAY = 24 * 3600 * 1000;
const T0 = new Date('2026-03-01T00:00:00Z');
const BATCH_DAY = new Date('2026-02-27T00:00:00Z');
const body = Buffer.from('tar bytes');
const id = (n: number) => `p${n.toString(16).padStart(23, '0')}`;

function store() {
  const clock = new ManualClock(T0);
  return { clock, blobs: new MemoryBlobStore({ clock }) };
}

describe('findOrphanPacks', () => {
  it('targets only unmanifested attempts written more than the grace period ago, of its own site, and no other key', async () => {
    const { clock, blobs } = store();
    const orphan = packKey('site-a', id(1), BATCH_DAY);
    const orphanRetry = packKey('site-a', id(1), BATCH_DAY, 2);
    const manifested = packKey('site-a', id(2), BATCH_DAY);
    const supersededOfManifested = packKey('site-a', id(2), BATCH_DAY, 1);
    const otherSite = packKey('site-b', id(3), BATCH_DAY);
    for (const key of [orphan, orphanRetry, manifested, supersededOfManifested, otherSite, 'recordings/site-a/notes.txt']) await blobs.put(key, body);
    await blobs.put(packManifestKey('site-a', id(2), BATCH_DAY), Buffer.from('{}'));
    clock.advance(5 * DAY);
    const young = packKey('site-a', id(4), BATCH_DAY);
    await blobs.put(young, body);

    clock.advance(3 * DAY); // the first objects are 8 days old, `young` 3
    const targets = await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), limit: 100 });
    expect(targets.map((t) => t.key).sort()).toEqual([orphan, orphanRetry].sort());
    expect(targets.every((t) => t.kind === 'pack' && t.then === undefined && /no manifest/.test(t.reason))).toBe(true);
  });

  it('keeps everything younger than the grace period (default 7 days, configurable) and stops at the limit', async () => {
    const { clock, blobs } = store();
    for (let n = 1; n <= 3; n++) await blobs.put(packKey('site-a', id(n), BATCH_DAY), body);
    clock.advance(DEFAULT_ORPHAN_GRACE_DAYS * DAY - 1);
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), limit: 100 })).toEqual([]);
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), graceDays: 3, limit: 100 })).toHaveLength(3);
    clock.advance(2); // 7 days and 1 ms
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), limit: 2 })).toHaveLength(2);
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), limit: 0 })).toEqual([]);
  });

  it('waits past the grace period for an attempt still under the bucket’s Object Lock (lockDays), which S3 would refuse to delete', async () => {
    const { clock, blobs } = store();
    await blobs.put(packKey('site-a', id(1), BATCH_DAY), body);
    clock.advance(10 * DAY);
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), lockDays: 30, limit: 100 })).toEqual([]);
    clock.advance(20 * DAY + 1);
    expect(await findOrphanPacks(blobs, { site: 'site-a', now: clock.now(), lockDays: 30, limit: 100 })).toHaveLength(1);
  });

  it('never targets an attempt of a manifested pack, whatever the attempts, ages and grace (property)', async () => {
    const pack = fc.record({ n: fc.integer({ min: 1, max: 40 }), attempts: fc.uniqueArray(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }), writtenDay: fc.integer({ min: 0, max: 30 }), manifested: fc.boolean() });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(pack, { selector: (p) => p.n, maxLength: 12 }), fc.integer({ min: 1, max: 20 }), async (packs, graceDays) => {
        const { clock, blobs } = store();
        for (const p of [...packs].sort((a, b) => a.writtenDay - b.writtenDay)) {
          clock.set(new Date(T0.getTime() + p.writtenDay * DAY));
          for (const a of p.attempts) await blobs.put(packKey('site-a', id(p.n), BATCH_DAY, a), body);
          if (p.manifested) await blobs.put(packManifestKey('site-a', id(p.n), BATCH_DAY), Buffer.from('{}'));
        }
        const now = new Date(T0.getTime() + 31 * DAY);
        const targets = new Set((await findOrphanPacks(blobs, { site: 'site-a', now, graceDays, limit: 1000 })).map((t) => t.key));
        for (const p of packs) {
          const orphaned = !p.manifested && 31 - p.writtenDay > graceDays;
          for (const a of p.attempts) expect(targets.has(packKey('site-a', id(p.n), BATCH_DAY, a))).toBe(orphaned);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('the purge with the orphan sweep', () => {
  it('plans orphaned attempts as their own targets (no manifest to delete after), counts and deletes them', async () => {
    const { clock, blobs } = store();
    const catalogue = new MemoryCatalogue();
    const orphan = packKey('site-a', id(9), BATCH_DAY);
    await blobs.put(orphan, body);
    clock.advance(10 * DAY);
    const plan = await planPurge({ blobs, holds: new MemoryHoldStore(), catalogue: new MemoryCatalogue() }, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: clock.now(), maxTargets: 10, batchObjects: 10 });
    expect(plan.summary).toMatchObject({ targets: 0, orphans: 1 });
    expect(plan.batches.flatMap((b) => b.targets)).toEqual([{ key: orphan, kind: 'pack' }]);
    const locks = new SiteLocks(new MemoryLockTable(), clock);
    const lock = await locks.acquire({ site: 'site-a', holder: 'purge', operation: 'purge' });
    const done = await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue }, 'site-a', lock.token, plan.batches[0]!);
    expect(done).toMatchObject({ deleted: 1, targetsDone: 1, failedCount: 0 });
    expect(await blobs.head(orphan)).toBeUndefined();
    const report = purgeReport({ site: 'site-a', startedAt: T0.toISOString(), plan, deleted: [done] }, clock.now(), DEFAULT_WORKFLOW_CONFIG);
    expect(report.alert.message).toContain('1 pack attempt(s) that never got a manifest (past the grace period)');
  });

  it('leaves a young unmanifested attempt for a later purge (its manifest could still come)', async () => {
    const { clock, blobs } = store();
    await blobs.put(packKey('site-a', id(9), BATCH_DAY), body);
    clock.advance(2 * DAY);
    const plan = await planPurge({ blobs, holds: new MemoryHoldStore(), catalogue: new MemoryCatalogue() }, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: clock.now(), maxTargets: 10, batchObjects: 10 });
    expect(plan.summary.orphans).toBe(0);
    expect(plan.batches).toEqual([]);
  });
});
