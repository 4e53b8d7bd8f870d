import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { LOCAL_ENV as FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { generatedSnapshot } from '../../local/function-environment.ts';
import { nextCronRun, ratePeriodMs, scheduledRules, type ScheduledRule } from '../../local/scheduled-rules.ts';
import { LocalScheduler } from '../../local/scheduler.ts';

// EventBridge's part on the local cloud, with a clock the test moves and no timer: which rules
// the generated deployment schedules, when each comes due, what its function receives, and what
// happens to a run that fails or is still running when the rule comes due again.

const START = new Date('2026-04-01T10:00:00Z');
const RULE: ScheduledRule = { name: 'SealerSchedule', kind: 'rule', expression: 'rate(5 minutes)', timeZone: 'UTC', functionName: 'audit-seal', arn: `arn:aws:events:${FAKE_ENV.region}:${FAKE_ENV.account}:rule/SealerSchedule` };
const MIN = 60_000;

function harness(invoke: (rule: ScheduledRule, event: unknown) => Promise<unknown>, rules = [RULE]) {
  const clock = new ManualClock(START);
  const logs: Array<{ level: string; message: string; detail: Record<string, unknown> }> = [];
  const scheduler = new LocalScheduler({ rules, invoke, clock, pollMs: 0, log: (level, message, detail) => logs.push({ level, message, detail }) });
  return { clock, logs, scheduler };
}

describe('the rules of the generated deployment', () => {
  it("finds the dead-man's switch, the audit sealer and the two report schedules, each with its target function, expression and input", () => {
    const rules = scheduledRules(generatedSnapshot());
    const by = Object.fromEntries(rules.map((r) => [r.functionName + ' ' + r.expression, r]));
    expect(Object.keys(by).sort()).toEqual(['audit-seal rate(5 minutes)', 'deadman rate(15 minutes)', 'report cron(0 6 * * ? *)', 'report cron(30 6 1 * ? *)']);
    expect(by['report cron(0 6 * * ? *)']).toMatchObject({ kind: 'schedule', timeZone: 'UTC', input: { run: 'daily' } });
    expect(by['report cron(30 6 1 * ? *)']?.input).toEqual({ run: 'monthly' });
    expect(by['deadman rate(15 minutes)']).toMatchObject({ kind: 'rule', arn: expect.stringMatching(/^arn:aws:events:[\w-]+:\d{12}:rule\/Deadman/) as unknown });
    expect(by['deadman rate(15 minutes)']?.input).toBeUndefined();
  });
});

describe('schedule expressions', () => {
  it('reads rate periods in minutes, hours and days, and refuses an expression it cannot run, naming it', () => {
    expect(ratePeriodMs('rate(5 minutes)')).toBe(5 * MIN);
    expect(ratePeriodMs('rate(1 hour)')).toBe(60 * MIN);
    expect(ratePeriodMs('rate(2 days)')).toBe(2 * 1440 * MIN);
    expect(ratePeriodMs('cron(0 6 * * ? *)')).toBeUndefined();
    expect(() => ratePeriodMs('at(2026-04-01T10:00:00)')).toThrow(/at\(2026-04-01T10:00:00\)/);
  });

  it("evaluates a Scheduler cron in its time zone (06:00 Europe/London is 05:00 UTC in summer, 06:00 UTC in winter)", () => {
    expect(nextCronRun('cron(0 6 * * ? *)', 'Europe/London', new Date('2026-07-01T10:00:00Z'))?.toISOString()).toBe('2026-07-02T05:00:00.000Z');
    expect(nextCronRun('cron(0 6 * * ? *)', 'Europe/London', new Date('2026-12-01T10:00:00Z'))?.toISOString()).toBe('2026-12-02T06:00:00.000Z');
    expect(nextCronRun('cron(30 6 1 * ? *)', 'UTC', new Date('2026-04-01T10:00:00Z'))?.toISOString()).toBe('2026-05-01T06:30:00.000Z');
  });
});

describe('the local scheduler', () => {
  it("invokes a rate rule's function once per period as the clock moves, with EventBridge's Scheduled Event for the rule", async () => {
    const events: unknown[] = [];
    const { clock, scheduler } = harness(async (_rule, event) => void events.push(event));
    clock.advance(4 * MIN);
    expect(await scheduler.tick()).toEqual([]);
    clock.advance(1 * MIN);
    expect(await scheduler.tick()).toEqual([{ rule: 'SealerSchedule', at: '2026-04-01T10:05:00.000Z', outcome: 'succeeded' }]);
    expect(await scheduler.tick()).toEqual([]);
    expect(events).toEqual([
      {
        version: '0',
        id: expect.any(String) as unknown,
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: FAKE_ENV.account,
        time: '2026-04-01T10:05:00Z',
        region: FAKE_ENV.region,
        resources: [RULE.arn],
        detail: {},
      },
    ]);
    // A jump past several periods runs the rule once, then on its period again.
    clock.advance(17 * MIN);
    expect((await scheduler.tick()).map((r) => r.at)).toEqual(['2026-04-01T10:10:00.000Z']);
    expect(scheduler.nextRuns()).toEqual({ SealerSchedule: '2026-04-01T10:25:00.000Z' });
    await scheduler.stop();
  });

  it("sends a schedule's Input as is instead of the Scheduled Event", async () => {
    const events: unknown[] = [];
    const daily: ScheduledRule = { ...RULE, name: 'ReportsDaily', kind: 'schedule', expression: 'cron(0 11 * * ? *)', input: { run: 'daily' } };
    const { clock, scheduler } = harness(async (_rule, event) => void events.push(event), [daily]);
    clock.advance(60 * MIN);
    expect(await scheduler.tick()).toEqual([{ rule: 'ReportsDaily', at: '2026-04-01T11:00:00.000Z', outcome: 'succeeded' }]);
    expect(events).toEqual([{ run: 'daily' }]);
  });

  it("logs a failed run with the rule's name and function, and runs the rule again when it is next due", async () => {
    let calls = 0;
    const { clock, logs, scheduler } = harness(async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error('could not seal site demo'), { name: 'AuditSealError' });
    });
    clock.advance(5 * MIN);
    expect(await scheduler.tick()).toEqual([{ rule: 'SealerSchedule', at: '2026-04-01T10:05:00.000Z', outcome: 'failed', error: 'AuditSealError: could not seal site demo' }]);
    expect(logs).toContainEqual({ level: 'error', message: 'scheduled run failed', detail: { rule: 'SealerSchedule', function: 'audit-seal', at: '2026-04-01T10:05:00.000Z', error: 'AuditSealError: could not seal site demo' } });
    clock.advance(5 * MIN);
    expect(await scheduler.tick()).toEqual([{ rule: 'SealerSchedule', at: '2026-04-01T10:10:00.000Z', outcome: 'succeeded' }]);
    expect(calls).toBe(2);
  });

  it('skips a run while the previous run of the same rule is still going, and logs the skip', async () => {
    let release!: () => void;
    let calls = 0;
    const { clock, logs, scheduler } = harness(() => (calls++, new Promise<void>((resolve) => (release = resolve))));
    clock.advance(5 * MIN);
    const first = scheduler.tick();
    clock.advance(5 * MIN);
    expect(await scheduler.tick()).toEqual([{ rule: 'SealerSchedule', at: '2026-04-01T10:10:00.000Z', outcome: 'skipped' }]);
    expect(logs.find((l) => l.level === 'warn')).toMatchObject({ message: expect.stringMatching(/skipped/) as unknown, detail: { rule: 'SealerSchedule', at: '2026-04-01T10:10:00.000Z' } });
    release();
    expect((await first).map((r) => r.outcome)).toEqual(['succeeded']);
    expect(calls).toBe(1);
    clock.advance(5 * MIN);
    const third = scheduler.tick();
    release();
    expect((await third).map((r) => r.outcome)).toEqual(['succeeded']);
  });
});
