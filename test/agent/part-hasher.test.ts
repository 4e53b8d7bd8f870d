import { describe, it, expect, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { PartHasher, type PartHashing } from '../../agent/part-hasher.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { readAll } from '../../agent/recover.ts';

// The pack's SHA-256 and each part's MD5 are taken on a worker thread fed the filled part
// buffers (shared memory, in order); what it answers must be exactly what node:crypto gives on
// the main thread.

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const shared = (bytes: Buffer) => {
  const b = Buffer.from(new SharedArrayBuffer(bytes.length));
  bytes.copy(b);
  return b;
};

const hasher = new PartHasher();
afterAll(() => hasher.close());

describe('part hasher', () => {
  it('answers each part with its MD5 (and SHA-256 when asked) and each stream with the SHA-256 of its parts in order', async () => {
    const [a1, a2, b1] = [randomBytes(300_000), randomBytes(5), randomBytes(70_000)];
    const a = hasher.open();
    const b = hasher.open();
    const answers = await Promise.all([
      hasher.part(a, shared(a1), { sha256: true }),
      hasher.part(b, shared(b1), { sha256: false }),
      hasher.part(a, shared(a2), { sha256: false }),
    ]);
    expect(answers.map((d) => d.md5.toString('hex'))).toEqual([md5(a1), md5(b1), md5(a2)]);
    expect(answers[0]?.sha256?.toString('hex')).toBe(sha256(a1));
    expect(answers[1]?.sha256).toBeUndefined();
    expect(await hasher.digest(a)).toBe(sha256(Buffer.concat([a1, a2])));
    expect(await hasher.digest(b)).toBe(sha256(b1));
  });

  it('hashes a view inside a larger shared buffer by its offset and length only', async () => {
    const whole = shared(randomBytes(1000));
    const view = whole.subarray(100, 400);
    const s = hasher.open();
    expect((await hasher.part(s, view, { sha256: true })).md5.toString('hex')).toBe(md5(view));
    expect(await hasher.digest(s)).toBe(sha256(view));
  });

  it('refuses a buffer that is not shared memory (it would be copied, or lost on transfer)', async () => {
    await expect(hasher.part(hasher.open(), Buffer.alloc(10), { sha256: false })).rejects.toThrow(/SharedArrayBuffer/);
  });

  it('fails the answers awaited when its thread is stopped, and starts a new thread for the next request', async () => {
    const big = shared(randomBytes(4 * 1024 * 1024));
    const s = hasher.open();
    const pending = hasher.part(s, big, { sha256: true });
    await hasher.close();
    await expect(pending).rejects.toThrow(/exited/);
    const t = hasher.open();
    expect((await hasher.part(t, big, { sha256: false })).md5.toString('hex')).toBe(md5(big));
  });

  it('fails only what waits on the stopped thread, not what its successor was already asked', async () => {
    const big = shared(randomBytes(4 * 1024 * 1024));
    const before = hasher.part(hasher.open(), big, { sha256: true });
    const stopping = hasher.close();
    const after = hasher.part(hasher.open(), big, { sha256: false });
    await expect(before).rejects.toThrow(/exited/);
    await stopping;
    expect((await after).md5.toString('hex')).toBe(md5(big));
  });
});

describe('stream uploader with the part hasher', () => {
  it('lends part buffers on shared memory and hands every filled part to the hasher thread, in order', async () => {
    const fed: { stream: number; length: number; shared: boolean }[] = [];
    // The real hasher, watched: every part of the object must reach it, none be hashed here.
    const watched: PartHashing = {
      open: () => hasher.open(),
      part: (stream, bytes, options) => {
        fed.push({ stream, length: bytes.byteLength, shared: bytes.buffer instanceof SharedArrayBuffer });
        return hasher.part(stream, bytes, options);
      },
      digest: (stream) => hasher.digest(stream),
      drop: (stream) => hasher.drop(stream),
    };
    const store = new MemoryBlobStore();
    const partSize = 64 * 1024;
    const pool = new PartPool(partSize, 3);
    const uploader = new StreamUploader(store, { key: 'k.tar', partSize, partConcurrency: 2, pool, hasher: watched });
    const data = randomBytes(partSize * 3 + 1234);
    for (let at = 0; at < data.length; at += 10_000) await uploader.write(data.subarray(at, at + 10_000));
    const result = await uploader.finish();
    expect(fed.map((f) => f.length)).toEqual([partSize, partSize, partSize, 1234]);
    expect(fed.every((f) => f.shared && f.stream === fed[0]?.stream)).toBe(true);
    expect(result.sha256).toBe(sha256(data));
    const parts = [0, 1, 2, 3].map((i) => createHash('md5').update(data.subarray(i * partSize, (i + 1) * partSize)).digest());
    expect(result.etag).toBe(`"${createHash('md5').update(Buffer.concat(parts)).digest('hex')}-4"`);
    expect(Buffer.compare(await readAll(store, 'k.tar'), data)).toBe(0);
  });

  it('hashes a one-part object on the hasher too: its SHA-256 and ETag are those of the bytes', async () => {
    const lengths: number[] = [];
    const watched: PartHashing = {
      open: () => hasher.open(),
      part: (s, b, o) => (lengths.push(b.byteLength), hasher.part(s, b, o)),
      digest: (s) => hasher.digest(s),
      drop: (s) => hasher.drop(s),
    };
    const store = new MemoryBlobStore();
    const uploader = new StreamUploader(store, { key: 'one.tar', partSize: 1024 * 1024, partConcurrency: 1, hasher: watched });
    const data = randomBytes(5000);
    await uploader.write(data);
    const result = await uploader.finish();
    expect(lengths).toEqual([5000]);
    expect(result).toMatchObject({ size: 5000, sha256: sha256(data), parts: 1, etag: `"${md5(data)}"` });
  });
});
