import { createHash } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { treeSnapshotManifestKey } from '../../core/layout.ts';
import type { TreeEntry, TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { readAll } from '../../agent/recover.ts';
import { snapshot, treeSite } from '../agent/tree-support.ts';

// A small share and its snapshot for the tree restore tests (test/cli/tree-restore*.test.ts).

export const T = new Date('2026-02-01T08:00:00Z');
export const write = (path: string, data: string | Buffer) => {
  writeFileSync(path, data);
  utimesSync(path, T, T);
};

export async function share() {
  const site = treeSite();
  mkdirSync(join(site.root, 'docs'));
  write(join(site.root, 'docs', 'a.xml'), '<a/>');
  write(join(site.root, 'docs', 'b.bin'), Buffer.alloc(50_000, 9));
  write(join(site.root, 'top.txt'), 'top');
  const store = new MemoryBlobStore();
  const { manifest } = await snapshot(site, store);
  return { site, store, manifest };
}

/** Publishes a copy of the snapshot whose index entries were edited (what a tampered or buggy index looks like). */
export async function tampered(store: MemoryBlobStore, m: TreeSnapshotManifest, edit: (e: TreeEntry[]) => TreeEntry[]): Promise<TreeSnapshotManifest> {
  const lines = gunzipSync(await readAll(store, m.index.key)).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const entries = edit(lines.slice(1) as TreeEntry[]);
  const snapshotId = `s${'f'.repeat(23)}`;
  const body = gzipSync(`${[{ ...lines[0], snapshotId, entries: entries.length }, ...entries].map((l) => JSON.stringify(l)).join('\n')}\n`);
  const key = m.index.key.replace(m.snapshotId, snapshotId);
  await store.put(key, body);
  const manifest = { ...m, snapshotId, index: { key, size: body.length, sha256: createHash('sha256').update(body).digest('hex') } };
  await store.put(treeSnapshotManifestKey(m.site, m.source, snapshotId, new Date(m.takenAt)), Buffer.from(JSON.stringify(manifest)));
  return manifest;
}

export const sink = () => {
  const chunks: Buffer[] = [];
  return { stream: new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }), text: () => Buffer.concat(chunks).toString() };
};
