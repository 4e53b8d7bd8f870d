import { describe, expect, it } from 'vitest';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// A catalogue table restored to a point before a purge lists calls the purge deleted since: the
// rebuild (which reads the manifests left) forgets them, so no search offers a call that cannot
// be played; an entry whose pack is still there is kept whatever its manifest.

describe('catalogue rebuild after the table was restored to before a purge', () => {
  it('forgets the entries whose manifest and pack are both gone, keeps the rest, and counts them', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const kept = buildPack('site-a', [{ path: 'b1/a.wav', body: audio(1, 800) }], { day: '2026-01-10T00:00:00Z', seed: 'kept' });
    const purged = buildPack('site-a', [{ path: 'b2/b.wav', body: audio(2, 800) }, { path: 'b2/c.wav', body: audio(3, 800) }], { day: '2025-01-10T00:00:00Z', seed: 'purged' });
    for (const f of [kept, purged]) {
      await publish(blobs, f);
      await ingestManifest({ blobs, catalogue }, f.manifestKey);
    }
    // The purge deletes pack and manifest; the table is then restored to a point before it.
    await blobs.delete(purged.packKey);
    await blobs.delete(purged.manifestKey);
    const report = await rebuildCatalogue({ blobs, catalogue });
    expect(report).toMatchObject({ ok: 1, recordings: 1, forgotten: 2, failed: [] });
    const left = (await catalogue.searchRecordings({ site: 'site-a' })).items.map((e) => e.rid);
    expect(left).toEqual([kept.manifest.members[0]!.rid]);
    // Run again: nothing left to forget.
    expect((await rebuildCatalogue({ blobs, catalogue })).forgotten).toBe(0);
  });
});
