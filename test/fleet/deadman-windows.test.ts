import { describe, expect, it } from 'vitest';
import { NotDeliveredError } from '../../core/errors.ts';
import { HEARTBEAT_FORMAT, judgeSite, type FleetSiteInput, type Heartbeat } from '../../core/fleet.ts';
import { MemoryDeadmanStore, runDeadman } from '../../core/fleet-read.ts';
import type { Alert } from '../../core/ports.ts';
import { MemoryRunStore, judgeWindow, startedRunRecord, type RunRecord } from '../../core/window.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';
import { createWindowHandler } from '../../functions/window/handler.ts';

// The dead-man's switch driven by a clock that moves in EventBridge's 15-minute steps, against
// the window's own run record: written `started` as the window starts (before it waits on the
// site lock), replaced by the record step when it finishes. The schedule is 02:00 UTC daily,
// the grace 60 min (the site's windowGraceMinutes), the longest window 5 h 30 min.

const CRON = '0 2 * * ? *';
const DUE = new Date('2026-12-03T02:00:00.000Z');
const at = (minutesAfterDue: number) => new Date(DUE.getTime() + minutesAfterDue * 60_000);

function heartbeat(now: Date): Heartbeat {
  return { format: HEARTBEAT_FORMAT, site: 'a', at: new Date(now.getTime() - 60_000).toISOString(), agentVersion: 't', sources: [], losses: 0, lastPass: { at: now.toISOString(), failed: 0, lost: 0 } };
}

/** One rig: the run store the window writes and the switch reads, the switch's state, what it sent. */
function rig(grace = 60, max = 330) {
  const runs = new MemoryRunStore();
  const store = new MemoryDeadmanStore();
  const sent: Alert[] = [];
  const deps = { store, notifier: { notify: async (a: Alert) => void sent.push(a) } };
  /** One pass of the switch at `now`, the agent heard from a minute ago unless `silentSince` says otherwise. */
  const pass = async (now: Date, silentSince?: Date) => {
    const lastRun = (await runs.recentRuns('a', 1))[0];
    const input: FleetSiteInput = { site: 'a', silentAfterMinutes: 90, backupCron: CRON, windowGraceMinutes: grace, windowMaxMinutes: max, heartbeat: heartbeat(silentSince ?? now), ...(lastRun ? { lastRun } : {}) };
    return (await runDeadman(deps, [judgeSite(input, now)], now))[0]!;
  };
  return { runs, store, sent, pass };
}

const finish = (record: RunRecord, now: Date): RunRecord => judgeWindow({ site: record.site, startedAt: record.startedAt, mode: 'scheduled', report: { format: 'ferry.window-report/1', site: 'a', startedAt: record.startedAt, finishedAt: now.toISOString(), packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, manifests: [], manifestsTruncated: false }, verify: { expected: 0, checked: 0, found: 0, missing: [], missingCount: 0, unaccounted: 0, unchecked: 0 } }, now, DEFAULT_WORKFLOW_CONFIG).record;

describe("the dead-man's switch and the backup window's own record", () => {
  it('a window waiting on the site lock for 3 h is not alerted: its record says started', async () => {
    const { runs, sent, pass } = rig();
    await runs.putRun(startedRunRecord('a', DUE.toISOString(), 'scheduled', 'exec-1'));
    for (let m = 15; m <= 180; m += 15) expect(await pass(at(m))).toEqual({ site: 'a', action: 'none', state: 'OK' });
    expect(sent).toEqual([]);
    // It gets the lock, runs and is recorded: still nothing to say.
    await runs.putRun(finish((await runs.recentRuns('a', 1))[0]!, at(200)));
    expect(await pass(at(210))).toEqual({ site: 'a', action: 'none', state: 'OK' });
    expect(sent).toEqual([]);
  });

  it('a window with no record alerts at the first pass after its time plus the configured grace, once, and the recovery is announced', async () => {
    const { runs, store, sent, pass } = rig(30);
    // Yesterday's window ran; today's has no record.
    await runs.putRun(finish(startedRunRecord('a', at(-1440).toISOString(), 'scheduled'), at(-1400)));
    expect((await pass(at(15))).action).toBe('none');
    expect(await pass(at(30))).toEqual({ site: 'a', action: 'raised', state: 'LATE' });
    for (let m = 45; m <= 180; m += 15) expect((await pass(at(m))).action).toBe('none');
    expect(sent.map((a) => a.subject)).toEqual(['Ferry a: backup window did not run']);
    expect(sent[0]!.message).toContain('the window due 2026-12-03T02:00:00.000Z did not run');
    expect(store.states.get('a')).toMatchObject({ condition: 'missed 2026-12-03T02:00:00.000Z' });
    // Started on demand by the operator and finished: resolved, with a notice.
    const started = startedRunRecord('a', at(190).toISOString(), 'on-demand');
    await runs.putRun(finish(started, at(200)));
    expect(await pass(at(210))).toEqual({ site: 'a', action: 'resolved', state: 'OK' });
    expect(sent.map((a) => `${a.severity}:${a.subject}`)).toEqual(['critical:Ferry a: backup window did not run', 'info:Ferry a: resolved - a backup window ran since']);
  });

  it('a window that started and outlives its longest wait and job is alerted as not finished, once', async () => {
    const { runs, sent, pass } = rig(60, 330);
    await runs.putRun(startedRunRecord('a', DUE.toISOString(), 'scheduled'));
    expect((await pass(at(330))).action).toBe('none');
    expect(await pass(at(345))).toEqual({ site: 'a', action: 'raised', state: 'LATE' });
    expect((await pass(at(360))).action).toBe('none');
    expect(sent.map((a) => a.subject)).toEqual(['Ferry a: backup window did not finish']);
    expect(sent[0]!.message).toContain(`the window started ${DUE.toISOString()} has not finished after 330 min`);
  });

  it('a silent agent alerts at the first pass after its silentAfterMinutes, not before', async () => {
    const { runs, sent, pass } = rig();
    await runs.putRun(finish(startedRunRecord('a', DUE.toISOString(), 'scheduled'), at(10)));
    const lastHeard = at(20);
    expect((await pass(at(105), lastHeard)).action).toBe('none');
    expect(await pass(at(120), lastHeard)).toEqual({ site: 'a', action: 'raised', state: 'SILENT' });
    expect((await pass(at(135), lastHeard)).action).toBe('none');
    expect(sent.map((a) => a.subject)).toEqual(['Ferry a: agent silent']);
  });

  it('an alert SNS does not take fails the pass and is not marked sent, so the next pass sends it again', async () => {
    const { store, pass, sent } = rig(30);
    let refuse = true;
    const failing = { store, notifier: { notify: async (a: Alert) => (refuse ? Promise.reject(new NotDeliveredError('SNS down')) : void sent.push(a)) } };
    const row = judgeSite({ site: 'a', backupCron: CRON, windowGraceMinutes: 30, heartbeat: heartbeat(at(30)) }, at(30));
    await expect(runDeadman(failing, [row], at(30))).rejects.toThrow(/dead-man alert\(s\) not delivered: a: SNS down/);
    expect(store.states.get('a')).toBeUndefined();
    refuse = false;
    expect(await pass(at(45))).toEqual({ site: 'a', action: 'raised', state: 'LATE' });
  });
});

describe('the window function records the start', () => {
  it("writes the run record with state started and outcome RUNNING under the execution's start time; the record step replaces it", async () => {
    const runs = new MemoryRunStore();
    const handler = createWindowHandler({ blobs: { head: async () => undefined }, runs, clock: { now: () => at(5) }, log: () => undefined });
    expect(await handler({ action: 'start', site: 'a', startedAt: DUE.toISOString(), mode: 'scheduled', execution: 'arn:exec' })).toEqual({ state: 'started' });
    expect(await runs.recentRuns('a', 5)).toEqual([expect.objectContaining({ startedAt: DUE.toISOString(), state: 'started', outcome: 'RUNNING', execution: 'arn:exec' })]);
    await handler({ action: 'record', site: 'a', startedAt: DUE.toISOString(), mode: 'scheduled', config: {}, run: { lockError: { Error: 'LockHeldError', Cause: 'held by purge' } } });
    expect(await runs.recentRuns('a', 5)).toEqual([expect.objectContaining({ startedAt: DUE.toISOString(), state: 'finished', outcome: 'FAILED' })]);
  });

  it('refuses a start without a valid start time, naming the field', async () => {
    const handler = createWindowHandler({ blobs: { head: async () => undefined }, runs: new MemoryRunStore(), clock: { now: () => at(0) }, log: () => undefined });
    await expect(handler({ action: 'start', site: 'a', startedAt: 'yesterday', mode: 'scheduled' })).rejects.toThrow(/startedAt/);
  });
});
