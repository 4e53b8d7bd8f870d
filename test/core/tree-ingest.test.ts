import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { IntegrityError, InvalidInputError } from '../../core/errors.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { ingestTreeSnapshot } from '../../core/ingest-tree.ts';
import { treeSnapshotManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler } from '../../functions/ingest/handler.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// Ingest of tree snapshot manifests: a snapshot is catalogued only when its manifest lies at its
// own key and its index and every pack it lists are there with the manifest's sizes; anything
// else is refused with the reason and writes nothing.

const AT = new Date('2026-03-02T10:00:00Z');
const setup = () => ({ blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue() });

async function history(deps: ReturnType<typeof setup>) {
  const a = await publishTreePack(deps.blobs, 'site-a', 'share', AT, ['meeting one', 'address book']);
  const b = await publishTreePack(deps.blobs, 'site-a', 'share', AT, ['compliance log']);
  const first = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-01T22:00:00.000Z', packs: [a] });
  const second = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-02T22:00:00.000Z', packs: [a, b] });
  return { a, b, first, second };
}

describe('ingestTreeSnapshot', () => {
  it('catalogues a snapshot summary per manifest, idempotently, listed newest first', async () => {
    const deps = setup();
    const { first, second } = await history(deps);
    expect(await ingestTreeSnapshot(deps, first.manifestKey)).toEqual({ manifestKey: first.manifestKey, site: 'site-a', source: 'share', snapshotId: first.manifest.snapshotId, packs: 1 });
    await ingestTreeSnapshot(deps, second.manifestKey);
    await ingestTreeSnapshot(deps, second.manifestKey);
    expect(deps.catalogue.size).toBe(2);
    const { items } = await deps.catalogue.listSnapshots({ site: 'site-a', source: 'share' });
    expect(items).toEqual([
      { site: 'site-a', source: 'share', snapshotId: second.manifest.snapshotId, takenAt: '2026-03-02T22:00:00.000Z', manifestKey: second.manifestKey, files: 3, dirs: 0, symlinks: 0, problems: 0, bytesTotal: 37, bytesAdded: 37, packs: 2 },
      expect.objectContaining({ snapshotId: first.manifest.snapshotId, files: 2, packs: 1 }),
    ]);
  });

  it('refuses a snapshot whose pack is missing or of another size, or whose index is missing, and catalogues nothing', async () => {
    const deps = setup();
    const { a } = await history(deps);
    const gone = await publishTreePack(deps.blobs, 'site-a', 'share', AT, ['deleted before the manifest']);
    await deps.blobs.delete(gone.key);
    const missing = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-03T22:00:00.000Z', packs: [a, gone] });
    await expect(ingestTreeSnapshot(deps, missing.manifestKey)).rejects.toThrow(IntegrityError);
    await expect(ingestTreeSnapshot(deps, missing.manifestKey)).rejects.toThrow(/packs\[1\] .* is missing: nothing catalogued/);

    const resized = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-04T22:00:00.000Z', packs: [a], edit: (m) => void (m.packs[0]!.size += 1) });
    await expect(ingestTreeSnapshot(deps, resized.manifestKey)).rejects.toThrow(new RegExp(`${a.key} is ${a.size} bytes, snapshot manifest .* says ${a.size + 1}`));

    const noIndex = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-05T22:00:00.000Z', packs: [a] });
    await deps.blobs.delete(noIndex.manifest.index.key);
    await expect(ingestTreeSnapshot(deps, noIndex.manifestKey)).rejects.toThrow(/index .* is missing/);
    expect(deps.catalogue.size).toBe(0);
  });

  it('refuses a manifest pointing at another site pack or at a key not its own', async () => {
    const deps = setup();
    const foreign = await publishTreePack(deps.blobs, 'site-b', 'share', AT, ['site b secret']);
    const steal = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-01T22:00:00.000Z', packs: [foreign] });
    await expect(ingestTreeSnapshot(deps, steal.manifestKey)).rejects.toThrow(InvalidInputError);
    await expect(ingestTreeSnapshot(deps, steal.manifestKey)).rejects.toThrow(/packs\[0\] trees\/site-b\/share\/.* is outside trees\/site-a\/share\/packs\//);

    const own = await publishTreePack(deps.blobs, 'site-a', 'share', AT, ['x']);
    const takenAt = '2026-03-02T22:00:00.000Z';
    const misplaced = treeSnapshotManifestKey('site-a', 'share', 's00000000000000000000000', new Date(takenAt));
    await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt, packs: [own], manifestKey: misplaced });
    await expect(ingestTreeSnapshot(deps, misplaced)).rejects.toThrow(/whose manifest key is manifests\/site-a\/trees\/share\/2026\/03\/02\/s[0-9a-f]{23}\.json/);

    const otherSite = treeSnapshotManifestKey('site-b', 'share', 's00000000000000000000001', new Date(takenAt));
    await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-03T22:00:00.000Z', packs: [own], manifestKey: otherSite });
    await expect(ingestTreeSnapshot(deps, otherSite)).rejects.toThrow(/names site "site-a" but lies under site "site-b"/);

    await deps.blobs.put(treeSnapshotManifestKey('site-a', 'share', 's00000000000000000000002', AT), Buffer.from('{"format":"ferry.tree-snapshot/1"'));
    await expect(ingestTreeSnapshot(deps, treeSnapshotManifestKey('site-a', 'share', 's00000000000000000000002', AT))).rejects.toThrow(InvalidInputError);
    expect(deps.catalogue.size).toBe(0);
  });

  it('catalogues a snapshot dated after ingest time plus a day, and says so', async () => {
    const deps = { ...setup(), clock: new ManualClock(AT) };
    const forged = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2099-01-01T00:00:00.000Z', packs: [] });
    const result = await ingestTreeSnapshot(deps, forged.manifestKey);
    expect(result.futureDated).toMatch(/^manifest manifests\/site-a\/trees\/share\/2099\/01\/01\/.* says it was taken at 2099-01-01T00:00:00.000Z, after now \(2026-03-02T10:00:00.000Z\) plus 24 h: catalogued/);
    expect((await deps.catalogue.listSnapshots({ site: 'site-a', source: 'share' })).items.map((i) => i.snapshotId)).toEqual([forged.manifest.snapshotId]);
    const { first } = await history(deps);
    expect(await ingestTreeSnapshot(deps, first.manifestKey)).not.toHaveProperty('futureDated');
  });

  it('the ingest function catalogues snapshot manifests from S3 events and fails the invocation on a bad one (dead-letter path)', async () => {
    const deps = setup();
    const { first } = await history(deps);
    const bad = await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-09T22:00:00.000Z', packs: [], edit: (m) => void (m.index.size += 5) });
    const handler = createHandler({ ...deps, log: () => undefined });
    const event = (key: string) => ({ Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: encodeURIComponent(key) } } }] });
    expect(await handler(event(first.manifestKey))).toEqual({ ingested: [expect.objectContaining({ snapshotId: first.manifest.snapshotId })] });
    await expect(handler(event(bad.manifestKey))).rejects.toThrow(/1 manifest\(s\) not ingested: .*IntegrityError: index .* says/);
    expect((await deps.catalogue.listSnapshots({ site: 'site-a' })).items).toHaveLength(1);
  });

  it('catalogue rebuild includes snapshots and reports the bad ones', async () => {
    const deps = setup();
    const { second } = await history(deps);
    await publishSnapshot(deps.blobs, { site: 'site-a', source: 'share', takenAt: '2026-03-09T22:00:00.000Z', packs: [], edit: (m) => void (m.index.size += 5) });
    const report = await rebuildCatalogue(deps, { site: 'site-a' });
    expect(report).toMatchObject({ ok: 2, snapshots: 2, recordings: 0, artefacts: 0 });
    expect(report.failed).toEqual([{ key: expect.stringMatching(/^manifests\/site-a\/trees\/share\/2026\/03\/09\//), reason: expect.stringMatching(/^IntegrityError: index/) }]);
    expect((await deps.catalogue.listSnapshots({ site: 'site-a', limit: 1 })).items[0]?.snapshotId).toBe(second.manifest.snapshotId);
  });
});
