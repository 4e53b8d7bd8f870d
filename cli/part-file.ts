import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { openNoFollow } from './local-files.ts';
import { sharedBuffer } from '../agent/part-pool.ts';
import type { PrefixHash, PrefixHashes } from './prefix-hash.ts';
import { AlignedBuffers, DirectPart } from './restore-fetch-direct.ts';
import { RangeRecord, type Interval, type RecordOwner } from './range-record.ts';

// One `.part` of `ferry restore fetch` while its ranges arrive in any order: each range is written
// at its offset as soon as it is here (one write of its buffer), the file is hashed in order as
// its whole prefix grows, and the ranges written are claimed in the record (`range-record.ts`)
// only after a flush to disk that began after they were written. A range that completes ahead of
// the hash is hashed from memory while the hold budget allows, else read back from the file (the
// page cache) when the prefix reaches it. The hash is taken on a thread of its own
// (`prefix-hash.ts`). Range buffers, on shared memory, come from a RangeBuffers pool and go back
// to it once written and hashed; where they are aligned, ranges are written with O_DIRECT
// (`restore-fetch-direct.ts`), not through the page cache.

/** Bytes of ranges kept in memory for the hash, across files, at most. */
export class HoldBudget {
  constructor(private free: number) {}
  take(n: number): boolean {
    if (n > this.free) return false;
    this.free -= n;
    return true;
  }
  give(n: number): void {
    this.free += n;
  }
}

/** Bytes read back at a time from a range that was not held for the hash. */
const READ_BACK = 1024 * 1024;

/**
 * Buffers of one range each, reused: a GET's body is copied into one as it arrives, so the
 * socket's chunks die young and the garbage collector never sees hundreds of megabytes of them
 * live (a profile of the 2 GB fetch spent a fifth of its time collecting them). Buffers of the
 * full range size are allocated on demand (page-aligned, so they can be written directly) and
 * reused; a shorter range (a file's last) gets one of its own length, so the fetch's byte budgets
 * (write queue, hold) bound the memory as before.
 */
export class RangeBuffers {
  private readonly free: Buffer[] = [];
  private readonly aligned: AlignedBuffers;
  private readonly reads = new AlignedBuffers(READ_BACK);
  private readonly freeReads: Buffer[] = [];
  /** Buffers allocated so far. */
  allocated = 0;
  constructor(readonly size: number) {
    this.aligned = new AlignedBuffers(size);
  }

  /** A buffer of READ_BACK bytes (aligned) to read a range back into for its hash; one per .part at most, reused. */
  takeReadBack(): Buffer {
    return this.freeReads.pop() ?? this.reads.allocate();
  }
  giveReadBack(b: Buffer): void {
    this.freeReads.push(b);
  }
  take(length: number = this.size): Buffer {
    const b = length === this.size ? this.free.pop() : undefined;
    if (b) return b;
    this.allocated++;
    return length === this.size ? this.aligned.allocate() : sharedBuffer(length);
  }
  give(b: Buffer): void {
    if (b.length === this.size) this.free.push(b);
  }
}

export interface PartTarget {
  /** The plan's file: the record is bound to it. */
  file: RecordOwner;
  part: string;
  record: string;
  /** Ranges recorded whole by an earlier fetch (merged). */
  done: Interval[];
  recordOnDisk: boolean;
}

export class PartFile {
  /** Bytes of the prefix hashed so far. */
  private hashed = 0;
  /** Ranges written and not hashed yet, by first byte; with their bytes (and what gives them back) when held. */
  private readonly waiting = new Map<number, { end: number; bytes?: Buffer; release?: () => void }>();
  private hashing: Promise<void> = Promise.resolve();
  private hashError: unknown;
  private unrecorded: Interval[] = [];
  private unflushed = 0;
  private flushing: Promise<void> | undefined;
  private flushError: unknown;
  private readBuffer: Buffer | undefined;
  private writes: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly target: PartTarget,
    private readonly file: DirectPart,
    private readonly record: RangeRecord,
    private readonly flushBytes: number,
    private readonly hold: HoldBudget,
    private readonly hash: PrefixHash,
    private readonly buffers: RangeBuffers | undefined,
  ) {
    for (const r of target.done) this.waiting.set(r.start, { end: r.end });
    this.advance();
  }

  /**
   * Opens the `.part` (emptied when nothing of it is recorded) and its record; a symbolic link is
   * refused, not followed. With `direct`, aligned bytes are written (and read back) with
   * O_DIRECT where the file system allows it; `buffers` lends the buffer a range is read back into.
   */
  static async open(target: PartTarget, flushBytes: number, hold: HoldBudget, hashes: PrefixHashes, { direct = true, buffers }: { direct?: boolean; buffers?: RangeBuffers } = {}): Promise<PartFile> {
    const record = await RangeRecord.start(target.record, target.file, target.done, target.recordOnDisk);
    const flags = constants.O_RDWR | constants.O_CREAT | (target.done.length > 0 ? 0 : constants.O_TRUNC);
    const file = await DirectPart.open(target.part, await openNoFollow(target.part, flags, 0o644), direct);
    return new PartFile(target, file, record, flushBytes, hold, hashes.open(), buffers);
  }

  /** Bytes written, and read back for the hash, with O_DIRECT so far. */
  get direct(): { written: number; read: number } {
    return { written: this.file.directBytes, read: this.file.directBytesRead };
  }

  private get handle(): FileHandle {
    return this.file.buffered;
  }

  /**
   * Writes one range at its offset (one positioned write); resolves once written (the hash and
   * the flush go on behind). `release` is called, once, when the bytes are no longer needed:
   * after the write, or after the hash when they are held for it.
   */
  async write(r: Interval, bytes: Buffer, release: () => void): Promise<void> {
    const length = r.end - r.start + 1;
    let bytesWritten: number;
    try {
      if (bytes.length !== length) throw new RangeError(`a buffer of ${bytes.length} bytes for range ${r.start}-${r.end}`);
      // One write at a time per file, in the order the ranges came: eight writes at once into one
      // file served a contended disk worse than one writer.
      const written = this.writes.then(() => this.file.write(bytes, r.start));
      this.writes = written.catch(() => undefined);
      bytesWritten = await written;
    } catch (error) {
      release();
      throw error;
    }
    // A short write (a full disk): the range is not claimed, so a resumed fetch fetches it again.
    if (bytesWritten !== length) {
      release();
      throw new Error(`wrote ${bytesWritten} of ${length} bytes to ${this.target.part}`);
    }
    if (this.hold.take(length)) this.waiting.set(r.start, { end: r.end, bytes, release });
    else {
      release();
      this.waiting.set(r.start, { end: r.end });
    }
    this.unrecorded.push(r);
    this.unflushed += length;
    this.advance();
    if (this.flushBytes > 0 && this.unflushed >= this.flushBytes && !this.flushing) this.flushing = this.flush();
  }

  /** Hashes every range now contiguous with the prefix, one pass at a time. */
  private advance(): void {
    this.hashing = this.hashing.then(async () => {
      try {
        for (let w = this.waiting.get(this.hashed); w && this.hashError === undefined; w = this.waiting.get(this.hashed)) {
          this.waiting.delete(this.hashed);
          if (w.bytes) {
            await this.hash.update(w.bytes);
            this.hold.give(w.end - this.hashed + 1);
            w.release?.();
          } else await this.readBack(this.hashed, w.end);
          this.hashed = w.end + 1;
        }
      } catch (error) {
        this.hashError ??= error;
      }
    });
  }

  private async readBack(start: number, end: number): Promise<void> {
    this.readBuffer ??= this.buffers?.takeReadBack() ?? sharedBuffer(READ_BACK);
    for (let at = start; at <= end; ) {
      const bytesRead = await this.file.read(this.readBuffer, Math.min(READ_BACK, end - at + 1), at);
      if (bytesRead === 0) throw new Error(`${this.target.part} ends at ${at}, before byte ${end} it should hold`);
      await this.hash.update(this.readBuffer.subarray(0, bytesRead));
      at += bytesRead;
    }
  }

  /** Flushes what is written (fdatasync), then claims it in the record; one at a time, in the background. */
  private async flush(): Promise<void> {
    const batch = this.unrecorded.splice(0);
    this.unflushed = 0;
    try {
      await this.handle.datasync();
      await this.record.append(batch);
    } catch (error) {
      this.flushError ??= error;
    } finally {
      this.flushing = undefined;
    }
  }

  /** Every range written: fsyncs the file, closes it, and returns its SHA-256 (hashed in order). */
  async finish(): Promise<string> {
    try {
      await this.hashing;
      await this.flushing;
      if (this.hashError !== undefined) throw this.hashError;
      if (this.flushError !== undefined) throw this.flushError;
      if (this.hashed !== this.target.file.size) throw new Error(`${this.target.part}: ${this.hashed} of ${this.target.file.size} bytes are whole`);
      await this.handle.sync();
    } catch (error) {
      this.hash.drop();
      throw error;
    } finally {
      await this.close();
    }
    return this.hash.digest();
  }

  /** The fetch stops: what is written is flushed and claimed, so a resumed fetch keeps it. */
  async abort(): Promise<void> {
    try {
      await this.hashing;
      await this.flushing;
      if (this.flushError === undefined && this.unrecorded.length > 0) await this.flush();
    } finally {
      this.hash.drop();
      await this.close();
    }
  }

  private async close(): Promise<void> {
    for (const [start, w] of this.waiting) {
      if (!w.bytes) continue;
      this.hold.give(w.end - start + 1);
      w.release?.();
    }
    this.waiting.clear();
    if (this.readBuffer) this.buffers?.giveReadBack(this.readBuffer);
    this.readBuffer = undefined;
    await this.record.close();
    await this.file.close();
  }
}
