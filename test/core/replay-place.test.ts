import { buffer } from 'node:stream/consumers';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../core/errors.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { ByteRange, CatalogueEntry } from '../../core/ports.ts';
import { openRecording, type RecordingPlace, type ReplayResponse } from '../../core/replay.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// A link that carries the recording's place (pack, offset, length): the range is opened there
// alongside the catalogue lookup, and its bytes are served only when the entry says the same.

async function setup() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const members = [
    { path: 'b/first.wav', body: audio(1, 1500) },
    { path: 'b/second.wav', body: audio(2, 2000) },
  ];
  const f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const reads: { key: string; range?: ByteRange; body?: Readable }[] = [];
  const waiting: (() => void)[] = [];
  let held = false;
  const lookups: string[] = [];
  const deps = {
    blobs: {
      get: async (key: string, range?: ByteRange) => {
        const read: (typeof reads)[number] = { key, range };
        reads.push(read);
        const opened = await blobs.get(key, range);
        read.body = opened.body;
        return opened;
      },
    },
    catalogue: {
      // Held until `answer()` when `hold()` was called: the lookup still on its way.
      getRecording: async (site: string, rid: string): Promise<CatalogueEntry | undefined> => {
        lookups.push(rid);
        if (held) await new Promise<void>((resolve) => waiting.push(resolve));
        return catalogue.getRecording(site, rid);
      },
    },
  };
  const hold = () => (held = true);
  const placeOf = (i: number): RecordingPlace => {
    const m = f.manifest.members[i]!;
    return { packKey: f.packKey, offset: m.offset, length: m.length };
  };
  const answer = () => waiting.splice(0).forEach((resolve) => resolve());
  return { f, members, reads, deps, hold, answer, lookups, placeOf };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('openRecording with the link\'s place', () => {
  it('opens the range at the place before the lookup answers, and serves those bytes once the entry matches', async () => {
    const s = await setup();
    const m = s.f.manifest.members[1]!;
    s.hold();
    const opening = openRecording(s.deps, 'site-a', m.rid, 'bytes=100-199', { place: s.placeOf(1) });
    await turns();
    expect(s.lookups).toEqual([m.rid]);
    expect(s.reads.map((r) => r.range)).toEqual([{ start: m.offset + 100, end: m.offset + 199 }]);
    s.answer();
    const res = await opening;
    expect(res.status).toBe(206);
    expect(res.headers['Content-Range']).toBe('bytes 100-199/2000');
    expect(await buffer(res.body!)).toEqual(s.members[1]!.body.subarray(100, 200));
    expect(s.reads).toHaveLength(1);
  });

  it('releases the early read and reads where the entry says when the place names other bytes', async () => {
    const s = await setup();
    const m = s.f.manifest.members[1]!;
    const wrong = { ...s.placeOf(1), offset: s.placeOf(0).offset };
    const res = await openRecording(s.deps, 'site-a', m.rid, undefined, { place: wrong });
    const chunks: Buffer[] = [];
    for await (const c of res.body!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(s.members[1]!.body);
    expect(s.reads.map((r) => r.range)).toEqual([
      { start: wrong.offset, end: wrong.offset + wrong.length - 1 },
      { start: m.offset, end: m.offset + m.length - 1 },
    ]);
    await turns();
    expect(s.reads[0]!.body!.destroyed).toBe(true);
  });

  it('releases the early read when the recording is not in the catalogue, and when the range cannot be served', async () => {
    const s = await setup();
    const place = s.placeOf(0);
    await expect(openRecording(s.deps, 'site-a', `r${'0'.repeat(23)}`, undefined, { place })).rejects.toThrow(NotFoundError);
    const m = s.f.manifest.members[0]!;
    // The place claims more bytes than the member has: satisfiable there, not against the entry.
    const res = await openRecording(s.deps, 'site-a', m.rid, 'bytes=1600-1700', { place: { ...place, length: 1800 } });
    expect(res.status).toBe(416);
    await turns();
    expect(s.reads).toHaveLength(2);
    expect(s.reads.every((r) => r.body?.destroyed === true)).toBe(true);
  });

  it('never opens early for HEAD, with If-Range, or for a pack outside the site\'s recordings', async () => {
    const s = await setup();
    const m = s.f.manifest.members[0]!;
    s.hold();
    const pending = [
      openRecording(s.deps, 'site-a', m.rid, 'bytes=0-9', { place: s.placeOf(0), headOnly: true }),
      openRecording(s.deps, 'site-a', m.rid, 'bytes=0-9', { place: s.placeOf(0), ifRange: `"${m.sha256}"` }),
      openRecording(s.deps, 'site-a', m.rid, 'bytes=0-9', { place: { ...s.placeOf(0), packKey: s.f.packKey.replace('recordings/site-a/', 'recordings/site-b/') } }),
    ];
    await turns();
    expect(s.lookups).toHaveLength(3);
    expect(s.reads).toEqual([]);
    s.answer();
    const [head, ranged, other] = (await Promise.all(pending)) as [ReplayResponse, ReplayResponse, ReplayResponse];
    expect(head.body).toBeUndefined();
    expect(await buffer(ranged.body!)).toEqual(s.members[0]!.body.subarray(0, 10));
    expect(await buffer(other.body!)).toEqual(s.members[0]!.body.subarray(0, 10));
    expect(s.reads.map((r) => r.key)).toEqual([s.f.packKey, s.f.packKey]);
  });

  it('starts the audit record with the early read, before the lookup answers, once, and the bytes wait for it', async () => {
    const s = await setup();
    const m = s.f.manifest.members[1]!;
    s.hold();
    const records: Record<string, string>[] = [];
    let written: () => void = () => undefined;
    const audit = (headers: Record<string, string>) => {
      records.push(headers);
      return new Promise<void>((resolve) => (written = resolve));
    };
    let served = false;
    const opening = openRecording(s.deps, 'site-a', m.rid, 'bytes=0-99', { place: s.placeOf(1), audit }).then((res) => ((served = true), res));
    await turns();
    expect(records).toEqual([{ 'Content-Range': 'bytes 0-99/2000' }]);
    s.answer();
    await turns();
    expect(served).toBe(false);
    written();
    const res = await opening;
    expect(await buffer(res.body!)).toEqual(s.members[1]!.body.subarray(0, 100));
    expect(records).toHaveLength(1);
  });

  it('leaves the record of an attempt when the entry then refuses the request (404), with no unhandled failure', async () => {
    const s = await setup();
    const records: Record<string, string>[] = [];
    const audit = (headers: Record<string, string>) => {
      records.push(headers);
      return Promise.reject(new Error('ledger unavailable'));
    };
    await expect(openRecording(s.deps, 'site-a', `r${'0'.repeat(23)}`, undefined, { place: s.placeOf(0), audit })).rejects.toThrow(NotFoundError);
    expect(records).toEqual([{}]);
    await turns();
  });

  it('serves the entry\'s bytes when the early read fails (a pack the place names that is not there)', async () => {
    const s = await setup();
    const m = s.f.manifest.members[0]!;
    const gone = { ...s.placeOf(0), packKey: s.f.packKey.replace('.tar', '-9.tar') };
    const res = await openRecording(s.deps, 'site-a', m.rid, 'bytes=0-9', { place: gone });
    expect(await buffer(res.body!)).toEqual(s.members[0]!.body.subarray(0, 10));
    expect(s.reads.map((r) => r.key)).toEqual([gone.packKey, s.f.packKey]);
  });
});
