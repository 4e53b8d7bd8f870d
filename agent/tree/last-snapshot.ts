import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SnapshotSummary } from '../../core/tree-manifest.ts';
import { writeFileAtomic } from '../state/atomic-file.ts';

// What the agent keeps of a tree source between snapshots, under `{state}/trees/{source}/`
// (docs/operations.md): `last.json`, the newest snapshot it published, read before the next one
// (whether it is incremental, the root it was taken of) and by the agent's status. The local
// index beside it is local-index.ts's.

/** `last.json`: the newest snapshot this agent published for the source (what the catalogue lists of it, and more). */
export interface LastSnapshot extends Pick<SnapshotSummary, 'snapshotId' | 'takenAt' | 'manifestKey' | 'files' | 'dirs' | 'symlinks' | 'problems' | 'bytesTotal' | 'bytesAdded'> {
  filesRead: number;
  /** The root directory's device and inode when it was taken: an empty root that is another directory now is an unmounted share. */
  root?: { dev: string; ino: string };
}

export function treeStateDir(state: string, source: string): string {
  return join(state, 'trees', source);
}

export function readLastSnapshot(state: string, source: string): LastSnapshot | undefined {
  const file = join(treeStateDir(state, source), 'last.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LastSnapshot) : undefined;
}

/** Records `summary` as the newest snapshot of the source whose state directory is `dir` (written whole or not at all). */
export function writeLastSnapshot(dir: string, summary: LastSnapshot): void {
  writeFileAtomic(join(dir, 'last.json'), `${JSON.stringify(summary, null, 2)}\n`);
}
