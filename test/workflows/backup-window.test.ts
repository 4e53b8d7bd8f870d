import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ActivityClient } from '../../core/activity.ts';
import { ActivityWorker } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { WINDOW_STATES as S } from '../../infra/workflows/state-names.ts';
import { SITE, retriesOf, statesOf, workflowHarness, type Harness } from './harness.ts';

// The backup window, executed locally from its synthesized definition: lock rules (CVP retry,
// on-demand, stale clearance), dispatch to the agent through the activity, verify, record,
// alerts. Pauses are 0 ms; the manual clock moves by what each pause stood for.

const HOUR = 3_600_000;
let h: Harness;
let workers: { stop(): Promise<void> }[] = [];

beforeEach(async () => {
  h = await workflowHarness({ config: { activityHeartbeatSeconds: 1, activityTimeoutSeconds: 2 } });
  workers = [];
});

afterEach(async () => {
  for (const w of workers) await w.stop();
  h.activity.stop();
});

/** A worker whose backup run publishes `packs` manifests and reports them. */
function shippingWorker(packs = 2, extra: { failed?: number; lost?: number; unpublished?: number } = {}) {
  const w = h.startWorker(async (job) => {
    const manifests = [];
    for (let i = 0; i < packs; i++) {
      const key = `manifests/${SITE}/recordings/2026/03/01/p${String(i).padStart(23, '0')}.json`;
      if (i >= packs - (extra.unpublished ?? 0)) manifests.push(key);
      else {
        await h.blobs.put(key, Buffer.from('{}'));
        manifests.push(key);
      }
    }
    expect(job.site).toBe(SITE);
    return { packs, recordings: packs * 100, bytes: packs * 1_000_000, failed: extra.failed ?? 0, lost: extra.lost ?? 0, manifests };
  });
  workers.push(w);
  return w;
}

describe('backup window', () => {
  it('runs a scheduled window end to end: lock, dispatch to the agent, verify, release, record FULL, no alert', async () => {
    shippingWorker(3);
    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(statesOf(outcome)).toEqual([S.mode, S.scheduled, S.start, S.acquire, S.dispatch, S.verify, S.release, S.record, S.alertDue, S.outcome, S.done]);
    const [run] = await h.runs.recentRuns(SITE, 1);
    expect(run).toMatchObject({ outcome: 'FULL', mode: 'scheduled', packs: 3, recordings: 300, manifestsMissing: 0, reasons: [] });
    expect(h.alerts).toEqual([]);
    expect(await h.locks.describe(SITE)).toBeUndefined();
    expect((await h.lockTable.read(SITE))?.state.token).toBe(1);
  });

  it('retries a busy lock every 600 s for 4 h (24 retries), then alerts: what, where, since when, held by whom, what to do', async () => {
    const purge = await h.holdLock('purge', 30 * 60_000);
    const started = h.clock.now();
    const outcome = await h.workflows.runBackupWindow().done;

    const retries = retriesOf(outcome, S.acquire);
    expect(retries).toHaveLength(24);
    for (const r of retries) expect(r.retry!.retrier).toMatchObject({ ErrorEquals: ['LockHeldError'], IntervalSeconds: 600, MaxAttempts: 24, BackoffRate: 1 });
    expect(h.pauses.filter((p) => p.state === S.acquire).map((p) => p.seconds)).toEqual(Array(24).fill(600));
    expect(h.clock.now().getTime() - started.getTime()).toBe(4 * HOUR);

    expect(outcome.status).toBe('FAILED');
    expect(statesOf(outcome)).not.toContain(S.dispatch);
    expect(statesOf(outcome)).not.toContain(S.release);
    expect(h.alerts).toHaveLength(1);
    const alert = h.alerts[0]!;
    expect(alert.severity).toBe('critical');
    expect(alert.site).toBe(SITE);
    expect(alert.subject).toBe(`Ferry ${SITE}: backup window missed - site lock busy`);
    expect(alert.message).toContain('could not get the site lock (tried every 10 min for 4 h (25 attempts))');
    expect(alert.message).toContain(`held by ${purge.holder} (purge) since ${purge.acquiredAt}`);
    expect(alert.message).toMatch(/Since: .* \(4 h ago\)/);
    expect(alert.message).toContain('What to do:');
    const [run] = await h.runs.recentRuns(SITE, 1);
    expect(run?.outcome).toBe('FAILED');
    expect(run?.reasons[0]).toMatch(/^missed: site lock busy/);
    // The purge's lock is untouched: never cleared, never released by the window.
    expect(await h.locks.describe(SITE)).toMatchObject({ holder: purge.holder, token: purge.token });
  });

  it('does not retry an on-demand run: one attempt, then the alert says so', async () => {
    await h.holdLock('backup', HOUR);
    const outcome = await h.workflows.runBackupWindow({ onDemand: true }).done;
    expect(outcome.status).toBe('FAILED');
    expect(statesOf(outcome)).toContain(S.acquireOnce);
    expect(statesOf(outcome)).not.toContain(S.acquire);
    expect(retriesOf(outcome, S.acquireOnce)).toHaveLength(0);
    expect(h.pauses).toEqual([]);
    expect(h.alerts[0]?.message).toContain('on-demand runs are not retried');
    expect((await h.runs.recentRuns(SITE, 1))[0]).toMatchObject({ outcome: 'FAILED', mode: 'on-demand' });
  });

  it('clears a lock 12 h + 1 s old on the first attempt and runs', async () => {
    const stale = await h.holdLock('backup', 12 * HOUR + 1000);
    shippingWorker(1);
    const outcome = await h.workflows.runBackupWindow({ onDemand: true }).done;
    expect(outcome.status).toBe('SUCCEEDED');
    const state = (await h.lockTable.read(SITE))!.state;
    expect(state.lastCleared).toMatchObject({ holder: stale.holder, token: stale.token });
    expect(state.token).toBe(stale.token + 1);
    expect((await h.runs.recentRuns(SITE, 1))[0]?.outcome).toBe('FULL');
  });

  it('does not clear a lock 11 h 59 min old: refused at once; a scheduled window clears it 10 min later, when it is over 12 h', async () => {
    const young = await h.holdLock('purge', 11 * HOUR + 59 * 60_000);
    const onDemand = await h.workflows.runBackupWindow({ onDemand: true }).done;
    expect(onDemand.status).toBe('FAILED');
    expect(await h.locks.describe(SITE)).toMatchObject({ holder: young.holder });

    shippingWorker(1);
    const scheduled = await h.workflows.runBackupWindow().done;
    expect(scheduled.status).toBe('SUCCEEDED');
    expect(retriesOf(scheduled, S.acquire)).toHaveLength(1);
    expect((await h.lockTable.read(SITE))!.state.lastCleared?.holder).toBe(young.holder);
  });

  it('records and alerts a PARTIAL run: failed batches, lost recordings, a reported manifest that is not in S3', async () => {
    shippingWorker(4, { failed: 2, lost: 3, unpublished: 1 });
    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('SUCCEEDED');
    const [run] = await h.runs.recentRuns(SITE, 1);
    expect(run).toMatchObject({ outcome: 'PARTIAL', failed: 2, lost: 3, manifestsMissing: 1 });
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', subject: `Ferry ${SITE}: backup window PARTIAL` });
    expect(h.alerts[0]!.message).toContain('2 batch(es) could not be shipped');
    expect(h.alerts[0]!.message).toContain('3 recording(s) were deleted by the recorder');
    expect(h.alerts[0]!.message).toContain('not in S3');
    expect(await h.locks.describe(SITE)).toBeUndefined();
  });

  it('keeps a job alive past HeartbeatSeconds while the agent heartbeats', async () => {
    const w = h.startWorker(async () => {
      await new Promise((r) => setTimeout(r, 1600)); // 1.6 × HeartbeatSeconds
      return { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, manifests: [] };
    }, 200);
    workers.push(w);
    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect((await h.runs.recentRuns(SITE, 1))[0]?.outcome).toBe('FULL');
  });

  it('sees a crashed agent as a missing heartbeat: FAILED, alerted, lock released', async () => {
    // The agent takes the job, then its process dies: no heartbeat, no answer, ever.
    let crashed = false;
    const inner = h.activity.client(h.workflows.definitions.activityArn, { pollWaitMs: 200 });
    const never = new Promise<never>(() => undefined);
    const dying: ActivityClient = {
      poll: (w, s) => inner.poll(w, s),
      heartbeat: (t) => (crashed ? never : inner.heartbeat(t)),
      succeed: (t, o) => (crashed ? never : inner.succeed(t, o)),
      fail: (t, e, c) => (crashed ? never : inner.fail(t, e, c)),
    };
    const controller = new AbortController();
    const worker = new ActivityWorker({
      client: dying,
      site: SITE,
      runBackup: async () => ((crashed = true), never),
      clock: h.clock,
      log: silentLogger,
      workerName: 'doomed',
      heartbeatMs: 100,
    });
    void worker.runOnce(controller.signal);

    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('FAILED');
    const failed = outcome.events.find((e) => e.type === 'StateFailed' && e.state?.name === S.dispatch);
    expect(failed?.Error).toBe('States.HeartbeatTimeout');
    expect(statesOf(outcome)).toEqual(expect.arrayContaining([S.release, S.record, S.publish]));
    expect(h.alerts[0]).toMatchObject({ severity: 'critical', subject: `Ferry ${SITE}: backup window FAILED - agent stopped responding` });
    expect(h.alerts[0]!.message).toContain('sent no heartbeat for 1 s');
    expect(await h.locks.describe(SITE)).toBeUndefined();
    controller.abort();
  });

  it('fails the window when no agent picks the job up (task timeout): FAILED, alerted, lock released', async () => {
    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('FAILED');
    expect(outcome.events.find((e) => e.type === 'StateFailed' && e.state?.name === S.dispatch)?.Error).toBe('States.Timeout');
    expect(h.alerts[0]?.subject).toBe(`Ferry ${SITE}: backup window FAILED - agent did not finish in time`);
    expect(await h.locks.describe(SITE)).toBeUndefined();
    expect((await h.runs.recentRuns(SITE, 1))[0]?.outcome).toBe('FAILED');
  });

  it('reports an agent-side failure through the activity: FAILED with the agent error, lock released', async () => {
    workers.push(h.startWorker(async () => Promise.reject(Object.assign(new Error('recorder share not mounted'), { name: 'SourceUnavailableError' }))));
    const outcome = await h.workflows.runBackupWindow().done;
    expect(outcome.status).toBe('FAILED');
    expect(h.alerts[0]?.message).toContain('SourceUnavailableError: recorder share not mounted');
    expect(await h.locks.describe(SITE)).toBeUndefined();
  });
});
