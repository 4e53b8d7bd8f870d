import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { ingestChecked } from '../../core/ingest-checked.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { BlobInfo } from '../../core/ports.ts';
import { BlobStoreDeleter, deletePurgeBatch, type ObjectDeleter } from '../../core/purge.ts';
import type { BatchTarget } from '../../core/retention.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// `ferry catalogue rebuild` beside the site's purge (no lock between them): whatever the
// interleaving, the rebuild must not leave catalogue items for data the purge deleted, which no
// later purge would remove (their manifest is gone too). The real purge delete step runs at the
// worst moment the rebuild allows it.

const NOW = new Date('2026-06-01T00:00:00.000Z');

async function purgeDeps(blobs: MemoryBlobStore, catalogue: MemoryCatalogue, deleter: ObjectDeleter = new BlobStoreDeleter(blobs)) {
  const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
  const grant = await locks.acquire({ site: 'site-a', holder: 'purge-1', operation: 'purge' });
  return { run: (targets: BatchTarget[]) => deletePurgeBatch({ deleter, locks, blobs, catalogue }, 'site-a', grant.token, { index: 0, targets }) };
}

/** A store whose first HEAD of `key` is answered as it was, after `meanwhile` ran (the purge, between the rebuild's check and its write). */
class PurgeAtHead extends MemoryBlobStore {
  meanwhile?: () => Promise<unknown>;
  constructor(private readonly key: () => string) {
    super();
  }
  override async head(key: string): Promise<BlobInfo | undefined> {
    const before = await super.head(key);
    if (key === this.key() && this.meanwhile) {
      const run = this.meanwhile;
      this.meanwhile = undefined;
      await run();
    }
    return before;
  }
}

/** A store whose second HEAD of `key` (a checked ingest's look after its write) is answered after `meanwhile` ran. */
class PurgeBeforeSecondHead extends MemoryBlobStore {
  meanwhile?: () => Promise<unknown>;
  private heads = 0;
  constructor(private readonly key: string) {
    super();
  }
  override async head(key: string): Promise<BlobInfo | undefined> {
    if (key === this.key && ++this.heads === 2) await this.meanwhile?.();
    return super.head(key);
  }
}

describe('catalogue rebuild beside a purge', () => {
  it('forgets again the entries and PACK record it wrote for a pack the purge deleted between its check of the pack and its write', async () => {
    const f = buildPack('site-a', [{ path: 'b1/a.wav', body: audio(1, 800) }, { path: 'b1/b.wav', body: audio(2, 800) }], { day: '2025-01-10T00:00:00Z' });
    const blobs = new PurgeAtHead(() => f.packKey);
    const catalogue = new MemoryCatalogue();
    await publish(blobs, f);
    const purge = await purgeDeps(blobs, catalogue);
    blobs.meanwhile = () => purge.run([{ key: f.packKey, then: f.manifestKey, kind: 'pack' }]);

    const report = await rebuildCatalogue({ blobs, catalogue }, { site: 'site-a' });

    expect(await blobs.head(f.manifestKey)).toBeUndefined();
    expect(await catalogue.getPack('site-a', f.manifest.packId)).toBeUndefined();
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items).toEqual([]);
    expect(report).toMatchObject({ ok: 0, purgedMeanwhile: 1, failed: [] });
  });

  it('forgets again the entry it wrote for a backup the purge deleted between its check of the object and its write', async () => {
    let objectKey = '';
    const blobs = new PurgeAtHead(() => objectKey);
    const catalogue = new MemoryCatalogue();
    const m = await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'db.bak', body: Buffer.from('backup'), takenAt: '2025-01-10T03:00:00.000Z' });
    objectKey = m.key;
    const purge = await purgeDeps(blobs, catalogue);
    const manifestKey = `manifests/site-a/backups/db/${m.artefactId}.json`;
    blobs.meanwhile = () => purge.run([{ key: m.key, then: manifestKey, kind: 'full' }]);

    const report = await rebuildCatalogue({ blobs, catalogue }, { site: 'site-a' });

    expect(await blobs.head(manifestKey)).toBeUndefined();
    expect((await catalogue.listArtefacts({ site: 'site-a' })).items).toEqual([]);
    expect(report).toMatchObject({ ok: 0, purgedMeanwhile: 1, failed: [] });
  });

  it('leaves no snapshot item when the purge forgot it before the rebuild wrote it and deleted its manifest only after the rebuild looked again', async () => {
    let manifestKey = '';
    const blobs = new PurgeAtHead(() => manifestKey);
    const catalogue = new MemoryCatalogue();
    const pack = await publishTreePack(blobs, 'site-a', 'share', new Date('2025-01-10T00:00:00Z'), ['one']);
    const snap = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2025-01-10T01:00:00.000Z', packs: [pack] });
    manifestKey = snap.manifestKey;
    // The purge forgets the item, then waits at its delete of the manifest until the rebuild has written the item and looked at the manifest again.
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const atDelete = new Promise<void>((resolve) => (entered = resolve));
    const inner = new BlobStoreDeleter(blobs);
    const deleter: ObjectDeleter = {
      deleteObjects: async (keys) => {
        if (keys.includes(snap.manifestKey)) {
          entered();
          await gate;
        }
        return inner.deleteObjects(keys);
      },
    };
    const purge = await purgeDeps(blobs, catalogue, deleter);
    const purging = purge.run([{ key: snap.manifestKey, then: snap.manifest.index.key, kind: 'snapshot' }]);
    await atDelete;
    blobs.meanwhile = async () => release();

    await rebuildCatalogue({ blobs, catalogue }, { site: 'site-a' });
    await purging;

    expect(await blobs.head(snap.manifestKey)).toBeUndefined();
    expect((await catalogue.listSnapshots({ site: 'site-a' })).items).toEqual([]);
  });

  it("keeps the entry of a call the purge copied to another pack before deleting the one being catalogued again: only the entries still naming the deleted pack are forgotten", async () => {
    const members = [{ path: 'b1/a.wav', body: audio(1, 800) }, { path: 'b1/held.wav', body: audio(2, 800) }];
    const f = buildPack('site-a', members, { day: '2025-01-10T00:00:00Z', seed: 'first' });
    const copy = buildPack('site-a', [members[1]!], { day: '2025-01-10T00:00:00Z', seed: 'copied out' });
    const blobs = new PurgeBeforeSecondHead(f.packKey);
    const catalogue = new MemoryCatalogue();
    await publish(blobs, f);
    // After ingest wrote the pack's entries and before it looks at the pack again: the held call
    // is copied to a pack of its own and catalogued there, then the old pack goes.
    blobs.meanwhile = async () => {
      await publish(blobs, copy);
      await ingestManifest({ blobs, catalogue }, copy.manifestKey, { takesOverFrom: f.packKey });
      await blobs.delete(f.packKey);
    };
    const heldRid = copy.manifest.members[0]!.rid;

    expect(await ingestChecked({ blobs, catalogue }, f.manifestKey)).toMatchObject({ kind: 'purged' });

    expect(await catalogue.getRecording('site-a', f.manifest.members[0]!.rid)).toBeUndefined();
    expect(await catalogue.getPack('site-a', f.manifest.packId)).toBeUndefined();
    expect((await catalogue.getRecording('site-a', heldRid))?.packKey).toBe(copy.packKey);
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items.map((e) => e.rid)).toEqual([heldRid]);
  });
});
