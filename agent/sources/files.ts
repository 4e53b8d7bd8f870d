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

/** The regular files and the directories directly in `dir`, each sorted (not following links): one read of the directory. */
export async function filesAndFolders(dir: string): Promise<{ files: string[]; folders: string[] }> {
  const files: string[] = [];
  const folders: string[] = [];
  const handle = await opendir(dir, { bufferSize: 256 });
  for await (const d of handle) {
    if (d.isFile()) files.push(d.name);
    else if (d.isDirectory()) folders.push(d.name);
  }
  return { files: files.sort(), folders: folders.sort() };
}

/**
 * What a backup, binlog or archive source whose directory holds folders and no files is told:
 * it takes only the files directly in its path, so a share of folders (OCS meeting content) or a
 * backup job that writes into sub-folders per database is backed up not at all.
 */
export function onlyFoldersProblem(source: { name: string; type: string; path: string }, folders: readonly string[]): string {
  const shown = folders.slice(0, 3).join(', ') + (folders.length > 3 ? `, … (${folders.length} in all)` : '');
  return `${source.path} holds ${folders.length} folder(s) (${shown}) and no files: ${source.type === 'archive' ? 'an' : 'a'} ${source.type} source takes only the files directly in its path, not those in sub-folders. Point path at the folder the job writes its files into${source.type === 'archive' ? ', or make a share of folders a tree source' : ''}`;
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
