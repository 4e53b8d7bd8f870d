import { z } from 'zod';
import { InvalidInputError } from './errors.ts';
import { parseRecord, shippedBySchema, type ShippedBy } from './manifest.ts';

// A `tree` source (file shares: meeting content, address books, compliance logs) is shipped as
// incremental snapshots, the restic/kopia way:
//
//   trees/{site}/{source}/packs/{yyyy}/{mm}/{dd}/{packId}[-n].tar   content packs: plain POSIX tar,
//        one member per distinct content (member name = its SHA-256), written once, shared by
//        every later snapshot that still holds that content
//   trees/{site}/{source}/index/{snapshotId}.jsonl.gz               the snapshot's file list: one
//        JSON line per entry (TreeEntry), sorted by path, gzip; streamed, never held whole
//   manifests/{site}/trees/{source}/{yyyy}/{mm}/{dd}/{snapshotId}.json   the snapshot manifest:
//        small, written LAST; names the index (with its SHA-256) and every pack the snapshot
//        needs. A snapshot without its manifest does not exist for anyone.
//
// The catalogue, the purge and retention read the manifest only; restore streams the index.

export const TREE_SNAPSHOT_FORMAT = 'ferry.tree-snapshot/1';
export const TREE_INDEX_FORMAT = 'ferry.tree-index/1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256');
const isoTime = z.string().datetime({ offset: true });

export const SNAPSHOT_ID_PATTERN = /^s[0-9a-f]{23}$/;
export const TREE_PACK_ID_PATTERN = /^t[0-9a-f]{23}$/;

/** One path in a snapshot (one line of the index). Paths are relative, `/`-separated. */
export const treeEntrySchema = z
  .object({
    /** Relative path, UTF-8. For a name that is not valid UTF-8 this is a lossy rendering and `pathBytes` holds the truth. */
    path: z.string().min(1),
    /** Base64 of the raw path bytes, present only when the name is not valid UTF-8. */
    pathBytes: z.string().optional(),
    type: z.enum(['file', 'dir', 'symlink']),
    /** File mode bits (permissions, `& 0o7777`). */
    mode: z.number().int().nonnegative(),
    mtime: isoTime,
    /** Files: byte length; dirs and links: 0. */
    size: z.number().int().nonnegative(),
    /** Files: SHA-256 of the content. */
    sha256: sha256Hex.optional(),
    /** Files: index into the manifest's `packs` array, and the content's data offset in that tar. */
    pack: z.number().int().nonnegative().optional(),
    offset: z.number().int().nonnegative().optional(),
    /** Symlinks: the link text, stored as is, never followed. */
    target: z.string().optional(),
  })
  .strict();
export type TreeEntry = z.infer<typeof treeEntrySchema>;

/** First line of the index: what follows, so a reader refuses an index it does not know. */
export const treeIndexHeaderSchema = z.object({
  format: z.literal(TREE_INDEX_FORMAT),
  snapshotId: z.string().regex(SNAPSHOT_ID_PATTERN),
  entries: z.number().int().nonnegative(),
});

const count = z.number().int().nonnegative();
export const treeChangesSchema = z.object({
  /** Files the parent snapshot held. */
  previousFiles: count,
  /** Of those, files whose content changed: `rewritten` plus `replaced`. */
  changed: count,
  /** Files at the same path with another content. */
  rewritten: count,
  /** Files of the parent gone, as many as there are new paths whose content was new to the store (renamed as they were rewritten: `report.docx` → `report.docx.locked`). */
  replaced: count,
});
export type TreeChanges = z.infer<typeof treeChangesSchema>;

export const treeSnapshotManifestSchema = z.object({
  format: z.literal(TREE_SNAPSHOT_FORMAT),
  kind: z.literal('tree-snapshot'),
  site: z.string().min(1),
  source: z.string().min(1),
  snapshotId: z.string().regex(SNAPSHOT_ID_PATTERN),
  /** When the walk of the tree started: the snapshot's point in time (restore `--at` compares with this). */
  takenAt: isoTime,
  /** When the manifest was written (after every pack and the index). */
  createdAt: isoTime,
  /** The snapshot this one was made incrementally from, if any. */
  parent: z.string().regex(SNAPSHOT_ID_PATTERN).optional(),
  counts: z.object({
    files: z.number().int().nonnegative(),
    dirs: z.number().int().nonnegative(),
    symlinks: z.number().int().nonnegative(),
    /** Files read this time (new or changed); the rest were taken from the parent unread. */
    filesRead: z.number().int().nonnegative(),
    /** Problems reported (unreadable, special, changed while read, vanished): see `problems`. */
    problems: z.number().int().nonnegative(),
  }),
  bytes: z.object({
    /** Sum of file sizes in the snapshot (what a full restore writes). */
    total: z.number().int().nonnegative(),
    /** Bytes of content newly packed by this snapshot (what it added to the store). */
    added: z.number().int().nonnegative(),
  }),
  index: z.object({ key: z.string().min(1), size: z.number().int().positive(), sha256: sha256Hex }),
  /** Every pack any entry points at (entries use the position in this array). */
  packs: z.array(z.object({ key: z.string().min(1), size: z.number().int().positive(), sha256: sha256Hex })),
  /** Up to 100 problems, each naming the path and what happened; `counts.problems` has the total. */
  problems: z.array(z.object({ path: z.string(), problem: z.string() })).max(100),
  /** What changed since the parent, when the agent still had the parent's local index (docs/file-shares.md, "A snapshot that changed most files"). */
  changes: treeChangesSchema.optional(),
  /**
   * Present when `changes` crossed the source's `massChange` threshold: the agent raised a
   * critical alert, and the daily report names the snapshot. `parentTakenAt`: the restore point before it.
   */
  massChange: z
    .object({
      percent: z.number().positive().max(100),
      minFiles: z.number().int().positive(),
      parentTakenAt: isoTime,
      /**
       * Present when no snapshot crossed the threshold alone but the snapshots of the last day did
       * together, this one last (a share encrypted over several passes): how many, since when, and
       * how many of the files the first started from they changed. `parentTakenAt` is the
       * snapshot before the first of them.
       */
      overDay: z.object({ snapshots: count, since: isoTime, changed: count, previousFiles: count }).optional(),
    })
    .optional(),
  /** The agent that took the snapshot (absent from manifests of before 2026-12-07). */
  shippedBy: shippedBySchema.optional(),
});
export type TreeSnapshotManifest = z.infer<typeof treeSnapshotManifestSchema>;

export function parseTreeSnapshotManifest(bytes: Uint8Array | string): TreeSnapshotManifest {
  return parseRecord(treeSnapshotManifestSchema, bytes, 'tree snapshot manifest', (message, options) => new InvalidInputError(message, options));
}

/** What the catalogue holds per snapshot and the API lists (`GET /sites/{site}/snapshots`). */
export interface SnapshotSummary {
  site: string;
  source: string;
  snapshotId: string;
  takenAt: string;
  manifestKey: string;
  files: number;
  dirs: number;
  symlinks: number;
  problems: number;
  bytesTotal: number;
  bytesAdded: number;
  packs: number;
  /** The agent that took it (the manifest's `shippedBy`); absent for a snapshot of before 2026-12-07. */
  shippedBy?: ShippedBy;
  /** The snapshot changed most of the files its parent held (the manifest's `massChange`): what the daily report says of it. */
  massChange?: { changed: number; previousFiles: number; parentTakenAt: string; /** Changed over this many snapshots of a day, this one last (the manifest's `massChange.overDay`). */ snapshots?: number };
}

export function snapshotSummary(manifest: TreeSnapshotManifest, manifestKey: string): SnapshotSummary {
  return {
    site: manifest.site,
    source: manifest.source,
    snapshotId: manifest.snapshotId,
    takenAt: manifest.takenAt,
    manifestKey,
    files: manifest.counts.files,
    dirs: manifest.counts.dirs,
    symlinks: manifest.counts.symlinks,
    problems: manifest.counts.problems,
    bytesTotal: manifest.bytes.total,
    bytesAdded: manifest.bytes.added,
    packs: manifest.packs.length,
    ...(manifest.shippedBy ? { shippedBy: manifest.shippedBy } : {}),
    ...massChangeSummary(manifest),
  };
}

function massChangeSummary({ massChange, changes }: TreeSnapshotManifest): Pick<SnapshotSummary, 'massChange'> {
  if (massChange?.overDay) return { massChange: { changed: massChange.overDay.changed, previousFiles: massChange.overDay.previousFiles, parentTakenAt: massChange.parentTakenAt, snapshots: massChange.overDay.snapshots } };
  return massChange && changes ? { massChange: { changed: changes.changed, previousFiles: changes.previousFiles, parentTakenAt: massChange.parentTakenAt } } : {};
}

/** What a snapshot's walk counted against the snapshot before (agent/tree/snapshot.ts): files met again at their path, those of them rewritten, new paths with content new to the store. */
export interface ChangeCounts {
  matched: number;
  rewritten: number;
  newContent: number;
}

/**
 * What changed since the previous snapshot, from the walk's counts: files at the same path with
 * another content, and files gone matched by as many new paths with new content (ransomware that
 * renames as it encrypts). A folder renamed or moved keeps its content: its new paths are not new
 * content. Asked only with a previous local index to compare with: without one (a first snapshot,
 * a lost state directory) nothing is known of what changed.
 */
export function changesSince(previousFiles: number, change: ChangeCounts): TreeChanges {
  const gone = Math.max(0, previousFiles - change.matched);
  const replaced = Math.min(gone, change.newContent);
  return { previousFiles, changed: change.rewritten + replaced, rewritten: change.rewritten, replaced };
}

/** Whether `changes` crosses `threshold`: at least `minFiles` files changed, and at least `percent` % of those the parent held. */
export function crossesMassChange(changes: Pick<TreeChanges, 'changed' | 'previousFiles'>, threshold: { percent: number; minFiles: number } | false): boolean {
  if (threshold === false || changes.previousFiles === 0) return false;
  return changes.changed >= threshold.minFiles && changes.changed * 100 >= threshold.percent * changes.previousFiles;
}
