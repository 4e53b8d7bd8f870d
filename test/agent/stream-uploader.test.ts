import { describe, it, expect } from 'vitest';
import { randomBytes, createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readAll } from '../../agent/recover.ts';

const MiB = 1024 * 1024;

function recordingStore() {
  const store = new MemoryBlobStore({ minPartSize: 5 * MiB });
  // Part sizes by part number (parts digested on two threads may be sent out of order).
  const parts: number[] = [];
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    uploadPart: (k: string, u: string, n: number, b: Uint8Array, s?: string) => {
      parts[n - 1] = b.length;
      return store.uploadPart(k, u, n, b, s);
    },
  });
  return { store, spy, parts };
}

describe('stream uploader', () => {
  it('sends full-size parts but the last and stores the exact bytes, whatever the write sizes', async () => {
    const { store, spy, parts } = recordingStore();
    const body = randomBytes(12 * MiB);
    const u = new StreamUploader(spy, { key: 'k', partSize: 5 * MiB, partConcurrency: 2 });
    for (let at = 0; at < body.length; at += 700_000) await u.write(body.subarray(at, at + 700_000));
    const result = await u.finish();
    expect(parts).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
    expect(result).toMatchObject({ size: body.length, parts: 3, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await readAll(store, 'k')).equals(body)).toBe(true);
  });

  it.each([
    ['one PUT', 300_000],
    ['a multipart upload', 12 * MiB],
  ])('with `etag`, gives the S3 ETag the store computes for %s', async (_what, size) => {
    const { store } = recordingStore();
    const u = new StreamUploader(store, { key: 'e', partSize: 5 * MiB, partConcurrency: 2, etag: true });
    await u.write(randomBytes(size));
    const result = await u.finish();
    expect(result.etag).toMatch(/^"[0-9a-f]{32}(-\d+)?"$/);
    expect(result.etag).toBe((await store.head('e'))?.etag);
  });

  it('sends a small object as one PUT', async () => {
    const { store, spy, parts } = recordingStore();
    const body = randomBytes(300_000);
    const u = new StreamUploader(spy, { key: 'small', partSize: 8 * MiB, partConcurrency: 2 });
    await u.write(body);
    expect(await u.finish()).toMatchObject({ size: 300_000, parts: 1 });
    expect(parts).toEqual([]);
    expect((await readAll(store, 'small')).equals(body)).toBe(true);
  });
});

/** A store whose part uploads wait until released, counting how many are in flight at most. */
function gatedStore() {
  const store = new MemoryBlobStore({ minPartSize: 1024 });
  let inflight = 0;
  const stats = { maxInflight: 0 };
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    uploadPart: async (k: string, u: string, n: number, b: Uint8Array, s?: string) => {
      stats.maxInflight = Math.max(stats.maxInflight, ++inflight);
      await new Promise((r) => setTimeout(r, 5));
      inflight--;
      return store.uploadPart(k, u, n, b, s);
    },
  });
  return { store, spy, stats };
}

describe('shared part pool', () => {
  it('bounds the buffers of all uploads together, lends a lone upload every free buffer, and gets them all back', async () => {
    const pool = new PartPool(64 * 1024, 6);
    const { store, spy, stats } = gatedStore();
    const bodies = [randomBytes(1024 * 1024), randomBytes(700 * 1024), randomBytes(100)];
    await Promise.all(
      bodies.map(async (body, i) => {
        const u = new StreamUploader(spy, { key: `o${i}`, partSize: 64 * 1024, partConcurrency: 1, pool });
        for (let at = 0; at < body.length; at += 10_000) await u.write(body.subarray(at, at + 10_000));
        await u.finish();
      }),
    );
    for (const [i, body] of bodies.entries()) expect((await readAll(store, `o${i}`)).equals(body)).toBe(true);
    expect(pool.size).toBeLessThanOrEqual(6);
    expect(pool.inUse).toBe(0);
    expect(stats.maxInflight).toBeLessThanOrEqual(6);

    // Alone, an upload with partConcurrency 1 (a pool of its own would hold 2 buffers) uses them all.
    const lone = gatedStore();
    const u = new StreamUploader(lone.spy, { key: 'lone', partSize: 64 * 1024, partConcurrency: 1, pool });
    await u.write(randomBytes(1024 * 1024));
    await u.finish();
    expect(lone.stats.maxInflight).toBe(6);
  });

  it('gets its buffers back when uploads fail or are aborted', async () => {
    const pool = new PartPool(64 * 1024, 3);
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const faulty = new FaultyBlobStore(store).failNext('uploadPart', 1).failNext('put', 1);
    const big = new StreamUploader(faulty, { key: 'big', partSize: 64 * 1024, partConcurrency: 1, pool });
    await expect(
      (async () => {
        await big.write(randomBytes(300 * 1024));
        await big.finish();
      })(),
    ).rejects.toThrow();
    await big.abort();
    const small = new StreamUploader(faulty, { key: 'small', partSize: 64 * 1024, partConcurrency: 1, pool });
    await small.write(randomBytes(100));
    await expect(small.finish()).rejects.toThrow();
    await small.abort();
    expect(pool.inUse).toBe(0);
    // Still usable: nothing leaked.
    const after = new StreamUploader(store, { key: 'after', partSize: 64 * 1024, partConcurrency: 1, pool });
    await after.write(randomBytes(200 * 1024));
    await expect(after.finish()).resolves.toMatchObject({ parts: 4 });
  });
});

describe('stream uploader and open uploads it did not create', () => {
  it('never lists open uploads (an agent role may not: each listing is an AccessDenied on AWS), whether it publishes or aborts', async () => {
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    let listings = 0;
    const counting = Object.assign(Object.create(store) as BlobStore, {
      listMultipart: async function* () {
        listings++;
        throw Object.assign(new Error('S3 listMultipart: AccessDenied'), { name: 'FerryError', cause: Object.assign(new Error('AccessDenied'), { name: 'AccessDenied' }) });
      },
    });
    const body = randomBytes(200 * 1024);
    const published = new StreamUploader(counting, { key: 'published', partSize: 64 * 1024, partConcurrency: 1 });
    await published.write(body);
    await expect(published.finish()).resolves.toMatchObject({ parts: 4, size: body.length });
    expect((await readAll(store, 'published')).equals(body)).toBe(true);

    const aborted = new StreamUploader(counting, { key: 'aborted', partSize: 64 * 1024, partConcurrency: 1 });
    await aborted.write(body);
    await aborted.abort();
    expect(await collectUploads(store)).toEqual([]);
    expect(listings).toBe(0);
  });
});

async function collectUploads(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const u of store.listMultipart('')) out.push(u.key);
  return out;
}
