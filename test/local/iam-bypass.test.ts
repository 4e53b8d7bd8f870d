import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// Governance retention is overridden only with `x-amz-bypass-governance-retention: true`, and S3
// then also requires s3:BypassGovernanceRetention. The deployment denies it to every role (the
// bucket policy's DenyObjectLockBypass, the purge's NeverBypassObjectLock, the agent's
// DenyDestruction). The S3 stand-in honours the header (an administrator may), so the IAM
// gateway must check the permission: real SDK clients through the gateway, the synthesized
// policies deciding, the stand-in's Object Lock keeping the bytes.

const SITE = 'demo'; // the generated deployment's site: no synth of its own
const DAY = 86_400_000;
let dir: string;
let cloud: LocalCloud;
let admin: S3Client;
const clients: S3Client[] = [];

function as(principal: string): S3Client {
  const client = createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials: cloud.iam!.credentialsOf(principal), maxAttempts: 1 });
  clients.push(client);
  return client;
}

/** An object written by the administrator under the bucket's default retention (GOVERNANCE, 30 days), or the lock given. */
async function locked(key: string, lock?: { days: number }): Promise<string> {
  const body = Buffer.from(`locked ${key}`);
  const retention = lock ? { ObjectLockMode: 'GOVERNANCE' as const, ObjectLockRetainUntilDate: new Date(Date.now() + lock.days * DAY) } : {};
  const put = await admin.send(new PutObjectCommand({ Bucket: cloud.bucket, Key: key, Body: body, IfNoneMatch: '*', ContentMD5: createHash('md5').update(body).digest('base64'), ...retention }));
  return put.VersionId!;
}

async function refusal(promise: Promise<unknown>): Promise<{ name: string; message: string } | undefined> {
  return promise.then(
    () => undefined,
    (e: unknown) => ({ name: (e as Error).name, message: (e as Error).message }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-bypass-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  admin = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
  clients.push(admin);
}, 180_000);

afterAll(async () => {
  for (const c of clients) c.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('governance bypass through the IAM gateway', () => {
  it("refuses the purge's role a DeleteObject of a locked pack version with the bypass header (s3:BypassGovernanceRetention), and the version stays", async () => {
    const key = `recordings/${SITE}/2026/01/01/p00000000000000000000001.tar`;
    const VersionId = await locked(key);
    const denied = await refusal(as('function:purge').send(new DeleteObjectCommand({ Bucket: cloud.bucket, Key: key, VersionId, BypassGovernanceRetention: true })));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:BypassGovernanceRetention/);
    expect((await admin.send(new HeadObjectCommand({ Bucket: cloud.bucket, Key: key, VersionId }))).ObjectLockMode).toBe('GOVERNANCE');
  });

  it("refuses the purge's role a DeleteObjects of locked versions with the bypass header, and every version stays", async () => {
    const keys = [`manifests/${SITE}/recordings/2026/01/01/p00000000000000000000002.json`, `backups/${SITE}/db/2026/01/01/a00000000000000000000002-full.sql`];
    const versions = await Promise.all(keys.map((k) => locked(k)));
    const Objects = keys.map((Key, i) => ({ Key, VersionId: versions[i] }));
    const answer = await as('function:purge')
      .send(new DeleteObjectsCommand({ Bucket: cloud.bucket, Delete: { Objects }, BypassGovernanceRetention: true }))
      .then(
        (r) => ({ deleted: (r.Deleted ?? []).map((d) => d.Key), errors: (r.Errors ?? []).map((e) => e.Code) }),
        (e: unknown) => ({ refused: (e as Error).name }),
      );
    expect(answer).toEqual({ refused: 'AccessDenied' });
    for (const [i, Key] of keys.entries()) expect((await admin.send(new HeadObjectCommand({ Bucket: cloud.bucket, Key, VersionId: versions[i] }))).VersionId).toBe(versions[i]);
  });

  it("refuses the agent's key a shorter lock on its own partial with the bypass header, and the lock is unchanged", async () => {
    const key = `logs/${SITE}/db/partial/2026/01/01/a00000000000000000000003-mysql-bin.000009`;
    await locked(key, { days: 2 });
    const before = (await admin.send(new GetObjectRetentionCommand({ Bucket: cloud.bucket, Key: key }))).Retention!;
    const shorter = { Mode: 'GOVERNANCE' as const, RetainUntilDate: new Date(Date.now() + 60_000) };
    const denied = await refusal(as(`agent:${SITE}`).send(new PutObjectRetentionCommand({ Bucket: cloud.bucket, Key: key, Retention: shorter, BypassGovernanceRetention: true })));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:BypassGovernanceRetention/);
    const after = (await admin.send(new GetObjectRetentionCommand({ Bucket: cloud.bucket, Key: key }))).Retention!;
    expect(after.RetainUntilDate?.toISOString()).toBe(before.RetainUntilDate?.toISOString());
  });
});
