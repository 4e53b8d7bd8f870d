import { chmod, lstat, mkdir, utimes } from 'node:fs/promises';
import { InvalidInputError } from '../core/errors.ts';
import type { TreeEntry } from '../core/tree-manifest.ts';
import { entryPathBytes } from '../agent/tree/paths.ts';
import { lstatOrUndefined } from './local-files.ts';

// Where a tree restore writes, kept inside DIR: paths from the index are checked (no `..`,
// nothing absolute), every directory on the way is looked at and never a link followed, and the
// entry's mode and mtime are applied the same way to files, links and directories.

/** The path's components, refused when any would climb out of DIR or is not a plain name. */
export function safeComponents(entry: Pick<TreeEntry, 'path' | 'pathBytes'>): Buffer[] {
  const bytes = entryPathBytes(entry);
  const bad = (why: string) => new InvalidInputError(`refusing path ${JSON.stringify(entry.path)} from the index: ${why}`);
  if (bytes.length === 0 || bytes[0] === 0x2f) throw bad('it is absolute or empty');
  if (bytes.includes(0)) throw bad('it holds a NUL byte');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x2f) continue;
    const part = bytes.subarray(start, i);
    const text = part.toString('latin1');
    if (text === '' || text === '.' || text === '..') throw bad('it holds an empty, "." or ".." component');
    parts.push(part);
    start = i + 1;
  }
  return parts;
}

const SLASH = Buffer.from('/');
export const join2 = (a: Buffer, b: Buffer) => Buffer.concat([a, SLASH, b]);
export const show = (b: Buffer) => b.toString('utf8');
/** `root/part/part…`, as bytes. */
export const pathBelow = (root: Buffer, parts: Buffer[]) => Buffer.concat([root, ...parts.flatMap((p) => [SLASH, p])]);

/** Directories of DIR checked (or made) already; each is a real directory, never a link. */
export class DirGuard {
  private readonly known = new Set<string>();
  constructor(readonly root: Buffer) {}

  /** The directory's path in DIR when this restore checked or made it, else undefined. */
  seen(parts: Buffer[]): Buffer | undefined {
    const path = pathBelow(this.root, parts);
    return this.known.has(path.toString('latin1')) ? path : undefined;
  }

  async ensure(parts: Buffer[]): Promise<Buffer> {
    let path = this.root;
    for (const part of parts) {
      path = join2(path, part);
      const id = path.toString('latin1');
      if (this.known.has(id)) continue;
      const st = await lstatOrUndefined(path);
      if (!st) await mkdir(path, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
      else if (!st.isDirectory()) throw new InvalidInputError(`refusing to restore below ${show(path)}: it is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, and is never followed or replaced`);
      // A directory an earlier run of this restore gave its stored mode (0500, 0000…): opened to
      // its owner for the run, and given that mode again at the end (TreeWriter.finishDirs).
      else if ((st.mode & 0o700) !== 0o700 && st.uid === process.getuid?.()) await chmod(path, (st.mode & 0o7777) | 0o700);
      const again = await lstat(path);
      if (!again.isDirectory()) throw new InvalidInputError(`refusing to restore below ${show(path)}: it is not a directory`);
      this.known.add(id);
    }
    return path;
  }
}

/**
 * The entry's mtime for utimes: seconds, half a microsecond above the millisecond (the seconds
 * are a double, and 1796267982.195 held as 1796267982.194999981 would land a millisecond early);
 * a time before 1970 as a Date, since Node replaces a negative number of seconds with the
 * present (a share migrated from FAT or Windows holds such dates).
 */
export const timeOf = (entry: TreeEntry): number | Date => {
  const ms = Date.parse(entry.mtime);
  return ms >= 0 ? (ms + 0.0005) / 1000 : new Date(ms);
};

export function applyMeta(path: Buffer, entry: TreeEntry): Promise<void> {
  const t = timeOf(entry);
  return chmod(path, entry.mode & 0o7777).then(() => utimes(path, t, t));
}
