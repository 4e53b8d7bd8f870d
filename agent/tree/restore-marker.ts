import { constants } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

// A tree restore under way, or stopped half way (kill -9, a lost session, a full disk), leaves
// its directory looking like a share: most files in place, nothing to tell it from a whole one.
// At a failover the next step is to start the agent on that directory, and a snapshot of a
// half-restored share would be published as the site's state (and, after retention, be all that
// is left). So `ferry restore tree` writes this file into DIR before its first file and removes
// it once the last directory has its times; the agent takes no snapshot of a root that holds it
// (snapshot.ts), and says which restore to finish.

/** The file a tree restore keeps in DIR while it is not finished. */
export const RESTORE_MARKER = '.ferry-restore-incomplete';

/** What the marker says: which snapshot was being restored, when it began, the command that finishes it. */
export interface RestoreMarker {
  site: string;
  source: string;
  snapshotId: string;
  takenAt: string;
  startedAt: string;
  /** The command that goes on with the restore and removes the marker when it finishes. */
  command: string;
}

/** A tree source's root holds a restore's marker: no snapshot is taken of it. */
export class TreeRestoreUnfinishedError extends Error {
  override readonly name = 'TreeRestoreUnfinishedError';
}

/** Writes the marker into `dir` (never through a link of that name). */
export async function writeRestoreMarker(dir: string, marker: RestoreMarker): Promise<void> {
  const file = await open(join(dir, RESTORE_MARKER), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  try {
    await file.writeFile(`${JSON.stringify(marker, null, 2)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
}

/** The marker in `dir` as far as it can be read, or undefined when there is none (a link of that name is not followed). */
export async function readRestoreMarker(dir: string): Promise<Partial<RestoreMarker> | undefined> {
  try {
    const file = await open(join(dir, RESTORE_MARKER), constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      return JSON.parse(await file.readFile('utf8')) as Partial<RestoreMarker>;
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
}

/** Removes the marker from `dir` (gone already is fine). */
export async function removeRestoreMarker(dir: string): Promise<void> {
  await unlink(join(dir, RESTORE_MARKER)).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : Promise.reject(error)));
}

/**
 * Throws TreeRestoreUnfinishedError when `root` holds a restore's marker, naming the restore
 * and the command that finishes it (or, when the marker cannot be read, the file).
 */
export async function assertNoRestoreUnderway(root: string): Promise<void> {
  const path = join(root, RESTORE_MARKER);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw new TreeRestoreUnfinishedError(`${path} is there (${code ?? 'unreadable'}): a \`ferry restore tree\` into ${root} has not finished; not taken. Finish the restore, or delete the file once the share is known to be whole`);
  }
  let marker: Partial<RestoreMarker> = {};
  try {
    marker = JSON.parse(text) as Partial<RestoreMarker>;
  } catch {
    // Said below without the restore's details.
  }
  const which = marker.snapshotId ? ` of snapshot ${marker.snapshotId} (${marker.site}/${marker.source}, taken ${marker.takenAt}), begun ${marker.startedAt},` : '';
  const finish = marker.command ? `run it again (\`${marker.command}\`): it goes on where it stopped and removes ${RESTORE_MARKER} when the share is whole` : `run the restore again: it removes ${RESTORE_MARKER} when the share is whole`;
  throw new TreeRestoreUnfinishedError(
    `a \`ferry restore tree\`${which} into ${root} has not finished (${path} is there): not taken, since a snapshot of a half-restored share would be published as the site's state. ${finish[0]!.toUpperCase()}${finish.slice(1)}; delete the file only if the share is known to be whole`,
  );
}
