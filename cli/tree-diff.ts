import { IntegrityError, InvalidInputError } from '../core/errors.ts';
import { compareTreePaths, entryPathBytes } from '../agent/tree/paths.ts';
import type { TreeEntry, TreeSnapshotManifest } from '../core/tree-manifest.ts';
import { formatBytes } from './progress.ts';
import { printable } from './printable.ts';
import { includeMatchers } from './tree-restore.ts';
import { entries, fetchIndex, type Store } from './tree-snapshots.ts';

// `ferry snapshots diff`: what changed on a share between two snapshots, path by path ("which
// files did the mass change of 03:10 touch?", "what was deleted since Friday?"), as restic's and
// kopia's `diff` answer. The two indexes are read side by side, each streamed from a temporary
// file: both list their paths in the walk's order (each directory's names sorted by their bytes,
// a directory followed by what it holds), so one pass over each pairs them, and a share of a
// million files is never held in memory.

export type TreeChangeKind = 'added' | 'removed' | 'changed' | 'type' | 'mode';

export interface TreeChange {
  change: TreeChangeKind;
  path: string;
  /** The entry in the older snapshot (absent for `added`). */
  before?: TreeEntry;
  /** The entry in the newer snapshot (absent for `removed`). */
  after?: TreeEntry;
}

export interface TreeDiffTotals {
  added: number;
  removed: number;
  changed: number;
  type: number;
  mode: number;
  /** Bytes of the files added or changed, as the newer snapshot holds them. */
  bytesIn: number;
  /** Bytes of the files removed, as the older snapshot held them. */
  bytesOut: number;
}

/** An index's entries with their raw paths, checked to come in the walk's order (a diff of indexes out of order would pair the wrong paths). */
async function* ordered(file: string, manifest: TreeSnapshotManifest): AsyncGenerator<{ e: TreeEntry; key: Buffer }> {
  let last: Buffer | undefined;
  for await (const e of entries(file, manifest)) {
    const key = entryPathBytes(e);
    if (last && compareTreePaths(last, key) >= 0) throw new IntegrityError(`the index of snapshot ${manifest.snapshotId} lists ${JSON.stringify(e.path)} out of order: it cannot be compared path by path`);
    last = key;
    yield { e, key };
  }
}

/** How one path differs between the two snapshots, or undefined when it does not (an mtime alone is no change: restoring either gives the same bytes). */
function compare(before: TreeEntry, after: TreeEntry): TreeChangeKind | undefined {
  if (before.type !== after.type) return 'type';
  if (before.type === 'file' && (before.sha256 !== after.sha256 || before.size !== after.size)) return 'changed';
  if (before.type === 'symlink' && before.target !== after.target) return 'changed';
  if (before.mode !== after.mode) return 'mode';
  return undefined;
}

/** Every change from `older` to `newer`, in the walk's order (paths `include` keeps, when given). */
export async function* diffSnapshots(blobs: Store, older: TreeSnapshotManifest, newer: TreeSnapshotManifest, include: readonly string[] = []): AsyncGenerator<TreeChange> {
  const matchers = includeMatchers(include);
  const kept = (path: string) => matchers.length === 0 || matchers.some((m) => m.matches(path));
  // Every path of both is offered to the globs that have matched nothing yet, so that a mistyped
  // --include is refused rather than read as "nothing changed there".
  const seen = (e: TreeEntry) => {
    for (const m of matchers) if (!m.matched) m.matches(e.path);
  };
  const a = await fetchIndex(blobs, older);
  try {
    const b = await fetchIndex(blobs, newer);
    try {
      const left = ordered(a.file, older);
      const right = ordered(b.file, newer);
      let l = await left.next();
      let r = await right.next();
      while (!l.done || !r.done) {
        const order = l.done ? 1 : r.done ? -1 : compareTreePaths(l.value.key, r.value.key);
        let change: TreeChange | undefined;
        if (order < 0) change = { change: 'removed', path: l.value!.e.path, before: l.value!.e };
        else if (order > 0) change = { change: 'added', path: r.value!.e.path, after: r.value!.e };
        else {
          const kind = compare(l.value!.e, r.value!.e);
          if (kind) change = { change: kind, path: r.value!.e.path, before: l.value!.e, after: r.value!.e };
        }
        if (order <= 0) seen(l.value!.e);
        if (order >= 0) seen(r.value!.e);
        if (order <= 0) l = await left.next();
        if (order >= 0) r = await right.next();
        if (change && kept(change.path)) yield change;
      }
      refuseUnmatched(matchers, older, newer);
    } finally {
      await b.cleanup();
    }
  } finally {
    await a.cleanup();
  }
}

function refuseUnmatched(matchers: { glob: string; matched: boolean }[], older: TreeSnapshotManifest, newer: TreeSnapshotManifest): void {
  const unmatched = matchers.filter((m) => !m.matched).map((m) => JSON.stringify(m.glob));
  if (unmatched.length === 0) return;
  throw new InvalidInputError(
    `--include ${unmatched.join(', ')} ${unmatched.length === 1 ? 'matches' : 'match'} nothing in snapshot ${older.snapshotId} nor in ${newer.snapshotId}: paths are relative to the source's root, with / between directories (\`ferry snapshots files --site ${newer.site} --source ${newer.source} --at ${newer.takenAt}\` lists them)`,
  );
}

const MARK: Record<TreeChangeKind, string> = { added: '+', removed: '-', changed: 'M', type: 'T', mode: 'm' };

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

/** One change a line, as `restic diff` marks them (+ added, - removed, M content, T type, m mode); a name's control characters escaped. */
export function diffLine(c: TreeChange): string {
  const e = c.after ?? c.before!;
  const what = e.type === 'dir' ? `${printable(c.path)}/` : printable(c.path);
  const detail = (() => {
    switch (c.change) {
      case 'added':
        return e.type === 'file' ? `  (${formatBytes(e.size)})` : e.type === 'symlink' ? ` -> ${printable(e.target ?? '')}` : '';
      case 'removed':
        return e.type === 'file' ? `  (${formatBytes(e.size)})` : '';
      case 'changed':
        return e.type === 'symlink' ? `  (link: ${printable(c.before!.target ?? '')} -> ${printable(c.after!.target ?? '')})` : `  (${formatBytes(c.before!.size)} -> ${formatBytes(c.after!.size)})`;
      case 'type':
        return `  (${c.before!.type} -> ${c.after!.type})`;
      case 'mode':
        return `  (mode ${octal(c.before!.mode)} -> ${octal(c.after!.mode)})`;
    }
  })();
  return `${MARK[c.change]} ${what}${detail}\n`;
}

/** The JSON Lines form of a change: where bytes lie in the packs is left out. */
export function diffJsonLine(c: TreeChange): string {
  const shown = (e: TreeEntry | undefined) => {
    if (!e) return undefined;
    const { pack: _pack, offset: _offset, ...rest } = e;
    return rest;
  };
  return `${JSON.stringify({ change: c.change, path: c.path, before: shown(c.before), after: shown(c.after) })}\n`;
}

export function countChange(totals: TreeDiffTotals, c: TreeChange): void {
  totals[c.change]++;
  if (c.after?.type === 'file' && (c.change === 'added' || c.change === 'changed' || c.change === 'type')) totals.bytesIn += c.after.size;
  // A file that became a directory or a link is gone as a file: its bytes are out, as a directory that became a file's are in.
  if (c.before?.type === 'file' && (c.change === 'removed' || c.change === 'type')) totals.bytesOut += c.before.size;
}

export const emptyTotals = (): TreeDiffTotals => ({ added: 0, removed: 0, changed: 0, type: 0, mode: 0, bytesIn: 0, bytesOut: 0 });

export function diffHeader(older: TreeSnapshotManifest, newer: TreeSnapshotManifest): string {
  return `changes to source ${newer.source} of site ${newer.site} from snapshot ${older.snapshotId} (taken ${older.takenAt}) to ${newer.snapshotId} (taken ${newer.takenAt}); + added, - removed, M content changed, T type changed, m mode changed:\n`;
}

export function diffFooter(t: TreeDiffTotals): string {
  return `${t.added} added, ${t.removed} removed, ${t.changed} changed, ${t.type} changed type, ${t.mode} changed mode; ${formatBytes(t.bytesIn)} in files added or changed, ${formatBytes(t.bytesOut)} in files removed\n`;
}
