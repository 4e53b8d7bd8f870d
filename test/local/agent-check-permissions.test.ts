import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { revisePolicies, startLocalIam, type LocalIam } from '../../local/iam-gateway/index.ts';
import type { PolicyDocument } from '../../infra/policy-eval.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { ferryAsync } from '../support/bin-async.ts';

// `ferry agent check` (the real CLI) against the local S3 behind the IAM gateway, which decides
// by the policies the stack synthesizes: with a statement of the site's agent role taken out, the
// check names the permission the key lacks, where, and the statement to add back (the stack's
// own), instead of passing and leaving the first pass to fail. Its probes store nothing.

const BUCKET = 'ferry-data';
const SITE = 'site-a';
let dir: string;
let s3: LocalS3;
let iam: LocalIam;
let gateway: string;
let deployed: PolicyDocument[];
let configFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-check-permissions-'));
  s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] });
  iam = await startLocalIam({ directory: dir, sites: [SITE], bucket: BUCKET, table: 'ferry-catalogue', snapshot: await synthesizeDeployment([SITE]) });
  gateway = (await iam.gateway('s3', s3.endpoint, LOCAL_S3_CREDENTIALS)).endpoint;
  deployed = iam.deployment.principals.get(`agent:${SITE}`)!.policies;
  const { accessKeyId, secretAccessKey } = iam.credentialsOf(`agent:${SITE}`);
  for (const d of ['recorder', 'binlogs', 'state']) mkdirSync(join(dir, d));
  configFile = join(dir, 'agent.yaml');
  writeFileSync(
    configFile,
    `site: ${SITE}\nstate: ${join(dir, 'state')}\ncloud: { bucket: ${BUCKET}, endpoint: "${gateway}", credentials: { accessKeyId: ${accessKeyId}, secretAccessKey: "${secretAccessKey}" } }\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'recorder')} }\n  - { name: db, type: binlog, path: ${join(dir, 'binlogs')}, basename: mysql-bin }\n`,
  );
}, 180_000);
afterAll(async () => {
  await iam?.stop();
  await s3?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The deployed statement `sid` of the agent role. */
const statementOf = (sid: string) => deployed.flatMap((doc) => [doc.Statement].flat()).find((st) => st.Sid === sid)!;

/** `agent check` with the agent role's statement `sid` taken out (put back after). */
async function checkWithout(sid: string) {
  const tightened = deployed.map((doc) => ({ ...doc, Statement: [doc.Statement].flat().filter((st) => st.Sid !== sid) }));
  expect(JSON.stringify(tightened)).not.toEqual(JSON.stringify(deployed));
  revisePolicies(iam.deployment, { principal: `agent:${SITE}`, policies: tightened });
  try {
    return await ferryAsync(['agent', 'check', '--config', configFile], join(dir, 'home'));
  } finally {
    revisePolicies(iam.deployment, { principal: `agent:${SITE}`, policies: deployed });
  }
}

/** The statement a message names (the first JSON object from `{"Sid"`), with its lists sorted. */
function namedStatement(text: string): unknown {
  const start = text.indexOf('{"Sid"');
  expect(start, text).toBeGreaterThanOrEqual(0);
  for (let end = text.indexOf('}', start); end >= 0; end = text.indexOf('}', end + 1)) {
    try {
      return sorted(JSON.parse(text.slice(start, end + 1)));
    } catch {
      // not whole yet
    }
  }
  throw new Error(`no whole statement in: ${text}`);
}

/** The deployed statement of the agent role, sorted alike, its bucket named as the stand-in's (the gateway maps the deployment's name to it). */
const deployedStatement = (sid: string) => sorted(JSON.parse(JSON.stringify(statementOf(sid)).replaceAll(iam.deployment.bucketName, BUCKET)));
const sorted = (v: unknown): unknown => (Array.isArray(v) ? v.map(sorted).sort() : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sorted(x)])) : v);

describe('agent check asks for every permission the agent uses', () => {
  it('passes with the role the stack gives the site, and leaves nothing in the bucket', async () => {
    const r = await ferryAsync(['agent', 'check', '--config', configFile], join(dir, 'home'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('store: it answers and takes this agent\'s credentials');
    expect(r.stdout).not.toContain('PutObjectRetention');
    const store = new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials }), BUCKET);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    for await (const u of store.listMultipart('')) keys.push(`upload ${u.key}`);
    expect(keys).toEqual([]);
  });

  it('names s3:GetObject (reading back what it shipped), the prefix and the statement to add back, when the role lacks it', async () => {
    const r = await checkWithout('ReadBackOwnObjects');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`these credentials may not use heartbeats/${SITE}/ (the heartbeat): the key lacks s3:GetObject there. Add this statement back to site ${SITE}'s agent role`);
    expect(namedStatement(r.stderr)).toEqual(deployedStatement('ReadBackOwnObjects'));
  });

  it('names s3:PutObject with If-None-Match (how every object is published), the prefix and the statement to add back, when the role lacks it', async () => {
    const r = await checkWithout('PublishNewObjectsOnly');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`these credentials may not use heartbeats/${SITE}/ (the heartbeat): the key lacks s3:PutObject there.`);
    expect(namedStatement(r.stderr)).toEqual(deployedStatement('PublishNewObjectsOnly'));
  });

  it("warns, naming s3:PutObjectRetention and the statement, when the role may not give a binlog partial its own short lock (the agent then ships partials under the bucket's lock)", async () => {
    const r = await checkWithout('ShortLockOfPartials');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("warning: source db: these credentials may not give a binlog partial its own 2-day GOVERNANCE lock (the key lacks s3:PutObjectRetention): the agent ships each partial under the bucket's default lock instead");
    expect(namedStatement(r.stdout)).toEqual(deployedStatement('ShortLockOfPartials'));
  });
});
