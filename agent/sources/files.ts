import { opendir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileStamp } from '../journal.ts';

// Lists the files of one directory (not recursive) that a source selects, read-only: the
// directory is read and each *selected* name is lstat'ed; no file is opened, and a name the
// source does not select is not even stat'ed (Cisco CVP's live backup must not be touched).
// Symbolic links are never followed.

export interface SiteFile extends FileStamp {
  /** Creation time where the filesystem records it (0 when unknown). */
  birthtimeMs: number;
}

/** Names of the regular files in a directory (nothing is stat'ed or opened). */
export async function regularFileNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  const handle = await opendir(dir, { bufferSize: 256 });
  for await (const d of handle) if (d.isFile()) names.push(d.name);
  return names.sort();
}

export async function listSelected(dir: string, select: (name: string) => boolean, onWarning?: (message: string, name: string) => void): Promise<SiteFile[]> {
  const names: string[] = [];
  const handle = await opendir(dir, { bufferSize: 256 });
  for await (const d of handle) {
    if (!select(d.name)) continue;
    if (d.isSymbolicLink()) onWarning?.('symbolic link not followed', d.name);
    else if (d.isFile()) names.push(d.name);
  }
  const out: SiteFile[] = [];
  for (const name of names.sort()) {
    try {
      const st = await lstat(join(dir, name));
      if (st.isFile()) out.push({ name, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), birthtimeMs: Math.trunc(st.birthtimeMs) });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error; // removed between listing and stat
    }
  }
  return out;
}
