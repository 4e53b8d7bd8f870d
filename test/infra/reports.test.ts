import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG, parseDeploymentConfig } from '../../infra/config.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';
import { scrubEnv } from '../../infra/reports.ts';

// The scheduled reports in the CDK app: EventBridge Scheduler in the configured time zone
// targets the report function (daily, and on the 1st), failures go to a dead-letter queue that
// alarms on the alert topic, and the function's role reads what a report needs and writes only
// under reports/.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
let synth: Synthesized;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let policies: PolicyDocument[];
let schedulerPolicies: PolicyDocument[];

beforeAll(() => {
  synth = synthFerry({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 730 }, { name: 'site-b', retentionDays: 730 }], reports: { timeZone: 'Europe/London', dailyHour: 7, scrubSample: 0.05, reconcileDays: 5 } });
  resources = synth.processingTemplate.toJSON().Resources;
  policies = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.reports.role));
  schedulerPolicies = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.reports.schedulerRole));
}, 120_000);

const resolve = (value: unknown) => synth.resolver.resolve(synth.processing.stackName, value as never) as never;

describe('the scheduled reports in the CDK app', () => {
  it('runs the daily report at 07:00 and the attestation on the 1st at 07:30, both in Europe/London, targeting the report function', () => {
    const daily = resources[logicalId(synth.processing.reports.daily)]!.Properties as { ScheduleExpression: string; ScheduleExpressionTimezone: string; Target: { Arn: unknown; Input: string } };
    const monthly = resources[logicalId(synth.processing.reports.monthly)]!.Properties as typeof daily;
    expect([daily.ScheduleExpression, daily.ScheduleExpressionTimezone, JSON.parse(daily.Target.Input)]).toEqual(['cron(0 7 * * ? *)', 'Europe/London', { run: 'daily' }]);
    expect([monthly.ScheduleExpression, monthly.ScheduleExpressionTimezone, JSON.parse(monthly.Target.Input)]).toEqual(['cron(30 7 1 * ? *)', 'Europe/London', { run: 'monthly' }]);
    const fnArn = resolve({ 'Fn::GetAtt': [logicalId(synth.processing.reports.fn), 'Arn'] });
    expect(resolve(daily.Target.Arn)).toBe(fnArn);
    expect(resolve(monthly.Target.Arn)).toBe(fnArn);
  });

  it('sends what failed after its retries, from the schedules and from the function, to one queue that alarms on the alert topic', () => {
    const queue = logicalId(synth.processing.reports.deadLetters);
    const daily = resources[logicalId(synth.processing.reports.daily)]!.Properties as { Target: { DeadLetterConfig: { Arn: unknown }; RetryPolicy: unknown } };
    expect(JSON.stringify(daily.Target.DeadLetterConfig)).toContain(queue);
    const fn = resources[logicalId(synth.processing.reports.fn)]!.Properties as { DeadLetterConfig: { TargetArn: unknown } };
    expect(JSON.stringify(fn.DeadLetterConfig)).toContain(queue);
    const invokeConfig = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties.FunctionName).includes(logicalId(synth.processing.reports.fn)));
    expect(invokeConfig?.Properties.MaximumRetryAttempts).toBe(2);
    const alarm = resources[logicalId(synth.processing.reports.deadLetterAlarm)]!.Properties as { AlarmActions: unknown[]; Threshold: number };
    expect(alarm.Threshold).toBe(1);
    expect(JSON.stringify(alarm.AlarmActions)).toContain(logicalId(synth.processing.alerts.topic));
  });

  it('lets the reconciler list the dated prefixes of backups, segments and archives, HEAD tree objects, and write only the catalogue items ingest writes', () => {
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    for (const prefix of ['backups/site-a/db/2026/11/01/', 'logs/site-a/binlogs/partial/2026/11/01/', 'archives/site-a/sdb/2026/11/01/']) {
      expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': prefix } })).toBe(true);
    }
    expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/trees/site-a/share/index/s.jsonl.gz` })).toBe(true);
    for (const key of ['PACK#site-a', 'REC#site-a#r1', 'ART#site-a/db']) {
      expect(isAllowed(policies, { action: 'dynamodb:BatchWriteItem', resource: table, context: { 'dynamodb:LeadingKeys': [key] } })).toBe(true);
    }
    for (const key of ['HOLD#site-a', 'LOCK#site-a', 'AUDIT#site-a']) {
      expect(isAllowed(policies, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': [key] } })).toBe(false);
    }
    // What it catalogued of a pack a purge deleted meanwhile: forgotten again, a recording entry at a time (conditional on naming that pack).
    expect(isAllowed(policies, { action: 'dynamodb:DeleteItem', resource: table, context: { 'dynamodb:LeadingKeys': ['REC#site-a#r1'] } })).toBe(true);
    for (const key of ['PACK#site-a', 'HOLD#site-a', 'AUDIT#site-a']) {
      expect(isAllowed(policies, { action: 'dynamodb:DeleteItem', resource: table, context: { 'dynamodb:LeadingKeys': [key] } }), key).toBe(false);
    }
  });

  it('gives the function the site list, the scrub sample, the days reconciled and the alert topic', () => {
    const fn = resources[logicalId(synth.processing.reports.fn)]!;
    const env = resolve((fn.Properties.Environment as { Variables: unknown }).Variables) as Record<string, string>;
    expect([env.SITES, env.SCRUB_SAMPLE, env.RECONCILE_DAYS]).toEqual(['site-a,site-b', '0.05', '5']);
    // The scrub's bounds: 2 GiB a site a run, nothing from Glacier IR, so packs of their 30 days before it.
    expect([env.SCRUB_MAX_BYTES, env.SCRUB_GLACIER_IR_BYTES, env.SCRUB_WINDOW_DAYS]).toEqual([String(2 * 1024 ** 3), '0', '30']);
    expect(env.TOPIC_ARN).toBe(resolve({ Ref: logicalId(synth.processing.alerts.topic) }));
  });

  it('lets the scheduler invoke the report function and reach its dead-letter queue, nothing else', () => {
    const fnArn = resolve({ 'Fn::GetAtt': [logicalId(synth.processing.reports.fn), 'Arn'] }) as string;
    expect(isAllowed(schedulerPolicies, { action: 'lambda:InvokeFunction', resource: fnArn })).toBe(true);
    expect(isAllowed(schedulerPolicies, { action: 'lambda:InvokeFunction', resource: resolve({ 'Fn::GetAtt': [logicalId(synth.processing.deadman.fn), 'Arn'] }) })).toBe(false);
  });

  it('may read manifests, packs and backups and their retention, list the bucket (to be told a missing object is missing), write reports/ only, and never delete', () => {
    for (const key of ['manifests/site-a/recordings/2026/11/01/p.json', 'recordings/site-b/2026/11/01/p.tar', 'backups/site-a/db/x.rbk', 'reports/site-a/scrub/2026/11/01/x.json']) {
      expect(isAllowed(policies, { action: 's3:GetObject', resource: `${BUCKET}/${key}` })).toBe(true);
    }
    expect(isAllowed(policies, { action: 's3:GetObjectRetention', resource: `${BUCKET}/recordings/site-a/2026/11/01/p.tar` })).toBe(true);
    expect(isAllowed(policies, { action: 's3:PutObject', resource: `${BUCKET}/reports/site-a/daily/2026/11/01/x.json` })).toBe(true);
    for (const key of ['recordings/site-a/x.tar', 'manifests/site-a/x.json', 'heartbeats/site-a/x.json']) expect(isAllowed(policies, { action: 's3:PutObject', resource: `${BUCKET}/${key}` })).toBe(false);
    for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:BypassGovernanceRetention']) {
      expect(isAllowed(policies, { action, resource: `${BUCKET}/reports/site-a/daily/2026/11/01/x.json` })).toBe(false);
    }
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'manifests/site-a/' } })).toBe(true);
    // Listing without a prefix: what S3 asks before it answers 404 (not 403) for a missing pack the attestation HEADs.
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET })).toBe(true);
    expect(isAllowed(policies, { action: 'dynamodb:PutItem', resource: resolve({ 'Fn::GetAtt': [logicalId(synth.processing.reports.fn), 'Arn'] }) })).toBe(false);
  });
});

describe('the reports configuration', () => {
  it('refuses a time zone that is not an IANA name, naming the field', () => {
    expect(() => parseDeploymentConfig({ ...DEFAULT_CONFIG, reports: { timeZone: 'Europe/Atlantis' } })).toThrow(/reports\.timeZone.*IANA time zone/);
  });

  it('defaults to 06:00 UTC, a 2% scrub sample of at most 2 GiB a site, none of it from Glacier IR, and 3 days of manifests reconciled', () => {
    expect(parseDeploymentConfig(DEFAULT_CONFIG).reports).toEqual({ timeZone: 'UTC', dailyHour: 6, scrubSample: 0.02, reconcileDays: 3, scrubMaxGiB: 2, scrubGlacierIrGiB: 0 });
  });

  it('lets the scrub pick packs until Deep Archive once it may read some Glacier IR, in bytes', () => {
    const config = parseDeploymentConfig({ ...DEFAULT_CONFIG, reports: { scrubMaxGiB: 4, scrubGlacierIrGiB: 0.5 } });
    expect(scrubEnv(config)).toEqual({ SCRUB_MAX_BYTES: String(4 * 1024 ** 3), SCRUB_GLACIER_IR_BYTES: String(512 * 1024 ** 2), SCRUB_WINDOW_DAYS: '365' });
  });
});
