import { describe, expect, it } from 'vitest';
import { createCatalogueTable, DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MAX_META_TEXT, entryToItem, itemToEntry } from '../../core/catalogue-items.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';

// A sidecar may hold any text where the recorder's agent name or call id is expected (a field
// mapped to a note, a transcript; sidecars are read up to 1 MiB). DynamoDB refuses an item whose
// search index key is over 2,048 bytes (the local DynamoDB too, as AWS counts it): the whole
// pack's ingest was refused with it, every call of the pack left out of the catalogue.

const dynamo = localDynamoForSuite();

describe("a call whose sidecar's agent and call id are longer than a DynamoDB key takes", () => {
  it('is catalogued with its pack, its texts cut to the first 500 characters and said so in its issues, and found by agent and call id searched whole', async () => {
    await createCatalogueTable(dynamo.client, 'long-meta');
    const catalogue = new DynamoCatalogue(dynamo.doc, 'long-meta');
    const blobs = new MemoryBlobStore();
    const agent = `Siobhán ${'Ó'.repeat(3000)}`;
    const callId = `call-${'中'.repeat(1500)}`;
    const f = buildPack('site-a', [
      { path: 'b/long.wav', body: audio(1), meta: { start: '2026-03-01T09:30:00Z', agent, callId, caller: `+44${'1'.repeat(5000)}` } },
      { path: 'b/plain.wav', body: audio(2), meta: { start: '2026-03-01T09:31:00Z', agent: 'ann' } },
    ]);
    await publish(blobs, f);
    expect(await ingestManifest({ blobs, catalogue }, f.manifestKey)).toMatchObject({ recordings: 2 });
    const [long] = f.manifest.members;
    const entry = await catalogue.getRecording('site-a', long!.rid);
    expect(entry?.meta.agent).toBe(agent.slice(0, MAX_META_TEXT));
    expect(entry?.issues).toEqual([
      `callId: ${callId.length} characters; the catalogue keeps the first 500 (DynamoDB's key and item size limits)`,
      `agent: ${agent.length} characters; the catalogue keeps the first 500 (DynamoDB's key and item size limits)`,
      `caller: 5003 characters; the catalogue keeps the first 500 (DynamoDB's key and item size limits)`,
    ]);
    expect((await catalogue.searchRecordings({ site: 'site-a', agent })).items.map((e) => e.rid)).toEqual([long!.rid]);
    expect((await catalogue.searchRecordings({ site: 'site-a', callId })).items.map((e) => e.rid)).toEqual([long!.rid]);
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items).toHaveLength(2);
  });

  it('is found by a whole text whose catalogue form is shorter than it was written (decomposed accents, a number written with separators), and its keys are the same when its entry is written again', async () => {
    await createCatalogueTable(dynamo.client, 'long-meta-normalized');
    const catalogue = new DynamoCatalogue(dynamo.doc, 'long-meta-normalized');
    const blobs = new MemoryBlobStore();
    // As macOS and some exporters write it: each "á" two characters, one once composed (600 written, 540 composed).
    const agent = 'Siobha\u0301n O\u0301g '.repeat(50);
    // A number field holding text (not a number, so kept as written): its separators are not part of its search key.
    const caller = 'ext 20 7946-0958 / desk (4); '.repeat(30);
    const f = buildPack('site-a', [{ path: 'b/nfd.wav', body: audio(3), meta: { start: '2026-03-01T10:00:00Z', agent, callId: agent, caller } }]);
    await publish(blobs, f);
    await ingestManifest({ blobs, catalogue }, f.manifestKey);
    const rid = f.manifest.members[0]!.rid;
    expect((await catalogue.searchRecordings({ site: 'site-a', agent })).items.map((e) => e.rid)).toEqual([rid]);
    expect((await catalogue.searchRecordings({ site: 'site-a', agent: agent.normalize('NFC') })).items.map((e) => e.rid)).toEqual([rid]);
    expect((await catalogue.searchRecordings({ site: 'site-a', callId: agent })).items.map((e) => e.rid)).toEqual([rid]);
    expect((await catalogue.searchRecordings({ site: 'site-a', number: caller })).items.map((e) => e.rid)).toEqual([rid]);
    // An entry read back and written again (a collision's ingest does so) keeps the keys it was found by.
    const entry = (await catalogue.getRecording('site-a', rid))!;
    const again = entryToItem(itemToEntry(entryToItem(entry)));
    expect({ agentPk: again.agentPk, callIdPk: again.callIdPk, callerPk: again.callerPk }).toEqual({ agentPk: entryToItem(entry).agentPk, callIdPk: entryToItem(entry).callIdPk, callerPk: entryToItem(entry).callerPk });
  });
});
