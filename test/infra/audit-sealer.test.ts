import { beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_SEAL_MARK_ATTRIBUTES } from '../../infra/audit-sealer.ts';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// The scheduled audit sealer in the CDK app: an EventBridge rule every 5 minutes targeting its
// function, the deployment's sites in its environment, an alarm on its failed runs, and a role
// that reads the audit ledger, writes the sealed mark only (under its own partition, never a
// record's) and PUTs audit/ objects only.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
let synth: Synthesized;
let resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
let policies: PolicyDocument[];
let table: string;

const MARK = [...AUDIT_SEAL_MARK_ATTRIBUTES];
const RECORD_ITEM = ['pk', 'sk', 'type', 'site', 'first', 'last', 'hash', 'records'];

beforeAll(() => {
  synth = synthFerry({ ...DEFAULT_CONFIG, sites: [{ name: 'site-a', retentionDays: 730 }, { name: 'site-b', retentionDays: 730 }] });
  resources = synth.processingTemplate.toJSON().Resources;
  policies = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.auditSealer.role));
  table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
}, 120_000);

describe('the scheduled audit sealer in the CDK app', () => {
  it('runs every 5 minutes from an EventBridge rule targeting its function, without EventBridge or Lambda retries', () => {
    const rule = resources[logicalId(synth.processing.auditSealer.rule)]!;
    expect(rule.Properties.ScheduleExpression).toBe('rate(5 minutes)');
    const targets = rule.Properties.Targets as { Arn: { 'Fn::GetAtt': string[] }; RetryPolicy?: { MaximumRetryAttempts: number } }[];
    expect(targets).toHaveLength(1);
    expect(targets[0]!.Arn['Fn::GetAtt'][0]).toBe(logicalId(synth.processing.auditSealer.fn));
    expect(targets[0]!.RetryPolicy?.MaximumRetryAttempts).toBe(0);
    const invokeConfig = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventInvokeConfig' && JSON.stringify(r.Properties.FunctionName).includes(logicalId(synth.processing.auditSealer.fn)));
    expect(invokeConfig?.Properties.MaximumRetryAttempts).toBe(0);
  });

  it("receives the deployment's sites (FLEET_SITES), the bucket and the table", () => {
    const fn = resources[logicalId(synth.processing.auditSealer.fn)]!;
    const env = synth.resolver.resolve(synth.processing.stackName, (fn.Properties.Environment as { Variables: unknown }).Variables) as Record<string, string>;
    expect((JSON.parse(env.FLEET_SITES!) as { name: string }[]).map((s) => s.name)).toEqual(['site-a', 'site-b']);
    expect(env.BUCKET).toBe(`ferry-data-${account}-${region}`);
    expect(env.TABLE).toBe(synth.resolver.resolveString(synth.stateful.stackName, { Ref: logicalId(synth.stateful.table) }));
  });

  it('alarms on the alert topic after two failed runs in a row (the function errors, 5-minute periods)', () => {
    const alarm = resources[logicalId(synth.processing.auditSealer.alarm)]!;
    expect(alarm.Properties).toMatchObject({ MetricName: 'Errors', Namespace: 'AWS/Lambda', Period: 300, Statistic: 'Sum', Threshold: 1, EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'notBreaching' });
    expect(JSON.stringify(alarm.Properties.Dimensions)).toContain(logicalId(synth.processing.auditSealer.fn));
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: logicalId(synth.processing.alerts.topic) }]);
  });

  it('may read the audit ledger items and the sealed marks (GetItem, Query on AUDIT#… and AUDITSEAL#…) and nothing else of the table', () => {
    for (const action of ['dynamodb:GetItem', 'dynamodb:Query']) {
      expect(isAllowed(policies, { action, resource: table, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(true);
      expect(isAllowed(policies, { action, resource: table, context: { 'dynamodb:LeadingKeys': ['AUDITSEAL#site-a'] } })).toBe(true);
      expect(isAllowed(policies, { action, resource: table, context: { 'dynamodb:LeadingKeys': ['REC#site-a#r1'] } })).toBe(false);
    }
    expect(isAllowed(policies, { action: 'dynamodb:Query', resource: `${table}/index/byTime`, context: { 'dynamodb:LeadingKeys': ['AUDIT#site-a'] } })).toBe(false);
    for (const action of ['dynamodb:Scan', 'dynamodb:DeleteItem', 'dynamodb:UpdateItem', 'dynamodb:BatchWriteItem']) {
      for (const key of ['AUDIT#site-a', 'AUDITSEAL#site-a']) expect(isAllowed(policies, { action, resource: table, context: { 'dynamodb:LeadingKeys': [key] } }), `${action} ${key}`).toBe(false);
    }
  });

  it("may PutItem the sealed mark under AUDITSEAL#… only: nothing under a record's partition (AUDIT#…, even mark-shaped), no record-shaped item, no other partition, no old item returned", () => {
    const put = (keys: string[], attributes: string[], returnValues?: string) =>
      isAllowed(policies, { action: 'dynamodb:PutItem', resource: table, context: { 'dynamodb:LeadingKeys': keys, 'dynamodb:Attributes': attributes, 'dynamodb:ReturnValues': returnValues } });
    expect(put(['AUDITSEAL#site-a'], MARK)).toBe(true);
    expect(put(['AUDITSEAL#site-a'], MARK, 'NONE')).toBe(true);
    // The ledger's partition is read-only for the sealer: a mark-shaped item there could replace a record item.
    expect(put(['AUDIT#site-a'], MARK)).toBe(false);
    expect(put(['AUDIT#site-a'], RECORD_ITEM)).toBe(false);
    expect(put(['AUDITSEAL#site-a'], RECORD_ITEM)).toBe(false);
    expect(put(['AUDITSEAL#site-a'], [...MARK, 'records'])).toBe(false);
    expect(put(['AUDITSEAL#site-a'], MARK, 'ALL_OLD')).toBe(false);
    expect(put(['HOLD#site-a'], MARK)).toBe(false);
  });

  it('may PUT audit/ objects only: no read, no delete, no other class, no retention bypass', () => {
    const key = `${BUCKET}/audit/site-a/000000000001.json`;
    expect(isAllowed(policies, { action: 's3:PutObject', resource: key })).toBe(true);
    for (const action of ['s3:GetObject', 's3:DeleteObject', 's3:DeleteObjectVersion', 's3:BypassGovernanceRetention', 's3:PutObjectRetention']) {
      expect(isAllowed(policies, { action, resource: key }), action).toBe(false);
    }
    for (const cls of ['recordings', 'manifests', 'reports', 'heartbeats']) expect(isAllowed(policies, { action: 's3:PutObject', resource: `${BUCKET}/${cls}/site-a/x` }), cls).toBe(false);
    expect(isAllowed(policies, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'audit/' } })).toBe(false);
    expect(policies.some((p) => [p.Statement].flat().some((s) => [s.Action ?? []].flat().some((a) => String(a).startsWith('sns:'))))).toBe(false);
  });
});
