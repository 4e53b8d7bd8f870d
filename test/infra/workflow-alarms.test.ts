import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// The alarms on the purge and recall state machines (infra/workflows/alarms.ts): any execution
// that failed, timed out or was aborted, and a scheduled purge that stopped starting, each
// published to the alert topic by CloudWatch.

type Resource = { Type: string; Properties: Record<string, unknown> };
let synth: Synthesized;
let built: BuiltWorkflows;
let resources: Record<string, Resource>;

const SITES = [
  { name: 'weekly', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' } },
  { name: 'daily', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '30 4 * * ? *' } },
  { name: 'monthly', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 1 * ? *' } },
  { name: 'manual', retentionDays: 730 },
];

beforeAll(() => {
  synth = synthFerry({ ...DEFAULT_CONFIG, sites: SITES }, { workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
  resources = synth.processingTemplate.toJSON().Resources as Record<string, Resource>;
}, 120_000);

const alarms = () => Object.entries(resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
const alarmNamed = (part: string) => alarms().filter(([id]) => id.includes(part));
const machineRef = (machine: { node: { defaultChild?: unknown } }) => ({ Ref: logicalId(machine as never) });

describe('alarms on the purge and recall state machines', () => {
  it("alarms at the first failed, timed-out or aborted execution of every site's purge (scheduled or not) and of the recall, on the alert topic", () => {
    const machines = [...SITES.map((s) => built.sites[s.name]!.purge.stateMachine), built.recall.stateMachine];
    const failing = alarms().filter(([, r]) => JSON.stringify(r.Properties.Metrics ?? []).includes('ExecutionsFailed'));
    expect(failing).toHaveLength(machines.length);
    for (const machine of machines) {
      const found = failing.filter(([, r]) => JSON.stringify(r.Properties.Metrics).includes(JSON.stringify(machineRef(machine))));
      expect(found, machine.node.path).toHaveLength(1);
      const p = found[0]![1].Properties as { Metrics: { Id: string; Expression?: string; MetricStat?: { Metric: { MetricName: string; Namespace: string }; Period: number; Stat: string } }[] };
      expect(p).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching', AlarmActions: [{ Ref: logicalId(synth.processing.alerts.topic) }] });
      expect(p.Metrics.find((m) => m.Expression)?.Expression).toBe('FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)');
      const stats = p.Metrics.filter((m) => m.MetricStat).map((m) => [m.Id, m.MetricStat!.Metric.Namespace, m.MetricStat!.Metric.MetricName, m.MetricStat!.Stat, m.MetricStat!.Period]);
      expect(stats.sort()).toEqual([
        ['aborted', 'AWS/States', 'ExecutionsAborted', 'Sum', 300],
        ['failed', 'AWS/States', 'ExecutionsFailed', 'Sum', 300],
        ['timedOut', 'AWS/States', 'ExecutionsTimedOut', 'Sum', 300],
      ]);
    }
    expect(String(alarmNamed('RecallFailed')[0]![1].Properties.AlarmDescription)).toMatch(/^Ferry recall: a recall execution failed, timed out or was aborted/);
  });

  it("alarms when a scheduled purge started no execution for longer than its cron's longest gap plus an hour, at most the 7 days an alarm can look back (hourly counts, missing data breaching)", () => {
    const expected: Record<string, number> = { weekly: 7 * 24, daily: 24 + 1 };
    for (const [site, hours] of Object.entries(expected)) {
      const found = alarmNamed(`Site${site}NoPurge`);
      expect(found, site).toHaveLength(1);
      expect(found[0]![1].Properties).toMatchObject({
        MetricName: 'ExecutionsStarted',
        Namespace: 'AWS/States',
        Dimensions: [{ Name: 'StateMachineArn', Value: machineRef(built.sites[site]!.purge.stateMachine) }],
        Statistic: 'Sum',
        Period: 3600,
        EvaluationPeriods: hours,
        DatapointsToAlarm: hours,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
        AlarmActions: [{ Ref: logicalId(synth.processing.alerts.topic) }],
      });
      expect(String(found[0]![1].Properties.AlarmDescription)).toMatch(new RegExp(`^Ferry ${site}: no purge started in the last ${hours} h`));
    }
  });

  it('watches no purge that is not scheduled, and warns at synthesis that a monthly one is longer than an alarm can look back (7 days)', () => {
    expect(alarmNamed('NoPurge').map(([id]) => id.match(/Site(\w+?)NoPurge/)?.[1]).sort()).toEqual(['daily', 'weekly']);
    const warnings = Annotations.fromStack(synth.processing).findWarning('*', Match.stringLikeRegexp('cron\\(0 5 1 \\* \\? \\*\\) leaves more than 168 h between runs'));
    expect(warnings.map((w) => w.entry.data)).toEqual([expect.stringContaining('/Site-monthly/Purge/StateMachine')]);
  });
});
