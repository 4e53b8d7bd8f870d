import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.ts';
import { LOCAL_ENV } from '../infra/cfn-resolve.ts';
import { nextCronRun, ratePeriodMs, type ScheduledRule } from './scheduled-rules.ts';

// EventBridge for the local cloud: each scheduled rule of the deployment (local/scheduled-rules.ts)
// invokes its function when its `rate(...)` or `cron(...)` comes due, with what EventBridge
// sends (the Scheduled Event, or the target's Input). Time comes from a Clock and due rules are
// looked for on tick(): a timer calls it every `pollMs` on `ferry start`, tests move the clock
// and call it themselves. A clock that jumps past several periods runs a rule once (EventBridge
// does not catch up either). A run that fails is logged with the rule's name and the rule runs
// again when next due (the deployment's rules have no retry of their own: the next run is the
// retry); a rule still running when it comes due again is skipped, and that is logged too.

export interface RuleRun {
  rule: string;
  /** The scheduled time of the run (the event's `time`). */
  at: string;
  outcome: 'succeeded' | 'failed' | 'skipped';
  error?: string;
}

export interface LocalSchedulerOptions {
  rules: ScheduledRule[];
  /** Invokes the rule's target function with `event` (as EventBridge's asynchronous invocation: its result is not used). */
  invoke(rule: ScheduledRule, event: unknown): Promise<unknown>;
  clock?: Clock;
  /** How often the timer looks for due rules, in ms; 0: no timer (the caller drives tick()). Default 15 s. */
  pollMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string, detail: Record<string, unknown>) => void;
}

/** EventBridge's event for a scheduled rule at `at` (`time` to the second, as EventBridge writes it). */
export function scheduledEvent(rule: ScheduledRule, at: Date): unknown {
  if (rule.input !== undefined) return rule.input;
  const time = `${at.toISOString().slice(0, 19)}Z`;
  return { version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: LOCAL_ENV.account, time, region: LOCAL_ENV.region, resources: [rule.arn], detail: {} };
}

const messageOf = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

interface RuleState {
  rule: ScheduledRule;
  period?: number;
  next?: Date;
  running?: Promise<RuleRun>;
}

export class LocalScheduler {
  private readonly states: RuleState[];
  private readonly clock: Clock;
  private readonly timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly options: LocalSchedulerOptions) {
    this.clock = options.clock ?? systemClock;
    const now = this.clock.now();
    // A rate counts from when the rule is created (here: now), as EventBridge's does.
    this.states = options.rules.map((rule) => {
      const period = ratePeriodMs(rule.expression);
      return { rule, period, next: this.following({ rule, period }, now, now) };
    });
    const pollMs = options.pollMs ?? 15_000;
    if (pollMs > 0) {
      this.timer = setInterval(() => void this.tick(), pollMs);
      this.timer.unref();
    }
  }

  /** The rules being run. */
  get rules(): ScheduledRule[] {
    return this.states.map((s) => s.rule);
  }

  /** When each rule runs next (by name). */
  nextRuns(): Record<string, string | undefined> {
    return Object.fromEntries(this.states.map((s) => [s.rule.name, s.next?.toISOString()]));
  }

  /** The run after `from`: one period on for a rate (skipping periods already past `now`), the cron's next minute otherwise. */
  private following(s: Pick<RuleState, 'rule' | 'period'>, from: Date, now: Date): Date | undefined {
    if (s.period === undefined) return nextCronRun(s.rule.expression, s.rule.timeZone, now);
    const behind = Math.max(0, Math.floor((now.getTime() - from.getTime()) / s.period));
    return new Date(from.getTime() + (behind + 1) * s.period);
  }

  /** Runs every rule due by the clock; resolves with what each did once the runs it started have ended. */
  async tick(): Promise<RuleRun[]> {
    if (this.stopped) return [];
    const now = this.clock.now();
    const runs: Promise<RuleRun>[] = [];
    for (const s of this.states) {
      if (!s.next || s.next > now) continue;
      const at = s.next;
      s.next = this.following(s, at, now);
      if (s.running) {
        this.options.log?.('warn', 'scheduled run skipped: the previous run of the rule is still running', { rule: s.rule.name, function: s.rule.functionName, at: at.toISOString() });
        runs.push(Promise.resolve({ rule: s.rule.name, at: at.toISOString(), outcome: 'skipped' }));
        continue;
      }
      const run = this.run(s.rule, at).finally(() => (s.running = undefined));
      s.running = run;
      runs.push(run);
    }
    return Promise.all(runs);
  }

  private async run(rule: ScheduledRule, at: Date): Promise<RuleRun> {
    const base = { rule: rule.name, at: at.toISOString() };
    try {
      await this.options.invoke(rule, scheduledEvent(rule, at));
      this.options.log?.('info', 'scheduled run', { rule: rule.name, function: rule.functionName, at: base.at });
      return { ...base, outcome: 'succeeded' };
    } catch (error) {
      this.options.log?.('error', 'scheduled run failed', { rule: rule.name, function: rule.functionName, at: base.at, error: messageOf(error) });
      return { ...base, outcome: 'failed', error: messageOf(error) };
    }
  }

  /** Stops the timer and waits for the runs in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled(this.states.map((s) => s.running));
  }
}
