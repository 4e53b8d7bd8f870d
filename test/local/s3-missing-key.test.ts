import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore, md5Base64 } from '../../adapters/s3-blob-store.ts';
import { NotFoundError } from '../../core/errors.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { storeProblem } from '../../cli/build-agent.ts';
import { Authorizer } from '../../local/iam-gateway/authorizer.ts';
import { revisePolicies, startLocalIam, type LocalIam } from '../../local/iam-gateway/index.ts';
import type { PrincipalName } from '../../local/iam-gateway/deployment.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../local/s3-process.ts';

// S3 answers 404 for a key that does not exist only to a principal that may also list the
// bucket (s3:ListBucket); to any other it answers 403 AccessDenied, as for a key it may not
// read. The local IAM gateway answers the same way (a ListBucket limited to prefixes does not
// count: a GET carries no s3:prefix). So the service functions, which tell missing from present,
// may list the bucket; a site's agent and DR roles, which list their own prefixes only, take a
// 403 on a read as absent in S3BlobStore (`readsWithoutList`).

const BUCKET = 'ferry-data';
let dir: string;
let s3: LocalS3;
let iam: LocalIam;
let gateway: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-missing-key-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] });
  iam = await startLocalIam({ directory: dir, sites: ['site-a'], bucket: BUCKET, table: 'ferry-catalogue', snapshot: await synthesizeDeployment(['site-a']) });
  gateway = (await iam.gateway('s3', s3.endpoint, LOCAL_S3_CREDENTIALS)).endpoint;
}, 180_000);
afterAll(async () => {
  await iam?.stop();
  await s3?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const client = (principal: PrincipalName) => createS3Client({ endpoint: gateway, credentials: iam.credentialsOf(principal), maxAttempts: 1 });
async function statusOf(principal: PrincipalName, method: 'HEAD' | 'GET', key: string): Promise<string> {
  try {
    await client(principal).send(method === 'HEAD' ? new HeadObjectCommand({ Bucket: BUCKET, Key: key }) : new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return '200';
  } catch (error) {
    return String((error as S3ServiceException).$metadata?.httpStatusCode);
  }
}

describe('a read of a key that does not exist, through the IAM gateway', () => {
  it('is 404 for the service functions that tell missing from present (they may list the bucket)', async () => {
    const reads: [PrincipalName, 'HEAD' | 'GET', string][] = [
      ['function:window', 'HEAD', 'manifests/site-a/recordings/2024/05/01/pmissing.json'],
      ['function:console', 'GET', 'audit/site-a/00000000000000000042.json'],
      ['function:catalogue', 'GET', 'audit/site-a/00000000000000000042.json'],
      ['function:recall', 'HEAD', 'recordings/site-a/src/2024/05/01/pmissing.tar'],
      ['function:ingest', 'HEAD', 'recordings/site-a/src/2024/05/01/pmissing.tar'],
      ['function:report', 'HEAD', 'recordings/site-a/src/2024/05/01/pmissing.tar'],
      ['function:replay', 'GET', 'recordings/site-a/src/2024/05/01/pmissing.tar'],
    ];
    for (const [principal, method, key] of reads) expect(`${principal} ${method} ${await statusOf(principal, method, key)}`).toBe(`${principal} ${method} 404`);
  });

  // Heartbeats are read only after they are listed (the dead-man's switch lists heartbeats/ alone): not counted here.
  it('every function the deployment lets read data objects may list the bucket', () => {
    const auth = new Authorizer(iam.deployment);
    const bucketArn = `arn:aws:s3:::${iam.deployment.bucketName}`;
    const readers = [...iam.deployment.principals].filter(([name, p]) => name.startsWith('function:') && ['manifests', 'recordings', 'audit', 'backups', 'exports'].some((c) => !auth.check(p.arn, p.policies, { action: 's3:GetObject', resource: `${bucketArn}/${c}/site-a/x`, context: {} }, iam.deployment.bucketPolicy)));
    expect(readers.length).toBeGreaterThanOrEqual(8);
    for (const [name, p] of readers) expect(auth.check(p.arn, p.policies, { action: 's3:ListBucket', resource: bucketArn, context: {} }, iam.deployment.bucketPolicy)?.message, name).toBeUndefined();
  });

  it("is 403 for a site's agent and DR role (they list their own prefixes only), which their store takes as absent, while what exists reads as usual", async () => {
    const key = 'manifests/site-a/recordings/2024/05/01/pmissing.json';
    for (const principal of ['agent:site-a', 'dr:site-a'] as const) {
      expect(await statusOf(principal, 'HEAD', key)).toBe('403');
      expect(await statusOf(principal, 'GET', key)).toBe('403');
      const strict = new S3BlobStore(client(principal), BUCKET);
      await expect(strict.head(key)).rejects.toThrow(/403|Unknown|Forbidden/);
      const store = new S3BlobStore(client(principal), BUCKET, { readsWithoutList: true });
      expect(await store.head(key)).toBeUndefined();
      await expect(store.get(key)).rejects.toThrow(NotFoundError);
    }
    const present = 'manifests/site-a/recordings/2024/05/01/present.json';
    // Put straight into the stand-in: what the agent would have shipped.
    await createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }).send(new PutObjectCommand({ Bucket: BUCKET, Key: present, Body: '{}', ContentMD5: md5Base64('{}') }));
    const dr = new S3BlobStore(client('dr:site-a'), BUCKET, { readsWithoutList: true });
    expect((await dr.head(present))?.size).toBe(2);
  });

  it("agent check takes the agent role (a missing key is 403 to it) and names a key the gateway refuses, a DR site's read-only key and a misspelt site", async () => {
    const yaml = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
      parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\ncloud: { bucket: ${BUCKET}, endpoint: "${gateway}", credentials: { accessKeyId: ${credentials.accessKeyId}, secretAccessKey: "${credentials.secretAccessKey}" } }\nsources:\n  - { name: cs, type: recordings, path: ${dir} }\n`);
    const agent = iam.credentialsOf('agent:site-a');
    expect(await storeProblem(yaml(agent))).toBeUndefined();
    expect(await storeProblem(yaml({ ...agent, secretAccessKey: 'not-the-secret' }))).toMatch(new RegExp(`^the secret key is not access key ${agent.accessKeyId}'s: check cloud\\.credentials\\.secretAccessKey \\(copied whole, no space or line break\\) \\(S3 get heartbeats/site-a/ferry-agent-check\\.json: SignatureDoesNotMatch`));
    expect(await storeProblem(yaml({ ...agent, accessKeyId: 'AKIANOSUCHKEY' }))).toMatch(/^the store knows no access key AKIANOSUCHKEY: check cloud\.credentials\.accessKeyId \(S3 get .*InvalidAccessKeyId/);
    // The two likeliest failover mistakes: the DR site's read-only key, and a misspelt site name.
    expect(await storeProblem(yaml(iam.credentialsOf('dr:site-a')))).toMatch(/^these credentials may not write site site-a's objects \(is the site name right, is cloud\.bucket the deployment's bucket, and is this the site's agent key, not a DR site's read-only one\?\): .*AccessDenied/);
    const misspelt = parseAgentConfig(
      `site: stie-a\nstate: ${join(dir, 'state')}\ncloud: { bucket: ${BUCKET}, endpoint: "${gateway}", credentials: { accessKeyId: ${agent.accessKeyId}, secretAccessKey: "${agent.secretAccessKey}" } }\nsources:\n  - { name: cs, type: recordings, path: ${dir} }\n`,
    );
    expect(await storeProblem(misspelt)).toMatch(/^these credentials may not write site stie-a's objects .*AccessDenied/);
    // The probe leaves no upload behind.
    const uploads: string[] = [];
    for await (const u of new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }), BUCKET).listMultipart('')) uploads.push(u.key);
    expect(uploads).toEqual([]);
  });

  it("agent check names a statement removed from the site's agent role by mistake (its listing of the site's prefixes), the prefix and the permission", async () => {
    const agent = iam.credentialsOf('agent:site-a');
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\ncloud: { bucket: ${BUCKET}, endpoint: "${gateway}", credentials: { accessKeyId: ${agent.accessKeyId}, secretAccessKey: "${agent.secretAccessKey}" } }\nsources:\n  - { name: cs, type: recordings, path: ${dir} }\n`);
    const deployed = iam.deployment.principals.get('agent:site-a')!.policies;
    const tightened = deployed.map((doc) => ({ ...doc, Statement: [doc.Statement].flat().filter((st) => JSON.stringify(st.Action) !== '"s3:ListBucket"') }));
    expect(JSON.stringify(tightened)).not.toEqual(JSON.stringify(deployed));
    revisePolicies(iam.deployment, { principal: 'agent:site-a', policies: tightened });
    try {
      expect(await storeProblem(config)).toMatch(
        /^these credentials may not use recordings\/site-a\/ \(the recordings packs\): the key lacks s3:ListBucket there\. Check that the site's agent role still has every statement the deployment gives it .*AccessDenied/,
      );
    } finally {
      revisePolicies(iam.deployment, { principal: 'agent:site-a', policies: deployed });
    }
    expect(await storeProblem(config)).toBeUndefined();
  });
});
