import { beforeAll, describe, expect, it } from 'vitest';
import { FAKE_ENV } from '../../infra/cfn-resolve.ts';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { evaluate, isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// Who reaches tree snapshots (file shares), read from the synthesized templates with the
// offline evaluator: a site's DR and officer roles list the site's snapshots on the API, the DR
// role reads its manifests, indexes and packs, never another site's; the purge lists and deletes
// trees objects and forgets SNAP# items only.

const { account, region } = FAKE_ENV;
const BUCKET = `arn:aws:s3:::ferry-data-${account}-${region}`;
let synth: Synthesized;
let built: BuiltWorkflows;
let table: string;
let bucketPolicy: PolicyDocument;

beforeAll(() => {
  synth = synthFerry(DEFAULT_CONFIG, { workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
  table = synth.resolver.resolveString(synth.stateful.stackName, { 'Fn::GetAtt': [logicalId(synth.stateful.table), 'Arn'] });
  const stateful = synth.stateful.stackName;
  bucketPolicy = synth.resolver.resolve(stateful, synth.raw[stateful]!.Resources![logicalId(synth.stateful.dataBucket.policy!)]!.Properties!.PolicyDocument) as PolicyDocument;
});

const rolePolicies = (role: object): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(role as never));
const site = (name: string) => synth.processing.sites.find((s) => s.site === name)!;
const apiArn = (method: string, path: string) => {
  const apiId = synth.resolver.resolveString(synth.processing.stackName, { Ref: logicalId(synth.processing.api.api) });
  return `arn:aws:execute-api:${region}:${account}:${apiId}/$default/${method}${path}`;
};
const s3 = (policies: PolicyDocument[], action: string, resource: string, context: Record<string, unknown> = {}) =>
  evaluate([...policies, bucketPolicy], { action, resource, context: { 'aws:SecureTransport': true, 's3:TlsVersion': 1.3, ...context }, principal: { type: 'AWS', id: `arn:aws:iam::${account}:role/x` } }).decision;

const objectsOf = (s: string) => [`manifests/${s}/trees/share/2026/03/01/s0123456789abcdef0123456.json`, `trees/${s}/share/index/s0123456789abcdef0123456.jsonl.gz`, `trees/${s}/share/packs/2026/03/01/t0123456789abcdef0123456.tar`];

describe('tree snapshots: who may do what', () => {
  it("site-a's DR role lists and reads site-a's snapshot manifests, indexes and packs, and nothing of site-b", () => {
    const dr = rolePolicies(site('site-a').drRole);
    for (const key of objectsOf('site-a')) expect(s3(dr, 's3:GetObject', `${BUCKET}/${key}`), key).toBe('allow');
    for (const key of objectsOf('site-b')) expect(s3(dr, 's3:GetObject', `${BUCKET}/${key}`), key).not.toBe('allow');
    expect(s3(dr, 's3:ListBucket', BUCKET, { 's3:prefix': 'trees/site-a/share/' })).toBe('allow');
    expect(s3(dr, 's3:ListBucket', BUCKET, { 's3:prefix': 'manifests/site-a/trees/share/' })).toBe('allow');
    expect(s3(dr, 's3:ListBucket', BUCKET, { 's3:prefix': 'trees/site-b/' })).not.toBe('allow');
  });

  it("site-a's DR and officer roles list site-a's snapshots on the API, not site-b's", () => {
    for (const role of [site('site-a').drRole, site('site-a').officerRole]) {
      const p = rolePolicies(role);
      expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-a/snapshots') })).toBe(true);
      expect(isAllowed(p, { action: 'execute-api:Invoke', resource: apiArn('GET', '/sites/site-b/snapshots') })).toBe(false);
    }
  });

  it('the purge lists and deletes trees objects, forgets SNAP# items, and may not read or write other items with them', () => {
    const p = rolePolicies(built.functions.purge.role!);
    expect(isAllowed(p, { action: 's3:ListBucket', resource: BUCKET, context: { 's3:prefix': 'trees/site-a/' } })).toBe(true);
    expect(isAllowed(p, { action: 's3:DeleteObject', resource: `${BUCKET}/${objectsOf('site-a')[2]}` })).toBe(true);
    expect(isAllowed(p, { action: 's3:DeleteObjectVersion', resource: `${BUCKET}/${objectsOf('site-a')[1]}` })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: { 'dynamodb:LeadingKeys': ['SNAP#site-a'] } })).toBe(true);
    expect(isAllowed(p, { action: 'dynamodb:BatchWriteItem', resource: table, context: { 'dynamodb:LeadingKeys': ['ARTSRC#site-a'] } })).toBe(false);
    expect(isAllowed(p, { action: 'dynamodb:Query', resource: table, context: { 'dynamodb:LeadingKeys': ['SNAP#site-a'] } })).toBe(false);
  });

  it('the API routes GET /sites/{site}/snapshots to the catalogue function with IAM authorization', () => {
    const routes = Object.values(synth.raw[synth.processing.stackName]!.Resources!).filter((r) => r.Type === 'AWS::ApiGatewayV2::Route');
    const route = routes.find((r) => (r.Properties as { RouteKey?: string }).RouteKey === 'GET /sites/{site}/snapshots');
    expect(route?.Properties).toMatchObject({ AuthorizationType: 'AWS_IAM' });
  });
});
