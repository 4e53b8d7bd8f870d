import { describe, expect, it } from 'vitest';
import { createCatalogueTable, DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { DynamoRecallStatusStore } from '../../adapters/dynamo-recalls.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import { MemoryRecallStatusStore, type RecallStatusRecord, type RecallStatusStore } from '../../core/recall-status.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// One behaviour for every RecallStatusStore (memory, DynamoDB on dynalite): a record per pack,
// the newest request owns it, and the catalogue's ingest and rebuild (on the same table) never
// touch it.

const NOW = new Date('2026-06-01T00:00:00.000Z');

function record(packKey: string, over: Partial<RecallStatusRecord> = {}): RecallStatusRecord {
  return { site: 'site-a', packKey, state: 'restoring', requester: 'alice', requestedAt: '2026-06-01T00:00:00.000Z', storageClass: 'DEEP_ARCHIVE', polls: 0, updatedAt: '2026-06-01T00:00:00.000Z', ...over };
}

function recallStatusContract(name: string, fresh: () => Promise<{ statuses: RecallStatusStore; catalogue: CatalogueStore }>): void {
  describe(`RecallStatusStore contract: ${name}`, () => {
    it('answers undefined for a pack never recalled, and the record once put (per site and pack)', async () => {
      const { statuses } = await fresh();
      expect(await statuses.get('site-a', 'recordings/site-a/p1.tar')).toBeUndefined();
      const r = record('recordings/site-a/p1.tar', { rid: 'r0000000000000000000000a', availableUntil: '2026-06-09T00:00:00.000Z', state: 'available' });
      expect(await statuses.put(r)).toBe(true);
      expect(await statuses.get('site-a', 'recordings/site-a/p1.tar')).toEqual(r);
      expect(await statuses.get('site-b', 'recordings/site-a/p1.tar')).toBeUndefined();
      expect(await statuses.get('site-a', 'recordings/site-a/p2.tar')).toBeUndefined();
    });

    it("writes a check only while the record is its request's: a newer request keeps the record", async () => {
      const { statuses } = await fresh();
      const key = 'recordings/site-a/p1.tar';
      expect(await statuses.put(record(key, { polls: 1 }), { ifRequestedAt: '2026-06-01T00:00:00.000Z' })).toBe(true);
      await statuses.put(record(key, { requestedAt: '2026-06-02T00:00:00.000Z' }));
      expect(await statuses.put(record(key, { polls: 2, state: 'gave-up' }), { ifRequestedAt: '2026-06-01T00:00:00.000Z' })).toBe(false);
      expect(await statuses.get('site-a', key)).toMatchObject({ requestedAt: '2026-06-02T00:00:00.000Z', state: 'restoring', polls: 0 });
      expect(await statuses.put(record(key, { requestedAt: '2026-06-02T00:00:00.000Z', polls: 1 }), { ifRequestedAt: '2026-06-02T00:00:00.000Z' })).toBe(true);
      expect((await statuses.get('site-a', key))?.polls).toBe(1);
    });

    it('survives a re-ingest of the pack and a catalogue rebuild of the site', async () => {
      const { statuses, catalogue } = await fresh();
      const blobs = new MemoryBlobStore();
      const pack = await publishPack({ blobs, catalogue }, 'site-a', NOW, 'deep', [500]);
      const r = record(pack.packKey, { rid: pack.manifest.members[0]!.rid, state: 'available', availableUntil: '2026-06-09T00:00:00.000Z', polls: 3 });
      await statuses.put(r);
      await ingestManifest({ blobs, catalogue }, pack.manifestKey);
      expect(await rebuildCatalogue({ blobs, catalogue }, { site: 'site-a' })).toMatchObject({ ok: 1, failed: [] });
      expect(await statuses.get('site-a', pack.packKey)).toEqual(r);
      expect(await catalogue.getRecording('site-a', pack.manifest.members[0]!.rid)).toBeDefined();
    });
  });
}

recallStatusContract('MemoryRecallStatusStore', async () => ({ statuses: new MemoryRecallStatusStore(), catalogue: new MemoryCatalogue() }));

const dynamo = localDynamoForSuite();
let tables = 0;

// The records share the catalogue's table with its entries, as deployed.
recallStatusContract('DynamoRecallStatusStore on dynalite', async () => {
  const table = `recalls-${++tables}`;
  await createCatalogueTable(dynamo.client, table);
  return { statuses: new DynamoRecallStatusStore(dynamo.doc, table), catalogue: new DynamoCatalogue(dynamo.doc, table) };
});
