import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { BlobStoreDeleter } from '../../core/purge.ts';
import { MemoryPurgeRunStore, type PurgeRunStore } from '../../core/purge-watch.ts';
import { createPurgeHandler } from '../../functions/purge/handler.ts';
import { daysAgo, publishArtefact } from '../workflows/purge-fixtures.ts';

// The purge function's log lines: what an operator reading the function's log (or a log alarm) sees.

const NOW = new Date('2026-06-01T00:00:00.000Z');

function handler(blobs: MemoryBlobStore, logged: [string, string, Record<string, unknown>][], catalogue = new MemoryCatalogue(), purgeRuns: PurgeRunStore = new MemoryPurgeRunStore()) {
  const clock = new ManualClock(NOW);
  return createPurgeHandler({
    blobs,
    catalogue,
    holds: new MemoryHoldStore(),
    holder: { setLegalHold: async () => undefined },
    deleter: new BlobStoreDeleter(blobs),
    locks: new SiteLocks(new MemoryLockTable(), clock),
    purgeRuns,
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

  it("writes the report's outcome and what the round deleted over the run's start record; a record it cannot write is logged at error and the report still goes out", async () => {
    const blobs = new MemoryBlobStore();
    const runs = new MemoryPurgeRunStore();
    const logged: [string, string, Record<string, unknown>][] = [];
    const run = handler(blobs, logged, new MemoryCatalogue(), runs);
    const startedAt = NOW.toISOString();
    const execution = 'arn:aws:states:eu-west-1:111122223333:execution:Ferry-site-a-purge:e1';
    await run({ action: 'start', site: 'site-a', startedAt, execution });
    expect(await runs.lastPurgeRun('site-a')).toEqual({ site: 'site-a', startedAt, execution });
    const deleted = [{ deleted: 7, retained: [], retainedCount: 0, failed: [], failedCount: 0 }];
    const out = (await run({ action: 'report', site: 'site-a', startedAt, execution, config: {}, run: { deleted, round: 2 } })) as { outcome: string };
    expect(out.outcome).toBe('DONE');
    expect(await runs.lastPurgeRun('site-a')).toEqual({ site: 'site-a', startedAt, execution, outcome: 'DONE', reportedAt: NOW.toISOString(), deleted: 7, round: 2 });
    expect(runs.records).toHaveLength(1);

    const broken = handler(blobs, logged, new MemoryCatalogue(), { putPurgeRun: () => Promise.reject(new Error('AccessDenied')), lastPurgeRun: () => Promise.resolve(undefined) });
    logged.length = 0;
    const failed = (await broken({ action: 'report', site: 'site-a', startedAt, execution, config: {}, run: { error: { Error: 'States.TaskFailed', Cause: 'boom' } } })) as { outcome: string; alert: { subject: string } };
    expect([failed.outcome, failed.alert.subject]).toEqual(['FAILED', 'Ferry site-a: purge FAILED']);
    expect(logged).toContainEqual(['error', 'purge outcome not recorded', { site: 'site-a', startedAt, error: 'AccessDenied' }]);
  });
});
