import { once } from 'node:events';
import { InvalidInputError } from '../core/errors.ts';
import type { TreeEntry, TreeSnapshotManifest } from '../core/tree-manifest.ts';
import { formatBytes } from './progress.ts';
import { printable } from './printable.ts';
import { includeMatchers } from './tree-restore.ts';
import { earlierHint, earlierHolding, entries, fetchIndex, type Store } from './tree-snapshots.ts';

// `ferry snapshots files`: what a snapshot holds, path by path, before anyone restores it ("is
// last Tuesday's deck in Tuesday's snapshot, and how large was it?"), as restic's and kopia's
// `ls` answer. Read from the snapshot's index alone (one download, checked against the
// manifest's SHA-256), streamed: a million-file share is never held in memory.

export interface SnapshotFilesOptions {
  include?: string[];
  /** JSON Lines: one object a path (the index's entry without where its bytes are). */
  json?: boolean;
}

export interface SnapshotFilesTotals {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
}

/** `-rw-r--r--` for a file of mode 0644: what `ls -l` and `restic ls -l` show. */
export function modeText(e: Pick<TreeEntry, 'type' | 'mode'>): string {
  const kind = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-';
  const bits = (shift: number, special: number, letter: string) => {
    const r = e.mode & (4 << shift) ? 'r' : '-';
    const w = e.mode & (2 << shift) ? 'w' : '-';
    const x = e.mode & (1 << shift);
    const s = e.mode & special;
    return r + w + (s ? (x ? letter : letter.toUpperCase()) : x ? 'x' : '-');
  };
  return kind + bits(6, 0o4000, 's') + bits(3, 0o2000, 's') + bits(0, 0o1000, 't');
}

const SIZE_WIDTH = 13;

const header = (m: TreeSnapshotManifest) => `snapshot ${m.snapshotId} of source ${m.source} of site ${m.site}, taken ${m.takenAt} (paths relative to the source's root; sizes in bytes):\n`;

/** One path a line: a name on the share is outside input, so its control characters are shown escaped (a newline would add a forged line, an escape redraw one). */
function textLine(e: TreeEntry): string {
  const size = e.type === 'file' ? String(e.size) : '';
  return `${modeText(e)}  ${size.padStart(SIZE_WIDTH)}  ${e.mtime}  ${printable(e.path)}${e.type === 'symlink' ? ` -> ${printable(e.target ?? '')}` : ''}\n`;
}

function jsonLine(e: TreeEntry): string {
  const { pack: _pack, offset: _offset, ...shown } = e;
  return `${JSON.stringify(shown)}\n`;
}

/** Writes with the stream's back-pressure: a listing piped to `less` or `head` waits for it. */
export async function writeOut(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/**
 * Writes every path of the snapshot (or those `--include` matches, and what is below a directory
 * it matches) to `out`, in the index's order. An `--include` that matches nothing is refused,
 * naming the newest earlier snapshot that holds what it names, as `restore tree` does.
 */
export async function writeSnapshotFiles(blobs: Store, manifest: TreeSnapshotManifest, opts: SnapshotFilesOptions, out: NodeJS.WritableStream): Promise<SnapshotFilesTotals> {
  const includes = includeMatchers(opts.include ?? []);
  const included = includes.length > 0 ? (path: string) => includes.some((i) => i.matches(path)) : () => true;
  const totals: SnapshotFilesTotals = { files: 0, dirs: 0, symlinks: 0, bytes: 0 };
  const index = await fetchIndex(blobs, manifest);
  let headed = opts.json === true;
  try {
    for await (const e of entries(index.file, manifest)) {
      if (!included(e.path)) continue;
      if (!headed) {
        await writeOut(out, header(manifest));
        headed = true;
      }
      if (e.type === 'file') {
        totals.files++;
        totals.bytes += e.size;
      } else if (e.type === 'dir') totals.dirs++;
      else totals.symlinks++;
      await writeOut(out, opts.json ? jsonLine(e) : textLine(e));
    }
  } finally {
    await index.cleanup();
  }
  const unmatched = includes.filter((i) => !i.matched).map((i) => i.glob);
  if (unmatched.length === 0 && !headed) await writeOut(out, header(manifest));
  if (unmatched.length > 0) {
    const again = includeMatchers(unmatched);
    const earlier = await earlierHolding(blobs, manifest, (e) => again.some((i) => i.matches(e.path)));
    throw new InvalidInputError(
      `--include ${unmatched.map((g) => JSON.stringify(g)).join(', ')} ${unmatched.length === 1 ? 'matches' : 'match'} nothing in snapshot ${manifest.snapshotId} (taken ${manifest.takenAt}): paths are relative to the source's root, with / between directories.${earlierHint(earlier, manifest, unmatched.length === 1 ? 'it' : 'at least one of them')}`,
    );
  }
  return totals;
}

/** The listing's last lines (text only): what it counted, and the paths the snapshot left out. */
export function snapshotFilesFooter(totals: SnapshotFilesTotals, manifest: TreeSnapshotManifest, filtered: boolean): string {
  const what = `${totals.files} file(s), ${formatBytes(totals.bytes)}; ${totals.dirs} dir(s); ${totals.symlinks} link(s)${filtered ? ` matched (the snapshot holds ${manifest.counts.files} file(s), ${formatBytes(manifest.bytes.total)})` : ''}`;
  const left = manifest.counts.problems > 0 ? `\n${manifest.counts.problems} path(s) were left out of this snapshot or skipped (\`ferry snapshots list --site ${manifest.site} --source ${manifest.source} --problems\` names them, and why)` : '';
  return `${what}${left}\n`;
}
