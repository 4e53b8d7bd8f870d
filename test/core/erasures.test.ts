import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { caseCallsPresent, ERASED_AT_REQUEST, writeCaseBundle } from '../../core/case-export.ts';
import { ManualClock } from '../../core/clock.ts';
import { ErasedError, httpStatusOf, NotFoundError, UnderLegalHoldError } from '../../core/errors.ts';
import { erasureMirrorKey, MemoryErasureStore, MirroredErasureStore } from '../../core/erasure-items.ts';
import { erasureGate, requestErasure, type ErasureDeps } from '../../core/erasures.ts';
import { placeHold } from '../../core/holds.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { readSmallObject } from '../../core/read-small.ts';
import { openRecording } from '../../core/replay.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// A data subject's erasure request in the domain: refused while the call is held or when it is
// not catalogued, recorded once (table and bucket), and from then on out of reach of every reader.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');

async function world() {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const table = new MemoryErasureStore();
  const erasures = new MirroredErasureStore(table, blobs);
  const f = await publishPack({ blobs, catalogue }, SITE, NOW, 'batch', [10, 10, 10]);
  const rids = f.manifest.members.map((m) => m.rid);
  const deps: ErasureDeps = { catalogue, holds, erasures, clock };
  const ask = (rid: string, extra: { reference?: string } = {}) => requestErasure(deps, { site: SITE, rid, reason: 'data subject request', principal: 'officer-1', ...extra });
  return { clock, blobs, catalogue, holds, table, erasures, f, rids, deps, ask };
}

describe('an erasure request', () => {
  it('is refused with 409 naming the hold while the call is under any active legal hold, and nothing is recorded', async () => {
    const w = await world();
    await placeHold({ holds: w.holds, catalogue: w.catalogue, blobs: w.blobs, holder: new MemoryObjectHolder(), clock: w.clock }, { site: SITE, rid: w.rids[0]!, reason: 'tribunal', reference: 'ET-42', principal: 'counsel' });
    const refused = await w.ask(w.rids[0]!).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UnderLegalHoldError);
    expect(httpStatusOf(refused)).toBe(409);
    expect((refused as Error).message).toMatch(/under legal hold.*call hold ET-42 placed by counsel at 2026-06-01T00:00:00.000Z \("tribunal"\)/);
    expect(await w.table.listErasures(SITE)).toEqual([]);
  });

  it('is refused with 404 when the call is not catalogued', async () => {
    const w = await world();
    const refused = await w.ask(`r${'0'.repeat(23)}`).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(NotFoundError);
    expect((refused as Error).message).toMatch(/not catalogued in site site-a: nothing to erase/);
  });

  it('is recorded once, pending, in the table and write-once in the bucket; asking again answers the request that stands', async () => {
    const w = await world();
    const first = await w.ask(w.rids[1]!, { reference: 'DSAR-7' });
    expect(first.existing).toBeUndefined();
    expect(first.erasure).toMatchObject({ site: SITE, rid: w.rids[1], status: 'pending', requestedBy: 'officer-1', requestedAt: NOW.toISOString(), reference: 'DSAR-7', packKey: w.f.packKey, manifestKey: w.f.manifestKey });
    expect(first.erasure.call).toMatch(/^callId=batch-1 start=/);
    const kept = JSON.parse((await readSmallObject(w.blobs, erasureMirrorKey(first.erasure), 65536, 'erasure')).toString('utf8')) as Record<string, unknown>;
    expect(kept).toMatchObject({ rid: w.rids[1], status: 'pending', reference: 'DSAR-7' });
    w.clock.advance(60_000);
    const again = await w.ask(w.rids[1]!, { reference: 'DSAR-8' });
    expect(again).toEqual({ erasure: first.erasure, existing: true });
    expect(await w.table.listErasures(SITE)).toHaveLength(1);
  });
});

describe('an erased call is out of reach of every reader', () => {
  it('search leaves it out, a lookup and a replay answer 410 naming the erasure, even after a catalogue rebuild writes its entry back', async () => {
    const w = await world();
    await w.ask(w.rids[1]!, { reference: 'DSAR-7' });
    const readers = erasureGate(w.catalogue, w.erasures);
    const page = await readers.searchRecordings({ site: SITE });
    expect(page.items.map((e) => e.rid).sort()).toEqual([w.rids[0], w.rids[2]].sort());
    await rebuildCatalogue({ blobs: w.blobs, catalogue: w.catalogue }, { site: SITE });
    expect(await w.catalogue.getRecording(SITE, w.rids[1]!)).toBeDefined();
    const lookup = await readers.getRecording(SITE, w.rids[1]!).catch((e: unknown) => e);
    expect(lookup).toBeInstanceOf(ErasedError);
    expect(httpStatusOf(lookup)).toBe(410);
    expect((lookup as Error).message).toMatch(/erased at a data subject's request \(reference DSAR-7, requested by officer-1 at 2026-06-01T00:00:00.000Z; pending/);
    const played = await openRecording({ catalogue: readers, blobs: w.blobs }, SITE, w.rids[1]!, undefined).catch((e: unknown) => e);
    expect(played).toBeInstanceOf(ErasedError);
    expect(await readers.getRecording(SITE, w.rids[0]!)).toMatchObject({ rid: w.rids[0] });
  });

  it("a case export leaves it out and names it in the custody report as erased; listed by itself it is refused", async () => {
    const w = await world();
    await w.ask(w.rids[2]!);
    const readers = erasureGate(w.catalogue, w.erasures);
    const split = await caseCallsPresent(readers, SITE, w.rids);
    expect(split).toEqual({ present: [w.rids[0], w.rids[1]], missing: [], erased: [w.rids[2]] });
    const out = new PassThrough();
    out.resume();
    const summary = await writeCaseBundle({ catalogue: readers, blobs: w.blobs }, { site: SITE, rids: split.present, erased: split.erased, reason: 'SAR bundle', principal: 'officer-1', at: NOW }, out);
    expect(summary.custody.recordings.map((r) => r.rid)).toEqual([w.rids[0], w.rids[1]]);
    expect(summary.custody.missing).toEqual([{ rid: w.rids[2], reason: ERASED_AT_REQUEST }]);
    const direct = await writeCaseBundle({ catalogue: readers, blobs: w.blobs }, { site: SITE, rids: [w.rids[2]!], reason: 'SAR bundle', principal: 'officer-1', at: NOW }, new PassThrough()).catch((e: unknown) => e);
    expect(direct).toBeInstanceOf(ErasedError);
  });
});
