import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, mkdirSync, openSync, readdirSync, lstatSync, readFileSync, readSync, readlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type TreeSourceConfig } from '../../core/config.ts';
import type { BlobStore } from '../../core/ports.ts';
import { isTreeSnapshotManifestKey } from '../../core/layout.ts';
import { parseTreeSnapshotManifest, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { readAll } from '../../agent/recover.ts';
import { takeTreeSnapshot, type TreeSnapshotContext } from '../../agent/tree/snapshot.ts';

// Harness for tree-source tests: a share directory, a state directory, a tree source config,
// snapshots taken on a ManualClock, and a byte-exact picture of a directory to compare a
// restore with (type, mode, mtime in ms, content, link target; names as raw bytes).

export interface TreeSite {
  dir: string;
  root: string;
  state: string;
  source: TreeSourceConfig;
  clock: ManualClock;
}

export function treeSite(extra = ''): TreeSite {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-tree-'));
  const root = join(dir, 'share');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
sources:
  - { name: share, type: tree, path: "${root}"${extra} }
`);
  return { dir, root, state: config.state, source: config.sources[0] as TreeSourceConfig, clock: new ManualClock(new Date('2026-03-01T10:00:00Z')) };
}

/**
 * The file system's clock an hour ahead by default: every file a test wrote is then settled
 * (snapshot.ts, SETTLED_MS) and compared by its ms times, the way most files of a share are; a
 * test of the settling window passes its own `fs.now`.
 */
export function snapshotContext(site: TreeSite, store: BlobStore, over: Partial<TreeSnapshotContext> = {}): TreeSnapshotContext {
  const fs = { now: () => Date.now() + 3_600_000, ...over.fs };
  return { site: 'site-a', source: site.source, store, clock: site.clock, verify: 'read-back', state: site.state, partSize: 5 * 1024 * 1024, partConcurrency: 2, retryDelayMs: 1, ...over, fs };
}

export function snapshot(site: TreeSite, store: BlobStore, over: Partial<TreeSnapshotContext> = {}) {
  return takeTreeSnapshot(snapshotContext(site, store, over));
}

export async function treeManifests(store: BlobStore): Promise<TreeSnapshotManifest[]> {
  const out: TreeSnapshotManifest[] = [];
  for await (const o of store.list('manifests/')) if (isTreeSnapshotManifestKey(o.key)) out.push(parseTreeSnapshotManifest(await readAll(store, o.key)));
  return out;
}

/** A file's bytes as base64 (a difference shows), or above 64 KiB their SHA-256, read 1 MiB at a time (a 200 MB file is never held). */
/** Writes `mib` MiB of random content that differs in every MiB, one MiB at a time (a large file is never held whole). */
export function writeLargeFile(path: string, mib: number): void {
  const block = randomBytes(1024 * 1024);
  const fd = openSync(path, 'w');
  try {
    for (let i = 0; i < mib; i++) {
      block.writeUInt32BE(i, 0);
      writeSync(fd, block);
    }
  } finally {
    closeSync(fd);
  }
}

function content(path: Buffer, size: bigint): string {
  if (size <= 65_536n) return readFileSync(path).toString('base64');
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  const fd = openSync(path, 'r');
  try {
    for (let n; (n = readSync(fd, buffer)) > 0; ) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return `sha256 ${hash.digest('hex')} (${size} bytes)`;
}

/** Every path under `root` (raw bytes as latin1 keys) with what a restore must reproduce. */
export function picture(root: string, withDirTimes = true): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: Buffer, rel: string) => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const a = Buffer.concat([abs, Buffer.from('/'), name]);
      const r = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      const st = lstatSync(a, { bigint: true });
      const mode = (st.mode & 0o7777n).toString(8);
      const ms = st.mtimeNs / 1_000_000n; // exact: a float mtimeMs can round up past the millisecond
      if (st.isSymbolicLink()) out.set(r, `link ${readlinkSync(a, { encoding: 'buffer' }).toString('latin1')}`);
      else if (st.isDirectory()) {
        out.set(r, `dir ${mode}${withDirTimes ? ` ${ms}` : ''}`);
        walk(a, r);
      } else if (st.isFile()) out.set(r, `file ${mode} ${ms} ${content(a, st.size)}`);
    }
  };
  walk(Buffer.from(root), '');
  return out;
}
