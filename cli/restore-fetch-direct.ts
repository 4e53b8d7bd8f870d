import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { sharedBuffer } from '../agent/part-pool.ts';
import { openNoFollow } from './local-files.ts';

// Direct writes for `ferry restore fetch`: a range's bytes go from its buffer to the disk with
// O_DIRECT, not through the page cache. A profile of the 2 GB fetch (perf, kernel included) put
// 40 % of Ferry's CPU in the kernel's copy of each written range into the page cache, and more
// in writing those pages back for the flushes and the fsync every file gets before its rename;
// written directly, the device reads the bytes from the range buffer itself. What makes a file
// durable is unchanged: the flushes (fdatasync) and the final fsync still come before a range
// is recorded and before a file takes its name.
//
// O_DIRECT wants the file offset, the length and the memory aligned. Offsets and lengths are
// (ranges start on multiples of the range size; a range's unaligned tail is written through the
// page cache), and the memory is made so: full-size range buffers are carved from one
// WebAssembly shared memory, whose start is page-aligned, instead of a SharedArrayBuffer
// (malloc'd, 16 bytes past a page boundary). They stay on shared memory, so the hash thread
// still reads them without a copy. Where O_DIRECT is not to be had (a file system without it, a
// process without WebAssembly, a buffer not from the pool), every byte takes the buffered path.

/** File offsets and lengths written directly are multiples of this (a page; ext4's block). */
export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 64 * 1024;
/** A shared WebAssembly memory spans at most 65,536 pages (4 GiB). */
const WASM_MAX_PAGES = 65_536;

/** Shared memories handed out by AlignedBuffers: a buffer on one of them, at an aligned offset, can be written or read directly. */
const alignedMemory = new WeakSet<ArrayBufferLike>();

export function directCapable(bytes: Uint8Array): boolean {
  return alignedMemory.has(bytes.buffer) && bytes.byteOffset % DIRECT_ALIGN === 0;
}

/**
 * Buffers of `size` bytes on shared memory, each starting on a page boundary (one shared
 * WebAssembly memory, grown by a buffer at a time: a shared memory never moves, so the buffers
 * handed out stay valid). Falls back to plain shared buffers when the size is not a multiple
 * of DIRECT_ALIGN or WebAssembly cannot give the memory.
 */
export class AlignedBuffers {
  private memory: WebAssembly.Memory | undefined;
  private readonly pages: number;
  private failed: boolean;

  constructor(readonly size: number) {
    this.pages = Math.ceil(size / WASM_PAGE);
    this.failed = size <= 0 || size % DIRECT_ALIGN !== 0;
  }

  allocate(): Buffer {
    if (!this.failed) {
      try {
        this.memory ??= new WebAssembly.Memory({ initial: 0, maximum: WASM_MAX_PAGES, shared: true });
        const at = this.memory.grow(this.pages) * WASM_PAGE;
        const sab = this.memory.buffer;
        alignedMemory.add(sab);
        return Buffer.from(sab, at, this.size);
      } catch {
        // No WebAssembly (--jitless), its address space refused, or 4 GiB of buffers: buffered writes from here on.
        this.failed = true;
      }
    }
    return sharedBuffer(this.size);
  }
}

/** The error of a direct write the file system or the device refused for its alignment (nothing was written). */
const refused = (error: unknown) => (error as NodeJS.ErrnoException).code === 'EINVAL';

/**
 * One `.part` opened twice: `buffered` for everything (unaligned bytes, the syncs), and a second
 * O_DIRECT handle on the same inode for the aligned part of each range, written or read back for
 * the hash (a range written directly is not in the page cache: read through it, it would be read
 * from the disk and then copied). The caller serializes the writes of one file.
 */
export class DirectPart {
  /** Bytes written with O_DIRECT so far. */
  directBytes = 0;
  /** Bytes read back with O_DIRECT so far. */
  directBytesRead = 0;

  private constructor(
    readonly buffered: FileHandle,
    private direct: FileHandle | undefined,
  ) {}

  /** Opens the O_DIRECT handle beside `buffered` (already open on `path`), when the file system has it and it is the same file. */
  static async open(path: string, buffered: FileHandle, wanted: boolean): Promise<DirectPart> {
    if (!wanted) return new DirectPart(buffered, undefined);
    let direct: FileHandle | undefined;
    try {
      direct = await openNoFollow(path, constants.O_RDWR | constants.O_DIRECT);
      const [a, b] = await Promise.all([buffered.stat(), direct.stat()]);
      // Replaced between the two opens: never write into another file.
      if (a.ino !== b.ino || a.dev !== b.dev) throw new Error(`${path} changed while it was opened`);
    } catch {
      await direct?.close().catch(() => undefined);
      direct = undefined;
    }
    return new DirectPart(buffered, direct);
  }

  /**
   * Writes `bytes` at `position`: the aligned head directly when the offset and the memory allow
   * it, the rest through the page cache. A short write (the disk filling up) is followed by
   * another for the rest, which either completes it or fails with the reason (ENOSPC, EDQUOT);
   * resolves with the bytes written, short only if a write wrote nothing and gave no reason.
   */
  async write(bytes: Buffer, position: number): Promise<number> {
    let written = 0;
    const aligned = bytes.length - (bytes.length % DIRECT_ALIGN);
    if (this.direct && aligned > 0 && position % DIRECT_ALIGN === 0 && directCapable(bytes)) {
      try {
        written = (await this.direct.write(bytes, 0, aligned, position)).bytesWritten;
        this.directBytes += written;
      } catch (error) {
        await this.refuse(error);
      }
    }
    while (written < bytes.length) {
      const n = (await this.buffered.write(bytes, written, bytes.length - written, position + written)).bytesWritten;
      if (n === 0) break;
      written += n;
    }
    return written;
  }

  /**
   * Reads up to `length` bytes at `position` into `bytes` from its start: directly when the offset
   * and the memory allow it (whole blocks, of which the bytes past `length` are not used; `bytes`
   * must have room for them), else through the page cache. Resolves with the bytes read, at most
   * `length` (fewer at the end of the file).
   */
  async read(bytes: Buffer, length: number, position: number): Promise<number> {
    const span = Math.ceil(length / DIRECT_ALIGN) * DIRECT_ALIGN;
    if (this.direct && length > 0 && span <= bytes.length && position % DIRECT_ALIGN === 0 && directCapable(bytes)) {
      try {
        const { bytesRead } = await this.direct.read(bytes, 0, span, position);
        this.directBytesRead += Math.min(bytesRead, length);
        return Math.min(bytesRead, length);
      } catch (error) {
        await this.refuse(error);
      }
    }
    return (await this.buffered.read(bytes, 0, length, position)).bytesRead;
  }

  /** A direct read or write refused for its alignment (stricter than DIRECT_ALIGN): this file goes on through the page cache. */
  private async refuse(error: unknown): Promise<void> {
    if (!refused(error)) throw error;
    const direct = this.direct;
    this.direct = undefined;
    await direct?.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    try {
      await this.direct?.close();
    } finally {
      await this.buffered.close();
    }
  }
}
