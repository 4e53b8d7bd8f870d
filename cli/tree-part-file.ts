import { createHash, type Hash } from 'node:crypto';
import { constants } from 'node:fs';
import { rename, rm, type FileHandle } from 'node:fs/promises';
import { IntegrityError } from '../core/errors.ts';
import type { TreeEntry } from '../core/tree-manifest.ts';
import { openNoFollow } from './local-files.ts';

// One file of a tree restore being written: `<name>.ferry-part` (or, when the snapshot itself
// holds a path of that name, the first `<name>.ferry-N-part` it does not: partSuffixOf), opened
// without following a link,
// its bytes hashed as they arrive and written in batches, renamed to its name only once its
// size and SHA-256 are the index's. A ranged GET delivers its body in socket-sized chunks
// (16-64 KiB): writing each with its own awaited write cost one trip through the thread pool
// per chunk (thousands for a large file, each waiting for a turn of a loaded machine), so
// chunks are gathered and written together with one writev per WRITE_BATCH_BYTES.

/** Bytes gathered before one writev: few enough to stay small in memory, many enough to make a file of 200 MB a few hundred writes. */
export const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * What the temporary name of the file at `rel` (its path below DIR: its bytes as a latin1
 * string) adds to its name: `.ferry-part`, unless the snapshot holds a path of that name, then
 * the first `.ferry-N-part` it does not hold. `taken`: the snapshot's paths that could be in the
 * way (isPartLike), keyed the same way. The name is Ferry's own: DIR may hold a browser's or a
 * download manager's `X.part` beside `X` (a share does, and so may a directory restored into),
 * and a restore writing X through `X.part` would truncate it and rename it onto X. No two files'
 * temporary names can be the same: one ending in `.ferry-part` never ends in `.ferry-N-part`.
 */
export function partSuffixOf(rel: string, taken: ReadonlySet<string>): string {
  if (!taken.has(`${rel}.ferry-part`)) return '.ferry-part';
  for (let n = 1; ; n++) if (!taken.has(`${rel}.ferry-${n}-part`)) return `.ferry-${n}-part`;
}

/** Whether a name (its last component) could be in the way of a temporary name (partSuffixOf). */
export const isPartLike = (name: string): boolean => /\.ferry(-\d+)?-part$/.test(name);

/** The key of `partSuffixOf` for a path below DIR given as its components. */
export const relKeyOf = (parts: readonly Buffer[]): string => parts.map((p) => p.toString('latin1')).join('/');

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

  /**
   * Creates (or truncates: an earlier, interrupted run's) the file's temporary `<final><suffix>`
   * (`.ferry-part`, or another suffix when the snapshot holds a path of that name:
   * partSuffixOf); refuses a symbolic link planted there.
   */
  static async open(entry: TreeEntry, final: Buffer, suffix = '.ferry-part'): Promise<PartFile> {
    const part = Buffer.concat([final, Buffer.from(suffix, 'latin1')]);
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
    let size: number;
    try {
      await this.flush();
      await this.handle.sync();
      // The size of what this handle wrote, not of whatever the path names now.
      size = (await this.handle.stat()).size;
    } finally {
      await this.handle.close();
    }
    const sha = this.hash.digest('hex');
    const { entry } = this;
    if (size !== entry.size || sha !== entry.sha256) {
      await rm(this.part, { force: true });
      throw new IntegrityError(`${entry.path} does not match its SHA-256 (${size} bytes sha256 ${sha.slice(0, 12)}…, expected ${entry.size} bytes ${entry.sha256?.slice(0, 12)}…): nothing kept under its name`);
    }
    await rename(this.part, this.final);
  }

  /** Closes the `.part` after a failure, leaving it for a re-run to write again. */
  async close(): Promise<void> {
    await this.handle.close().catch(() => undefined);
  }
}
