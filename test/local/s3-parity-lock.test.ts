// The local S3 keeps Object Lock's promises as AWS S3 does, with the bucket's default retention
// taken from the deployment configuration (as infra/data-bucket.ts sets it). Real SDK v3 client.
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectLegalHoldCommand,
  GetObjectLockConfigurationCommand,
  GetObjectRetentionCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectLegalHoldCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3ObjectDeleter } from '../../adapters/s3-purge.ts';
import { DEFAULT_CONFIG, parseDeploymentConfig } from '../../infra/config.ts';
import { BUCKET, DAY_MS, md5, put, read, refusal, sha256, startParity, type Parity } from './s3-parity-harness.ts';

let p: Parity;
beforeAll(async () => {
  p = await startParity();
});
afterAll(async () => {
  await p.cleanup();
});

const head = (key: string) => p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
const deleteVersion = (key: string, VersionId: string | undefined, bypass = false) =>
  p.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key, VersionId, ...(bypass ? { BypassGovernanceRetention: true } : {}) }));
const inDays = (days: number) => new Date(Date.now() + days * DAY_MS);

describe('Object Lock', () => {
  it('the bucket has the default retention of the deployment configuration, and a new object gets it', async () => {
    const { objectLock } = parseDeploymentConfig(DEFAULT_CONFIG);
    const config = await p.client.send(new GetObjectLockConfigurationCommand({ Bucket: BUCKET }));
    expect(config.ObjectLockConfiguration).toEqual({
      ObjectLockEnabled: 'Enabled',
      Rule: { DefaultRetention: { Mode: objectLock.mode.toUpperCase(), Days: objectLock.defaultRetentionDays } },
    });
    const before = Date.now();
    await put(p.client, 'lock/default', 'x');
    const info = await head('lock/default');
    expect(info.ObjectLockMode).toBe('GOVERNANCE');
    expect(info.ObjectLockRetainUntilDate!.getTime() - before).toBeGreaterThanOrEqual(objectLock.defaultRetentionDays * DAY_MS - 1000);
    expect(info.ObjectLockRetainUntilDate!.getTime() - before).toBeLessThan(objectLock.defaultRetentionDays * DAY_MS + 60_000);
    expect(info.VersionId).toMatch(/^[\w-]{16,}$/);
  });

  it('a version under governance retention cannot be deleted (403 AccessDenied) unless the request bypasses governance', async () => {
    const { VersionId } = await put(p.client, 'lock/governed', 'kept');
    expect(await refusal(deleteVersion('lock/governed', VersionId))).toEqual({ name: 'AccessDenied', status: 403 });
    expect(await read(p.client, 'lock/governed')).toBe('kept');
    await deleteVersion('lock/governed', VersionId, true);
    expect(await refusal(head('lock/governed'))).toMatchObject({ status: 404 });
  });

  it('a version under compliance retention cannot be deleted even with the governance bypass', async () => {
    const { VersionId } = await put(p.client, 'lock/compliance', 'kept', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: inDays(1) });
    expect((await head('lock/compliance')).ObjectLockMode).toBe('COMPLIANCE');
    expect(await refusal(deleteVersion('lock/compliance', VersionId, true))).toEqual({ name: 'AccessDenied', status: 403 });
    expect(await read(p.client, 'lock/compliance')).toBe('kept');
  });

  it('a legal hold blocks deletion even with the bypass, until it is turned off', async () => {
    const { VersionId } = await put(p.client, 'lock/held', 'evidence');
    await p.client.send(new PutObjectLegalHoldCommand({ Bucket: BUCKET, Key: 'lock/held', LegalHold: { Status: 'ON' } }));
    expect((await p.client.send(new GetObjectLegalHoldCommand({ Bucket: BUCKET, Key: 'lock/held' }))).LegalHold).toEqual({ Status: 'ON' });
    expect((await head('lock/held')).ObjectLockLegalHoldStatus).toBe('ON');
    expect(await refusal(deleteVersion('lock/held', VersionId, true))).toEqual({ name: 'AccessDenied', status: 403 });
    await p.client.send(new PutObjectLegalHoldCommand({ Bucket: BUCKET, Key: 'lock/held', LegalHold: { Status: 'OFF' } }));
    await deleteVersion('lock/held', VersionId, true);
    expect(await refusal(head('lock/held'))).toMatchObject({ status: 404 });
  });

  it('PutObjectRetention extends retention freely but shortens governance retention only with the bypass', async () => {
    await put(p.client, 'lock/retention', 'x');
    const retention = (days: number, bypass = false) =>
      p.client.send(
        new PutObjectRetentionCommand({
          Bucket: BUCKET,
          Key: 'lock/retention',
          Retention: { Mode: 'GOVERNANCE', RetainUntilDate: inDays(days) },
          ...(bypass ? { BypassGovernanceRetention: true } : {}),
        }),
      );
    await retention(60);
    const extended = await p.client.send(new GetObjectRetentionCommand({ Bucket: BUCKET, Key: 'lock/retention' }));
    expect(extended.Retention?.RetainUntilDate!.getTime()).toBeGreaterThan(inDays(59).getTime());
    expect(await refusal(retention(10))).toEqual({ name: 'AccessDenied', status: 403 });
    await retention(10, true);
    expect((await head('lock/retention')).ObjectLockRetainUntilDate!.getTime()).toBeLessThan(inDays(11).getTime());
  });

  it('lock headers on PutObject are checked: a date in the past or a mode without a date is 400 InvalidArgument', async () => {
    expect(await refusal(put(p.client, 'lock/bad', 'x', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: inDays(-1) }))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await refusal(put(p.client, 'lock/bad', 'x', { ObjectLockMode: 'GOVERNANCE' }))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await refusal(head('lock/bad'))).toMatchObject({ status: 404 });
  });

  it('a PutObject under the default retention without Content-MD5 or an x-amz-checksum- header is 400 InvalidRequest and stores nothing; either digest is enough', async () => {
    const refused = await put(p.client, 'lock/undigested', 'x', { ContentMD5: undefined }).catch((e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
    expect(refused).toMatchObject({ name: 'InvalidRequest', $metadata: { httpStatusCode: 400 } });
    expect((refused as Error).message).toMatch(/Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters/);
    expect(await refusal(head('lock/undigested'))).toMatchObject({ status: 404 });
    await put(p.client, 'lock/md5', 'x');
    await put(p.client, 'lock/sha256', 'x', { ChecksumSHA256: sha256(Buffer.from('x')) });
    expect([await read(p.client, 'lock/md5'), await read(p.client, 'lock/sha256')]).toEqual(['x', 'x']);
  });

  it('an UploadPart of an upload whose object will be locked, without Content-MD5 or an x-amz-checksum- header, is 400 InvalidRequest; with Content-MD5 the part is taken and the object completes', async () => {
    const Key = 'lock/multipart';
    const { UploadId } = await p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key }));
    const body = Buffer.from('part one');
    const refused = await p.client.send(new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 1, Body: body })).catch((e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
    expect(refused).toMatchObject({ name: 'InvalidRequest', $metadata: { httpStatusCode: 400 } });
    expect((refused as Error).message).toMatch(/Content-MD5 OR x-amz-checksum- HTTP header is required for Put Part requests with Object Lock parameters/);
    const part = await p.client.send(new UploadPartCommand({ Bucket: BUCKET, Key, UploadId, PartNumber: 1, Body: body, ContentMD5: md5(body) }));
    await p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect(await read(p.client, Key)).toBe('part one');
  });

  it('a plain DeleteObject hides a locked object behind a delete marker and keeps the version, as a versioned bucket does', async () => {
    const { VersionId } = await put(p.client, 'lock/marker', 'still here');
    const deleted = await deleteVersion('lock/marker', undefined);
    expect(deleted.DeleteMarker).toBe(true);
    expect(await refusal(head('lock/marker'))).toMatchObject({ status: 404 });
    const versions = await p.client.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'lock/marker' }));
    expect(versions.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([['lock/marker', VersionId, false]]);
    expect(versions.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest])).toEqual([['lock/marker', deleted.VersionId, true]]);
    // Deleting the marker brings the version back.
    await deleteVersion('lock/marker', deleted.VersionId);
    expect(await read(p.client, 'lock/marker')).toBe('still here');
  });

  it('DeleteObjects by version reports a locked version as a per-key AccessDenied and deletes the others', async () => {
    const locked = await put(p.client, 'lock/batch/locked', 'x');
    await p.client.send(new PutObjectLegalHoldCommand({ Bucket: BUCKET, Key: 'lock/batch/locked', LegalHold: { Status: 'ON' } }));
    const free = await put(p.client, 'lock/batch/free', 'y', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: inDays(1) });
    const out = await p.client.send(
      new DeleteObjectsCommand({
        Bucket: BUCKET,
        BypassGovernanceRetention: true,
        Delete: { Objects: [{ Key: 'lock/batch/locked', VersionId: locked.VersionId }, { Key: 'lock/batch/free', VersionId: free.VersionId }], Quiet: true },
      }),
    );
    expect(out.Errors?.map((e) => [e.Key, e.Code])).toEqual([['lock/batch/locked', 'AccessDenied']]);
    expect(await read(p.client, 'lock/batch/locked')).toBe('x');
    expect(await refusal(head('lock/batch/free'))).toMatchObject({ status: 404 });
  });

  it("the purge's S3ObjectDeleter (every version by id) reports a locked pack as retained and deletes an unlocked one for good", async () => {
    await put(p.client, 'purge/locked.tar', 'x');
    await put(p.client, 'purge/free.tar', 'y', { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: inDays(1) });
    await p.client.send(new PutObjectRetentionCommand({ Bucket: BUCKET, Key: 'purge/free.tar', Retention: {}, BypassGovernanceRetention: true }));
    await deleteVersion('purge/free.tar', undefined);
    const outcome = await new S3ObjectDeleter(p.client, BUCKET).deleteObjects(['purge/locked.tar', 'purge/free.tar']);
    expect(outcome.deleted).toEqual(['purge/free.tar']);
    expect(outcome.retained.map((r) => [r.key, r.reason.split(':')[0]])).toEqual([['purge/locked.tar', 'AccessDenied']]);
    const versions = await p.client.send(new ListObjectVersionsCommand({ Bucket: BUCKET, Prefix: 'purge/' }));
    expect([...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])].map((v) => v.Key)).toEqual(['purge/locked.tar']);
  });

  it('retention ends on the stand-in clock: once past the date the version can be deleted without bypass', async () => {
    const { VersionId } = await put(p.client, 'lock/expires', 'x', { ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: inDays(2) });
    expect(await refusal(deleteVersion('lock/expires', VersionId))).toEqual({ name: 'AccessDenied', status: 403 });
    await p.s3.advanceClock(3 * DAY_MS);
    await deleteVersion('lock/expires', VersionId);
    expect(await refusal(head('lock/expires'))).toMatchObject({ status: 404 });
  });
});

describe('a bucket made without Object Lock (plainBuckets)', () => {
  let plain: Parity;
  beforeAll(async () => {
    plain = await startParity({ plainBuckets: ['plain'] });
  });
  afterAll(async () => {
    await plain?.cleanup();
  });

  it('takes a PutObject without a digest, has no Object Lock configuration, and its objects can be deleted; the locked bucket beside it keeps its rules', async () => {
    const { VersionId } = await plain.client.send(new PutObjectCommand({ Bucket: 'plain', Key: 'repo/config', Body: 'x' }));
    expect(await refusal(plain.client.send(new GetObjectLockConfigurationCommand({ Bucket: 'plain' })))).toEqual({ name: 'ObjectLockConfigurationNotFoundError', status: 404 });
    expect((await plain.client.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'repo/config' }))).ObjectLockMode).toBeUndefined();
    await plain.client.send(new DeleteObjectCommand({ Bucket: 'plain', Key: 'repo/config', VersionId }));
    expect(await refusal(plain.client.send(new HeadObjectCommand({ Bucket: 'plain', Key: 'repo/config' })))).toMatchObject({ status: 404 });
    expect(await refusal(put(plain.client, 'lock/undigested', 'x', { ContentMD5: undefined }))).toEqual({ name: 'InvalidRequest', status: 400 });
    expect((await plain.client.send(new GetObjectLockConfigurationCommand({ Bucket: BUCKET }))).ObjectLockConfiguration?.ObjectLockEnabled).toBe('Enabled');
  });
});
