import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { isAllowed, type PolicyDocument } from '../../infra/policy-eval.ts';
import { workflowsFactory, type BuiltWorkflows } from '../../infra/workflows/build.ts';
import { logicalId, synthFerry, type Synthesized } from './fixture.ts';

// With `replication`, the purge function carries an erasure out in the DR bucket too
// (core/erasure-replica.ts): it is told the DR bucket and its region, and may list the versions
// of a pack or manifest key there and delete them, nothing more.

const DR_ARN = 'arn:aws:s3:::ferry-dr-copy';
const REPLICATION = { destinationBucketArn: DR_ARN, kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/abcd-1234' };
const PACK = 'recordings/site-a/2025/01/01/p1.tar';
const MANIFEST = 'manifests/site-a/recordings/2025/01/01/p1.json';

function synthWith(config: typeof DEFAULT_CONFIG): { synth: Synthesized; built: BuiltWorkflows } {
  let built: BuiltWorkflows | undefined;
  const synth = synthFerry(config, { workflows: workflowsFactory({ onBuilt: (b) => (built = b) }) });
  return { synth, built: built! };
}

const purgePolicies = ({ synth, built }: { synth: Synthesized; built: BuiltWorkflows }): PolicyDocument[] => synth.resolver.policiesOfRole(synth.processing.stackName, logicalId(built.functions.purge.role!));

function purgeEnvironment({ synth, built }: { synth: Synthesized; built: BuiltWorkflows }): Record<string, unknown> {
  const raw = synth.raw[synth.processing.stackName] as { Resources: Record<string, { Properties?: { Environment?: { Variables?: Record<string, unknown> } } }> };
  return raw.Resources[logicalId(built.functions.purge)]!.Properties!.Environment!.Variables!;
}

let replicated: ReturnType<typeof synthWith>;
let plain: ReturnType<typeof synthWith>;

beforeAll(() => {
  replicated = synthWith({ ...DEFAULT_CONFIG, replication: REPLICATION });
  plain = synthWith(DEFAULT_CONFIG);
});

describe('the purge function with replication', () => {
  it('is told the DR bucket and its region (the DR key\'s): DR_BUCKET, DR_REGION; without replication, neither', () => {
    expect(purgeEnvironment(replicated)).toMatchObject({ DR_BUCKET: 'ferry-dr-copy', DR_REGION: 'eu-central-1' });
    expect(purgeEnvironment(plain)).not.toHaveProperty('DR_BUCKET');
    expect(purgeEnvironment(plain)).not.toHaveProperty('DR_REGION');
  });

  it("outputs the purge function's role (PurgeRoleArn), which a DR bucket in another account must allow; without replication, no such output", () => {
    expect(Object.keys(replicated.synth.processingTemplate.findOutputs('PurgeRoleArn'))).toEqual(['PurgeRoleArn']);
    expect(replicated.synth.processingTemplate.findOutputs('PurgeRoleArn').PurgeRoleArn!.Value).toEqual({ 'Fn::GetAtt': [logicalId(replicated.built.functions.purge.role!), 'Arn'] });
    expect(Object.keys(plain.synth.processingTemplate.findOutputs('PurgeRoleArn'))).toEqual([]);
  });

  it("may list a pack's or manifest's versions in the DR bucket and delete them; nothing else there: no other prefix, no read, no write, no plain delete, no Object Lock bypass", () => {
    const p = purgePolicies(replicated);
    for (const key of [PACK, MANIFEST]) {
      expect(isAllowed(p, { action: 's3:ListBucketVersions', resource: DR_ARN, context: { 's3:prefix': key } }), key).toBe(true);
      expect(isAllowed(p, { action: 's3:DeleteObjectVersion', resource: `${DR_ARN}/${key}` }), key).toBe(true);
      for (const action of ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:BypassGovernanceRetention', 's3:PutObjectRetention', 's3:PutObjectLegalHold']) {
        expect(isAllowed(p, { action, resource: `${DR_ARN}/${key}` }), `${action} ${key}`).toBe(false);
      }
    }
    for (const key of ['audit/site-a/000001.json', 'backups/site-a/db/x.rbk', 'erasures/site-a/r1/requested.json']) {
      expect(isAllowed(p, { action: 's3:DeleteObjectVersion', resource: `${DR_ARN}/${key}` }), key).toBe(false);
      expect(isAllowed(p, { action: 's3:ListBucketVersions', resource: DR_ARN, context: { 's3:prefix': key } }), key).toBe(false);
    }
    expect(isAllowed(p, { action: 's3:ListBucketVersions', resource: DR_ARN })).toBe(false);
    expect(isAllowed(p, { action: 's3:ListBucket', resource: DR_ARN, context: { 's3:prefix': PACK } })).toBe(false);
  });

  it("keeps the purge role's inline policies under IAM's 10,240 characters with replication to the longest DR bucket name S3 allows", () => {
    const longest = synthWith({ ...DEFAULT_CONFIG, replication: { ...REPLICATION, destinationBucketArn: `arn:aws:s3:::${'d'.repeat(63)}` } });
    // IAM counts the policy documents without their whitespace; a role's inline policies add up.
    const chars = purgePolicies(longest).reduce((sum, doc) => sum + JSON.stringify(doc).length, 0);
    expect(chars).toBeLessThanOrEqual(10_240);
  });

  it('may do nothing in any DR bucket without replication', () => {
    const p = purgePolicies(plain);
    expect(isAllowed(p, { action: 's3:DeleteObjectVersion', resource: `${DR_ARN}/${PACK}` })).toBe(false);
    expect(isAllowed(p, { action: 's3:ListBucketVersions', resource: DR_ARN, context: { 's3:prefix': PACK } })).toBe(false);
  });
});
