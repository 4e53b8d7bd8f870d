import { describe, expect, it } from 'vitest';
import { DynamoCatalogue, createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { ingestArtefact } from '../../core/ingest-artefact.ts';
import { ingestTreeSnapshot } from '../../core/ingest-tree.ts';
import { artefactManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

// The agent that shipped a copy (manifest `shippedBy`) reaches the catalogue: recordings,
// backups and snapshots, by ingest and by `ferry catalogue rebuild`; manifests of before it
// (none) are catalogued as before, with none.

const PRIMARY = { host: 'rec-primary.example', agentId: '6f1c2a3b-1111-4aaa-8bbb-000000000001' };
const SECONDARY = { host: 'rec-secondary.example', agentId: '6f1c2a3b-2222-4aaa-8bbb-000000000002' };

/** Two packs with the same call id (one per recorder host, each numbering its own calls) and one of before shippedBy; a backup and a snapshot with and without. */
async function publishAll(blobs: MemoryBlobStore) {
  const primary = buildPack('site-a', [{ path: '000001/000001000.wav', body: audio(1), meta: { callId: '000001000', start: '2026-12-01T09:00:00Z' } }], { seed: 'primary', day: '2026-12-01T00:00:00Z', shippedBy: PRIMARY });
  const secondary = buildPack('site-a', [{ path: '000001/000001000.wav', body: audio(2), meta: { callId: '000001000', start: '2026-12-04T09:00:00Z' } }], { seed: 'secondary', day: '2026-12-04T00:00:00Z', shippedBy: SECONDARY });
  const old = buildPack('site-a', [{ path: '000009/000009000.wav', body: audio(3), meta: { callId: '000009000', start: '2025-06-01T09:00:00Z' } }], { seed: 'old', day: '2025-06-01T00:00:00Z' });
  for (const f of [primary, secondary, old]) await publish(blobs, f);
  const backup = await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full-1.sql', body: Buffer.from('dump one'), takenAt: '2026-12-04T02:00:00.000Z', extra: { shippedBy: SECONDARY } });
  const oldBackup = await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full-0.sql', body: Buffer.from('dump zero'), takenAt: '2025-06-01T02:00:00.000Z' });
  const packs = [await publishTreePack(blobs, 'site-a', 'share', new Date('2026-12-04T03:00:00Z'), ['book'])];
  const snapshot = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2026-12-04T03:00:00.000Z', packs, edit: (m) => void (m.shippedBy = SECONDARY) });
  const oldSnapshot = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: '2025-06-01T03:00:00.000Z', packs });
  return { primary, secondary, old, backup, oldBackup, snapshot, oldSnapshot };
}

async function expectShippedBy(catalogue: CatalogueStore, p: Awaited<ReturnType<typeof publishAll>>) {
  const byCall = (await catalogue.searchRecordings({ site: 'site-a', callId: '000001000' })).items;
  expect(byCall.map((e) => [e.start, e.shippedBy])).toEqual([
    ['2026-12-01T09:00:00.000Z', PRIMARY],
    ['2026-12-04T09:00:00.000Z', SECONDARY],
  ]);
  expect((await catalogue.getRecording('site-a', p.secondary.manifest.members[0]!.rid))?.shippedBy).toEqual(SECONDARY);
  const old = await catalogue.getRecording('site-a', p.old.manifest.members[0]!.rid);
  expect(old?.path).toBe('000009/000009000.wav');
  expect(old && 'shippedBy' in old).toBe(false);
  const backups = (await catalogue.listArtefacts({ site: 'site-a', source: 'db' })).items;
  expect(backups.map((b) => [b.name, b.shippedBy])).toEqual([
    ['full-0.sql', undefined],
    ['full-1.sql', SECONDARY],
  ]);
  const snapshots = (await catalogue.listSnapshots({ site: 'site-a', source: 'share' })).items;
  expect(snapshots.map((s) => [s.takenAt, s.shippedBy])).toEqual([
    ['2026-12-04T03:00:00.000Z', SECONDARY],
    ['2025-06-01T03:00:00.000Z', undefined],
  ]);
}

function shippedByCases(name: string, fresh: () => Promise<CatalogueStore>) {
  describe(`the shipping agent in the catalogue: ${name}`, () => {
    it('ingest keeps shippedBy on recordings (told apart when two hosts numbered a call alike), backups and snapshots; manifests without it are catalogued without it', async () => {
      const blobs = new MemoryBlobStore();
      const catalogue = await fresh();
      const p = await publishAll(blobs);
      for (const f of [p.primary, p.secondary, p.old]) await ingestManifest({ blobs, catalogue }, f.manifestKey);
      for (const b of [p.backup, p.oldBackup]) await ingestArtefact({ blobs, catalogue }, artefactManifestKey('site-a', 'rotated', 'db', b.artefactId));
      for (const s of [p.snapshot, p.oldSnapshot]) await ingestTreeSnapshot({ blobs, catalogue }, s.manifestKey);
      await expectShippedBy(catalogue, p);
    });

    it('`catalogue rebuild` from the manifests keeps shippedBy too, and reads the manifests of before it', async () => {
      const blobs = new MemoryBlobStore();
      const catalogue = await fresh();
      const p = await publishAll(blobs);
      const report = await rebuildCatalogue({ blobs, catalogue });
      expect(report).toMatchObject({ ok: 7, recordings: 3, artefacts: 2, snapshots: 2, failed: [] });
      await expectShippedBy(catalogue, p);
    });
  });
}

shippedByCases('MemoryCatalogue', async () => new MemoryCatalogue());

const dynamo = localDynamoForSuite();
let tables = 0;
shippedByCases('DynamoCatalogue on dynalite', async () => {
  const table = `shipped-by-${++tables}`;
  await createCatalogueTable(dynamo.client, table);
  return new DynamoCatalogue(dynamo.doc, table);
});
