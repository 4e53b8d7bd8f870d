import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync, existsSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

// Small state files the agent rewrites whole (observations, alerts): written to a temporary
// name, fsynced, renamed over the old one, and the directory fsynced, so a crash or `kill -9`
// at any moment leaves either the old or the new file, never a torn one.

/**
 * Writes all of `data` at the file's position (or at `position`), or throws. One writeSync may
 * write less than it was given without an error (a disk that fills mid-write: 4,096 of 15,745
 * bytes); the next call is the one that says ENOSPC.
 */
export function writeAllSync(fd: number, data: string | Uint8Array, position?: number): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, bytes.length - at, position === undefined ? null : position + at);
}

export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeAllSync(fd, text);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    // A full disk: the old file stays as it was, and what was written of the new one frees its room.
    rmSync(tmp, { force: true });
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDirectory(dirname(file));
}

/** A full disk, or a quota reached: no new block can be had. */
export function isDiskFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * writeFileAtomic for a file that must still be written when the disk is full (the open alerts:
 * an alert that is sent and then not remembered is never resolved). The file is kept at least
 * `reserveBytes` longer than its text (whitespace after it: a JSON reader skips it), so when
 * the disk is full the new text is written over the old in place, into blocks the file already
 * has. That write is not atomic: a crash in it can leave the file torn (read as damaged), which
 * only a full disk and a crash together can cause. A text longer than the file throws the
 * disk's error.
 */
export function writeFileReserved(file: string, text: string, reserveBytes: number): void {
  const bytes = Buffer.from(text, 'utf8');
  const size = Math.ceil((bytes.length + reserveBytes) / 4096) * 4096;
  const padded = (length: number) => Buffer.concat([bytes, Buffer.alloc(length - bytes.length, 0x20)]);
  try {
    writeFileAtomic(file, padded(size));
  } catch (error) {
    if (!isDiskFull(error)) throw error;
    let fd: number;
    try {
      fd = openSync(file, 'r+');
    } catch {
      throw error;
    }
    try {
      const room = fstatSync(fd).size;
      if (room < bytes.length) throw error;
      writeAllSync(fd, padded(room), 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse to fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * writeFileAtomic with its writes and syncs on libuv's thread pool, so the main thread goes on
 * meanwhile (a sync can wait for everything the file system has pending). One at a time per
 * file: the caller orders them (the temporary name is shared).
 */
export async function writeFileAtomicAsync(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  let dir: Awaited<ReturnType<typeof open>> | undefined;
  try {
    dir = await open(dirname(file), 'r');
    await dir.sync();
  } catch {
    // Some filesystems refuse to fsync a directory; the rename is still atomic there.
  } finally {
    await dir?.close();
  }
}

/** The parsed JSON of `file`, or `undefined` when it does not exist. A damaged file throws, naming it. */
export function readJsonFile<T>(file: string): T | undefined {
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new Error(`state file ${file} is damaged (${(error as Error).message}); move it aside to start its records afresh`, { cause: error });
  }
}
