import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { treeIndexKey, treePackKey, treeSnapshotManifestKey } from '../../core/layout.ts';
import type { BlobStore } from '../../core/ports.ts';
import { endOfArchive, fileHeaders, padding } from '../../core/tar.ts';
import { TREE_INDEX_FORMAT, TREE_SNAPSHOT_FORMAT, type TreeEntry, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';

// Small real tree snapshots for the cloud side's tests: content packs are POSIX tars (one member
// per content, named by its SHA-256), the index is gzip JSON lines, the manifest is written last,
// as core/tree-manifest.ts describes. Packs are built once and listed by any snapshot, so tests
// choose how snapshots share packs.

const sha = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export interface TreePackFixture {
  key: string;
  size: number;
  sha256: string;
  members: { sha256: string; offset: number; size: number }[];
}

let packSeq = 0;

/** Publishes one content pack of `contents` under trees/{site}/{source}/packs/. */
export async function publishTreePack(blobs: Pick<BlobStore, 'put'>, site: string, source: string, at: Date, contents: string[]): Promise<TreePackFixture> {
  const id = `t${sha(`${site}/${source}/${at.toISOString()}/${++packSeq}/${contents.join('\0')}`).slice(0, 23)}`;
  const parts: Buffer[] = [];
  const members: TreePackFixture['members'] = [];
  let offset = 0;
  for (const text of contents) {
    const body = Buffer.from(text);
    const hash = sha(body);
    const header = fileHeaders(hash, body.length, at);
    parts.push(header, body, Buffer.alloc(padding(body.length)));
    members.push({ sha256: hash, offset: offset + header.length, size: body.length });
    offset += header.length + body.length + padding(body.length);
  }
  parts.push(endOfArchive());
  const tar = Buffer.concat(parts);
  const key = treePackKey(site, source, id, at);
  await blobs.put(key, tar, { ifNoneMatch: true });
  return { key, size: tar.length, sha256: sha(tar), members };
}

export interface SnapshotFixture {
  manifest: TreeSnapshotManifest;
  manifestKey: string;
}

export function snapshotIdOf(site: string, source: string, takenAt: string): string {
  return `s${sha(`${site}/${source}/${takenAt}`).slice(0, 23)}`;
}

/**
 * Publishes a snapshot listing every member of `packs` as a file (`f{pack}-{member}`): its index,
 * then its manifest (last). `edit` may change the manifest before it is written (bad-input tests).
 */
export async function publishSnapshot(
  blobs: Pick<BlobStore, 'put'>,
  opts: { site: string; source: string; takenAt: string; packs: TreePackFixture[]; edit?: (m: TreeSnapshotManifest) => void; manifestKey?: string },
): Promise<SnapshotFixture> {
  const { site, source, takenAt, packs } = opts;
  const snapshotId = snapshotIdOf(site, source, takenAt);
  const entries: TreeEntry[] = packs.flatMap((p, i) =>
    p.members.map((m, j) => ({ path: `f${i}-${j}`, type: 'file' as const, mode: 0o644, mtime: takenAt, size: m.size, sha256: m.sha256, pack: i, offset: m.offset })),
  );
  const lines = [JSON.stringify({ format: TREE_INDEX_FORMAT, snapshotId, entries: entries.length }), ...entries.map((e) => JSON.stringify(e))];
  const index = gzipSync(Buffer.from(`${lines.join('\n')}\n`));
  const indexKey = treeIndexKey(site, source, snapshotId);
  await blobs.put(indexKey, index, { ifNoneMatch: true });
  const total = entries.reduce((n, e) => n + e.size, 0);
  const manifest: TreeSnapshotManifest = {
    format: TREE_SNAPSHOT_FORMAT,
    kind: 'tree-snapshot',
    site,
    source,
    snapshotId,
    takenAt,
    createdAt: takenAt,
    counts: { files: entries.length, dirs: 0, symlinks: 0, filesRead: entries.length, problems: 0 },
    bytes: { total, added: total },
    index: { key: indexKey, size: index.length, sha256: sha(index) },
    packs: packs.map((p) => ({ key: p.key, size: p.size, sha256: p.sha256 })),
    problems: [],
  };
  opts.edit?.(manifest);
  const manifestKey = opts.manifestKey ?? treeSnapshotManifestKey(site, source, snapshotId, new Date(takenAt));
  await blobs.put(manifestKey, Buffer.from(JSON.stringify(manifest)), { ifNoneMatch: true });
  return { manifest, manifestKey };
}
