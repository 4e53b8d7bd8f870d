import { readdir, stat } from 'node:fs/promises';
import type { AgentConfig } from '../core/config.ts';
import { Observations } from '../agent/state/observations.ts';
import { readLastSnapshot } from '../agent/tree/last-snapshot.ts';
import { batchDirectories, listBatches } from '../agent/sources/scan.ts';

// `agent check` on a source whose directory is empty where the state directory remembers it
// full: an unmounted share (the mount point's own, empty directory is there). A run would fail
// that source (recordings) or refuse the snapshot (tree); the check says so before it, rather
// than "valid" to an administrator checking the site after a reboot.

async function isEmpty(path: string): Promise<boolean> {
  try {
    return (await readdir(path)).length === 0;
  } catch {
    return false; // Gone or unreadable: checkSitePaths said so already.
  }
}

/**
 * Whether a recordings root holds no batch directory, as a pass judges it (a mount point's own
 * directory often holds a "not mounted" marker or lost+found: not empty, yet no batch).
 */
async function holdsNoBatch(path: string, depth: number): Promise<boolean> {
  try {
    return (await listBatches(path, depth, { unreadable: () => undefined })).length === 0;
  } catch {
    return false; // Gone or unreadable: checkSitePaths said so already.
  }
}

/** A warning for each recordings source that holds no batch, and each tree source whose directory is empty, where the last pass or snapshot found them full. */
export async function emptyRootNotes(config: AgentConfig): Promise<string[]> {
  const notes: string[] = [];
  const observations = new Observations(config.state);
  for (const source of config.sources) {
    if (source.type === 'recordings') {
      const last = observations.lastPass(source.name);
      if (!last || last.batchesSeen === 0 || !(await holdsNoBatch(source.path, source.batchDepth))) continue;
      const empty = (await isEmpty(source.path)) ? 'is empty' : 'holds no batch directory';
      notes.push(
        `warning: source ${source.name}: ${source.path} ${empty}, and the last pass (${last.lastScan ?? 'time unknown'}) saw ${batchDirectories(last.batchesSeen)} there: is the recorder's share mounted? A run fails this source (exit 1) until it holds batches again; nothing is called lost meanwhile.`,
      );
      continue;
    }
    if (source.type !== 'tree' || !(await isEmpty(source.path))) continue;
    const last = readLastSnapshot(config.state, source.name);
    if (!last?.root || last.files + last.dirs === 0) continue;
    // The same directory emptied (on purpose or not) is snapshotted as it is, and its mass change alerted.
    const now = await stat(source.path, { bigint: true });
    if (String(now.dev) === last.root.dev && String(now.ino) === last.root.ino) continue;
    notes.push(
      `warning: source ${source.name}: ${source.path} is empty, and the last snapshot (${last.takenAt}) held ${last.files} file(s) in ${last.dirs} folder(s): is the share mounted? It is another directory than the one that snapshot was taken of: a run takes no snapshot of it until the share is back.`,
    );
  }
  return notes;
}
