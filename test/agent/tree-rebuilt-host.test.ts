import { describe, it, expect } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { picture, snapshot, treeSite } from './tree-support.ts';

// A tree source on a host rebuilt with an empty state directory: the share is in the store
// already, and the first snapshot of the new directory must not store it a second time.

async function packKeys(store: BlobStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('trees/site-a/share/packs/')) out.push(o.key);
  return out.sort();
}

describe('a tree source whose state directory was lost', () => {
  it('packs only the content the store does not hold: the newest snapshot offsite seeds the content index, and the new snapshot restores whole', async () => {
    const site = treeSite();
    for (let i = 0; i < 30; i++) writeFileSync(join(site.root, `doc${i}.txt`), `document ${i} `.repeat(200));
    const store = new MemoryBlobStore();
    await snapshot(site, store);
    const before = await packKeys(store);
    expect(before).toHaveLength(1);

    rmSync(site.state, { recursive: true });
    writeFileSync(join(site.root, 'new.txt'), 'written after the host died');
    site.clock.advance(3_600_000);
    const { manifest } = await snapshot(site, store);
    expect(manifest.counts).toMatchObject({ files: 31, problems: 0 });
    expect(manifest.bytes.added).toBe('written after the host died'.length);
    const after = await packKeys(store);
    expect(after.filter((k) => !before.includes(k))).toHaveLength(1);
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'restored') });
    expect(picture(join(site.dir, 'restored'))).toEqual(picture(site.root));
  });

  it('packs every file again when the newest snapshot\'s index is not what its manifest says (nothing taken from it)', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) writeFileSync(join(site.root, `doc${i}.txt`), `document ${i}`);
    const store = new MemoryBlobStore();
    const { manifest: first } = await snapshot(site, store);
    await store.put(first.index.key, Buffer.from('not the index'));
    rmSync(site.state, { recursive: true });
    site.clock.advance(3_600_000);
    const { manifest } = await snapshot(site, store);
    expect(manifest.bytes.added).toBe(first.bytes.added);
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'restored') });
    expect(picture(join(site.dir, 'restored'))).toEqual(picture(site.root));
  });
});
