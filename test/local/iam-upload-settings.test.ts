import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, GetObjectLegalHoldCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import type { LocalCloud } from '../../local/cloud.ts';
import { startTestCloud } from '../support/local-cloud.ts';

// A legal hold placed at upload (`x-amz-object-lock-legal-hold: ON` on PutObject or
// CreateMultipartUpload) needs s3:PutObjectLegalHold on S3, which the agent's role is denied
// (DenyDestruction): a held object outlives every purge and blocks a data subject's erasure, so
// only the holds function and the purge's copy-out may place one. Real SDK clients through the
// IAM gateway, the synthesized policies deciding, the S3 stand-in keeping the hold it is given.
// Tags and ACLs set at upload need s3:PutObjectTagging and s3:PutObjectAcl likewise, which no
// role of the deployment has.

const SITE = 'demo'; // the generated deployment's site: no synth of its own
let dir: string;
let cloud: LocalCloud;
let admin: S3Client;
let agent: S3Client;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-iam-upload-settings-'));
  cloud = await startTestCloud({ directory: join(dir, 'cloud'), fresh: true, sites: [SITE] });
  admin = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
  agent = createS3Client({ region: cloud.region, endpoint: cloud.iam!.s3Endpoint, credentials: cloud.iam!.credentialsOf(`agent:${SITE}`), maxAttempts: 1 });
}, 180_000);

afterAll(async () => {
  admin?.destroy();
  agent?.destroy();
  await cloud?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const refusal = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => ({ name: (e as Error).name, message: (e as Error).message }));

describe('a legal hold placed at upload, through the IAM gateway', () => {
  it("refuses the agent's key a PutObject of its own new pack with a legal hold (s3:PutObjectLegalHold), and stores nothing", async () => {
    const Key = `recordings/${SITE}/2026/01/01/p00000000000000000000001.tar`;
    const Body = Buffer.from('pack');
    const denied = await refusal(agent.send(new PutObjectCommand({ Bucket: cloud.bucket, Key, Body, IfNoneMatch: '*', ContentMD5: createHash('md5').update(Body).digest('base64'), ObjectLockLegalHoldStatus: 'ON' })));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:PutObjectLegalHold/);
    expect((await refusal(admin.send(new GetObjectLegalHoldCommand({ Bucket: cloud.bucket, Key }))))?.name).toMatch(/NoSuchKey|NotFound/);
  });

  it("refuses the agent's key a multipart upload that would place a legal hold", async () => {
    const Key = `backups/${SITE}/db/2026/01/01/a00000000000000000000002-full.sql`;
    const denied = await refusal(agent.send(new CreateMultipartUploadCommand({ Bucket: cloud.bucket, Key, ObjectLockLegalHoldStatus: 'ON' })));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:PutObjectLegalHold/);
  });

  it("still takes the agent's own publish without a legal hold", async () => {
    const Key = `recordings/${SITE}/2026/01/01/p00000000000000000000003.tar`;
    const Body = Buffer.from('pack');
    await agent.send(new PutObjectCommand({ Bucket: cloud.bucket, Key, Body, IfNoneMatch: '*', ContentMD5: createHash('md5').update(Body).digest('base64') }));
    expect((await admin.send(new HeadObjectCommand({ Bucket: cloud.bucket, Key }))).ObjectLockLegalHoldStatus ?? 'OFF').toBe('OFF');
  });
});

describe('tags and ACLs set at upload, through the IAM gateway', () => {
  const publish = (Key: string, extra: { Tagging?: string; ACL?: 'public-read' }) => {
    const Body = Buffer.from('pack');
    return agent.send(new PutObjectCommand({ Bucket: cloud.bucket, Key, Body, IfNoneMatch: '*', ContentMD5: createHash('md5').update(Body).digest('base64'), ...extra }));
  };

  it("refuses the agent's key a PutObject that tags its object (s3:PutObjectTagging), and stores nothing", async () => {
    const Key = `recordings/${SITE}/2026/01/01/p00000000000000000000004.tar`;
    const denied = await refusal(publish(Key, { Tagging: 'tier=keep' }));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:PutObjectTagging/);
    expect((await refusal(admin.send(new HeadObjectCommand({ Bucket: cloud.bucket, Key }))))?.name).toMatch(/NotFound|NoSuchKey/);
  });

  it("refuses the agent's key a PutObject or a multipart upload that sets an ACL (s3:PutObjectAcl)", async () => {
    const denied = await refusal(publish(`recordings/${SITE}/2026/01/01/p00000000000000000000005.tar`, { ACL: 'public-read' }));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/s3:PutObjectAcl/);
    const upload = await refusal(agent.send(new CreateMultipartUploadCommand({ Bucket: cloud.bucket, Key: `backups/${SITE}/db/2026/01/01/a00000000000000000000006-full.sql`, ACL: 'public-read' })));
    expect(upload?.message).toMatch(/s3:PutObjectAcl/);
  });
});

describe('encryption named at upload, through the IAM gateway', () => {
  const publish = (Key: string, extra: { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string }) => {
    const Body = Buffer.from('pack');
    return agent.send(new PutObjectCommand({ Bucket: cloud.bucket, Key, Body, IfNoneMatch: '*', ContentMD5: createHash('md5').update(Body).digest('base64'), ...extra }));
  };

  it("refuses the agent's key a PutObject that asks for SSE-S3 (AES256) instead of the data key (the bucket policy's DenyOtherEncryption), and stores nothing", async () => {
    const Key = `recordings/${SITE}/2026/01/01/p00000000000000000000007.tar`;
    const denied = await refusal(publish(Key, { ServerSideEncryption: 'AES256' }));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/with an explicit deny in an identity-based or resource-based policy/);
    expect((await refusal(admin.send(new HeadObjectCommand({ Bucket: cloud.bucket, Key }))))?.name).toMatch(/NotFound|NoSuchKey/);
  });

  it("refuses the agent's key a PutObject or a multipart upload that names another KMS key (DenyOtherEncryptionKey)", async () => {
    const other = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000';
    const denied = await refusal(publish(`recordings/${SITE}/2026/01/01/p00000000000000000000008.tar`, { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: other }));
    expect(denied?.name).toBe('AccessDenied');
    expect(denied?.message).toMatch(/with an explicit deny in an identity-based or resource-based policy/);
    const upload = await refusal(agent.send(new CreateMultipartUploadCommand({ Bucket: cloud.bucket, Key: `backups/${SITE}/db/2026/01/01/a00000000000000000000009-full.sql`, ServerSideEncryption: 'aws:kms', SSEKMSKeyId: other })));
    expect(upload?.name).toBe('AccessDenied');
  });
});
