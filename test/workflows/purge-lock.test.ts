import { afterEach, describe, expect, it } from 'vitest';
import { PURGE_STATES as P } from '../../infra/workflows/state-names.ts';
import { SITE, statesOf, workflowHarness, type Harness } from './harness.ts';
import { daysAgo, publishArtefact } from './purge-fixtures.ts';

// Objects past the rules but still under the bucket's Object Lock, through the synthesized purge:
// S3 would refuse them, so the plan leaves them out instead of refilling every round with them.

const LOCK_DAYS = 30;
const DAY = 86_400_000;
let h: Harness | undefined;

afterEach(() => h?.activity.stop());

/** What the bucket's default retention does to every object written: locked LOCK_DAYS from its creation. */
function lockAsTheBucketWould(harness: Harness, keys: string[], createdAt: Date): void {
  for (const key of keys) harness.objectLock.set(key, new Date(createdAt.getTime() + LOCK_DAYS * DAY).toISOString());
}

describe('a purge whose candidates are still under Object Lock', () => {
  it('runs one round, plans none of them, reports how many wait for their lock and when the first comes free, and does not say it is behind', async () => {
    h = await workflowHarness({ purge: { retentionDays: 365, keepFullCycles: 2, objectLockDays: LOCK_DAYS }, config: { purgeMaxTargets: 5, purgeMaxRounds: 3, purgeBatchSize: 4 } });
    const now = h.clock.now();
    // Six daily fulls and twelve segments, all younger than the lock: four fulls and the segments
    // before the oldest kept full are past keepFullCycles, none can be deleted yet.
    for (let i = 0; i < 6; i++) {
      const taken = daysAgo(now, 12 - 2 * i);
      const full = await publishArtefact(h, SITE, { source: 'db', type: 'rotated', name: `db_${i}.sql`, takenAt: taken, position: { logFile: `mysql-bin.${String(100 + 2 * i).padStart(6, '0')}`, logPos: 4 } });
      lockAsTheBucketWould(h, [full.key, full.manifestKey], taken);
    }
    for (let seq = 100; seq < 112; seq++) {
      const taken = daysAgo(now, 12 - (seq - 100));
      const seg = await publishArtefact(h, SITE, { source: 'binlog', type: 'binlog', name: `mysql-bin.${String(seq).padStart(6, '0')}`, takenAt: taken, sequence: seq, series: 'mysql-bin' });
      lockAsTheBucketWould(h, [seg.key, seg.manifestKey], taken);
    }

    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(statesOf(outcome).filter((s) => s === P.plan)).toHaveLength(1);
    expect(statesOf(outcome)).not.toContain(P.nextRound);
    const reports = h.alerts.filter((a) => a.subject.includes('purge'));
    expect(reports.map((a) => [a.severity, a.subject])).toEqual([['info', `Ferry ${SITE}: purge done - 0 object(s) deleted`]]);
    // Fulls 0..3 (older than the two newest) and segments 100..107 (before 108, the oldest kept
    // full's position): 12; the segments after 100, the first locked one, are not even read.
    const firstFree = new Date(daysAgo(now, 12).getTime() + LOCK_DAYS * DAY).toISOString();
    expect(reports[0]!.message).toContain(`waiting for their Object Lock: at least 5 pack(s), full backup(s) or log segment(s) past the rules but still locked, not planned (the first comes free on ${firstFree}`);
    expect(reports[0]!.message).not.toMatch(/falling behind|more remain|skipped \(Object Lock/);
  });
});
