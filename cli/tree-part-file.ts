import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, rename, rm, type FileHandle } from 'node:fs/promises';
import { IntegrityError } from '../core/errors.ts';
import type { TreeEntry } from '../core/tree-manifest.ts';
import { openNoFollow } from './local-files.ts';

// One file of a tree restore being written: `<name>.part`, opened without following a link,
// its bytes hashed as they arrive and written in batches, renamed to its name only once its
// size and SHA-256 are the index's. A ranged GET delivers its body in socket-sized chunks
// (16-64 KiB): writing each with its own awaited write cost one trip through the thread pool
// per chunk (thousands for a large file, each waiting for a turn of a loaded machine), so
// chunks are gathered and written together with one writev per WRITE_BATCH_BYTES.

/** Bytes gathered before one writev: few enough to stay small in memory, many enough to make a file of 200 MB a few hundred writes. */
export const WRITE_BATCH_BYTES = 1024 * 1024;

export class PartFile {
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  private constructor(
    readonly entry: TreeEntry,
    private readonly final: Buffer,
    private readonly part: Buffer,
    private readonly handle: FileHandle,
  ) {}

  /** Creates (or truncates) `<final>.part`; refuses a symbolic link planted there. */
  static async open(entry: TreeEntry, final: Buffer): Promise<PartFile> {
    const part = Buffer.concat([final, Buffer.from('.part')]);
    const handle = await openNoFollow(part, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    return new PartFile(entry, final, part, handle);
  }

  /** Appends bytes (kept by reference until written: the caller must not reuse the buffer). */
  async write(bytes: Buffer): Promise<void> {
    this.hash.update(bytes);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  private async flush(): Promise<void> {
    const buffers = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    // writev may write less than asked (a signal, a full pipe): the rest is written again.
    for (let i = 0; i < buffers.length; ) {
      let { bytesWritten } = await this.handle.writev(buffers.slice(i));
      while (i < buffers.length && bytesWritten >= buffers[i]!.length) bytesWritten -= buffers[i++]!.length;
      if (bytesWritten > 0) buffers[i] = buffers[i]!.subarray(bytesWritten);
    }
  }

  /** Writes what is gathered, syncs and closes the `.part`, checks size and SHA-256, and only then renames it; IntegrityError on a mismatch. */
  async commit(): Promise<void> {
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
    const st = await lstat(this.part);
    const sha = this.hash.digest('hex');
    const { entry } = this;
    if (st.size !== entry.size || sha !== entry.sha256) {
      await rm(this.part, { force: true });
      throw new IntegrityError(`${entry.path} does not match its SHA-256 (${st.size} bytes sha256 ${sha.slice(0, 12)}…, expected ${entry.size} bytes ${entry.sha256?.slice(0, 12)}…): nothing kept under its name`);
    }
    await rename(this.part, this.final);
  }

  /** Closes the `.part` after a failure, leaving it for a re-run to write again. */
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
