import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, RestoreObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { LOCAL_RESTORE_MS } from '../../cli/start.ts';
import { startLocalCloud } from '../../local/cloud.ts';

// `ferry start` shortens its workflows' waits (the recall checks its restore a few times a second):
// its S3 stand-in must then restore from the archive tier in about that time too, or every
// recall asked from the console gives up before S3's 12 hours have passed on the stand-in.

describe("the local cloud's restore from the archive tier", () => {
  it('takes the restoreDelayMs it is started with, as `ferry start` starts it (LOCAL_RESTORE_MS)', async () => {
    expect(LOCAL_RESTORE_MS).toBeLessThanOrEqual(2_000);
    const dir = mkdtempSync(join(tmpdir(), 'ferry-restore-delay-'));
    const cloud = await startLocalCloud({ directory: dir, fresh: true, restoreDelayMs: LOCAL_RESTORE_MS });
    const s3 = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
    try {
      await cloud.blobs.put('recordings/site-a/old.tar', Buffer.from('x'), { storageClass: 'DEEP_ARCHIVE' });
      await s3.send(new RestoreObjectCommand({ Bucket: cloud.bucket, Key: 'recordings/site-a/old.tar', RestoreRequest: { Days: 1, GlacierJobParameters: { Tier: 'Standard' } } }));
      await expect(s3.send(new GetObjectCommand({ Bucket: cloud.bucket, Key: 'recordings/site-a/old.tar' }))).rejects.toMatchObject({ name: 'InvalidObjectState' });
      await new Promise((r) => setTimeout(r, LOCAL_RESTORE_MS + 500));
      expect(await (await s3.send(new GetObjectCommand({ Bucket: cloud.bucket, Key: 'recordings/site-a/old.tar' }))).Body!.transformToString()).toBe('x');
    } finally {
      s3.destroy();
      await cloud.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
