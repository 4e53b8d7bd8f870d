import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type FileHandle } from 'node:fs/promises';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { HoldBudget, PartFile, RangeBuffers } from '../../cli/part-file.ts';
import { PrefixHashes } from '../../cli/prefix-hash.ts';
import { missingRanges } from '../../cli/range-record.ts';
import { AlignedBuffers, DIRECT_ALIGN, directCapable } from '../../cli/restore-fetch-direct.ts';
import { sharedBuffer } from '../../agent/part-pool.ts';

// `ferry restore fetch` writes the aligned bytes of each range with O_DIRECT (not through the
// page cache), from page-aligned shared buffers, and reads a range back for its hash so; every
// other byte goes through the page cache.

const KIB = 1024;
const hashes = new PrefixHashes();
afterAll(() => hashes.close());
afterEach(() => vi.restoreAllMocks());

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'ferry-direct-'));
}

/** Whether the file system of `dir` opens files with O_DIRECT at all (some do not: then every byte is written through the page cache). */
function directSupported(dir: string): boolean {
  try {
    closeSync(openSync(join(dir, 'probe'), constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT, 0o644));
    return true;
  } catch {
    return false;
  }
}

/** Writes `content` into a fresh .part in ranges of `rangeBytes` from a RangeBuffers pool, in the order given (default: backwards). */
async function fetchInto(content: Buffer, rangeBytes: number, options: { direct?: boolean; order?: (n: number) => number[]; buffers?: RangeBuffers } = {}) {
  const dir = scratch();
  const part = join(dir, 'full.sql.part');
  const sha256 = createHash('sha256').update(content).digest('hex');
  const target = { file: { size: content.length, sha256 }, part, record: `${part}.ranges`, done: [], recordOnDisk: false };
  const buffers = options.buffers ?? new RangeBuffers(rangeBytes);
  // Nothing held for the hash: every range is read back.
  const file = await PartFile.open(target, 0, new HoldBudget(0), hashes, { direct: options.direct ?? true, buffers: options.buffers ? undefined : buffers });
  const ranges = missingRanges([], content.length, rangeBytes);
  for (const i of options.order?.(ranges.length) ?? ranges.map((_, i) => ranges.length - 1 - i)) {
    const r = ranges[i]!;
    const b = buffers.take(r.end - r.start + 1);
    content.copy(b, 0, r.start, r.end + 1);
    await file.write(r, b, () => buffers.give(b));
  }
  const digest = await file.finish();
  const { written: directBytes, read: directRead } = file.direct;
  return { dir, part, sha256, digest, directBytes, directRead };
}

describe('restore fetch: direct writes', () => {
  it('hands out full-size range buffers on page-aligned shared memory, and a shorter range or a plain shared buffer is not written directly', () => {
    const buffers = new RangeBuffers(64 * KIB);
    const full = [buffers.take(), buffers.take(), buffers.take()];
    for (const b of full) {
      expect(b.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(b.length).toBe(64 * KIB);
      expect(directCapable(b)).toBe(true);
    }
    // Three distinct buffers, none overlapping another.
    full[0]!.fill(1);
    full[1]!.fill(2);
    full[2]!.fill(3);
    expect([full[0]![64 * KIB - 1], full[1]![0], full[2]![0]]).toEqual([1, 2, 3]);
    expect(directCapable(buffers.take(1000))).toBe(false);
    expect(directCapable(sharedBuffer(64 * KIB))).toBe(false);
    expect(directCapable(full[0]!.subarray(512))).toBe(false);
    // A size O_DIRECT cannot take gets plain shared buffers.
    expect(directCapable(new AlignedBuffers(1000).allocate())).toBe(false);
  });

  it('writes the aligned ranges with O_DIRECT and an unaligned last range through the page cache, reads every range back for its hash with O_DIRECT, and the file is byte-identical with its SHA-256', async () => {
    const content = randomBytes(3 * 64 * KIB + 1000);
    const { dir, part, sha256, digest, directBytes, directRead } = await fetchInto(content, 64 * KIB);
    expect(directBytes).toBe(directSupported(dir) ? 3 * 64 * KIB : 0);
    // The last range's bytes too: read as whole blocks directly, after the kernel wrote them out of the page cache.
    expect(directRead).toBe(directSupported(dir) ? content.length : 0);
    expect(digest).toBe(sha256);
    expect(readFileSync(part).equals(content)).toBe(true);
  });

  it('writes a range whose length is not a multiple of the alignment as its aligned head (direct) and its tail (through the page cache)', async () => {
    const rangeBytes = 2 * DIRECT_ALIGN;
    const content = randomBytes(rangeBytes + DIRECT_ALIGN + 100);
    // A pool whose full-size buffers are aligned, holding the last range too: its head is written directly.
    const pool = new RangeBuffers(rangeBytes);
    const buffers = { take: (n: number) => pool.take().subarray(0, n), give: (b: Buffer) => pool.give(b) } as unknown as RangeBuffers;
    const { dir, part, directBytes } = await fetchInto(content, rangeBytes, { buffers });
    expect(directBytes).toBe(directSupported(dir) ? rangeBytes + DIRECT_ALIGN : 0);
    expect(readFileSync(part).equals(content)).toBe(true);
  });

  it('writes and reads back every byte through the page cache when direct writes are off, and the file is the same', async () => {
    const content = randomBytes(4 * 64 * KIB);
    const { part, sha256, digest, directBytes, directRead } = await fetchInto(content, 64 * KIB, { direct: false });
    expect(directBytes).toBe(0);
    expect(directRead).toBe(0);
    expect(digest).toBe(sha256);
    expect(readFileSync(part).equals(content)).toBe(true);
  });

  it('writes a range again through the page cache when the file system refuses its direct write (EINVAL), and the rest of the file goes so too (read back so too)', async () => {
    const content = randomBytes(4 * 64 * KIB);
    const dir = scratch();
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as FileHandle;
    await probe.close();
    const write = proto.write;
    let writes = 0;
    vi.spyOn(proto, 'write').mockImplementation(function (this: FileHandle, ...args: unknown[]) {
      // The first write is the first range's direct one: refused as a device with a stricter alignment would.
      if (writes++ === 0) return Promise.reject(Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL' }));
      return (write as (...a: unknown[]) => Promise<unknown>).apply(this, args);
    } as never);
    const { part, sha256, digest, directBytes, directRead } = await fetchInto(content, 64 * KIB);
    // Where the file system has O_DIRECT: the refused write, then the four ranges through the page cache.
    expect(writes).toBe(directSupported(dir) ? 5 : 4);
    expect(directBytes).toBe(0);
    expect(directRead).toBe(0);
    expect(digest).toBe(sha256);
    expect(readFileSync(part).equals(content)).toBe(true);
  });
});
