import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { HEARTBEAT_DAILY_KEEP_DAYS, HEARTBEAT_KEEP_DAYS } from '../../core/fleet.ts';
import { DEFAULT_WORKFLOW_CONFIG, lockWaitSeconds } from '../../core/workflow-config.ts';
import { FUNCTION_METRICS_NAMESPACE } from '../../infra/alerts.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { METRICS_NAMESPACE } from '../../functions/shared/metrics.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { workflowsFactory } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from '../infra/fixture.ts';

// The dead-man's switch in the CDK app: scheduled by EventBridge, configured with every site's
// silence limit, and a role that reads heartbeats and nothing else of the bucket; a retired
// site's purge scheduled, its backup window not.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
let synth: Synthesized;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let policies: PolicyDocument[];

beforeAll(() => {
  synth = synthFerry({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' } }, { name: 'site-b', retentionDays: 730, silentAfterMinutes: 45 }, { name: 'site-c', retentionDays: 730, retired: '2026-12-01', schedule: { backupCron: '0 3 * * ? *', purgeCron: '0 6 ? * SUN *' } }] }, { workflows: workflowsFactory() });
  resources = synth.processingTemplate.toJSON().Resources;
  policies = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.deadman.role));
}, 120_000);

describe("the dead-man's switch in the CDK app", () => {
  it('runs every 15 minutes from an EventBridge rule targeting its function', () => {
    const rule = resources[logicalId(synth.processing.deadman.rule)]!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(15 minutes)');
    expect(JSON.stringify(rule.Properties.Targets)).toContain(logicalId(synth.processing.deadman.fn));
  });

  it("receives every site's silence limit, window schedule, grace and longest window, the default 90 min where none is set, and each scheduled site's purge schedule with its grace", () => {
    const fn = resources[logicalId(synth.processing.deadman.fn)]!;
    const env = synth.resolver.resolve(synth.processing.stackName, (fn.Properties.Environment as { Variables: unknown }).Variables) as Record<string, string>;
    // A purge is missed its longest lock wait (6 h) plus an hour after its time.
    const purgeGraceMinutes = lockWaitSeconds(DEFAULT_WORKFLOW_CONFIG, 'purge') / 60 + 60;
    expect(purgeGraceMinutes).toBe(420);
    expect(JSON.parse(env.FLEET_SITES!)).toEqual([
      // The longest window: the 4 h lock wait and the agent's job timeout, plus the grace.
      { name: 'site-a', silentAfterMinutes: 90, backupCron: '0 2 * * ? *', windowGraceMinutes: 60, windowMaxMinutes: Math.ceil((lockWaitSeconds(DEFAULT_WORKFLOW_CONFIG, 'backup') + DEFAULT_WORKFLOW_CONFIG.activityTimeoutSeconds) / 60) + 60, purgeCron: '0 5 ? * SUN *', purgeGraceMinutes },
      { name: 'site-b', silentAfterMinutes: 45 },
      // Retired: its backup window is not scheduled, so none is watched; its purge still runs and is.
      { name: 'site-c', silentAfterMinutes: 90, retired: '2026-12-01', purgeCron: '0 6 ? * SUN *', purgeGraceMinutes },
    ]);
    expect(env.TOPIC_ARN).toMatch(/^arn:aws:sns:/);
  });

  it("schedules a retired site's purge, not its backup window nor the alarm on it, and tells the report function its retired day", () => {
    const rules = Object.values(resources).filter((r) => r.Type === 'AWS::Events::Rule').map((r) => String(r.Properties.Description));
    expect(rules.filter((d) => d.endsWith(' site-c'))).toEqual(['Ferry: scheduled purge of site site-c']);
    expect(rules.filter((d) => d.endsWith(' site-a')).sort()).toEqual(['Ferry: scheduled backup window of site site-a', 'Ferry: scheduled purge of site site-a']);
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm').map((r) => String(r.Properties.AlarmDescription));
    expect(alarms.filter((d) => d.startsWith('Ferry site-c:'))).toEqual([]);
    expect(alarms.filter((d) => d.startsWith('Ferry site-a: no backup window'))).toHaveLength(1);
    const report = resources[logicalId(synth.processing.reports.fn)]!;
    const env = (report.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(JSON.parse(env.RETIRED_SITES!)).toEqual({ 'site-c': '2026-12-01' });
  });

  it('may read heartbeats of any site, but no recordings, manifests or backups, and may publish alerts', () => {
    expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/heartbeats/site-a/0000000000001.json` })).toBe(true);
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'heartbeats/site-b/' } })).toBe(true);
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'recordings/site-b/' } })).toBe(false);
    for (const cls of ['recordings', 'manifests', 'backups']) expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/${cls}/site-a/x` })).toBe(false);
    expect(isAllowed(policies, { action: 's3:PutObject', resource: `${BUCKET}/heartbeats/site-a/x` })).toBe(false);
    // A site silent for longer than the recent heartbeats are kept is read from its daily ones.
    expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/heartbeats-daily/site-a/0000000000001-a/0000000000001.json` })).toBe(true);
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'heartbeats-daily/site-b/' } })).toBe(true);
    expect(policies.some((p) => [p.Statement].flat().some((s) => [s.Action ?? []].flat().includes('sns:Publish')))).toBe(true);
  });

  it('alarms on the alert topic after two failed runs in a row (its function errors, 15-minute periods)', () => {
    const alarm = resources[logicalId(synth.processing.deadman.alarm)]!;
    expect(alarm.Properties).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Period: 900, Statistic: 'Sum', Threshold: 1, EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
    expect(alarm.Properties.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: logicalId(synth.processing.deadman.fn) } }]);
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalId(synth.processing.alerts.topic) }]);
    expect(String(alarm.Properties.AlarmDescription)).toMatch(/^Ferry dead-man's switch: two runs in a row failed/);
  });

  it("alarms on the alert topic at the first alert the switch or the reports could not publish (AlertsNotDelivered of the functions' namespace, every site)", () => {
    const alarm = resources[logicalId(synth.processing.alerts.alarmOnUndelivered())]!;
    expect(FUNCTION_METRICS_NAMESPACE).toBe(METRICS_NAMESPACE);
    expect(alarm.Properties).toMatchObject({ Threshold: 1, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', TreatMissingData: 'notBreaching' });
    expect(alarm.Properties.Metrics).toEqual([{ Id: 'expr_1', Label: 'AlertsNotDelivered', Expression: `SELECT SUM(AlertsNotDelivered) FROM ${METRICS_NAMESPACE}`, Period: 900, ReturnData: true }]);
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalId(synth.processing.alerts.topic) }]);
    // Both functions count it (functions/shared/metrics.ts notDeliveredReporter) and send to the topic the alarm publishes to.
    for (const fn of [synth.processing.deadman.fn, synth.processing.reports.fn]) {
      const env = (resources[logicalId(fn)]!.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.TOPIC_ARN).toEqual({ Ref: logicalId(synth.processing.alerts.topic) });
    }
  });
});

describe('heartbeats in the data bucket', () => {
  it(`expire after ${HEARTBEAT_KEEP_DAYS} days by a lifecycle rule on heartbeats/ alone`, () => {
    const stateful = synth.statefulTemplate.toJSON().Resources as Record<string, { Type: string; Properties: { LifecycleConfiguration?: { Rules: Array<Record<string, unknown>> } } }>;
    const bucket = Object.values(stateful).find((r) => r.Type === 'AWS::S3::Bucket' && r.Properties.LifecycleConfiguration?.Rules.some((rule) => rule.Id === 'expire-heartbeats'));
    const rule = bucket!.Properties.LifecycleConfiguration!.Rules.find((r) => r.Id === 'expire-heartbeats');
    expect(rule).toMatchObject({ Prefix: 'heartbeats/', ExpirationInDays: HEARTBEAT_KEEP_DAYS, Status: 'Enabled' });
  });

  it(`keeps each agent's daily heartbeat ${HEARTBEAT_DAILY_KEEP_DAYS} days by a rule of its own on heartbeats-daily/, which the ${HEARTBEAT_KEEP_DAYS}-day rule does not match`, () => {
    const stateful = synth.statefulTemplate.toJSON().Resources as Record<string, { Type: string; Properties: { LifecycleConfiguration?: { Rules: Array<Record<string, unknown>> } } }>;
    const bucket = Object.values(stateful).find((r) => r.Type === 'AWS::S3::Bucket' && r.Properties.LifecycleConfiguration?.Rules.some((rule) => rule.Id === 'expire-heartbeats'));
    const rules = bucket!.Properties.LifecycleConfiguration!.Rules;
    expect(rules.find((r) => r.Id === 'expire-daily-heartbeats')).toMatchObject({ Prefix: 'heartbeats-daily/', ExpirationInDays: HEARTBEAT_DAILY_KEEP_DAYS, Status: 'Enabled' });
    // S3 matches a rule's prefix literally: no other expiring rule covers the daily keys.
    const expiring = rules.filter((r) => r.ExpirationInDays !== undefined && 'heartbeats-daily/site-a/x.json'.startsWith(String(r.Prefix ?? '')));
    expect(expiring.map((r) => r.Id)).toEqual(['expire-daily-heartbeats']);
  });
});

describe("the dead-man's switch's graces with the orchestration's own lock waits", () => {
  it('judges a purge missed and a window stuck after the lock waits the state machines were built with (8 h 20 min of purge lock retries: missed 560 min after its time, not 420), in the switch, the fleet function and the audit sealer alike', () => {
    // A purge retries its lock every 5 min 100 times (8 h 20 min), a backup window every 5 min 24 times (2 h).
    const longer = synthFerry({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' } }] }, { workflows: workflowsFactory({ config: { lockRetryIntervalSeconds: 300, purgeLockMaxAttempts: 100 } }) });
    const template = longer.processingTemplate.toJSON().Resources as Record<string, { Properties: { Environment: { Variables: Record<string, unknown> } } }>;
    const fleetSites = (fn: { node: unknown }) => JSON.parse(String(template[logicalId(fn as never)]!.Properties.Environment.Variables.FLEET_SITES)) as unknown;
    // 500 min of lock wait + 60; the longest window 120 min of lock wait + the 360 min job timeout + the 60 min grace.
    const expected = [{ name: 'site-a', silentAfterMinutes: 90, backupCron: '0 2 * * ? *', windowGraceMinutes: 60, windowMaxMinutes: 540, purgeCron: '0 5 ? * SUN *', purgeGraceMinutes: 560 }];
    for (const fn of [longer.processing.deadman.fn, longer.processing.functions.fleet, longer.processing.auditSealer.fn]) expect(fleetSites(fn)).toEqual(expected);
  }, 120_000);
});
