import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { BlobStoreDeleter } from '../../core/purge.ts';
import { MemoryPurgeRunStore } from '../../core/purge-watch.ts';
import { createPurgeHandler } from '../../functions/purge/handler.ts';
import { daysAgo, publishArtefact } from '../workflows/purge-fixtures.ts';

// The purge function's log lines: what an operator reading the function's log (or a log alarm) sees.

const NOW = new Date('2026-06-01T00:00:00.000Z');

function handler(blobs: MemoryBlobStore, logged: [string, string, Record<string, unknown>][], catalogue = new MemoryCatalogue()) {
  const clock = new ManualClock(NOW);
  return createPurgeHandler({
    blobs,
    catalogue,
    holds: new MemoryHoldStore(),
    holder: { setLegalHold: async () => undefined },
    deleter: new BlobStoreDeleter(blobs),
    locks: new SiteLocks(new MemoryLockTable(), clock),
    purgeRuns: new MemoryPurgeRunStore(),
    clock,
    log: (level, message, detail = {}) => void logged.push([level, message, detail]),
  });
}

describe('purge function', () => {
  it('logs the plan and the report at warn when fulls dated in the future were set aside, at info otherwise', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const logged: [string, string, Record<string, unknown>][] = [];
    const run = handler(blobs, logged, catalogue);
    await publishArtefact({ blobs, catalogue }, 'site-a', { source: 'sql', type: 'rotated', name: 'genuine.sql', takenAt: daysAgo(NOW, 1) });
    const plan = async () => run({ action: 'plan', site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, maxTargets: 100, batchObjects: 10 });
    const report = async (p: unknown) => run({ action: 'report', site: 'site-a', startedAt: NOW.toISOString(), config: {}, run: { plan: p, deleted: [] } });

    await report(await plan());
    expect(logged.map(([level, message]) => [level, message])).toEqual([
      ['info', 'purge planned'],
      ['info', 'purge report'],
    ]);

    logged.length = 0;
    const forged = await publishArtefact({ blobs, catalogue }, 'site-a', { source: 'sql', type: 'rotated', name: 'forged.sql', takenAt: new Date('2099-01-01T02:00:00.000Z') });
    await report(await plan());
    expect(logged).toEqual([
      ['warn', 'purge planned', expect.objectContaining({ site: 'site-a', futureDated: { count: 1, named: [`${forged.key} (taken 2099-01-01T02:00:00.000Z)`] } })],
      ['warn', 'purge report', { site: 'site-a', outcome: 'DONE', severity: 'warning' }],
    ]);
  });
});
