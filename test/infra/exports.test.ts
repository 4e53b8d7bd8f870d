import { beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_MAX_EVENT_AGE_SECONDS } from '../../core/export-deadline.ts';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// Console case exports as synthesized: the bundles and their records expire, the export
// function is never retried, and both functions compute deadlines from the function's timeout.

type Rule = { Id: string; Prefix?: string; [k: string]: unknown };
let synth: Synthesized;
const resources = (s: Synthesized, stack: 'statefulTemplate' | 'processingTemplate') => s[stack].toJSON().Resources as Record<string, { Type: string; Properties: Record<string, unknown> }>;
const rulesOf = (s: Synthesized) => (resources(s, 'statefulTemplate')[logicalId(s.stateful.dataBucket)]!.Properties.LifecycleConfiguration as { Rules: Rule[] }).Rules;
const functionProps = (s: Synthesized, fn: 'export' | 'console') => resources(s, 'processingTemplate')[logicalId(s.processing.functions[fn])]!.Properties;
const env = (s: Synthesized, fn: 'export' | 'console') => (functionProps(s, fn).Environment as { Variables: Record<string, unknown> }).Variables;

beforeAll(() => {
  synth = synthFerry();
});

describe('case export expiry', () => {
  it('expires exports/ after 7 days, its noncurrent versions a day later and its torn uploads after a day', () => {
    expect(rulesOf(synth).filter((r) => r.Prefix === 'exports/')).toEqual([
      { Id: 'expire-exports', Prefix: 'exports/', Status: 'Enabled', ExpirationInDays: 7, NoncurrentVersionExpiration: { NoncurrentDays: 1 }, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
    ]);
  });

  it('takes the days from lifecycle.exportsExpireDays, for the rule and the records alike', () => {
    const custom = synthFerry({ ...DEFAULT_CONFIG, lifecycle: { exportsExpireDays: 3 } });
    expect(rulesOf(custom).find((r) => r.Prefix === 'exports/')?.ExpirationInDays).toBe(3);
    expect(env(custom, 'console').EXPORT_KEEP_DAYS).toBe('3');
    expect(env(custom, 'export').EXPORT_KEEP_DAYS).toBe('3');
  });

  it('expires catalogue table items by their ttl attribute (export records)', () => {
    const table = Object.values(resources(synth, 'statefulTemplate')).find((r) => r.Type === 'AWS::DynamoDB::Table')!;
    expect(table.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'ttl', Enabled: true });
  });

  it('lets the export function give its bundle a retention that ends with it (PutObjectRetention on exports/ only)', () => {
    const p: PolicyDocument[] = synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.functions.roles.export));
    const bucket = `arn:aws:s3:::ferry-data-${FAKE_ENV.account}-${FAKE_ENV.region}`;
    expect(isAllowed(p, { action: 's3:PutObjectRetention', resource: `${bucket}/exports/site-a/x.tar` })).toBe(true);
    expect(isAllowed(p, { action: 's3:PutObjectRetention', resource: `${bucket}/recordings/site-a/2025/01/01/p1.tar` })).toBe(false);
    expect(isAllowed(p, { action: 's3:BypassGovernanceRetention', resource: `${bucket}/exports/site-a/x.tar` })).toBe(false);
  });
});

describe('case export invocation', () => {
  const exportConfigs = () =>
    Object.values(resources(synth, 'processingTemplate'))
      .filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig')
      .filter((c) => JSON.stringify(c.Properties.FunctionName).includes(logicalId(synth.processing.functions.export)));
  const arnOf = (fn: 'export' | 'exportFailed' | 'console') => synth.resolver.resolveString(synth.processing.stackName, { 'Fn::GetAtt': [logicalId(synth.processing.functions[fn]), 'Arn'] });
  const policiesOf = (role: 'export' | 'export-failed'): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(synth.processing.functions.roles[role]));

  it('never retries the export function and drops an event older than the deadline allows for', () => {
    expect(exportConfigs().map((c) => ({ retries: c.Properties.MaximumRetryAttempts, age: c.Properties.MaximumEventAgeInSeconds }))).toEqual([{ retries: 0, age: EXPORT_MAX_EVENT_AGE_SECONDS }]);
  });

  it('sends a failed export invocation to the export-failed function (OnFailure destination), not to itself', () => {
    const configs = exportConfigs();
    expect(configs).toHaveLength(1);
    expect(configs[0]!.Properties.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [logicalId(synth.processing.functions.exportFailed), 'Arn'] } } });
    expect(logicalId(synth.processing.functions.exportFailed)).not.toBe(logicalId(synth.processing.functions.export));
  });

  it("lets the export function's role invoke its destination and no other function", () => {
    const invoke = (resource: string) => isAllowed(policiesOf('export'), { action: 'lambda:InvokeFunction', resource });
    expect(invoke(arnOf('exportFailed'))).toBe(true);
    expect(invoke(`${arnOf('exportFailed')}:1`)).toBe(false);
    expect(invoke(arnOf('export'))).toBe(false);
    expect(invoke(arnOf('console'))).toBe(false);
  });

  it('lets the destination read and write export records only, nothing of the bundles, recordings or other records', () => {
    const p = policiesOf('export-failed');
    const table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
    const item = (action: string, key: string) => isAllowed(p, { action, resource: table, context: { 'dynamodb:LeadingKeys': [key] } });
    expect(item('dynamodb:GetItem', 'EXPORT#site-a')).toBe(true);
    expect(item('dynamodb:PutItem', 'EXPORT#site-a')).toBe(true);
    expect(item('dynamodb:PutItem', 'HOLD#site-a')).toBe(false);
    expect(item('dynamodb:GetItem', 'REC#site-a')).toBe(false);
    expect(item('dynamodb:DeleteItem', 'EXPORT#site-a')).toBe(false);
    const bucket = `arn:aws:s3:::ferry-data-${FAKE_ENV.account}-${FAKE_ENV.region}`;
    expect(isAllowed(p, { action: 's3:GetObject', resource: `${bucket}/exports/site-a/x.tar` })).toBe(false);
    expect(isAllowed(p, { action: 'lambda:InvokeFunction', resource: arnOf('export') })).toBe(false);
  });

  it("gives the console and the export function the export function's own timeout, the one value deadlines come from", () => {
    const timeout = functionProps(synth, 'export').Timeout;
    expect(timeout).toBe(900);
    expect(env(synth, 'export').EXPORT_TIMEOUT_SECONDS).toBe(String(timeout));
    expect(env(synth, 'console').EXPORT_TIMEOUT_SECONDS).toBe(String(timeout));
  });
});
