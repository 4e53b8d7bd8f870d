import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';

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

/** The SHA-256 of a regular file's content; a symbolic link is never followed (ELOOP). */
export async function sha256Of(path: string | Buffer): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  await pipeline(handle.createReadStream(), hash); // the stream closes the handle
  return hash.digest('hex');
}
