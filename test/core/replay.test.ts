import { text } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError } from '../../core/errors.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { recordingLookupKey, type BlobStore, type ByteRange } from '../../core/ports.ts';
import { coalescedLookups, contentDisposition, openRecording, parseRangeHeader, rememberRecordings, safeFilename } from '../../core/replay.ts';
import { ManualClock } from '../../core/clock.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

describe('parseRangeHeader', () => {
  const size = 1000;
  it.each([
    [undefined, { kind: 'full' }],
    ['', { kind: 'full' }],
    ['bytes=0-499', { kind: 'partial', start: 0, end: 499 }],
    ['bytes=500-999', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=500-', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=-500', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=-1', { kind: 'partial', start: 999, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=900-5000', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
    ['Bytes = 10 - 20', { kind: 'partial', start: 10, end: 20 }],
    ['bytes=1000-', { kind: 'unsatisfiable' }],
    ['bytes=1000-2000', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=0-1,5-9', { kind: 'full' }], // multiple ranges: the full body is allowed
    ['bytes=20-10', { kind: 'full' }], // invalid: ignored
    ['bytes=abc', { kind: 'full' }],
    ['bytes=-', { kind: 'full' }],
    ['items=0-10', { kind: 'full' }], // unknown unit: ignored
    ['bytes=99999999999999999999-', { kind: 'full' }],
  ])('%s → %o', (header, expected) => {
    expect(parseRangeHeader(header, size)).toEqual(expected);
  });

  it('treats every range of an empty representation as unsatisfiable', () => {
    expect(parseRangeHeader('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRangeHeader('bytes=-10', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRangeHeader(undefined, 0)).toEqual({ kind: 'full' });
  });
});

/** Records every ranged read so tests can prove no byte outside the member is ever read. */
function spying(blobs: BlobStore) {
  const reads: { key: string; range?: ByteRange }[] = [];
  return {
    reads,
    get: (key: string, range?: ByteRange) => {
      reads.push({ key, range });
      return blobs.get(key, range);
    },
  };
}

async function setup() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const members = [
    { path: 'b/first.wav', body: audio(1, 1500) },
    { path: 'b/second "call".wav', body: audio(2, 2000), contentType: 'audio/wav' },
    { path: 'b/empty.wav', body: Buffer.alloc(0) },
  ];
  const f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const spy = spying(blobs);
  return { blobs, catalogue, f, spy, members, deps: { catalogue, blobs: spy } };
}

describe('openRecording', () => {
  it('serves the whole member with 200 and reads exactly its bytes from the pack', async () => {
    const { deps, f, spy, members } = await setup();
    const m = f.manifest.members[1]!;
    const res = await openRecording(deps, 'site-a', m.rid, undefined);
    expect(res.status).toBe(200);
    const chunks: Buffer[] = [];
    for await (const c of res.body!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(members[1]!.body);
    expect(spy.reads).toEqual([{ key: f.packKey, range: { start: m.offset, end: m.offset + m.length - 1 } }]);
    expect(res.headers).toMatchObject({
      'Content-Type': 'audio/wav',
      'Content-Length': '2000',
      'Accept-Ranges': 'bytes',
      ETag: `"${m.sha256}"`,
      'Cache-Control': 'private, no-store',
      'Content-Disposition': expect.stringMatching(/^inline; filename="second_call_.wav"; filename\*=UTF-8''/),
    });
    expect(res.headers['Content-Range']).toBeUndefined();
  });

  it.each([
    ['bytes=0-99', 0, 99],
    ['bytes=1900-', 1900, 1999],
    ['bytes=-300', 1700, 1999],
    ['bytes=1500-99999', 1500, 1999],
  ])('maps %s inside the member and answers 206 with its bytes', async (header, start, end) => {
    const { deps, f, spy, members } = await setup();
    const m = f.manifest.members[1]!;
    const res = await openRecording(deps, 'site-a', m.rid, header);
    expect(res.status).toBe(206);
    expect(res.headers['Content-Range']).toBe(`bytes ${start}-${end}/2000`);
    expect(res.headers['Content-Length']).toBe(String(end - start + 1));
    const chunks: Buffer[] = [];
    for await (const c of res.body!) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(members[1]!.body.subarray(start, end + 1));
    for (const read of spy.reads) {
      expect(read.range!.start).toBeGreaterThanOrEqual(m.offset);
      expect(read.range!.end).toBeLessThan(m.offset + m.length);
    }
  });

  it('answers 416 with Content-Range bytes */length and reads nothing', async () => {
    const { deps, f, spy } = await setup();
    const m = f.manifest.members[0]!;
    for (const header of ['bytes=1500-', 'bytes=-0', 'bytes=5000-6000']) {
      const res = await openRecording(deps, 'site-a', m.rid, header);
      expect(res.status).toBe(416);
      expect(res.headers['Content-Range']).toBe('bytes */1500');
      expect(res.body).toBeUndefined();
    }
    expect(spy.reads).toEqual([]);
  });

  it('serves HEAD without reading the pack, and an empty member without asking for bytes', async () => {
    const { deps, f, spy } = await setup();
    const head = await openRecording(deps, 'site-a', f.manifest.members[0]!.rid, 'bytes=0-9', { headOnly: true });
    expect(head).toMatchObject({ status: 206, headers: { 'Content-Length': '10', 'Content-Range': 'bytes 0-9/1500' } });
    expect(head.body).toBeUndefined();
    const empty = await openRecording(deps, 'site-a', f.manifest.members[2]!.rid, undefined);
    expect(empty.status).toBe(200);
    expect(empty.headers['Content-Length']).toBe('0');
    expect(await text(empty.body!)).toBe('');
    expect(spy.reads).toEqual([]);
  });

  it('ignores the range when If-Range does not match, and sets attachment for downloads', async () => {
    const { deps, f } = await setup();
    const m = f.manifest.members[0]!;
    const stale = await openRecording(deps, 'site-a', m.rid, 'bytes=0-9', { ifRange: '"other"' });
    expect(stale.status).toBe(200);
    stale.body!.destroy();
    const fresh = await openRecording(deps, 'site-a', m.rid, 'bytes=0-9', { ifRange: `"${m.sha256}"`, disposition: 'attachment' });
    expect(fresh.status).toBe(206);
    expect(fresh.headers['Content-Disposition']).toBe('attachment; filename="first.wav"');
    fresh.body!.destroy();
  });

  it('throws NotFoundError for an unknown recording or another site', async () => {
    const { deps, f } = await setup();
    await expect(openRecording(deps, 'site-a', `r${'0'.repeat(23)}`, undefined)).rejects.toThrow(NotFoundError);
    await expect(openRecording(deps, 'site-b', f.manifest.members[0]!.rid, undefined)).rejects.toThrow(NotFoundError);
  });

  it('throws IntegrityError when the pack is shorter than the catalogue says', async () => {
    const { deps, f, blobs } = await setup();
    const m = f.manifest.members[1]!;
    await blobs.put(f.packKey, f.pack.subarray(0, m.offset + 100));
    await expect(openRecording(deps, 'site-a', m.rid, undefined)).rejects.toThrow(IntegrityError);
  });
});

describe('safeFilename', () => {
  it('keeps boring characters only and falls back to the rid with the extension', () => {
    expect(safeFilename({ path: 'dir/ok-name_1.wav', rid: 'r1' })).toBe('ok-name_1.wav');
    expect(safeFilename({ path: 'dir/evil"\r\nX-Header: 1.wav', rid: 'r1' })).toBe('evil_X-Header_1.wav');
    expect(safeFilename({ path: 'dir/back\\slash.wav', rid: 'r1' })).toBe('back_slash.wav');
    expect(safeFilename({ path: '../..', rid: 'r1' })).toBe('r1');
    expect(safeFilename({ path: 'éé', rid: 'r1' })).toBe('r1');
    expect(safeFilename({ path: 'b/日本語の通話.wav', rid: 'r1' })).toBe('r1.wav');
  });
});

/** What a browser does with the header (RFC 6266 §4.3): filename* when present, else filename. */
function parsedName(header: string): { fallback: string; real: string } {
  const fallback = /filename="([^"]*)"/.exec(header)![1]!;
  const star = /filename\*=UTF-8''([^;\s]*)/.exec(header)?.[1];
  return { fallback, real: star === undefined ? fallback : decodeURIComponent(star) };
}

describe('contentDisposition', () => {
  it.each([
    ['日本語の通話.wav', 'r1.wav'],
    ['back\\slash.wav', 'back_slash.wav'],
    ['a "quoted"; name=x.wav', 'a_quoted_name_x.wav'],
    ["it's (1)*.wav", 'it_s_1_.wav'],
    ['100% done.wav', '100_done.wav'],
  ])('round-trips %j through filename* with an ASCII fallback %j', (name, fallback) => {
    const header = contentDisposition('attachment', { path: `batch/${name}`, rid: 'r1' });
    expect(header).toMatch(/^attachment; filename="[A-Za-z0-9._-]+"; filename\*=UTF-8''[A-Za-z0-9!#$&+\-.^_`|~%]+$/);
    expect(parsedName(header)).toEqual({ fallback, real: name });
  });

  it('sends filename alone when the name is plain already, and drops control characters', () => {
    expect(contentDisposition('inline', { path: 'b/one.wav', rid: 'r1' })).toBe('inline; filename="one.wav"');
    expect(parsedName(contentDisposition('inline', { path: 'b/x\r\ny.wav', rid: 'r1' })).real).toBe('xy.wav');
  });

  it('drops bidi overrides, isolates and marks from the real name, so a name cannot show an extension it does not have', () => {
    // `call<RLO>vaw.exe` shows as `callexe.wav`: the name sent is what it reads as, its extension .exe.
    expect(parsedName(contentDisposition('attachment', { path: 'b/call\u202evaw.exe', rid: 'r1' }))).toEqual({ fallback: 'callvaw.exe', real: 'callvaw.exe' });
    const marks = '\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200b\ufeff';
    expect(parsedName(contentDisposition('attachment', { path: `b/ab${marks}c.wav`, rid: 'r1' })).real).toBe('abc.wav');
    // The joiners Persian and Indic names are spelt with stay.
    expect(parsedName(contentDisposition('attachment', { path: 'b/\u0645\u06CC\u200c\u062E\u0648\u0627\u0647\u0645.wav', rid: 'r1' })).real).toBe('\u0645\u06CC\u200c\u062E\u0648\u0627\u0647\u0645.wav');
  });

  it('puts the rid before a name that starts with a dot, so a browser that strips leading dots still saves it with its extension', () => {
    expect(parsedName(contentDisposition('attachment', { path: 'b/...wav', rid: 'r1' }))).toEqual({ fallback: 'r1.wav', real: 'r1_...wav' });
    expect(parsedName(contentDisposition('attachment', { path: 'b/.hidden.wav', rid: 'r1' }))).toEqual({ fallback: 'hidden.wav', real: 'r1_.hidden.wav' });
  });
});

describe('rememberRecordings', () => {
  const entry = (rid: string) => ({ site: 's', rid, packKey: `recordings/s/${rid}.tar` }) as unknown as CatalogueEntry;
  function counting(found: Set<string>) {
    const lookups: string[] = [];
    return { lookups, getRecording: async (_site: string, rid: string) => (lookups.push(rid), found.has(rid) ? entry(rid) : undefined) };
  }

  it('looks an entry up once for the requests of a play within the TTL, and again after it', async () => {
    const clock = new ManualClock();
    const inner = counting(new Set(['r1']));
    const remembered = rememberRecordings(inner, clock, { ttlMs: 30_000, max: 10 });
    for (let i = 0; i < 8; i++) expect((await remembered.getRecording('s', 'r1'))?.rid).toBe('r1');
    expect(inner.lookups).toEqual(['r1']);
    clock.advance(30_000);
    await remembered.getRecording('s', 'r1');
    expect(inner.lookups).toEqual(['r1', 'r1']);
  });

  it('never remembers a missing entry, so a recording catalogued a moment later is found', async () => {
    const found = new Set<string>();
    const inner = counting(found);
    const remembered = rememberRecordings(inner, new ManualClock());
    expect(await remembered.getRecording('s', 'r2')).toBeUndefined();
    found.add('r2');
    expect((await remembered.getRecording('s', 'r2'))?.rid).toBe('r2');
    expect(inner.lookups).toEqual(['r2', 'r2']);
  });

  it('keeps at most `max` entries, dropping the oldest, and keeps sites apart', async () => {
    const inner = counting(new Set(['a', 'b', 'c']));
    const remembered = rememberRecordings(inner, new ManualClock(), { ttlMs: 30_000, max: 2 });
    for (const rid of ['a', 'b', 'c', 'c', 'b', 'a']) await remembered.getRecording('s', rid);
    expect(inner.lookups).toEqual(['a', 'b', 'c', 'a']);
    await remembered.getRecording('other', 'a');
    expect(inner.lookups).toEqual(['a', 'b', 'c', 'a', 'a']);
  });
});

describe('coalescedLookups', () => {
  const entry = (site: string, rid: string) => ({ site, rid, packKey: `recordings/${site}/${rid}.tar` }) as unknown as CatalogueEntry;
  function batching(found: Set<string>, fail?: (call: number) => boolean) {
    const calls: string[][] = [];
    return {
      calls,
      getRecordings: async (keys: readonly { site: string; rid: string }[]) => {
        calls.push(keys.map((k) => `${k.site}/${k.rid}`));
        if (fail?.(calls.length)) throw new Error(`table unavailable (call ${calls.length})`);
        return new Map(keys.filter((k) => found.has(k.rid)).map((k) => [recordingLookupKey(k.site, k.rid), entry(k.site, k.rid)]));
      },
    };
  }

  it('sends the lookups started in one turn as one request; each gets its own entry, or undefined', async () => {
    const source = batching(new Set(['r1', 'r2']));
    const lookups = coalescedLookups(source);
    const answers = await Promise.all([lookups.getRecording('a', 'r1'), lookups.getRecording('b', 'r2'), lookups.getRecording('a', 'r9'), lookups.getRecording('b', 'r1')]);
    expect(source.calls).toEqual([['a/r1', 'b/r2', 'a/r9', 'b/r1']]);
    expect(answers.map((e) => e && `${e.site}/${e.rid}`)).toEqual(['a/r1', 'b/r2', undefined, 'b/r1']);
  });

  it('splits a burst larger than a request may carry, and lookups of a later turn go in a request of their own', async () => {
    const source = batching(new Set(['r0']));
    const lookups = coalescedLookups(source, 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => lookups.getRecording('a', `r${i}`)));
    expect(source.calls.map((c) => c.length)).toEqual([3, 3, 1]);
    expect((await lookups.getRecording('a', 'r0'))?.rid).toBe('r0');
    expect(source.calls).toHaveLength(4);
  });

  it('a failed request fails every lookup in it with its error; the next turn asks again', async () => {
    const source = batching(new Set(['r1']), (call) => call === 1);
    const lookups = coalescedLookups(source);
    const failed = await Promise.allSettled([lookups.getRecording('a', 'r1'), lookups.getRecording('a', 'r2')]);
    expect(failed.map((r) => r.status === 'rejected' && (r.reason as Error).message)).toEqual(['table unavailable (call 1)', 'table unavailable (call 1)']);
    expect((await lookups.getRecording('a', 'r1'))?.rid).toBe('r1');
  });
});
