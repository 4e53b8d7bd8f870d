import { describe, it, expect } from 'vitest';
import { openSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CountingBlobStore } from '../support/counting-blob-store.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { picture, snapshot, treeManifests, treeSite } from './tree-support.ts';

// A share whose files are written once and kept (meeting recordings, exported reports): each
// day's snapshot packs that day's new files, and every later snapshot reuses every one of those
// packs. Before it publishes, a snapshot looks at each pack it reuses (the purge may have removed
// one meanwhile); one HEAD a pack grew with the site's age, a thousand a snapshot by its third year.

const T = new Date('2026-02-01T08:00:00Z');
const write = (path: string, data: string) => {
  writeFileSync(path, data);
  utimesSync(path, T, T);
};
const PACKS = '/share/packs/';

/** `days` daily snapshots of a share that gains one file a day. */
async function daysOfShare(days: number) {
  const site = treeSite();
  const store = new CountingBlobStore();
  for (let d = 0; d < days; d++) {
    write(join(site.root, `report-${d}.txt`), `report of day ${d}`);
    await snapshot(site, store);
    site.clock.advance(86_400_000);
  }
  return { site, store };
}

describe('a tree snapshot of a share written over years', () => {
  it('checks the 20 packs it reuses with one listing of the packs, not a HEAD each', async () => {
    const { site, store } = await daysOfShare(20);
    write(join(site.root, 'report-20.txt'), 'report of day 20');
    store.reset();
    const { manifest } = await snapshot(site, store);
    expect(manifest.packs.length).toBe(21);
    expect(store.heads.filter((k) => k.includes(PACKS))).toEqual([]);
    // One listing to learn what the purge left, one just before the manifest is published.
    expect(store.lists.filter((k) => k.includes(PACKS))).toHaveLength(2);
  });

  it('publishes nothing when one of those 20 packs is purged meanwhile, and packs its content again next pass', async () => {
    const { site, store } = await daysOfShare(20);
    const first = (await treeManifests(store))[0]!;
    write(join(site.root, 'report-20.txt'), 'report of day 20');
    const purge = (p: Buffer, flags: number) => {
      // While the snapshot reads the new report, the purge deletes the first day's pack.
      if (p.toString().endsWith('report-20.txt')) void store.delete(first.packs[0]!.key);
      return openSync(p, flags);
    };
    await expect(snapshot(site, store, { fs: { openSync: purge } })).rejects.toThrow(/^1 pack\(s\) this snapshot reuses were removed meanwhile .*: not published/);
    expect(await treeManifests(store)).toHaveLength(20);
    site.clock.advance(60_000);
    const { manifest } = await snapshot(site, store);
    for (const p of manifest.packs) expect(await store.head(p.key)).toBeDefined();
    await restoreTree({ blobs: store, manifest, to: join(site.dir, 'r') });
    expect(picture(join(site.dir, 'r'))).toEqual(picture(site.root));
  });
});
