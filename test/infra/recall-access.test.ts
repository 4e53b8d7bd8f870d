import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG, parseDeploymentConfig } from '../../infra/config.ts';
import { tiersByClass } from '../../infra/lifecycle-tiers.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// Recall status and archive state as deployed: the recall function writes RECALL# records and
// nothing else of the table; the catalogue and console functions read them and learn the packs'
// lifecycle tiers from PACK_TIERS, and may not read packs (the tier is predicted, not asked of S3).

let synth: Synthesized;
let built: BuiltWorkflows;
let table: string;
const { account, region } = FAKE_ENV;
const pack = `arn:aws:s3:::ferry-data-${account}-${region}/recordings/site-a/2025/01/01/p1.tar`;
const leading = (pk: string) => ({ 'dynamodb:LeadingKeys': [pk] });

beforeAll(() => {
  synth = synthFerry({ ...DEFAULT_CONFIG, lifecycle: { packsToGlacierIrDays: 45, packsToDeepArchiveDays: 200 } }, { workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
  table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
});

const policies = (role: object): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(role as never));

describe('the recall function', () => {
  it('writes recall status records (RECALL# items) and no other kind of item', () => {
    const p = policies(built.functions.recall.role!);
    expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading('RECALL#site-a') })).toBe(true);
    for (const pk of ['REC#site-a#r1', 'PACK#site-a#p1', 'HOLD#site-a', 'LOCK#site-a']) {
      expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading(pk) }), pk).toBe(false);
    }
    expect(isAllowed(p, { action: 'dynamodb:DeleteItem', resource: table, context: leading('RECALL#site-a') })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading('REC#site-a#r1') })).toBe(true);
    expect(isAllowed(p, { action: 's3:RestoreObject', resource: pack })).toBe(true);
  });
});

describe.each(['catalogue', 'console'] as const)('the %s function', (fn) => {
  it('reads recall status and pack records but writes neither, and may not GET or HEAD a pack', () => {
    const p = policies(synth.processing.functions.roles[fn]);
    for (const pk of ['RECALL#site-a', 'PACK#site-a#p1']) {
      expect(isAllowed(p, { action: 'dynamodb:GetItem', resource: table, context: leading(pk) }), pk).toBe(true);
      expect(isAllowed(p, { action: 'dynamodb:PutItem', resource: table, context: leading(pk) }), pk).toBe(false);
    }
    // HEAD is authorised as s3:GetObject.
    for (const action of ['s3:GetObject', 's3:GetObjectAttributes', 's3:RestoreObject']) expect(isAllowed(p, { action, resource: pack }), action).toBe(false);
  });

  it('gets PACK_TIERS from the same tiers the lifecycle rules are built from', () => {
    const vars = synth.processingTemplate.toJSON().Resources[logicalId(synth.processing.functions[fn])].Properties.Environment.Variables;
    const expected = tiersByClass(parseDeploymentConfig({ ...DEFAULT_CONFIG, lifecycle: { packsToGlacierIrDays: 45, packsToDeepArchiveDays: 200 } }).lifecycle).recordings;
    expect(JSON.parse(vars.PACK_TIERS)).toEqual([
      { storageClass: 'GLACIER_IR', afterDays: 45 },
      { storageClass: 'DEEP_ARCHIVE', afterDays: 200 },
    ]);
    expect(JSON.parse(vars.PACK_TIERS)).toEqual(expected);
    // The bucket's rule for packs says the same.
    type Rule = { Id: string; Transitions?: { StorageClass: string; TransitionInDays: number }[] };
    const buckets = Object.values(synth.statefulTemplate.toJSON().Resources as Record<string, { Type: string; Properties?: { LifecycleConfiguration?: { Rules: Rule[] } } }>);
    const packsRule = buckets.flatMap((r) => (r.Type === 'AWS::S3::Bucket' ? (r.Properties?.LifecycleConfiguration?.Rules ?? []) : [])).find((r) => r.Id === 'tier-recordings')!;
    expect(packsRule.Transitions!.map((t) => ({ storageClass: t.StorageClass, afterDays: t.TransitionInDays }))).toEqual(expected);
  });
});

describe('the catalogue API', () => {
  it('routes GET …/recordings/{rid}/recall to the catalogue function, IAM-authorized', () => {
    synth.processingTemplate.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /sites/{site}/recordings/{rid}/recall', AuthorizationType: 'AWS_IAM' });
  });

  it('has the console route GET /console/sites/{site}/recordings/{rid}/recall behind the JWT authorizer', () => {
    synth.processingTemplate.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'GET /console/sites/{site}/recordings/{rid}/recall', AuthorizationType: 'JWT' });
  });
});
