import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { mapLimit } from '../../core/map-limit.ts';
import { treeSnapshotManifestPrefix } from '../../core/layout.ts';
import type { BlobStore } from '../../core/ports.ts';
import { parseTreeSnapshotManifest, snapshotSummary, type SnapshotSummary, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { readAll } from '../recover.ts';

// Tree snapshots as the store lists them: their manifests under manifests/{site}/trees/, filed
// by the day they were taken. Read by `ferry snapshots list` and the restore (cli/tree-snapshots.ts),
// and by a snapshot whose state directory never took one (snapshot-steps.ts: is an empty root a
// share not mounted yet?).

export type Store = Pick<BlobStore, 'get' | 'list'>;

/** Every snapshot manifest key of the site (or of one source), in key order (by day). */
export async function manifestKeys(blobs: Store, site: string, source?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of blobs.list(treeSnapshotManifestPrefix(site, source))) if (o.key.endsWith('.json')) keys.push(o.key);
  return keys;
}

export async function readManifest(blobs: Store, key: string): Promise<TreeSnapshotManifest> {
  return parseTreeSnapshotManifest(await readAll(blobs, key));
}

/** Manifests read at once: a store far away answers each in tens of milliseconds. */
export const MANIFEST_READS = 16;

/**
 * Every snapshot of the site (or of one source), oldest first; with `newest`, only the newest
 * N, reading the manifests of the newest days only (keys are filed by day, not by time within it).
 */
export async function listSnapshots(blobs: Store, site: string, source?: string, newest?: number): Promise<SnapshotSummary[]> {
  let keys = await manifestKeys(blobs, site, source);
  if (newest !== undefined) {
    const days = [...new Set(keys.map(dayOf))].sort().reverse();
    const wanted = new Set<string>();
    let count = 0;
    for (const day of days) {
      if (count >= newest) break;
      wanted.add(day);
      count += keys.filter((k) => dayOf(k) === day).length;
    }
    keys = keys.filter((k) => wanted.has(dayOf(k)));
  }
  const out = await mapLimit(keys, MANIFEST_READS, async (key) => snapshotSummary(await readManifest(blobs, key), key));
  const sorted = out.sort((a, b) => a.takenAt.localeCompare(b.takenAt) || a.source.localeCompare(b.source));
  return newest === undefined ? sorted : sorted.slice(-newest);
}

/** The day a manifest key is filed under (`yyyy/mm/dd`), or '' for another key. */
export const dayOf = (key: string) => /\/(\d{4}\/\d{2}\/\d{2})\/[^/]+$/.exec(key)?.[1] ?? '';

/**
 * A pass-through that counts and hashes what a snapshot's index body carries, for checking it
 * against its manifest (`index.size`, `index.sha256`) once read: `seen()` after the stream ended.
 */
export function indexTap(): { tap: Transform; seen: () => { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { tap, seen: () => ({ size, sha256: hash.digest('hex') }) };
}
