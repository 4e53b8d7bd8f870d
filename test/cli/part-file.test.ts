import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HoldBudget, PartFile, RangeBuffers } from '../../cli/part-file.ts';
import { missingRanges } from '../../cli/range-record.ts';
import { sharedBuffer } from '../../agent/part-pool.ts';
import { PrefixHashes } from '../../cli/prefix-hash.ts';

// One `.part` of `ferry restore fetch`: each range is written from a buffer of the pool, which
// goes back to the pool only once nothing needs its bytes (written, and hashed when held).

const KIB = 1024;
const hashes = new PrefixHashes();
afterAll(() => hashes.close());

async function partFor(content: Buffer, holdBytes: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-part-file-'));
  const part = join(dir, 'full.sql.part');
  const target = { file: { size: content.length, sha256: createHash('sha256').update(content).digest('hex') }, part, record: `${part}.ranges`, done: [], recordOnDisk: false };
  return { part, target, file: await PartFile.open(target, 0, new HoldBudget(holdBytes), hashes) };
}

describe('restore fetch: one .part', () => {
  it.each([
    ['held for the hash', 64 * KIB],
    ['not held (read back for the hash)', 0],
  ])('gives a range buffer back after its write, or after its hash when %s, and the file hashes to its bytes', async (_, holdBytes) => {
    const content = randomBytes(40 * KIB);
    const { part, target, file } = await partFor(content, holdBytes);
    const buffers = new RangeBuffers(16 * KIB);
    const ranges = missingRanges([], content.length, 16 * KIB);
    const given: number[] = [];
    const writeRange = async (i: number) => {
      const r = ranges[i]!;
      const b = buffers.take(r.end - r.start + 1);
      content.copy(b, 0, r.start, r.end + 1);
      await file.write(r, b, () => {
        given.push(i);
        buffers.give(b);
      });
    };
    // The last two ranges first: ahead of the hash's prefix.
    await writeRange(2);
    await writeRange(1);
    await new Promise((r) => setImmediate(r));
    expect(given).toEqual(holdBytes > 0 ? [] : [2, 1]);
    await writeRange(0);
    expect(await file.finish()).toBe(target.file.sha256);
    expect(given.sort()).toEqual([0, 1, 2]);
    // Given back after its write, range 2's buffer (its own: the last range is shorter) is not reused; range 1's is, by range 0.
    expect(buffers.allocated).toBe(holdBytes > 0 ? 3 : 2);
    expect(readFileSync(part).equals(content)).toBe(true);
  });

  it('refuses a buffer whose length is not its range, and gives it back', async () => {
    const content = randomBytes(8 * KIB);
    const { file } = await partFor(content, 0);
    let given = 0;
    await expect(file.write({ start: 0, end: content.length - 1 }, content.subarray(1), () => given++)).rejects.toThrow(/a buffer of 8191 bytes for range 0-8191/);
    expect(given).toBe(1);
    await file.abort();
  });

  it('hands out a full-size buffer given back instead of allocating another, and gives a shorter range a buffer of its own length', () => {
    const buffers = new RangeBuffers(KIB);
    const a = buffers.take();
    buffers.give(a);
    expect(buffers.take()).toBe(a);
    expect(buffers.take()).not.toBe(a);
    const short = buffers.take(10);
    expect(short.length).toBe(10);
    buffers.give(short);
    expect(buffers.take(10)).not.toBe(short);
    expect(buffers.allocated).toBe(4);
  });

  it('takes the SHA-256 of shared bytes fed in order on the hash thread, and refuses bytes not on shared memory', async () => {
    const content = randomBytes(100 * KIB);
    const hash = hashes.open();
    for (let at = 0; at < content.length; at += 30 * KIB) {
      const piece = sharedBuffer(Math.min(30 * KIB, content.length - at));
      content.copy(piece, 0, at);
      await hash.update(piece);
    }
    expect(await hash.digest()).toBe(createHash('sha256').update(content).digest('hex'));
    await expect(hashes.open().update(Buffer.alloc(1))).rejects.toThrow(/SharedArrayBuffer/);
  });

  it('hashes two files open at once on two threads, a file opened once they are digested on the first again, and every digest is that of its own file', async () => {
    const two = new PrefixHashes(2);
    try {
      const files = [randomBytes(300 * KIB), randomBytes(200 * KIB), randomBytes(100 * KIB)];
      const feed = async (hash: ReturnType<PrefixHashes['open']>, content: Buffer) => {
        for (let at = 0; at < content.length; at += 64 * KIB) {
          const piece = sharedBuffer(Math.min(64 * KIB, content.length - at));
          content.copy(piece, 0, at);
          await hash.update(piece);
        }
        return hash.digest();
      };
      const [a, b] = [two.open(), two.open()];
      expect([...two.used]).toEqual([0, 1]);
      expect(await Promise.all([feed(a, files[0]!), feed(b, files[1]!)])).toEqual(files.slice(0, 2).map((f) => createHash('sha256').update(f).digest('hex')));
      const c = two.open();
      expect([...two.used]).toEqual([0, 1]);
      expect(await feed(c, files[2]!)).toBe(createHash('sha256').update(files[2]!).digest('hex'));
      // One thread at a time: a second is never started.
      const one = new PrefixHashes(2);
      await feed(one.open(), files[2]!);
      await feed(one.open(), files[1]!);
      expect([...one.used]).toEqual([0]);
      await one.close();
    } finally {
      await two.close();
    }
  });
});
