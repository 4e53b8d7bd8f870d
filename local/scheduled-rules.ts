import { Cron } from '../core/fleet-cron.ts';
import { LOCAL_ENV } from '../infra/cfn-resolve.ts';
import { functionNamed } from './async-destinations.ts';
import type { DeploymentSnapshot } from './iam-gateway/deployment.ts';

// The deployment's schedules, read from the synthesized templates (the snapshot the IAM gateway
// evaluates, local/iam-deployment.generated.json): every EventBridge rule with a
// ScheduleExpression and every EventBridge Scheduler schedule, each with the function it
// targets (by its `function:{name}` role) and what it sends. Nothing here is listed by hand, so
// a schedule added to infra/ runs on the local cloud after `npm run render-workflows`, and one
// whose target the local cloud cannot run stops the start, naming it.

export interface ScheduledRule {
  /** The rule's (or schedule's) logical id, as logs name it (with the target's Id when a rule has several). */
  name: string;
  kind: 'rule' | 'schedule';
  /** `rate(5 minutes)`, `cron(0 6 * * ? *)`. */
  expression: string;
  /** The schedule's time zone (EventBridge rules: UTC). */
  timeZone: string;
  /** The target function's name (its principal is `function:{name}`). */
  functionName: string;
  /** The deployed rule's ARN (a Scheduled Event's `resources`). */
  arn: string;
  /** The target's Input when set (sent as is); absent: EventBridge's Scheduled Event. */
  input?: unknown;
}

type Resource = { Type: string; Properties?: Record<string, unknown> };
type Target = { Arn?: { 'Fn::GetAtt'?: [string, string] }; Id?: string; Input?: string };

/** The target's function, or an error naming the rule (a target the local cloud cannot run). */
function targetFunction(snapshot: DeploymentSnapshot, stack: string, rule: string, target: Target): string {
  const [id, attribute] = target.Arn?.['Fn::GetAtt'] ?? [];
  const name = id && attribute === 'Arn' ? functionNamed(snapshot, stack, id) : undefined;
  if (name) return name;
  throw new Error(
    `scheduled rule ${rule}: its target ${JSON.stringify(target.Arn)} is not a function of the local deployment ` +
      '(the local cloud runs functions whose role local/iam-gateway/synthesize.ts names)',
  );
}

function parsedInput(input: string | undefined): unknown {
  if (input === undefined) return undefined;
  try {
    return JSON.parse(input) as unknown;
  } catch {
    return input;
  }
}

/** Every scheduled rule and schedule of the synthesized deployment, in template order. */
export function scheduledRules(snapshot: DeploymentSnapshot): ScheduledRule[] {
  const { partition, region, account } = LOCAL_ENV;
  const rules: ScheduledRule[] = [];
  for (const [stack, template] of Object.entries(snapshot.templates)) {
    for (const [id, resource] of Object.entries((template.Resources ?? {}) as Record<string, Resource>)) {
      const p = resource.Properties ?? {};
      if (p.State === 'DISABLED') continue;
      if (resource.Type === 'AWS::Events::Rule' && typeof p.ScheduleExpression === 'string') {
        const targets = (p.Targets ?? []) as Target[];
        const arn = `arn:${partition}:events:${region}:${account}:rule/${typeof p.Name === 'string' ? p.Name : id}`;
        for (const target of targets) {
          const name = targets.length > 1 ? `${id}/${target.Id}` : id;
          const input = parsedInput(target.Input);
          rules.push({ name, kind: 'rule', expression: p.ScheduleExpression, timeZone: 'UTC', functionName: targetFunction(snapshot, stack, name, target), arn, ...(input === undefined ? {} : { input }) });
        }
      } else if (resource.Type === 'AWS::Scheduler::Schedule' && typeof p.ScheduleExpression === 'string') {
        const target = (p.Target ?? {}) as Target;
        const arn = `arn:${partition}:scheduler:${region}:${account}:schedule/default/${typeof p.Name === 'string' ? p.Name : id}`;
        const timeZone = typeof p.ScheduleExpressionTimezone === 'string' ? p.ScheduleExpressionTimezone : 'UTC';
        const input = parsedInput(target.Input);
        rules.push({ name: id, kind: 'schedule', expression: p.ScheduleExpression, timeZone, functionName: targetFunction(snapshot, stack, id, target), arn, ...(input === undefined ? {} : { input }) });
      }
    }
  }
  return rules;
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The period of a `rate(...)` expression in ms, undefined for a `cron(...)`; refuses anything else, naming it. */
export function ratePeriodMs(expression: string): number | undefined {
  const m = RATE.exec(expression);
  if (m) return Number(m[1]) * UNIT_MS[m[2]!.replace(/s$/, '')]!;
  if (/^cron\(.+\)$/.test(expression)) return undefined;
  throw new RangeError(`schedule expression "${expression}": the local cloud runs rate(N minutes|hours|days) and cron(...) only`);
}

/** The wall-clock time in `timeZone` at `at`, as a Date whose UTC fields read that wall time. */
function wallTime(at: Date, format: Intl.DateTimeFormat): number {
  const f = Object.fromEntries(format.formatToParts(at).map((p) => [p.type, p.value]));
  return Date.UTC(+f.year!, +f.month! - 1, +f.day!, +f.hour! % 24, +f.minute!, +f.second!);
}

/** When a `cron(...)` expression in `timeZone` fires next, strictly after `after` (EventBridge Scheduler evaluates it in its zone). */
export function nextCronRun(expression: string, timeZone: string, after: Date): Date | undefined {
  const cron = new Cron(expression.slice('cron('.length, -1));
  if (timeZone === 'UTC') return cron.next(after);
  const format = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  const offset = (t: number) => wallTime(new Date(t), format) - t;
  const wall = cron.next(new Date(after.getTime() + offset(after.getTime())));
  if (!wall) return undefined;
  // The offset at the firing instant (it differs from now's across a daylight-saving change).
  const guess = wall.getTime() - offset(after.getTime());
  return new Date(wall.getTime() - offset(guess));
}
