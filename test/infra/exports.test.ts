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
  it('never retries the export function and drops an event older than the deadline allows for', () => {
    const configs = Object.values(resources(synth, 'processingTemplate')).filter((r) => r.Type === 'AWS::Lambda::EventInvokeConfig');
    const forExport = configs.filter((c) => JSON.stringify(c.Properties.FunctionName).includes(logicalId(synth.processing.functions.export)));
    expect(forExport.map((c) => ({ retries: c.Properties.MaximumRetryAttempts, age: c.Properties.MaximumEventAgeInSeconds }))).toEqual([{ retries: 0, age: EXPORT_MAX_EVENT_AGE_SECONDS }]);
  });

  it("gives the console and the export function the export function's own timeout, the one value deadlines come from", () => {
    const timeout = functionProps(synth, 'export').Timeout;
    expect(timeout).toBe(900);
    expect(env(synth, 'export').EXPORT_TIMEOUT_SECONDS).toBe(String(timeout));
    expect(env(synth, 'console').EXPORT_TIMEOUT_SECONDS).toBe(String(timeout));
  });
});
