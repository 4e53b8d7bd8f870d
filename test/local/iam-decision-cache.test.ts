import { describe, expect, it } from 'vitest';
import type { PolicyDocument, PolicyStatement } from '../../infra/policy-eval.ts';
import { FrontDoorAccess, deployedEntryPoints } from '../../local/api-access.ts';
import { Authorizer } from '../../local/iam-gateway/authorizer.ts';
import { CredentialTable } from '../../local/iam-gateway/credentials.ts';
import { resolveDeployment, revisePolicies } from '../../local/iam-gateway/deployment.ts';
import { generatedSnapshot } from '../../local/function-environment.ts';

// The authorizers keep the decisions they made (local/iam-gateway/authorizer.ts): the same
// principal, action, resource and context under the same policies is evaluated once. Allowed
// only because a changed or revoked policy applies to the very next request: every change goes
// through revisePolicies, which moves the deployment's policy version.

const snapshot = generatedSnapshot();
const site = snapshot.sites[0]!;

function frontDoor() {
  const deployment = resolveDeployment(snapshot);
  const credentials = CredentialTable.generate([...deployment.principals.values()]);
  const front = new FrontDoorAccess({ deployment, credentials, entryPoints: deployedEntryPoints(snapshot), administrators: [] });
  return { deployment, credentials, front };
}

describe('IAM decisions kept by the authorizer', () => {
  it('answers a repeated check from what it decided, without reading the policies again; another resource is evaluated', () => {
    const { deployment } = frontDoor();
    let reads = 0;
    const statements: PolicyStatement[] = [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/recordings/*' }];
    const counted: PolicyDocument = {
      get Statement() {
        reads++;
        return statements;
      },
    };
    const identity = [counted];
    const authorizer = new Authorizer(deployment);
    const check = (key: string) => authorizer.check('arn:aws:iam::1:role/r', identity, { action: 's3:GetObject', resource: `arn:aws:s3:::b/${key}`, context: {} });
    expect(check('recordings/1')).toBeUndefined();
    const once = reads;
    expect(once).toBeGreaterThan(0);
    expect(check('recordings/1')).toBeUndefined();
    expect(reads).toBe(once);
    expect(check('manifests/1')?.decision).toBe('implicit-deny');
    expect(reads).toBeGreaterThan(once);
  });

  it("refuses the replay URL at the next request once the officer's grant is revoked, and allows it at the next once given back", () => {
    const { deployment, credentials, front } = frontDoor();
    const officer = `officer:${site}`;
    const key = credentials.of(officer).accessKeyId;
    const granted = deployment.principals.get(officer)!.policies;
    expect(front.replay(key, site).allowed).toBe(true);
    expect(front.replay(key, site).allowed).toBe(true);
    revisePolicies(deployment, { principal: officer, policies: [] });
    const refused = front.replay(key, site);
    expect(refused.allowed).toBe(false);
    expect(refused.allowed === false && refused.message).toMatch(/lambda:InvokeFunctionUrl/);
    revisePolicies(deployment, { principal: officer, policies: granted });
    expect(front.replay(key, site).allowed).toBe(true);
  });

  it('applies a revised bucket policy (an explicit deny) to the next S3 check of a decision already kept', () => {
    const { deployment } = frontDoor();
    const replay = deployment.principals.get('function:replay')!;
    const authorizer = new Authorizer(deployment);
    const get = { action: 's3:GetObject', resource: `arn:aws:s3:::${deployment.bucketName}/recordings/${site}/2023/01/01/p1.tar`, context: { 's3:TlsVersion': 1.3 } };
    expect(authorizer.check(replay.arn, replay.policies, get, deployment.bucketPolicy)).toBeUndefined();
    expect(authorizer.check(replay.arn, replay.policies, get, deployment.bucketPolicy)).toBeUndefined();
    revisePolicies(deployment, { bucketPolicy: { Statement: [{ Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: '*' }] } });
    expect(authorizer.check(replay.arn, replay.policies, get, deployment.bucketPolicy)?.decision).toBe('explicit-deny');
  });

  it("applies a revised key policy to the next data-key check of a decision already kept", () => {
    const { deployment } = frontDoor();
    const replay = deployment.principals.get('function:replay')!;
    const authorizer = new Authorizer(deployment);
    const before = authorizer.checkDataKey(replay.arn, replay.policies, 'kms:Decrypt');
    expect(authorizer.checkDataKey(replay.arn, replay.policies, 'kms:Decrypt')).toEqual(before);
    revisePolicies(deployment, { dataKeyPolicy: { Statement: [{ Effect: 'Deny', Principal: '*', Action: 'kms:*', Resource: '*' }] } });
    expect(authorizer.checkDataKey(replay.arn, replay.policies, 'kms:Decrypt')?.decision).toBe('explicit-deny');
  });
});
