import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, statfs, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { InvalidInputError } from '../core/errors.ts';

// Local file checks shared by the restores that write into DIR (`restore fetch`, `restore tree`).

/** The path's lstat, or undefined when nothing is there (other errors are thrown). */
export async function lstatOrUndefined(path: string | Buffer) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Opens with O_NOFOLLOW added: a symbolic link is refused (InvalidInputError), never followed. */
export async function openNoFollow(path: string | Buffer, flags: number, mode?: number): Promise<FileHandle> {
  try {
    return await open(path, flags | constants.O_NOFOLLOW, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new InvalidInputError(`refusing ${path.toString()}: it is a symbolic link, and is never followed`, { cause: error });
    throw error;
  }
}

/** The SHA-256 of a regular file's content; a symbolic link is never followed (ELOOP). */
export async function sha256Of(path: string | Buffer): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  await pipeline(handle.createReadStream(), hash); // the stream closes the handle
  return hash.digest('hex');
}

/**
 * Free bytes where DIR is, or would be created (the nearest directory above it that exists).
 * A path that cannot be looked at (other than missing) stops the walk with its error, or with
 * `pastErrors` counts as missing (the tree restore's way).
 */
export async function freeBytesAt(target: string, { pastErrors = false } = {}): Promise<number> {
  for (let path = target; ; path = dirname(path)) {
    const st = pastErrors ? await lstat(path).catch(() => undefined) : await lstatOrUndefined(path);
    if (st) {
      const fs = await statfs(path);
      return Number(fs.bavail) * Number(fs.bsize);
    }
    if (dirname(path) === path) throw new InvalidInputError(`no existing directory above ${target}`);
  }
}

/** Whether a write failed because the disk (or the user's quota) is full: the advice is then to free space before the re-run. */
export function diskIsFull(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
