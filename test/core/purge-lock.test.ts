import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { planPurge } from '../../core/purge.ts';
import { planRetention } from '../../core/retention.ts';
import { daysAgo, publishPack } from '../workflows/purge-fixtures.ts';

// The plan leaves out what the bucket's Object Lock still protects (settings.objectLockDays).

const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;

function site() {
  return { blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue(), holds: new MemoryHoldStore() };
}

describe('planPurge under Object Lock', () => {
  it('leaves out packs past retention committed less than objectLockDays ago, without cutting the plan at maxTargets for them, and plans the one whose lock has run out', async () => {
    const deps = site();
    // Calls of two years ago migrated last week: past retention, but locked for 30 days from their commit.
    for (let i = 0; i < 6; i++) await publishPack(deps, 'site-a', NOW, `migrated-${i}`, [700 + i], { createdAt: daysAgo(NOW, 7) });
    const free = await publishPack(deps, 'site-a', NOW, 'free', [800], { createdAt: daysAgo(NOW, 31) });
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2, objectLockDays: 30 }, now: NOW, maxTargets: 3, batchObjects: 10 });
    expect(plan.batches.flatMap((b) => b.targets.map((t) => t.key))).toEqual([free.packKey]);
    expect(plan.summary).toMatchObject({ packs: 1, truncated: false, locked: { count: 6, firstFree: new Date(daysAgo(NOW, 7).getTime() + 30 * DAY).toISOString() } });
  });

  it('plans as before when no lock is known', async () => {
    const deps = site();
    const pack = await publishPack(deps, 'site-a', NOW, 'migrated', [700], { createdAt: daysAgo(NOW, 7) });
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 3, batchObjects: 10 });
    expect(plan.batches.flatMap((b) => b.targets.map((t) => t.key))).toEqual([pack.packKey]);
    expect(plan.summary.locked).toBeUndefined();
  });
});

describe('planRetention under Object Lock', () => {
  it('counts a locked full or segment toward neither the targets nor truncated, and keeps judging the rest', () => {
    const fulls = [40, 20, 10, 5].map((d, i) => ({ key: `backups/site-a/db/f${i}`, source: 'db', kind: 'full' as const, takenAt: daysAgo(NOW, d).toISOString(), createdAt: daysAgo(NOW, d).toISOString() }));
    const plan = planRetention({ rules: { now: NOW, retentionDays: 365, keepFullCycles: 2, objectLockDays: 30 }, packs: [], artefacts: fulls, maxTargets: 1 });
    // f0 (40 days) is free and goes; f1 (20 days) is past keepFullCycles but locked for 10 more days.
    expect(plan.targets.map((t) => t.key)).toEqual(['backups/site-a/db/f0']);
    expect(plan.truncated).toBe(false);
    expect(plan.locked).toEqual({ count: 1, firstFree: new Date(daysAgo(NOW, 20).getTime() + 30 * DAY).toISOString() });
  });
});
