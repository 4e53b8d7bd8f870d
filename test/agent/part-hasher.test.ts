import { describe, it, expect, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { PartHasher, type ByteRange, type PartHashing } from '../../agent/part-hasher.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { readAll } from '../../agent/recover.ts';

// Each part's MD5 is taken on a digest thread, the pack's SHA-256 on the object thread fed the
// filled part buffers (shared memory, in order); what they answer must be exactly what
// node:crypto gives on the main thread.

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');
const shared = (bytes: Buffer) => {
  const b = Buffer.from(new SharedArrayBuffer(bytes.length));
  bytes.copy(b);
  return b;
};

// Objects sent whole go to a digest thread from the first here (the threads are what this file
// tests); the hashing of a process's first few MiB on its own thread is tested below.
const hasher = new PartHasher({ inlineWholeBytes: 0 });
afterAll(() => hasher.close());

describe('part hasher', () => {
  it('answers each part with its MD5 (and SHA-256 when asked) and each stream with the SHA-256 of its parts in order', async () => {
    const [a1, a2, b1] = [randomBytes(300_000), randomBytes(5), randomBytes(70_000)];
    const a = hasher.open();
    const b = hasher.open();
    const parts = [hasher.part(a, shared(a1), { sha256: true }), hasher.part(b, shared(b1), { sha256: false }), hasher.part(a, shared(a2), { sha256: false })];
    const answers = await Promise.all(parts.map((p) => p.digests));
    await Promise.all(parts.map((p) => p.read));
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
    expect((await hasher.part(s, view, { sha256: true }).digests).md5.toString('hex')).toBe(md5(view));
    expect(await hasher.digest(s)).toBe(sha256(view));
  });

  it('answers an object sent whole with its MD5 and SHA-256 in one request', async () => {
    const body = randomBytes(123_456);
    const digests = await hasher.whole(shared(body));
    expect([digests.md5.toString('hex'), digests.sha256.toString('hex')]).toEqual([md5(body), sha256(body)]);
  });

  it('refuses a buffer that is not shared memory (it would be copied, or lost on transfer)', async () => {
    expect(() => hasher.part(hasher.open(), Buffer.alloc(10), { sha256: false })).toThrow(/SharedArrayBuffer/);
    await expect(hasher.whole(Buffer.alloc(10))).rejects.toThrow(/SharedArrayBuffer/);
  });

  it('fails the answers awaited when its threads are stopped, and starts new threads for the next request', async () => {
    const big = shared(randomBytes(4 * 1024 * 1024));
    occupyThreads();
    const s = hasher.open();
    const pending = hasher.part(s, big, { sha256: true });
    const failed = [expect(pending.digests).rejects.toThrow(/exited/), expect(pending.read).rejects.toThrow(/exited/)];
    await hasher.close();
    await Promise.all(failed);
    const t = hasher.open();
    expect((await hasher.part(t, big, { sha256: false }).digests).md5.toString('hex')).toBe(md5(big));
  });

  it('fails only what waits on the stopped threads, not what their successors were already asked', async () => {
    const big = shared(randomBytes(4 * 1024 * 1024));
    occupyThreads();
    const before = hasher.part(hasher.open(), big, { sha256: true });
    const stopping = hasher.close();
    const after = hasher.part(hasher.open(), big, { sha256: false });
    await Promise.all([expect(before.digests).rejects.toThrow(/exited/), expect(before.read).rejects.toThrow(/exited/)]);
    await stopping;
    expect((await after.digests).md5.toString('hex')).toBe(md5(big));
    await expect(after.read).resolves.toBeUndefined();
  });

  it('refuses to go on with an object hash whose thread was replaced between two parts (it would digest only the later ones)', async () => {
    const [p1, p2] = [randomBytes(1000), randomBytes(1000)];
    const s = hasher.open();
    await hasher.part(s, shared(p1), { sha256: false }).read;
    await hasher.close();
    const second = hasher.part(s, shared(p2), { sha256: false });
    await expect(second.read).rejects.toThrow(/holds 0 bytes .* starts at 1000/);
    // The part's own digests do not depend on the object hash.
    expect((await second.digests).md5.toString('hex')).toBe(md5(p2));
    await expect(hasher.digest(s)).rejects.toThrow(/holds \d+ bytes .* expected 2000/);
  });

  it("answers a part's digests without waiting for the object hash of the parts before it", async () => {
    const own = new PartHasher({ digestThreads: 2 });
    try {
      // Threads started (two parts at once reach both digest threads).
      const warm = [own.part(own.open(), shared(randomBytes(10)), { sha256: false }), own.part(own.open(), shared(randomBytes(10)), { sha256: false })];
      await Promise.all(warm.map((p) => p.read));
      // 96 MiB for the object thread (and one digest thread) to chew on, then a small part of another upload.
      const huge = own.part(own.open(), Buffer.from(new SharedArrayBuffer(96 * 1024 * 1024)), { sha256: false });
      let hugeRead = false;
      void huge.read.then(() => (hugeRead = true));
      const small = randomBytes(1000);
      const smallPart = own.part(own.open(), shared(small), { sha256: false });
      const digests = await smallPart.digests;
      expect(digests.md5.toString('hex')).toBe(md5(small));
      expect(hugeRead).toBe(false);
      // Both read by the object thread before it is stopped (an answer still awaited would fail).
      await Promise.all([huge.read, huge.digests, smallPart.read]);
    } finally {
      await own.close();
    }
  });
});

/** The real hasher, watched: every part of the object must reach it, none be hashed here. */
function watch(fed: { stream: number; length: number; shared: boolean; whole?: true }[]): PartHashing {
  return {
    open: () => hasher.open(),
    part: (stream, bytes, options) => {
      fed.push({ stream, length: bytes.byteLength, shared: bytes.buffer instanceof SharedArrayBuffer });
      return hasher.part(stream, bytes, options);
    },
    whole: (bytes, ranges) => {
      fed.push({ stream: 0, length: bytes.byteLength, shared: bytes.buffer instanceof SharedArrayBuffer, whole: true });
      return hasher.whole(bytes, ranges);
    },
    range: (stream, range) => hasher.range(stream, range),
    digest: (stream) => hasher.digest(stream),
    drop: (stream) => hasher.drop(stream),
  };
}

describe('stream uploader with the part hasher', () => {
  it('lends part buffers on shared memory and hands every filled part to the hasher thread, in order', async () => {
    const fed: { stream: number; length: number; shared: boolean }[] = [];
    const watched = watch(fed);
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

  it('hashes a one-part object whole on a digest thread: its SHA-256 and ETag are those of the bytes', async () => {
    const fed: { stream: number; length: number; shared: boolean; whole?: true }[] = [];
    const watched = watch(fed);
    const store = new MemoryBlobStore();
    const uploader = new StreamUploader(store, { key: 'one.tar', partSize: 1024 * 1024, partConcurrency: 1, hasher: watched });
    const data = randomBytes(5000);
    await uploader.write(data);
    const result = await uploader.finish();
    expect(fed).toEqual([{ stream: 0, length: 5000, shared: true, whole: true }]);
    expect(result).toMatchObject({ size: 5000, sha256: sha256(data), parts: 1, etag: `"${md5(data)}"` });
  });
});

describe('objects sent whole at the start of a process', () => {
  it('are hashed on the calling thread while the inline budget lasts, ranges too, and warm() starts no thread meanwhile', async () => {
    const own = new PartHasher({ inlineWholeBytes: 10_000 });
    try {
      const body = randomBytes(5000);
      own.warm();
      const digests = await own.whole(shared(body), [{ start: 10, length: 100 }, { start: 4000, length: 1000 }]);
      expect([digests.md5.toString('hex'), digests.sha256.toString('hex')]).toEqual([md5(body), sha256(body)]);
      expect(digests.ranges.map((r) => r.toString('hex'))).toEqual([sha256(body.subarray(10, 110)), sha256(body.subarray(4000, 5000))]);
      own.warm();
      expect({ hashedHere: own.hashedHere, threaded: own.threaded }).toEqual({ hashedHere: 1, threaded: false });
    } finally {
      await own.close();
    }
  });

  it('go to a digest thread once past the budget, and from then on an upload warms a thread', async () => {
    const own = new PartHasher({ inlineWholeBytes: 10_000 });
    try {
      await own.whole(shared(randomBytes(6000)));
      const second = randomBytes(6000);
      const digests = await own.whole(shared(second));
      expect([digests.md5.toString('hex'), digests.sha256.toString('hex')]).toEqual([md5(second), sha256(second)]);
      expect({ hashedHere: own.hashedHere, threaded: own.threaded }).toEqual({ hashedHere: 1, threaded: true });
      await own.close();
      expect(own.threaded).toBe(false);
      own.warm();
      expect(own.threaded).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('go to the digest thread that runs already (a part was sent) though budget is left', async () => {
    const own = new PartHasher({ inlineWholeBytes: 10_000_000 });
    try {
      const sent = own.part(own.open(), shared(randomBytes(100)), { sha256: false });
      // Both answers awaited: the object thread's too, or closing the hasher would fail it unawaited.
      await Promise.all([sent.digests, sent.read]);
      const body = randomBytes(5000);
      expect((await own.whole(shared(body))).sha256.toString('hex')).toBe(sha256(body));
      expect(own.hashedHere).toBe(0);
    } finally {
      await own.close();
    }
  });
});

/**
 * A hasher whose object hash reads each part only when the test opens that part's gate (a slow
 * object thread), in order; the part digests answer at once.
 */
function gatedObjectHasher() {
  const gates: (() => void)[] = [];
  const hash = createHash('sha256');
  let chain = Promise.resolve();
  const gated: PartHashing = {
    open: () => 1,
    part: (_stream, bytes) => {
      let open = () => undefined as void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      gates.push(open);
      chain = chain.then(() => gate).then(() => void hash.update(bytes));
      return { digests: Promise.resolve({ md5: createHash('md5').update(bytes).digest() }), read: chain };
    },
    digest: async () => (await chain, hash.digest('hex')),
    whole: () => Promise.reject(new Error('not used')),
    range: () => Promise.reject(new Error('not used')),
    drop: () => undefined,
  };
  return { gated, gates };
}

const ticks = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('part buffers and the two hashing threads', () => {
  it("keeps a sent part's buffer out of the pool until the object hash has read it, so the pack's SHA-256 is of the bytes sent", async () => {
    const { gated, gates } = gatedObjectHasher();
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const partSize = 64 * 1024;
    const pool = new PartPool(partSize, 2);
    const uploader = new StreamUploader(store, { key: 'slow-object-hash.tar', partSize, partConcurrency: 1, pool, hasher: gated });
    const data = randomBytes(partSize * 3 + 100);
    let written = false;
    const writing = uploader.write(data).then(() => (written = true));
    await ticks();
    // Two parts sent (their MD5s came at once), neither read by the object hash: no buffer to fill the third.
    expect(gates.length).toBe(2);
    expect(pool.inUse).toBe(2);
    expect(written).toBe(false);
    gates[0]?.();
    await ticks();
    // The first buffer came back once read, and took the third part.
    expect(gates.length).toBe(3);
    expect(written).toBe(false);
    gates[1]?.();
    await writing;
    const finishing = uploader.finish();
    await ticks();
    for (const open of gates) open();
    const result = await finishing;
    expect(result).toMatchObject({ size: data.length, parts: 4, sha256: sha256(data) });
    expect(Buffer.compare(await readAll(store, 'slow-object-hash.tar'), data)).toBe(0);
    expect(pool.inUse).toBe(0);
  });

  it("gives every part its MD5 and the pack its SHA-256 through a pool of two buffers on the real threads", async () => {
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const partSize = 64 * 1024;
    const pool = new PartPool(partSize, 2);
    const uploader = new StreamUploader(store, { key: 'two-buffers.tar', partSize, partConcurrency: 1, pool, hasher });
    const data = randomBytes(partSize * 20 + 777);
    for (let at = 0; at < data.length; at += 50_000) await uploader.write(data.subarray(at, at + 50_000));
    const result = await uploader.finish();
    const partMd5s = Array.from({ length: 21 }, (_, i) => createHash('md5').update(data.subarray(i * partSize, (i + 1) * partSize)).digest());
    expect(result).toMatchObject({ size: data.length, parts: 21, sha256: sha256(data) });
    expect(result.etag).toBe(`"${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-21"`);
    expect(Buffer.compare(await readAll(store, 'two-buffers.tar'), data)).toBe(0);
    expect(pool.inUse).toBe(0);
  });

  it('fails the upload, and gets its buffers back, when the object hash refuses a part', async () => {
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const partSize = 64 * 1024;
    const pool = new PartPool(partSize, 2);
    const refusing: PartHashing = {
      open: () => hasher.open(),
      part: (stream, bytes, options) => {
        const real = hasher.part(stream, bytes, options);
        return { digests: real.digests, read: real.read.then(() => Promise.reject(new Error('object hash lost'))) };
      },
      digest: (stream) => hasher.digest(stream),
      whole: (bytes) => hasher.whole(bytes),
      range: (stream, range) => hasher.range(stream, range),
      drop: (stream) => hasher.drop(stream),
    };
    const uploader = new StreamUploader(store, { key: 'refused.tar', partSize, partConcurrency: 1, pool, hasher: refusing });
    await expect(uploader.write(randomBytes(partSize * 3)).then(() => uploader.finish())).rejects.toThrow(/object hash lost/);
    await uploader.abort();
    expect(pool.inUse).toBe(0);
    expect(await store.head('refused.tar')).toBeUndefined();
  });
});

// The SHA-256 of each tar member is taken by the hasher's threads from the part buffers sent
// (the object thread, or the digest thread for an object sent whole), not on the main thread;
// what they answer must be what node:crypto gives for the member's bytes, and a part buffer may
// go back to the pool only once its members' bytes are hashed.

describe('member ranges on the hasher threads', () => {
  it('answers each range with the SHA-256 of its bytes: across parts, from and to a part boundary, empty, and in an object sent whole', async () => {
    const data = randomBytes(3000);
    const s = hasher.open();
    const ranges: ByteRange[] = [
      { start: 10, length: 2500 },
      { start: 1000, length: 1000 },
      { start: 1500, length: 0 },
      { start: 2999, length: 1 },
    ];
    const digests = ranges.map((r) => hasher.range(s, r));
    for (const at of [0, 1000, 2000]) await hasher.part(s, shared(data.subarray(at, at + 1000)), { sha256: false }).read;
    const expected = ranges.map((r) => sha256(data.subarray(r.start, r.start + r.length)));
    expect((await Promise.all(digests)).map((d) => d.toString('hex'))).toEqual(expected);
    expect(await hasher.digest(s)).toBe(sha256(data));
    const whole = await hasher.whole(shared(data), ranges);
    expect(whole.ranges.map((d) => d.toString('hex'))).toEqual(expected);
  });

  it('fails a range still open when its stream is dropped or digested first, and one named after its first byte was hashed', async () => {
    const dropped = hasher.open();
    const open = hasher.range(dropped, { start: 0, length: 2000 });
    await hasher.part(dropped, shared(randomBytes(1000)), { sha256: false }).read;
    hasher.drop(dropped);
    await expect(open).rejects.toThrow(/dropped/);
    const digested = hasher.open();
    const short = hasher.range(digested, { start: 500, length: 1000 });
    // Awaited after the digest, but asked for now: the range fails while the digest is answered.
    const shortFails = expect(short).rejects.toThrow(/digested before the range was whole/);
    await hasher.part(digested, shared(randomBytes(1000)), { sha256: false }).read;
    await hasher.digest(digested);
    await shortFails;
    const late = hasher.open();
    await hasher.part(late, shared(randomBytes(1000)), { sha256: false }).read;
    await expect(hasher.range(late, { start: 10, length: 5 })).rejects.toThrow(/named after 1000 bytes were hashed/);
    hasher.drop(late);
  });
});

/**
 * Gives each of the hasher's threads a part of 64 MiB to hash (about a tenth of a second each),
 * so that a request made right after waits behind it and is still unanswered when the threads
 * are stopped: without this, a warm thread may answer a small part before it is stopped.
 * Whatever these answers come to is not looked at.
 */
function occupyThreads(): void {
  const huge = shared(Buffer.alloc(64 * 1024 * 1024, 1));
  for (let i = 0; i < 2; i++) {
    const busy = hasher.part(hasher.open(), huge, { sha256: true });
    busy.digests.catch(() => undefined);
    busy.read.catch(() => undefined);
  }
}

/** The real hasher, counting the ranges named to it and the ranges sent with an object sent whole. */
function counting(seen: { ranges: number; whole: number }): PartHashing {
  return {
    open: () => hasher.open(),
    part: (stream, bytes, options) => hasher.part(stream, bytes, options),
    range: (stream, range) => (seen.ranges++, hasher.range(stream, range)),
    whole: (bytes, ranges) => ((seen.whole += ranges?.length ?? 0), hasher.whole(bytes, ranges)),
    digest: (stream) => hasher.digest(stream),
    drop: (stream) => hasher.drop(stream),
  };
}

/** Writes members (a 512-byte header of zeros, then the body) and asks each body's digest of the uploader. */
async function writeMembers(uploader: StreamUploader, bodies: Buffer[]): Promise<Promise<string>[]> {
  const digests = [];
  for (const body of bodies) {
    await uploader.write(Buffer.alloc(512));
    digests.push(uploader.rangeDigest(body.length));
    for (let at = 0; at < body.length; at += 7000) await uploader.write(body.subarray(at, at + 7000));
  }
  return digests;
}

describe('stream uploader member digests', () => {
  it('gets every member its SHA-256 from the hasher threads, in a multipart and in a one-part upload', async () => {
    const seen = { ranges: 0, whole: 0 };
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const bodies = [randomBytes(100_000), randomBytes(0), randomBytes(30_000), randomBytes(65_536)];
    const multi = new StreamUploader(store, { key: 'multi.tar', partSize: 64 * 1024, partConcurrency: 2, hasher: counting(seen) });
    const multiDigests = await writeMembers(multi, bodies);
    expect((await multi.finish()).parts).toBeGreaterThan(1);
    expect(await Promise.all(multiDigests)).toEqual(bodies.map(sha256));
    expect(seen).toEqual({ ranges: 4, whole: 0 });

    const one = new StreamUploader(store, { key: 'one.tar', partSize: 1024 * 1024, partConcurrency: 1, hasher: counting(seen) });
    const oneDigests = await writeMembers(one, bodies);
    expect((await one.finish()).parts).toBe(1);
    expect(await Promise.all(oneDigests)).toEqual(bodies.map(sha256));
    expect(seen).toEqual({ ranges: 4, whole: 4 });
  });

  it('rejects the digests of members of an aborted upload (no unhandled rejection) and gives its buffers back', async () => {
    const pool = new PartPool(64 * 1024, 3);
    const uploader = new StreamUploader(new MemoryBlobStore({ minPartSize: 1024 }), { key: 'aborted.tar', partSize: 64 * 1024, partConcurrency: 2, pool, hasher });
    const [posted, pending] = await writeMembers(uploader, [randomBytes(100_000), randomBytes(10)]);
    await uploader.abort();
    await expect(posted).rejects.toThrow(/dropped/);
    await expect(pending).rejects.toThrow(/aborted/);
    expect(pool.inUse).toBe(0);
  });

  it("keeps a part buffer out of the pool until the object thread has hashed the members in it: through two buffers, members get the bytes sent", async () => {
    const store = new MemoryBlobStore({ minPartSize: 1024 });
    const pool = new PartPool(16 * 1024, 2);
    const uploader = new StreamUploader(store, { key: 'two-buffers.tar', partSize: 16 * 1024, partConcurrency: 1, pool, hasher });
    const bodies = Array.from({ length: 12 }, (_, i) => randomBytes(5000 + i * 3001));
    const digests = await writeMembers(uploader, bodies);
    const result = await uploader.finish();
    expect(await Promise.all(digests)).toEqual(bodies.map(sha256));
    expect(result.sha256).toBe(sha256(await readAll(store, 'two-buffers.tar')));
    expect(pool.inUse).toBe(0);
  });
});
