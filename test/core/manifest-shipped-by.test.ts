import { describe, expect, it } from 'vitest';
import { artefactManifestSchema, parseArtefactManifest, serializeArtefactManifest } from '../../core/artefact.ts';
import { packManifestSchema, parseManifest } from '../../core/manifest.ts';
import { parseTreeSnapshotManifest, treeSnapshotManifestSchema } from '../../core/tree-manifest.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { buildPack, audio } from '../support/pack-fixture.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// shippedBy is additive: manifests of before it (none) are read as before, and a reader that
// does not know the field (the schemas of an earlier release: the same, without it) reads a
// manifest that has it, ignoring it. None of the three schemas is strict.

const BY = { host: 'rec-secondary.example', agentId: '6f1c2a3b-2222-4aaa-8bbb-000000000002' };

async function manifests(shippedBy?: typeof BY) {
  const blobs = new MemoryBlobStore();
  const pack = buildPack('site-a', [{ path: 'b/a.wav', body: audio(1) }], shippedBy ? { shippedBy } : {});
  const artefact = await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'f.sql', body: Buffer.from('x'), takenAt: '2026-12-04T02:00:00.000Z', ...(shippedBy ? { extra: { shippedBy } } : {}) });
  const packs = [await publishTreePack(blobs, 'site-a', 'share', new Date('2026-12-04T03:00:00Z'), ['book'])];
  const tree = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2026-12-04T03:00:00.000Z', packs, edit: (m) => void (shippedBy && (m.shippedBy = shippedBy)) });
  return { pack: pack.manifestBytes.toString('utf8'), artefact: serializeArtefactManifest(artefact).toString('utf8'), tree: JSON.stringify(tree.manifest) };
}

describe('manifest shippedBy', () => {
  it('is read from each kind of manifest, and absent from a manifest written without it', async () => {
    const now = await manifests(BY);
    expect([parseManifest(now.pack).shippedBy, parseArtefactManifest(now.artefact).shippedBy, parseTreeSnapshotManifest(now.tree).shippedBy]).toEqual([BY, BY, BY]);
    const old = await manifests();
    expect([parseManifest(old.pack).shippedBy, parseArtefactManifest(old.artefact).shippedBy, parseTreeSnapshotManifest(old.tree).shippedBy]).toEqual([undefined, undefined, undefined]);
  });

  it('is accepted, and ignored, by a reader that does not know it (the schemas without the field, as an earlier release has them)', async () => {
    const now = await manifests(BY);
    const earlier = [packManifestSchema.omit({ shippedBy: true }).safeParse(JSON.parse(now.pack)), artefactManifestSchema.omit({ shippedBy: true }).safeParse(JSON.parse(now.artefact)), treeSnapshotManifestSchema.omit({ shippedBy: true }).safeParse(JSON.parse(now.tree))];
    expect(earlier.map((r) => r.success)).toEqual([true, true, true]);
    expect(earlier.map((r) => r.data && 'shippedBy' in r.data)).toEqual([false, false, false]);
  });

  it('refuses a shippedBy without a host, naming the field', async () => {
    const now = await manifests(BY);
    const bad = JSON.stringify({ ...JSON.parse(now.pack), shippedBy: { agentId: BY.agentId } });
    expect(() => parseManifest(bad)).toThrow(/shippedBy\.host/);
  });
});
