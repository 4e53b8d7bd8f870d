// Storage classes, restores and lifecycle on the local S3 as on AWS S3: every class Ferry uses is
// accepted and reported, archived objects need a restore before GET, and the lifecycle rules the
// CDK stack synthesizes (infra/lifecycle-tiers.ts) move objects as the stand-in's clock advances.
import { randomBytes } from 'node:crypto';
import { CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, RestoreObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKey } from '../../core/layout.ts';
import { parseDeploymentConfig } from '../../infra/config.ts';
import { BUCKET, DAY_MS, put, read, refusal, startParity, type Parity } from './s3-parity-harness.ts';

const HOUR_MS = 60 * 60 * 1000;
const head = (p: Parity, key: string) => p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
const restore = (p: Parity, key: string, tier: 'Standard' | 'Bulk' = 'Standard') =>
  p.client.send(new RestoreObjectCommand({ Bucket: BUCKET, Key: key, RestoreRequest: { Days: 2, GlacierJobParameters: { Tier: tier } } }));

describe('storage classes and restores', () => {
  let p: Parity;
  beforeAll(async () => {
    p = await startParity();
  });
  afterAll(async () => {
    await p.cleanup();
  });

  it('accepts STANDARD, STANDARD_IA, GLACIER_IR and DEEP_ARCHIVE and reports them in HEAD (STANDARD left out, as S3 does) and in the listing', async () => {
    const classes = ['STANDARD', 'STANDARD_IA', 'GLACIER_IR', 'DEEP_ARCHIVE'] as const;
    for (const storageClass of classes) await put(p.client, `classes/${storageClass}`, storageClass, { StorageClass: storageClass });
    const heads = await Promise.all(classes.map((c) => head(p, `classes/${c}`)));
    expect(heads.map((h) => h.StorageClass)).toEqual([undefined, 'STANDARD_IA', 'GLACIER_IR', 'DEEP_ARCHIVE']);
    const listed = await p.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'classes/' }));
    expect(Object.fromEntries((listed.Contents ?? []).map((o) => [o.Key, o.StorageClass]))).toEqual(Object.fromEntries(classes.map((c) => [`classes/${c}`, c])));
  });

  it('refuses an unknown storage class with 400 InvalidStorageClass, on PutObject and CreateMultipartUpload', async () => {
    expect(await refusal(put(p.client, 'classes/bogus', 'x', { StorageClass: 'COLD_AS_ICE' as never }))).toEqual({ name: 'InvalidStorageClass', status: 400 });
    const create = p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'classes/bogus', StorageClass: 'COLD_AS_ICE' as never }));
    expect(await refusal(create)).toEqual({ name: 'InvalidStorageClass', status: 400 });
  });

  it('reads GLACIER_IR at once, with ranges', async () => {
    await put(p.client, 'classes/instant', '0123456789', { StorageClass: 'GLACIER_IR' });
    const ranged = await p.client.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'classes/instant', Range: 'bytes=2-4' }));
    expect(await ranged.Body!.transformToString()).toBe('234');
  });

  it('answers GET of DEEP_ARCHIVE with 403 InvalidObjectState until a restore completes; HEAD shows the restore in x-amz-restore', async () => {
    await put(p.client, 'classes/deep', 'archived bytes', { StorageClass: 'DEEP_ARCHIVE' });
    expect(await refusal(read(p.client, 'classes/deep'))).toEqual({ name: 'InvalidObjectState', status: 403 });
    expect((await head(p, 'classes/deep')).Restore).toBeUndefined();
    expect((await restore(p, 'classes/deep')).$metadata.httpStatusCode).toBe(202);
    expect((await head(p, 'classes/deep')).Restore).toBe('ongoing-request="true"');
    expect(await refusal(restore(p, 'classes/deep'))).toEqual({ name: 'RestoreAlreadyInProgress', status: 409 });
    expect(await refusal(read(p.client, 'classes/deep'))).toEqual({ name: 'InvalidObjectState', status: 403 });
    await p.s3.advanceClock(12 * HOUR_MS);
    expect((await head(p, 'classes/deep')).Restore).toMatch(/^ongoing-request="false", expiry-date="[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} 00:00:00 GMT"$/);
    expect(await read(p.client, 'classes/deep')).toBe('archived bytes');
    expect((await head(p, 'classes/deep')).StorageClass).toBe('DEEP_ARCHIVE');
  });

  it('refuses a restore of an object that is not archived (403 InvalidObjectState)', async () => {
    await put(p.client, 'classes/not-archived', 'x', { StorageClass: 'GLACIER_IR' });
    expect(await refusal(restore(p, 'classes/not-archived'))).toEqual({ name: 'InvalidObjectState', status: 403 });
  });

  it('takes the configured restore delay when one is given', async () => {
    const quick = await startParity({ restoreDelayMs: 300 });
    try {
      await put(quick.client, 'deep', 'x', { StorageClass: 'DEEP_ARCHIVE' });
      await restore(quick, 'deep', 'Bulk');
      expect(await refusal(read(quick.client, 'deep'))).toMatchObject({ name: 'InvalidObjectState' });
      await new Promise((r) => setTimeout(r, 400));
      expect(await read(quick.client, 'deep')).toBe('x');
    } finally {
      await quick.cleanup();
    }
  });
});

describe('lifecycle', () => {
  // Non-default tiers, to show the rules come from the deployment configuration. The site has no
  // schedule: with the demo's weekly purge the check refuses backups moved at 35 days (it deletes them at 30-37).
  const deployment = parseDeploymentConfig({ sites: [{ name: 'site-a', retentionDays: 730 }], lifecycle: { packsToGlacierIrDays: 40, packsToDeepArchiveDays: 200, backupsToIaDays: 35 } });
  const big = randomBytes(128 * 1024);
  const keys = {
    pack: 'recordings/site-a/2026/01/01/p1.tar',
    smallPack: 'recordings/site-a/2026/01/01/p2.tar',
    manifest: 'manifests/site-a/recordings/2026/01/01/p1.json',
    backup: 'backups/site-a/cvp/2026/01/01/a1-cvp_backup_data.old',
  };
  let p: Parity;
  beforeAll(async () => {
    p = await startParity({ deployment });
    for (const [name, key] of Object.entries(keys)) await put(p.client, key, name === 'smallPack' ? Buffer.from('tiny') : big);
  });
  afterAll(async () => {
    await p.cleanup();
  });

  const classes = async () => Object.fromEntries(await Promise.all(Object.entries(keys).map(async ([name, key]) => [name, (await head(p, key)).StorageClass ?? 'STANDARD'])));

  it('moves nothing before the configured days', async () => {
    const { reports } = await p.s3.advanceClock(34 * DAY_MS);
    expect(reports[0]?.transitioned).toEqual([]);
    expect(await classes()).toEqual({ pack: 'STANDARD', smallPack: 'STANDARD', manifest: 'STANDARD', backup: 'STANDARD' });
  });

  it('moves backups to STANDARD_IA and packs to GLACIER_IR at their days; manifests stay and objects under 128 KiB stay', async () => {
    await p.s3.advanceClock(2 * DAY_MS);
    expect((await classes()).backup).toBe('STANDARD_IA');
    await p.s3.advanceClock(5 * DAY_MS);
    expect(await classes()).toEqual({ pack: 'GLACIER_IR', smallPack: 'STANDARD', manifest: 'STANDARD', backup: 'STANDARD_IA' });
    expect(parseKey(keys.pack)?.dataClass).toBe('recordings');
    expect((await read(p.client, keys.pack)).length).toBeGreaterThan(0);
  });

  it('moves packs on to DEEP_ARCHIVE, after which GET needs a restore', async () => {
    const { reports } = await p.s3.advanceClock(160 * DAY_MS);
    expect(reports[0]?.transitioned).toEqual([{ key: keys.pack, from: 'GLACIER_IR', to: 'DEEP_ARCHIVE' }]);
    expect(await refusal(read(p.client, keys.pack))).toEqual({ name: 'InvalidObjectState', status: 403 });
    expect((await read(p.client, keys.manifest)).length).toBeGreaterThan(0);
  });

  it('aborts multipart uploads left open longer than the configured days', async () => {
    const { UploadId } = await p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'recordings/site-a/open.tar' }));
    expect((await p.s3.advanceClock(6 * DAY_MS)).reports[0]?.aborted).toEqual([]);
    expect((await p.s3.advanceClock(1 * DAY_MS)).reports[0]?.aborted).toEqual([UploadId]);
  });
});
