import { lstat, stat, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../../core/errors.ts';
import type { FileStamp } from '../journal.ts';
import type { BatchWork } from './recordings.ts';

// What the agent checks on the site's disk outside a scan: whether a source root can be read
// at all (the config check and every pass use the same answer), and, when the recorder changed
// a batch under a pack, which of its files vanished, changed or are still as scanned.

/** Why `path` cannot serve as a source root (gone, not a directory, unreadable), or undefined. */
export async function unreadableDirectory(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) return `${path} is not a directory`;
    await access(path, constants.R_OK | constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${path} does not exist`;
    if (code === 'EACCES' || code === 'EPERM') return `${path} cannot be read by the agent (permission denied)`;
    if (code === 'ENOTDIR') return `${path} is not a directory (a parent is a file)`;
    return `${path} cannot be read (${code ?? messageOf(error)})`;
  }
}

/** Re-examines a batch whose pack was refused: which recordings vanished, which changed, which sidecars vanished. */
export async function recheckBatch(root: string, work: BatchWork): Promise<{ gone: FileStamp[]; changed: FileStamp[]; sidecarsGone: string[] }> {
  const dir = join(root, work.batch);
  const state = async (f: FileStamp): Promise<'same' | 'gone' | 'changed'> => {
    try {
      const st = await lstat(join(dir, f.name));
      return st.isFile() && st.size === f.size && Math.trunc(st.mtimeMs) === Math.trunc(f.mtimeMs) ? 'same' : 'changed';
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      return code === 'ENOENT' || code === 'ENOTDIR' ? 'gone' : 'changed';
    }
  };
  const gone: FileStamp[] = [];
  const changed: FileStamp[] = [];
  const sidecarsGone: string[] = [];
  for (const f of work.recordings) {
    const s = await state(f);
    if (s === 'gone') gone.push(f);
    else if (s === 'changed') changed.push(f);
    else {
      const sidecar = work.sidecars.get(f.name);
      const ss = sidecar ? await state(sidecar) : 'same';
      if (ss === 'gone') sidecarsGone.push(f.name);
      else if (ss === 'changed') changed.push(f);
    }
  }
  return { gone, changed, sidecarsGone };
}
