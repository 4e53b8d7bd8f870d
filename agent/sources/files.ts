import { lstat, opendir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { FileStamp } from '../journal.ts';
import { shownName, utf8Name } from './names.ts';

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

/**
 * The selected regular files of `dir`, lstat'ed. A file whose name is not UTF-8 is never
 * selected under a name that is not its own: when its name, as far as it can be read, is
 * selected, it is told to `onBadName` (shown with its bytes, names.ts) and left out.
 */
export async function listSelected(dir: string, select: (name: string) => boolean, onWarning?: (message: string, name: string) => void, onBadName?: (shown: string) => void): Promise<SiteFile[]> {
  const names: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, encoding: 'buffer' })) {
    const bytes = entry.name as unknown as Buffer;
    const name = utf8Name(bytes);
    if (name === undefined) {
      if (entry.isFile() && select(bytes.toString('utf8'))) onBadName?.(shownName(bytes));
      continue;
    }
    if (!select(name)) continue;
    if (entry.isSymbolicLink()) onWarning?.('symbolic link not followed', name);
    else if (entry.isFile()) names.push(name);
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
