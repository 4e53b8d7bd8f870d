import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PURGE_STATES as P, WINDOW_STATES as W } from '../../infra/workflows/state-names.ts';
import { SITE, retriesOf, statesOf, workflowHarness, type Harness } from './harness.ts';
import { daysAgo, publishArtefact, publishPack } from './purge-fixtures.ts';

// The purge, executed locally from its synthesized definition, and its exclusion with the
// backup window in both directions (two executions at once sharing one lock table).

const HOUR = 3_600_000;
let h: Harness;

beforeEach(async () => {
  h = await workflowHarness({ purge: { retentionDays: 365, keepFullCycles: 2 }, config: { purgeBatchSize: 4, activityHeartbeatSeconds: 1, activityTimeoutSeconds: 30 } });
});

afterEach(() => h.activity.stop());

const exists = async (key: string) => (await h.blobs.head(key)) !== undefined;

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  let entered!: () => void;
  const reached = new Promise<void>((r) => (entered = r));
  return { open, opened, reached, enter: entered };
}

describe('a purge past retention by more than one plan', () => {
  it('runs another round at once while its plan was cut at purgeMaxTargets, each reported, and says retention is falling behind once its rounds are used up', async () => {
    const rounds = await workflowHarness({ purge: { retentionDays: 365, keepFullCycles: 2 }, config: { purgeMaxTargets: 2, purgeMaxRounds: 2, purgeBatchSize: 4 } });
    try {
      const now = rounds.clock.now();
      const packs = [];
      for (let i = 0; i < 5; i++) packs.push(await publishPack(rounds, SITE, now, `old-${i}`, [400 + i]));
      const outcome = await rounds.workflows.runPurge().done;
      expect(outcome.status).toBe('SUCCEEDED');
      const states = statesOf(outcome).filter((s) => s !== P.deleteBatch);
      expect(states.filter((s) => s === P.plan)).toHaveLength(2);
      expect(states).toContain(P.nextRound);
      // Two rounds of two: four packs gone, the fifth waits for the next scheduled purge.
      const left = [];
      for (const p of packs) if ((await rounds.blobs.head(p.packKey)) !== undefined) left.push(p.packKey);
      expect(left).toHaveLength(1);
      const reports = rounds.alerts.filter((a) => a.subject.includes('purge'));
      expect(reports.map((a) => [a.severity, a.subject])).toEqual([
        ['info', `Ferry ${SITE}: purge done - 4 object(s) deleted`],
        ['warning', `Ferry ${SITE}: purge done, more past retention - 4 object(s) deleted`],
      ]);
      expect(reports[0]!.message).toContain('(more remain: round 2 of this purge follows at once)');
      expect(reports[1]!.message).toContain('(more remain after 2 round(s): the next scheduled purge continues)');
      expect(reports[1]!.message).toContain('retention is falling behind: after 2 round(s) of 2 deletion(s) each, more are past retention: run the purge more often');
      // Nothing was locked or failed: the report says only what happened.
      expect(reports[1]!.message).not.toMatch(/Object Lock go by themselves|failed deletions are tried again/);
    } finally {
      rounds.activity.stop();
    }
  });
});

describe('purge', () => {
  it('deletes a pack dated after the cutoff whose calls all started before it (files written late, an archive migrated at go-live), and keeps one that holds a younger call', async () => {
    const now = h.clock.now();
    const migrated = await publishPack(h, SITE, now, 'migrated', [600, 610], { packAgeDays: 5 });
    const lateMixed = await publishPack(h, SITE, now, 'late-mixed', [600, 3], { packAgeDays: 5 });
    expect((await h.workflows.runPurge().done).status).toBe('SUCCEEDED');
    expect(await exists(migrated.packKey)).toBe(false);
    expect(await exists(migrated.manifestKey)).toBe(false);
    expect(await h.catalogue.getRecording(SITE, migrated.manifest.members[0]!.rid)).toBeUndefined();
    expect(await exists(lateMixed.packKey)).toBe(true);
    expect(await h.catalogue.getRecording(SITE, lateMixed.manifest.members[1]!.rid)).toBeDefined();
  });

  it('deletes what retention allows, keeps the rest, deletes objects before their manifests, reports, releases', async () => {
    const now = h.clock.now();
    const old = await publishPack(h, SITE, now, 'old', [400, 420, 500]);
    const young = await publishPack(h, SITE, now, 'young', [10, 20]);
    const mixed = await publishPack(h, SITE, now, 'mixed', [400, 30]);
    const held = await publishPack(h, SITE, now, 'held', [400, 401], { hold: [1] });
    await publishPack(h, SITE, now, 'all-held', [400], { hold: [0] });
    const fulls = [];
    for (const [i, days] of [40, 30, 20, 10].entries()) {
      fulls.push(await publishArtefact(h, SITE, { source: 'rostrvm-db', type: 'rotated', name: `rostrvm_5_${i}.rbk`, takenAt: daysAgo(now, days), position: { logFile: `rtmbinlog.${String(100 + i * 10).padStart(6, '0')}`, logPos: 4 } }));
    }
    const segments = [];
    for (let seq = 100; seq < 135; seq += 5) {
      segments.push({ seq, ...(await publishArtefact(h, SITE, { source: 'rostrvm-binlog', type: 'binlog', name: `rtmbinlog.${String(seq).padStart(6, '0')}`, takenAt: daysAgo(now, 40 - (seq - 100)), sequence: seq, series: 'rtmbinlog' })) });
    }

    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(statesOf(outcome).filter((s) => s !== P.deleteBatch)).toEqual([P.start, P.firstRound, P.acquire, P.plan, P.deleteBatches, P.release, P.report, P.publish, P.outcome, P.done]);

    expect(await exists(old.packKey)).toBe(false);
    expect(await exists(old.manifestKey)).toBe(false);
    for (const kept of [young, mixed]) {
      expect(await exists(kept.packKey)).toBe(true);
      expect(await exists(kept.manifestKey)).toBe(true);
    }
    // The held call of `held` was copied out to its own held pack; the rest of that pack went.
    expect(await exists(held.packKey)).toBe(false);
    const heldRid = held.manifest.members[1]!.rid;
    const moved = await h.catalogue.getRecording(SITE, heldRid);
    expect(moved?.packKey).not.toBe(held.packKey);
    expect(await exists(moved!.packKey)).toBe(true);
    expect(h.holder.isHeld(moved!.packKey) && h.holder.isHeld(moved!.manifestKey)).toBe(true);
    expect(await h.catalogue.getRecording(SITE, held.manifest.members[0]!.rid)).toBeUndefined();
    // Two newest fulls (takenAt 20 and 10 days ago) kept; the oldest kept one starts at rtmbinlog.000120.
    expect(await Promise.all(fulls.map((f) => exists(f.key)))).toEqual([false, false, true, true]);
    expect(await Promise.all(fulls.map((f) => exists(f.manifestKey)))).toEqual([false, false, true, true]);
    for (const s of segments) expect([s.seq, await exists(s.key)]).toEqual([s.seq, s.seq >= 120]);

    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'info', subject: `Ferry ${SITE}: purge done - 16 object(s) deleted` });
    expect(h.alerts[0]!.message).toContain('planned: 2 pack(s), 2 full backup(s), 4 log segment(s)');
    expect(h.alerts[0]!.message).toContain('kept: 2 pack(s) dated before the retention cutoff but holding a younger or held recording (1 only because of a legal hold); 2 full backup(s), 3 log segment(s)');
    expect(h.alerts[0]!.message).toContain('legal hold: 1 pack(s) past retention holding held calls, to be copied out to their own held pack so the rest can go (any not copied out are listed under failed)');
    expect(await h.locks.describe(SITE)).toBeUndefined();
  });

  it('keeps the genuine fulls and every segment they need beside forged fulls dated 2099 positioned past them all, keeps the forged ones, and publishes a warning naming them', async () => {
    const now = h.clock.now();
    const fulls = [];
    for (const [i, days] of [30, 20, 10].entries()) {
      fulls.push(await publishArtefact(h, SITE, { source: 'rostrvm-db', type: 'rotated', name: `rostrvm_5_${i}.rbk`, takenAt: daysAgo(now, days), position: { logFile: `rtmbinlog.${String(100 + i * 10).padStart(6, '0')}`, logPos: 4 } }));
    }
    const segments = [];
    for (let seq = 100; seq < 130; seq += 5) {
      segments.push({ seq, ...(await publishArtefact(h, SITE, { source: 'rostrvm-binlog', type: 'binlog', name: `rtmbinlog.${String(seq).padStart(6, '0')}`, takenAt: daysAgo(now, 30 - (seq - 100)), sequence: seq, series: 'rtmbinlog' })) });
    }
    const forged = [];
    for (const day of ['01', '02']) {
      forged.push(await publishArtefact(h, SITE, { source: 'rostrvm-db', type: 'rotated', name: `forged-${day}.rbk`, takenAt: new Date(`2099-01-${day}T02:00:00.000Z`), position: { logFile: 'rtmbinlog.999999', logPos: 4 } }));
    }

    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    // The two newest genuine fulls are the two kept; the oldest kept one starts at rtmbinlog.000110.
    expect(await Promise.all(fulls.map((f) => exists(f.key)))).toEqual([false, true, true]);
    for (const s of segments) expect([s.seq, await exists(s.key)]).toEqual([s.seq, s.seq >= 110]);
    for (const f of forged) expect([await exists(f.key), await exists(f.manifestKey)]).toEqual([true, true]);

    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', subject: `Ferry ${SITE}: purge done, items dated in the future - 6 object(s) deleted` });
    expect(h.alerts[0]!.message).toContain('kept: 0 pack(s) dated before the retention cutoff but holding a younger or held recording (0 only because of a legal hold); 2 full backup(s), 4 log segment(s)');
    expect(h.alerts[0]!.message).toMatch(/dated in the future \(after now \+ 24 h\): 2 full backup\(s\), log segment\(s\) or tree snapshot\(s\), kept and counted toward no rule: .*forged-01\.rbk \(taken 2099-01-01T02:00:00\.000Z\), .*forged-02\.rbk \(taken 2099-01-02T02:00:00\.000Z\)/);
  });

  it('skips and reports objects under Object Lock, never forcing them; their manifests stay', async () => {
    const now = h.clock.now();
    const locked = await publishPack(h, SITE, now, 'locked', [400]);
    const free = await publishPack(h, SITE, now, 'free', [400]);
    h.objectLock.set(locked.packKey, '2099-01-01T00:00:00Z');
    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(await exists(locked.packKey)).toBe(true);
    expect(await exists(locked.manifestKey)).toBe(true);
    expect(await exists(free.packKey)).toBe(false);
    expect(h.alerts[0]!.subject).toBe(`Ferry ${SITE}: purge done with skips - 2 object(s) deleted`);
    expect(h.alerts[0]!.message).toContain(`skipped (Object Lock, not forced): 1: ${locked.packKey}`);
  });

  it('retries a lock held by a backup every 600 s for 6 h (36 retries), then alerts; nothing deleted', async () => {
    const now = h.clock.now();
    const old = await publishPack(h, SITE, now, 'old', [400]);
    const backup = await h.holdLock('backup', HOUR);
    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('FAILED');
    const retries = retriesOf(outcome, P.acquire);
    expect(retries).toHaveLength(36);
    for (const r of retries) expect(r.retry!.retrier).toMatchObject({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 600, MaxAttempts: 36, BackoffRate: 1 });
    expect(h.clock.now().getTime() - now.getTime()).toBe(6 * HOUR);
    expect(statesOf(outcome)).not.toContain(P.plan);
    expect(await exists(old.packKey)).toBe(true);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', subject: `Ferry ${SITE}: purge not started - site lock busy` });
    expect(h.alerts[0]!.message).toContain(`held by ${backup.holder} (backup window)`);
    expect(h.alerts[0]!.message).toContain('tried every 10 min for 6 h (37 attempts)');
  });

  it('excludes a running backup window: a purge started meanwhile gives up; the window completes', async () => {
    const now = h.clock.now();
    const old = await publishPack(h, SITE, now, 'old', [400]);
    const g = gate();
    const worker = h.startWorker(async () => {
      g.enter();
      await g.opened;
      return { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, manifests: [] };
    }, 100);
    const window = h.workflows.runBackupWindow();
    await g.reached; // the window holds the lock and its job is running at the agent

    const purge = await h.workflows.runPurge().done;
    expect(purge.status).toBe('FAILED');
    expect(retriesOf(purge, P.acquire)).toHaveLength(36);
    expect(await exists(old.packKey)).toBe(true);
    expect(h.alerts.map((a) => a.subject)).toEqual([`Ferry ${SITE}: purge not started - site lock busy`]);

    g.open();
    expect((await window.done).status).toBe('SUCCEEDED');
    expect((await h.runs.recentRuns(SITE, 1))[0]?.outcome).toBe('FULL');
    await worker.stop();
  });

  it('excludes a running purge: a scheduled window started meanwhile is retried and gives up; the purge completes', async () => {
    const now = h.clock.now();
    const old = await publishPack(h, SITE, now, 'old', [400]);
    const g = gate();
    h.hooks.beforeDelete = async () => {
      g.enter();
      await g.opened;
    };
    const purge = h.workflows.runPurge();
    await g.reached; // the purge holds the lock and is deleting

    const window = await h.workflows.runBackupWindow().done;
    expect(window.status).toBe('FAILED');
    expect(retriesOf(window, W.acquire)).toHaveLength(24);
    expect(statesOf(window)).not.toContain(W.dispatch);
    expect(h.alerts[0]?.subject).toBe(`Ferry ${SITE}: backup window missed - site lock busy`);
    expect(h.alerts[0]?.message).toContain('(purge)');

    g.open();
    expect((await purge.done).status).toBe('SUCCEEDED');
    expect(await exists(old.packKey)).toBe(false);
  });

  it('stops when its lock is lost (cleared as stale and taken by another): the next batch is not deleted', async () => {
    h.activity.stop();
    h = await workflowHarness({ purge: { retentionDays: 365, keepFullCycles: 2 }, config: { purgeBatchSize: 2, purgeConcurrency: 1 } });
    const now = h.clock.now();
    const first = await publishPack(h, SITE, now, 'first', [400]);
    const second = await publishPack(h, SITE, now, 'second', [401]);
    const g = gate();
    let calls = 0;
    h.hooks.beforeDelete = async () => {
      if (calls++ > 0) return;
      g.enter();
      await g.opened;
    };
    const purge = h.workflows.runPurge();
    await g.reached;
    h.clock.advance(12 * HOUR + 60_000);
    const thief = await h.locks.acquire({ site: SITE, holder: 'another-execution', operation: 'backup' });
    g.open();

    const outcome = await purge.done;
    expect(outcome.status).toBe('FAILED');
    const deleted = [await exists(first.packKey), await exists(second.packKey)];
    expect(deleted.filter((d) => d === false)).toHaveLength(1); // the batch in flight finished, the next one never started
    expect(h.alerts[0]?.subject).toBe(`Ferry ${SITE}: purge FAILED`);
    expect(h.alerts[0]?.message).toContain('LockLostError');
    expect(await h.locks.describe(SITE)).toMatchObject({ holder: thief.holder, token: thief.token });
  });
});

describe("the purge's start record (what the dead-man's switch reads)", () => {
  it("is written by the first state of the synthesized definition, before the lock, with the site, the execution start and the execution ARN; the report step writes the run's outcome over it", async () => {
    const before = Date.now();
    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(statesOf(outcome).slice(0, 3)).toEqual([P.start, P.firstRound, P.acquire]);
    expect(await h.purgeRuns.lastPurgeRun(SITE)).toEqual({ site: SITE, startedAt: expect.any(String), execution: outcome.executionArn, outcome: 'DONE', reportedAt: expect.any(String), deleted: 0, round: 1 });
    const startedAt = Date.parse((await h.purgeRuns.lastPurgeRun(SITE))!.startedAt);
    expect(startedAt).toBeGreaterThanOrEqual(before - 1000);
  });

  it('does not stop the purge when it cannot be written: the purge deletes, reports and succeeds, the error kept at $.startError', async () => {
    const refusing = { putPurgeRun: async () => Promise.reject(Object.assign(new Error('AccessDeniedException: not authorized on PURGERUN#site-a'), { name: 'AccessDeniedException' })), lastPurgeRun: async () => undefined };
    const broken = await workflowHarness({ purge: { retentionDays: 365, keepFullCycles: 2 }, purgeRuns: refusing });
    try {
      const old = await publishPack(broken, SITE, broken.clock.now(), 'old', [400]);
      const outcome = await broken.workflows.runPurge().done;
      expect(outcome.status).toBe('SUCCEEDED');
      expect(statesOf(outcome).filter((s) => s !== P.deleteBatch)).toEqual([P.start, P.firstRound, P.acquire, P.plan, P.deleteBatches, P.release, P.report, P.publish, P.outcome, P.done]);
      expect(await broken.blobs.head(old.packKey)).toBeUndefined();
      expect(broken.alerts.map((a) => a.subject)).toEqual([`Ferry ${SITE}: purge done - 2 object(s) deleted`]);
      const entered = outcome.events.find((e) => e.type === 'StateEntered' && e.state?.name === P.firstRound);
      expect((entered?.state?.input as { startError?: { Error: string } }).startError).toMatchObject({ Error: 'AccessDeniedException' });
    } finally {
      broken.activity.stop();
    }
  });
});
