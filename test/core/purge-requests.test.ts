import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { planPurge } from '../../core/purge.ts';
import { daysAgo, publishArtefact } from '../workflows/purge-fixtures.ts';

// What one purge plan asks of the bucket and the catalogue must not grow with the log history the
// Object Lock keeps: with a lock of years that history is hundreds of thousands of segments.

const NOW = new Date('2026-06-01T00:00:00.000Z');
const LOCK_DAYS = 90;

/** Counts every call made to the object's methods, by method name. */
function counted<T extends object>(target: T, calls: Map<string, number>, prefix: string): T {
  return new Proxy(target, {
    get(t, name, receiver) {
      const value = Reflect.get(t, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(`${prefix}.${String(name)}`, (calls.get(`${prefix}.${String(name)}`) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** A site with 3 days of free history (past the lock) and `lockedDays` more under it: a full a day, a segment an hour. */
async function requestsOfPlan(lockedDays: number): Promise<{ calls: Map<string, number>; targets: number }> {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const deps = { blobs, catalogue };
  const first = LOCK_DAYS + 3;
  let seq = 1;
  for (let day = first; day > LOCK_DAYS - lockedDays; day--) {
    // A minute into the day: the day LOCK_DAYS ago is wholly under the lock.
    const start = daysAgo(NOW, day).getTime() + 60_000;
    const full = `mysql-bin.${String(seq).padStart(6, '0')}`;
    await publishArtefact(deps, 'site-a', { source: 'db', type: 'rotated', name: `db-${day}.sql`, takenAt: new Date(start), position: { logFile: full, logPos: 4 } });
    for (let hour = 0; hour < 24; hour++, seq++) {
      await publishArtefact(deps, 'site-a', { source: 'binlog', type: 'binlog', name: `mysql-bin.${String(seq).padStart(6, '0')}`, takenAt: new Date(start + hour * 3_600_000), sequence: seq, series: 'mysql-bin' });
    }
  }
  const calls = new Map<string, number>();
  const plan = await planPurge(
    { blobs: counted(blobs, calls, 'blobs'), catalogue: counted(catalogue, calls, 'catalogue'), holds: new MemoryHoldStore() },
    { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2, objectLockDays: LOCK_DAYS }, now: NOW, maxTargets: 500, batchObjects: 250 },
  );
  return { calls, targets: plan.summary.targets };
}

describe('the requests of a purge plan', () => {
  it('do not grow with the history under Object Lock: the same for 10 days of locked segments as for 80 (1,920), and no manifest of a backup or segment is read', async () => {
    const short = await requestsOfPlan(10);
    const long = await requestsOfPlan(80);
    // The free fulls and segments (3 days) are planned in both.
    expect(short.targets).toBe(3 * 25);
    expect(long.targets).toBe(short.targets);
    expect(Object.fromEntries(long.calls)).toEqual(Object.fromEntries(short.calls));
    expect(long.calls.get('blobs.get') ?? 0).toBe(0);
    expect(long.calls.get('catalogue.listArtefacts')).toBeLessThanOrEqual(4);
  });
});
