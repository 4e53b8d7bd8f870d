import { mapLimit } from '../core/map-limit.ts';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { IntegrityError, messageOf } from '../core/errors.ts';
import { treeSnapshotManifestPrefix } from '../core/layout.ts';
import {
  TREE_INDEX_FORMAT,
  treeEntrySchema,
  treeIndexHeaderSchema,
  type TreeEntry,
  type TreeSnapshotManifest,
} from '../core/tree-manifest.ts';
import { MANIFEST_READS, dayOf, indexTap, listSnapshots, manifestKeys, readManifest, type Store } from '../agent/tree/offsite-snapshots.ts';
import { readJsonlGzFile } from '../agent/tree/jsonl-gz.ts';

// Tree snapshots as the store holds them: their manifests under manifests/{site}/trees/ (listed,
// found by time) and each snapshot's index, downloaded and checked before anything trusts it.

export type { Store };
export { listSnapshots, readManifest };

/** The tree sources of the site that have a snapshot, from the manifests' keys alone. */
export async function treeSourcesOf(blobs: Store, site: string): Promise<string[]> {
  const prefix = treeSnapshotManifestPrefix(site);
  return [...new Set((await manifestKeys(blobs, site)).map((k) => k.slice(prefix.length).split('/')[0]!))].sort();
}

/** The oldest snapshot of the source (only the manifests of its first day are read), or undefined when it has none. */
export async function firstSnapshot(blobs: Store, site: string, source: string): Promise<TreeSnapshotManifest | undefined> {
  const keys = await manifestKeys(blobs, site, source);
  const day = keys.length > 0 ? dayOf(keys[0]!) : undefined;
  let first: TreeSnapshotManifest | undefined;
  for (const m of await mapLimit(keys.filter((k) => dayOf(k) === day), MANIFEST_READS, (key) => readManifest(blobs, key))) {
    if (!first || m.takenAt < first.takenAt) first = m;
  }
  return first;
}

/** The source's manifest keys by the day they were taken (yyyy/mm/dd), for the days up to that of `at` (an ISO time). */
async function keysByDayUpTo(blobs: Store, site: string, source: string, at: string): Promise<Map<string, string[]>> {
  const limit = at.slice(0, 10).replace(/-/g, '/');
  const byDay = new Map<string, string[]>();
  for (const key of await manifestKeys(blobs, site, source)) {
    const day = dayOf(key);
    if (day && day <= limit) byDay.set(day, [...(byDay.get(day) ?? []), key]);
  }
  return byDay;
}

/**
 * The newest snapshot taken at or before `at`. Keys are grouped by the day they were taken, so
 * only the manifests of the newest day that has one at or before `at` are read.
 */
export async function findSnapshot(blobs: Store, site: string, source: string, at: Date): Promise<{ key: string; manifest: TreeSnapshotManifest } | undefined> {
  const byDay = await keysByDayUpTo(blobs, site, source, at.toISOString());
  for (const day of [...byDay.keys()].sort().reverse()) {
    let best: { key: string; manifest: TreeSnapshotManifest } | undefined;
    const keys = byDay.get(day)!;
    const manifests = await mapLimit(keys, MANIFEST_READS, (key) => readManifest(blobs, key));
    manifests.forEach((manifest, i) => {
      if (Date.parse(manifest.takenAt) <= at.getTime() && (!best || manifest.takenAt > best.manifest.takenAt)) best = { key: keys[i]!, manifest };
    });
    if (best) return best;
  }
  return undefined;
}

/** The indexes downloaded and not yet removed: removed at the process's exit too. */
const downloaded = new Set<string>();
let sweepAtExit = false;

/**
 * A listing piped to `head` ends with process.exit at the closed pipe (cli/main.ts), which runs
 * no `finally`: without this, each `snapshots diff | head` left its two indexes (hundreds of MB
 * for a large share) in the temporary directory.
 */
function removedAtExit(dir: string): () => Promise<void> {
  if (!sweepAtExit) {
    sweepAtExit = true;
    process.once('exit', () => downloaded.forEach((d) => rmSync(d, { recursive: true, force: true })));
  }
  downloaded.add(dir);
  return async () => {
    await rm(dir, { recursive: true, force: true });
    downloaded.delete(dir);
  };
}

/** Downloads the snapshot's index to a temporary file and checks its size and SHA-256 before anything trusts it. */
export async function fetchIndex(blobs: Store, manifest: TreeSnapshotManifest): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tree-index-')).catch((error: unknown) => {
    throw tempFull(error, manifest);
  });
  const file = join(dir, 'index.jsonl.gz');
  const cleanup = removedAtExit(dir);
  try {
    const { body } = await blobs.get(manifest.index.key);
    const { tap, seen } = indexTap();
    await pipeline(body, tap, createWriteStream(file)).catch((error: unknown) => {
      throw tempFull(error, manifest);
    });
    const { size, sha256: sha } = seen();
    if (size !== manifest.index.size || sha !== manifest.index.sha256) {
      throw new IntegrityError(`the index ${manifest.index.key} is ${size} bytes sha256 ${sha.slice(0, 12)}…, its manifest says ${manifest.index.size} bytes sha256 ${manifest.index.sha256.slice(0, 12)}…: refused`);
    }
    return { file, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/**
 * A temporary directory too full for the index (ENOSPC, EDQUOT), said as such: the bare
 * `ENOSPC: no space left on device, write` of a restore read as the restore's target being full.
 */
function tempFull(error: unknown, manifest: TreeSnapshotManifest): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return error;
  return new Error(`the temporary directory ${tmpdir()} has no room for the index of snapshot ${manifest.snapshotId} (${manifest.index.size} bytes, ${code}): free space there, or set TMPDIR to a directory with room`, { cause: error });
}

/** The entries of a verified index file, each checked against the schema, in snapshot order. */
export async function* entries(file: string, manifest: TreeSnapshotManifest): AsyncGenerator<TreeEntry> {
  let header = true;
  let count = 0;
  let expected = 0;
  for await (const line of readJsonlGzFile(file)) {
    if (header) {
      const h = treeIndexHeaderSchema.safeParse(line);
      if (!h.success || h.data.snapshotId !== manifest.snapshotId) throw new IntegrityError(`the index of ${manifest.snapshotId} does not start with a ${TREE_INDEX_FORMAT} header for it`);
      expected = h.data.entries;
      header = false;
      continue;
    }
    const e = treeEntrySchema.safeParse(line);
    if (!e.success) throw new IntegrityError(`entry ${count + 1} of the index of ${manifest.snapshotId} is not valid: ${e.error.issues[0]?.message}`);
    count++;
    yield e.data;
  }
  if (header || count !== expected) throw new IntegrityError(`the index of ${manifest.snapshotId} holds ${count} entries, its header says ${expected}`);
}

/** At most this many earlier snapshots are searched for a path the chosen one does not hold… */
export const EARLIER_LOOK_SNAPSHOTS = 14;
/** …and at most this many bytes of their indexes downloaded (a million-file share's index is about 50 MB). */
export const EARLIER_LOOK_INDEX_BYTES = 256 * 1024 * 1024;

export interface EarlierHolding {
  /** The newest earlier snapshot with an entry that matches, if one of those looked at has one. */
  found?: TreeSnapshotManifest;
  /** How many earlier snapshots were looked at, and the oldest of them. */
  looked: number;
  oldestLooked?: string;
  /** Earlier snapshots left unread (the limits above). */
  more: boolean;
}

/**
 * Reads the indexes of the snapshots of the same source taken before `manifest`, newest first, a
 * day's manifests at a time, within the limits above, handing each entry to `visit` until it
 * answers true (found what it looks for): the snapshot it was in, or none.
 */
async function scanEarlier(blobs: Store, manifest: TreeSnapshotManifest, visit: (m: TreeSnapshotManifest, e: TreeEntry) => boolean, out: EarlierHolding = { looked: 0, more: false }): Promise<EarlierHolding> {
  const byDay = await keysByDayUpTo(blobs, manifest.site, manifest.source, manifest.takenAt);
  let bytes = 0;
  for (const day of [...byDay.keys()].sort().reverse()) {
    const older = (await mapLimit(byDay.get(day)!, MANIFEST_READS, (key) => readManifest(blobs, key))).filter((m) => m.takenAt < manifest.takenAt).sort((a, b) => b.takenAt.localeCompare(a.takenAt));
    for (const m of older) {
      if (out.looked >= EARLIER_LOOK_SNAPSHOTS || bytes + m.index.size > EARLIER_LOOK_INDEX_BYTES) return { ...out, more: true };
      bytes += m.index.size;
      out.looked++;
      out.oldestLooked = m.takenAt;
      const index = await fetchIndex(blobs, m);
      try {
        for await (const e of entries(index.file, m)) if (visit(m, e)) return { ...out, found: m };
      } finally {
        await index.cleanup();
      }
    }
  }
  return out;
}

/**
 * The newest snapshot of the same source taken before `manifest` that holds an entry `matches`
 * takes: what an operator asks when a file was deleted from the share ("which snapshot still
 * has yesterday's slides?").
 */
export function earlierHolding(blobs: Store, manifest: TreeSnapshotManifest, matches: (e: TreeEntry) => boolean): Promise<EarlierHolding> {
  return scanEarlier(blobs, manifest, (_m, e) => matches(e));
}

/**
 * For each of `paths` (files the snapshot left out, or directories it could not read), the newest
 * earlier snapshot that holds a file there or below it (what `--include` of the path restores):
 * one reading of each earlier index for all of them, stopped once each is found. A hint, given
 * after a restore wrote everything: an earlier snapshot that cannot be read (its index gone or
 * damaged, the store not answering) ends the search, said in `failed`, and fails nothing.
 */
export async function earlierHoldingEach(blobs: Store, manifest: TreeSnapshotManifest, paths: readonly string[]): Promise<{ each: Map<string, TreeSnapshotManifest>; failed?: string } & Omit<EarlierHolding, 'found'>> {
  const wanted = new Set(paths);
  const each = new Map<string, TreeSnapshotManifest>();
  if (wanted.size === 0) return { each, looked: 0, more: false };
  const progress: EarlierHolding = { looked: 0, more: false };
  const scanning = scanEarlier(blobs, manifest, (m, e) => {
    if (e.type !== 'file') return false;
    // The file itself, and each directory above it (a directory left out: "directory cannot be read").
    for (let at = e.path.length; at > 0; at = e.path.lastIndexOf('/', at - 1)) {
      const path = e.path.slice(0, at);
      if (wanted.delete(path)) each.set(path, m);
    }
    return wanted.size === 0;
  }, progress);
  try {
    const { found: _found, ...scan } = await scanning;
    return { each, ...scan };
  } catch (error) {
    return { each, looked: progress.looked, ...(progress.oldestLooked ? { oldestLooked: progress.oldestLooked } : {}), more: false, failed: messageOf(error) };
  }
}

/** What `earlierHolding` found, as the end of a refusal: the `--at` that has `what` (it, one of them), or how far back none did. */
export function earlierHint(h: EarlierHolding, manifest: Pick<TreeSnapshotManifest, 'site' | 'source'>, what = 'it'): string {
  if (h.found) return ` Snapshot ${h.found.snapshotId}, taken ${h.found.takenAt}, holds ${what}: add --at ${h.found.takenAt}.`;
  const list = `\`ferry snapshots list --site ${manifest.site} --source ${manifest.source}\``;
  if (h.looked === 0) return h.more ? ` Earlier snapshots were not searched (their indexes are too large to read for a hint): ${list} lists them, for --at.` : ' No earlier snapshot holds it: this is the first.';
  return h.more
    ? ` Nor does any of the ${h.looked} snapshot(s) before it, back to ${h.oldestLooked}; older ones were not searched: ${list} lists them, for --at.`
    : ` Nor does any of the ${h.looked} snapshot(s) before it, back to the first (taken ${h.oldestLooked}).`;
}
