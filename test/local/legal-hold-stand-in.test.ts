// Legal hold on the local S3 stand-in through the real SDK and Ferry's adapters: the holds
// function's S3ObjectHolder sets it, the purge's S3ObjectDeleter is refused, and so is an
// administrator deleting the version with governance bypass; a legal hold set on one version
// protects that version only, as on AWS.
import { DeleteObjectCommand, GetObjectLegalHoldCommand, PutObjectLegalHoldCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectHolder } from '../../adapters/s3-legal-hold.ts';
import { S3ObjectDeleter } from '../../adapters/s3-purge.ts';
import { BUCKET, put, read, refusal, startParity, type Parity } from './s3-parity-harness.ts';

let p: Parity;
beforeAll(async () => {
  p = await startParity();
});
afterAll(async () => {
  await p.cleanup();
});

const adminDelete = (key: string, VersionId: string | undefined) => p.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId, BypassGovernanceRetention: true }));

describe('legal hold on the S3 stand-in', () => {
  it('a held pack survives the purge and an admin governance-bypass delete; once OFF, the admin may delete it', async () => {
    const key = 'recordings/site-a/2025/01/01/pheld.tar';
    const { VersionId } = await put(p.client, key, 'held call');
    const holder = new S3ObjectHolder(p.client, BUCKET);
    await holder.setLegalHold(key, true);
    expect((await p.client.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key }))).LegalHold).toEqual({ Status: 'ON' });
    const outcome = await new S3ObjectDeleter(p.client, BUCKET).deleteObjects([key]);
    expect(outcome.retained.map((r) => r.key)).toEqual([key]);
    expect(await refusal(adminDelete(key, VersionId))).toEqual({ name: 'AccessDenied', status: 403 });
    expect(await read(p.client, key)).toBe('held call');
    await holder.setLegalHold(key, false);
    await adminDelete(key, VersionId);
    expect(await refusal(read(p.client, key))).toMatchObject({ status: 404 });
  });

  it('a legal hold set on a noncurrent version (behind a delete marker) protects that version against a bypass delete', async () => {
    const key = 'manifests/site-a/recordings/2025/01/01/pv.json';
    const first = await put(p.client, key, 'v1');
    await p.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key })); // a delete marker: v1 is noncurrent
    await p.client.send(new PutObjectLegalHoldCommand({ Bucket: BUCKET, Key: key, VersionId: first.VersionId, LegalHold: { Status: 'ON' } }));
    expect((await p.client.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: key, VersionId: first.VersionId }))).LegalHold).toEqual({ Status: 'ON' });
    expect(await refusal(adminDelete(key, first.VersionId))).toEqual({ name: 'AccessDenied', status: 403 });
    await p.client.send(new PutObjectLegalHoldCommand({ Bucket: BUCKET, Key: key, VersionId: first.VersionId, LegalHold: { Status: 'OFF' } }));
    await adminDelete(key, first.VersionId);
  });

  it('setting legal hold on an absent object is a NotFoundError naming the key', async () => {
    await expect(new S3ObjectHolder(p.client, BUCKET).setLegalHold('recordings/site-a/none.tar', true)).rejects.toMatchObject({ name: 'NotFoundError', message: expect.stringContaining('recordings/site-a/none.tar') });
  });
});
