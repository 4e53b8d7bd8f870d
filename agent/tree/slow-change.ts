// A share encrypted over several passes (ransomware working for an hour while the agent takes a
// snapshot every five minutes) changes a part of the files in each snapshot, none of them over
// the source's massChange threshold. The changes of the snapshots of the last day are kept in the
// state directory (`tree-changes-{source}.json`) and judged together: over the threshold, the
// share changed most of its files within a day. A file rewritten at every snapshot (a log
// appended all day, an address book rebuilt each hour) counts once, by a hash of its path kept
// with the snapshot's entry; and the share is judged against the most files it held in the
// window, so a share being filled is not judged against the few it started from.
// massChangeOf is what a snapshot's manifest records of both judgements.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { TreeSourceConfig } from '../../core/config.ts';
import { crossesMassChange, type TreeChanges, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { readJsonFile, writeFileAtomic } from '../state/atomic-file.ts';

/** How far back the changes of a source's snapshots are added up. */
export const SLOW_CHANGE_WINDOW_MS = 24 * 3600_000;

interface Entry {
  takenAt: string;
  /** The snapshot before this one: where a restore goes back to when the window starts here. */
  parentTakenAt: string;
  changed: number;
  previousFiles: number;
  /** Files gone and replaced by new names with new content (each a file only once). Absent in entries written before paths were kept: `changed` counts whole. */
  replaced?: number;
  /** The files rewritten in place: PATH_HASH_BYTES of a hash of each path, sorted, base64. */
  rewrittenPaths?: string;
}

/** Bytes of a path's hash: 48 bits, so a million files' paths meet by chance about once in 500 days' windows. */
const PATH_HASH_BYTES = 6;

/** The hash a rewritten path is counted by, as a number (48 bits fit a double exactly). */
export function rewrittenPathHash(rel: Buffer): number {
  return createHash('sha1').update(rel).digest().readUIntBE(0, PATH_HASH_BYTES);
}

function encodeHashes(hashes: Iterable<number>): string {
  const sorted = [...new Set(hashes)].sort((a, b) => a - b);
  const out = Buffer.alloc(sorted.length * PATH_HASH_BYTES);
  sorted.forEach((h, i) => out.writeUIntBE(h, i * PATH_HASH_BYTES, PATH_HASH_BYTES));
  return out.toString('base64');
}

function decodeHashes(text: string | undefined): number[] {
  if (!text) return [];
  const bytes = Buffer.from(text, 'base64');
  const out: number[] = [];
  for (let i = 0; i + PATH_HASH_BYTES <= bytes.length; i += PATH_HASH_BYTES) out.push(bytes.readUIntBE(i, PATH_HASH_BYTES));
  return out;
}

/**
 * The entries with the paths `rewritten` again taken out: a path is kept by the newest entry that
 * rewrote it alone. The day's count is the same (the newest entry leaves the window last), and
 * the state file holds each path once, not once a snapshot: a share whose 50,000 logs change at
 * every five-minute snapshot would otherwise keep 288 copies of their hashes, over 100 MB read and
 * rewritten at each snapshot.
 */
function withoutPaths(entries: Entry[], rewritten: readonly number[]): Entry[] {
  if (rewritten.length === 0) return entries;
  const again = new Set(rewritten);
  return entries.map((e) => (e.rewrittenPaths ? { ...e, rewrittenPaths: encodeHashes(decodeHashes(e.rewrittenPaths).filter((h) => !again.has(h))) } : e));
}

/** The distinct files the entries changed: each rewritten path once, plus those replaced (and the whole count of an entry that kept no paths). */
function distinctChanged(entries: Entry[]): number {
  const paths = new Set<number>();
  let more = 0;
  for (const e of entries) {
    if (e.rewrittenPaths === undefined) more += e.changed;
    else {
      for (const h of decodeHashes(e.rewrittenPaths)) paths.add(h);
      more += e.replaced ?? 0;
    }
  }
  return paths.size + more;
}

export interface SlowChange {
  changed: number;
  /** The most files a snapshot of the window started from (what `changed` is judged against). */
  previousFiles: number;
  since: string;
  parentTakenAt: string;
  snapshots: number;
}

const fileOf = (state: string, source: string) => join(state, `tree-changes-${source}.json`);

/**
 * Records one snapshot's changes and says whether the snapshots of the last day together changed
 * `percent` % (and at least `minFiles`) of the most files one of them started from, each file
 * counted once (distinctChanged). Once said,
 * the window starts again, so that it is said once. A snapshot over the threshold on its own is
 * alerted by itself: it starts the window again too.
 */
export function judgeSlowChange(state: string, source: string, snapshot: SnapshotChanges, threshold: { percent: number; minFiles: number }): SlowChange | undefined {
  const { entries, over } = weigh(state, source, snapshot, threshold);
  writeFileAtomic(fileOf(state, source), JSON.stringify(over || snapshot.alone ? [] : entries));
  return over;
}

/**
 * What `judgeSlowChange` will say of a snapshot, without recording it: asked before its manifest
 * is written, so that the manifest names the snapshot the window started from (the purge keeps
 * it: core/tree-retention.ts).
 */
export function slowChangeOf(state: string, source: string, snapshot: SnapshotChanges, threshold: { percent: number; minFiles: number }): SlowChange | undefined {
  return weigh(state, source, snapshot, threshold).over;
}

interface SnapshotChanges {
  takenAt: string;
  parentTakenAt: string;
  changes: TreeChanges;
  /** rewrittenPathHash of each file the snapshot rewrote in place (`changes.rewritten` of them). */
  rewritten: readonly number[];
  /** Over the threshold on its own (alerted by itself): the window starts again. */
  alone: boolean;
}

function weigh(state: string, source: string, snapshot: SnapshotChanges, threshold: { percent: number; minFiles: number }): { entries: Entry[]; over?: SlowChange } {
  const now = Date.parse(snapshot.takenAt);
  const kept = (readJsonFile<Entry[]>(fileOf(state, source)) ?? []).filter((e) => now - Date.parse(e.takenAt) < SLOW_CHANGE_WINDOW_MS && Date.parse(e.takenAt) <= now);
  if (snapshot.alone) return { entries: [] };
  const { changes } = snapshot;
  const entry: Entry = { takenAt: snapshot.takenAt, parentTakenAt: snapshot.parentTakenAt, changed: changes.changed, previousFiles: changes.previousFiles, replaced: changes.replaced, rewrittenPaths: encodeHashes(snapshot.rewritten) };
  const entries = [...withoutPaths(kept, snapshot.rewritten), entry];
  const first = entries[0]!;
  const changed = distinctChanged(entries);
  const previousFiles = Math.max(...entries.map((e) => e.previousFiles));
  const over = entries.length > 1 && crossesMassChange({ changed, previousFiles }, threshold);
  return over ? { entries, over: { changed: Math.min(changed, previousFiles), previousFiles, since: first.takenAt, parentTakenAt: first.parentTakenAt, snapshots: entries.length } } : { entries };
}

/**
 * The manifest's `massChange`: this snapshot changed most files of the one before, or the
 * snapshots of the last day did together, this one last (agent/tree/slow-change.ts; the alert is
 * raised once the manifest is out, agent/sources/tree.ts).
 */
export function massChangeOf(state: string, source: TreeSourceConfig, takenAt: string, parentTakenAt: string | undefined, changes: TreeChanges | undefined, rewritten: readonly number[]): TreeSnapshotManifest['massChange'] {
  if (!changes || parentTakenAt === undefined || source.massChange === false) return undefined;
  const { percent, minFiles } = source.massChange;
  if (crossesMassChange(changes, source.massChange)) return { percent, minFiles, parentTakenAt };
  const slow = slowChangeOf(state, source.name, { takenAt, parentTakenAt, changes, rewritten, alone: false }, source.massChange);
  return slow && { percent, minFiles, parentTakenAt: slow.parentTakenAt, overDay: { snapshots: slow.snapshots, since: slow.since, changed: slow.changed, previousFiles: slow.previousFiles } };
}
