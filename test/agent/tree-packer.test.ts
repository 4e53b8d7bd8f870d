import { describe, it, expect } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ContentIndex } from '../../agent/tree/content-index.ts';
import { FIRST_PACK_BYTES, TreePacker } from '../../agent/tree/packer.ts';

// The tree packer's in-flight journal (inflight.json) is written off the main thread, yet each
// pack's entry is on disk before the pack's first request to the store, and its members before
// its commit: what a run killed at any point needs to abort or adopt the pack.

/** A store that records, at each pack request, what inflight.json then held. */
class WatchingStore extends MemoryBlobStore {
  seen: { op: string; key: string; journal: string }[] = [];
  constructor(private readonly file: string) {
    super();
  }
  private look(op: string, key: string): void {
    this.seen.push({ op, key, journal: existsSync(this.file) ? readFileSync(this.file, 'utf8') : '' });
  }
  override async put(...a: Parameters<MemoryBlobStore['put']>) {
    if (a[0].includes('/packs/')) this.look('put', a[0]);
    return super.put(...a);
  }
  override async createMultipart(...a: Parameters<MemoryBlobStore['createMultipart']>) {
    this.look('createMultipart', a[0]);
    return super.createMultipart(...a);
  }
  override async completeMultipart(...a: Parameters<MemoryBlobStore['completeMultipart']>) {
    this.look('completeMultipart', a[0]);
    return super.completeMultipart(...a);
  }
}

function packer(dir: string, store: MemoryBlobStore): TreePacker {
  return new TreePacker({ store, site: 's', source: 'share', snapshotId: 'snap', at: new Date('2026-03-01T10:00:00Z'), dir, content: new ContentIndex(dir), verify: 'checksum', partSize: 5 << 20, partConcurrency: 2, packTargetBytes: 64 << 20 });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest();

describe('tree packer: the in-flight journal', () => {
  it("has a pack's entry on disk before the pack's PUT, and no journal left once it is published", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-packer-'));
    const store = new WatchingStore(join(dir, 'inflight.json'));
    const p = packer(dir, store);
    const body = randomBytes(3000);
    await p.addSmall(sha(body), body, new Date());
    await p.finish();
    const puts = store.seen.filter((s) => s.op === 'put');
    expect(puts).toHaveLength(1);
    expect(Object.keys(JSON.parse(puts[0]!.journal) as object)).toEqual([puts[0]!.key]);
    expect(existsSync(join(dir, 'inflight.json'))).toBe(false);
  });

  it("has a multipart pack's entry on disk before its upload starts, and its members before its commit", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-packer-'));
    const store = new WatchingStore(join(dir, 'inflight.json'));
    const p = packer(dir, store);
    const bodies = Array.from({ length: 12 }, () => randomBytes(1 << 20));
    for (const b of bodies) await p.addSmall(sha(b), b, new Date());
    await p.finish();
    const start = store.seen.find((s) => s.op === 'createMultipart')!;
    expect(Object.keys(JSON.parse(start.journal) as object)).toEqual([start.key]);
    const commit = store.seen.find((s) => s.op === 'completeMultipart')!;
    const entry = (JSON.parse(commit.journal) as Record<string, { members?: [string, number][]; uploadIds: string[] }>)[commit.key]!;
    // The first pack closes at FIRST_PACK_BYTES: its members are the first 8 bodies.
    expect(entry.members?.map(([hex]) => hex)).toEqual(bodies.slice(0, FIRST_PACK_BYTES >> 20).map((b) => sha(b).toString('hex')));
    expect(existsSync(join(dir, 'inflight.json'))).toBe(false);
  });
});
