// A slow line that drops now and then: the connection carrying one part of a large upload is cut,
// more times than the SDK asks again. The parts already stored must stay: failing the upload there
// sent a full backup again from its first byte (over a 3 Mbit/s line, 260 MiB of a 300 MiB full
// thrown away by one part). Real SDK, the local S3 stand-in, a proxy that resets the connections.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startLocalS3, type LocalS3 } from '../../local/s3-process.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import { readAll } from '../../agent/recover.ts';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';

const MiB = 1024 * 1024;
const STAND_IN = { verifiesChecksums: false, conditionalPut: true, md5ETags: true };
const SDK_ATTEMPTS = 3;

let rig: { dir: string; s3: LocalS3; proxy: FaultProxy } | undefined;

afterEach(async () => {
  await rig?.proxy.close();
  await rig?.s3.stop();
  if (rig) rmSync(rig.dir, { recursive: true, force: true });
  rig = undefined;
});

async function start(): Promise<{ store: S3BlobStore; direct: S3BlobStore; proxy: FaultProxy }> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cut-part-'));
  const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: ['ferry-data'] });
  const proxy = await startFaultProxy({ target: s3.endpoint, seed: 1 });
  rig = { dir, s3, proxy };
  const client = createS3Client({ endpoint: proxy.endpoint, credentials: s3.credentials, maxAttempts: SDK_ATTEMPTS });
  const direct = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
  return { store: new S3BlobStore(client, 'ferry-data', { features: STAND_IN }), direct: new S3BlobStore(direct, 'ferry-data', { features: STAND_IN }), proxy };
}

describe('a part whose connection is cut', () => {
  it('is sent again within the same upload, more times than the SDK asks, the parts stored before kept', async () => {
    const { store, direct, proxy } = await start();
    const cuts = SDK_ATTEMPTS + 1;
    proxy.script('reset-before', (q) => q.operation === 'uploadPart' && q.query.get('partNumber') === '2', cuts);
    const body = randomBytes(12 * MiB);
    const u = new StreamUploader(store, { key: 'backups/full.bak', partSize: 5 * MiB, partConcurrency: 2, cutPauseMs: 10 });
    await u.write(body);
    const result = await u.finish();
    expect(result).toMatchObject({ size: body.length, parts: 3, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await readAll(direct, 'backups/full.bak')).equals(body)).toBe(true);
    // One upload, and parts 1 and 3 sent once: only part 2 was sent again.
    expect(proxy.counts.createMultipart).toBe(1);
    expect(proxy.counts.uploadPart).toBe(3 + cuts);
  }, 60_000);

  it('fails the upload when the store itself refuses the part (not a cut): nothing sent again', async () => {
    const { store, proxy } = await start();
    proxy.script('error-500', (q) => q.operation === 'uploadPart' && q.query.get('partNumber') === '2', 100);
    const u = new StreamUploader(store, { key: 'backups/refused.bak', partSize: 5 * MiB, partConcurrency: 2, cutPauseMs: 10 });
    const sent = (async () => {
      await u.write(randomBytes(12 * MiB));
      await u.finish();
    })();
    await expect(sent).rejects.toThrow(/InternalError/);
    await u.abort();
    // Part 2 asked SDK_ATTEMPTS times by the SDK, and not again by the uploader.
    expect(proxy.injected.filter((f) => f.operation === 'uploadPart')).toHaveLength(SDK_ATTEMPTS);
  }, 60_000);
});
