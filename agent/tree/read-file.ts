import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, type BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { SourceChangedError, UnreadableSourceError } from '../../core/errors.ts';
import { openNoAtime, openSyncNoAtime } from '../no-atime.ts';

// Reading one file of a tree so that what is stored is one version of it, never a mix: the
// file is opened without following links and without a lock (O_RDONLY takes none), and its
// size, mtime, ctime and identity must be the same before the read, after it, and as the walk saw
// them. Otherwise SourceChangedError, and the caller tries again.

/** Files up to this size are read whole into memory (one read); larger ones are streamed twice (hash, then pack). */
export const SMALL_FILE_BYTES = 4 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** The same version of a file: a rewrite of the same size with its mtime put back still moves the ctime. */
export function sameVersion(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK ?? 0);

/** Opens a file of the tree; tests inject failures here. */
export type OpenTreeFile = (path: Buffer, flags: number) => Promise<FileHandle>;

export async function openSourceFile(abs: Buffer, shown: string, openFile: OpenTreeFile = open): Promise<FileHandle> {
  try {
    return await openNoAtime(openFile, abs, READ_FLAGS);
  } catch (error) {
    throw openError(error, shown);
  }
}

async function checkStill(file: FileHandle, seen: BigIntStats, shown: string): Promise<void> {
  const now = await file.stat({ bigint: true });
  if (!now.isFile() || !sameVersion(now, seen)) throw new SourceChangedError(`${shown} changed while it was read`, shown);
}

/** Opens a file of the tree synchronously (small files); tests inject failures here. */
export type OpenTreeFileSync = (path: Buffer, flags: number) => number;

function openError(error: unknown, shown: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new SourceChangedError(`${shown} was deleted before it was read`, shown, { cause: error });
  if (code === 'ELOOP') return new SourceChangedError(`${shown} became a symbolic link; not followed`, shown, { cause: error });
  return new UnreadableSourceError(`${shown} cannot be read (${code ?? (error as Error).message})`, shown, { cause: error });
}

/**
 * Reads a small file whole; its content is exactly the version the walk saw. Synchronous on
 * purpose: four calls (open, read, fstat, close) on a file of a few KB take microseconds each,
 * a trip through libuv's thread pool many times that, and a share holds millions of such files.
 * The walk's lstat came before the open, so an fstat after the read that still shows that size,
 * mtime and inode proves the bytes read are that version's.
 */
export function readSmallFile(abs: Buffer, seen: BigIntStats, shown: string, openFile: OpenTreeFileSync = openSync): { body: Buffer; sha256: Buffer } {
  let fd: number;
  try {
    fd = openSyncNoAtime(openFile, abs, READ_FLAGS);
  } catch (error) {
    throw openError(error, shown);
  }
  try {
    const size = Number(seen.size);
    // One byte more than expected: a file that grew fills it.
    const body = Buffer.allocUnsafe(size + 1);
    let at = 0;
    for (;;) {
      const n = readSync(fd, body, at, size + 1 - at, at);
      if (n === 0) break;
      at += n;
      if (at > size) throw new SourceChangedError(`${shown} grew while it was read`, shown);
    }
    if (at < size) throw new SourceChangedError(`${shown} shrank while it was read`, shown);
    const now = fstatSync(fd, { bigint: true });
    if (!now.isFile() || !sameVersion(now, seen)) throw new SourceChangedError(`${shown} changed while it was read`, shown);
    const content = body.subarray(0, size);
    return { body: content, sha256: createHash('sha256').update(content).digest() };
  } catch (error) {
    throw classify(error, shown);
  } finally {
    closeSync(fd);
  }
}

/** Hashes a large file by streaming it; its content is exactly the version the walk saw. */
export async function hashLargeFile(abs: Buffer, seen: BigIntStats, shown: string, openFile?: OpenTreeFile): Promise<Buffer> {
  const file = await openSourceFile(abs, shown, openFile);
  try {
    await checkStill(file, seen, shown);
    const hash = createHash('sha256');
    const buffer = Buffer.allocUnsafe(CHUNK);
    const size = Number(seen.size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(CHUNK, size - at), at);
      if (bytesRead === 0) throw new SourceChangedError(`${shown} shrank while it was read`, shown);
      hash.update(buffer.subarray(0, bytesRead));
      at += bytesRead;
    }
    await checkStill(file, seen, shown);
    return hash.digest();
  } catch (error) {
    throw classify(error, shown);
  } finally {
    await file.close();
  }
}

/** Runs `use` with the file open, after checking it is still the version the walk saw. */
export async function withStableFile<T>(
  abs: Buffer,
  seen: BigIntStats,
  shown: string,
  use: (file: FileHandle, unchanged: () => Promise<void>) => Promise<T>,
  openFile?: OpenTreeFile,
): Promise<T> {
  const file = await openSourceFile(abs, shown, openFile);
  try {
    await checkStill(file, seen, shown);
    return await use(file, () => checkStill(file, seen, shown));
  } catch (error) {
    throw classify(error, shown);
  } finally {
    await file.close();
  }
}

function classify(error: unknown, shown: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EIO' || code === 'EACCES' || code === 'EPERM') return new UnreadableSourceError(`${shown} cannot be read (${code})`, shown, { cause: error });
  return error;
}
