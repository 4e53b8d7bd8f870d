// A share encrypted over several passes (ransomware working for an hour while the agent takes a
// snapshot every five minutes) changes a part of the files in each snapshot, none of them over
// the source's massChange threshold. The changes of the snapshots of the last day are kept in the
// state directory (`tree-changes-{source}.json`) and judged together against the files the first
// of them started from: over the threshold, the share changed most of its files within a day.
// massChangeOf is what a snapshot's manifest records of both judgements.
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
}

export interface SlowChange {
  changed: number;
  /** The files of the snapshot the window starts from. */
  previousFiles: number;
  since: string;
  parentTakenAt: string;
  snapshots: number;
}

const fileOf = (state: string, source: string) => join(state, `tree-changes-${source}.json`);

/**
 * Records one snapshot's changes and says whether the snapshots of the last day together changed
 * `percent` % (and at least `minFiles`) of the files the first of them started from. Once said,
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
  /** Over the threshold on its own (alerted by itself): the window starts again. */
  alone: boolean;
}

function weigh(state: string, source: string, snapshot: SnapshotChanges, threshold: { percent: number; minFiles: number }): { entries: Entry[]; over?: SlowChange } {
  const now = Date.parse(snapshot.takenAt);
  const kept = (readJsonFile<Entry[]>(fileOf(state, source)) ?? []).filter((e) => now - Date.parse(e.takenAt) < SLOW_CHANGE_WINDOW_MS && Date.parse(e.takenAt) <= now);
  if (snapshot.alone) return { entries: [] };
  const entries = [...kept, { takenAt: snapshot.takenAt, parentTakenAt: snapshot.parentTakenAt, changed: snapshot.changes.changed, previousFiles: snapshot.changes.previousFiles }];
  const first = entries[0]!;
  const changed = entries.reduce((n, e) => n + e.changed, 0);
  const over = entries.length > 1 && crossesMassChange({ changed, previousFiles: first.previousFiles }, threshold);
  return over ? { entries, over: { changed: Math.min(changed, first.previousFiles), previousFiles: first.previousFiles, since: first.takenAt, parentTakenAt: first.parentTakenAt, snapshots: entries.length } } : { entries };
}

/**
 * The manifest's `massChange`: this snapshot changed most files of the one before, or the
 * snapshots of the last day did together, this one last (agent/tree/slow-change.ts; the alert is
 * raised once the manifest is out, agent/sources/tree.ts).
 */
export function massChangeOf(state: string, source: TreeSourceConfig, takenAt: string, parentTakenAt: string | undefined, changes: TreeChanges | undefined): TreeSnapshotManifest['massChange'] {
  if (!changes || parentTakenAt === undefined || source.massChange === false) return undefined;
  const { percent, minFiles } = source.massChange;
  if (crossesMassChange(changes, source.massChange)) return { percent, minFiles, parentTakenAt };
  const slow = slowChangeOf(state, source.name, { takenAt, parentTakenAt, changes, alone: false }, source.massChange);
  return slow && { percent, minFiles, parentTakenAt: slow.parentTakenAt, overDay: { snapshots: slow.snapshots, since: slow.since, changed: slow.changed, previousFiles: slow.previousFiles } };
}
