import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { IngestFailedError, createHandler, decodeS3Key } from '../../functions/ingest/handler.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const s3Event = (...keys: string[]) => ({
  Records: keys.map((key) => ({ eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'b' }, object: { key, size: 1 } } })),
});

const encode = (key: string) => encodeURIComponent(key).replace(/%2F/g, '/').replace(/%20/g, '+');

function setup() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const logs: unknown[] = [];
  const handler = createHandler({ blobs, catalogue, log: (...a) => void logs.push(a) });
  return { blobs, catalogue, handler, logs };
}

describe('ingest handler', () => {
  it('decodes S3 keys (+ is a space, %xx escapes)', () => {
    expect(decodeS3Key('manifests/site-a/a+b%2Bc%C3%A9.json')).toBe('manifests/site-a/a b+cé.json');
  });

  it('ingests every manifest in the event and ignores other keys and removals', async () => {
    const { blobs, catalogue, handler } = setup();
    const a = buildPack('site-a', [{ path: 'x/1.wav', body: audio(1) }], { seed: 'a' });
    const b = buildPack('site-a', [{ path: 'x/2.wav', body: audio(2) }, { path: 'x/3.wav', body: audio(3) }], { seed: 'b' });
    await publish(blobs, a);
    await publish(blobs, b);
    const event = s3Event(encode(a.manifestKey), a.packKey, encode(b.manifestKey), encode(a.manifestKey));
    event.Records.push({ eventName: 'ObjectRemoved:Delete', s3: { bucket: { name: 'b' }, object: { key: 'manifests/site-a/recordings/2026/03/01/pgone.json', size: 0 } } });
    const result = await handler(event);
    expect(result.ingested.map((r) => ('recordings' in r ? r.recordings : undefined))).toEqual([1, 2]);
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items).toHaveLength(3);
  });

  it('processes the rest, then throws an error listing the keys that failed', async () => {
    const { blobs, catalogue, handler, logs } = setup();
    const good = buildPack('site-a', [{ path: 'x/1.wav', body: audio(1) }], { seed: 'good' });
    const orphan = buildPack('site-a', [{ path: 'x/2.wav', body: audio(2) }], { seed: 'orphan' });
    await publish(blobs, good);
    await blobs.put(orphan.manifestKey, orphan.manifestBytes);
    const bogus = 'manifests/site-a/recordings/2026/03/01/p00000000000000000000000.json';
    const error = await handler(s3Event(orphan.manifestKey, bogus, good.manifestKey)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IngestFailedError);
    const failures = (error as IngestFailedError).failures;
    expect(failures.map((f) => f.key)).toEqual([orphan.manifestKey, bogus]);
    expect(failures[0]!.error).toMatch(/^IntegrityError: .*missing/);
    expect(failures[1]!.error).toMatch(/^NotFoundError/);
    expect((error as Error).message).toContain(orphan.manifestKey);
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items.map((e) => e.rid)).toEqual([good.manifest.members[0]!.rid]);
    expect(logs.length).toBe(3);
  });

  it("logs a warning naming both calls when a manifest's call lands on another call's id (same path and audio, another file time)", async () => {
    const { blobs, handler, logs } = setup();
    const old = buildPack('site-a', [{ path: 'x/c.wav', body: audio(7, 44), mtime: '2026-03-01T08:00:00.000Z', meta: { callId: 'old-17' } }], { seed: 'old' });
    const next = buildPack('site-a', [{ path: 'x/c.wav', body: audio(7, 44), mtime: '2026-03-05T08:00:00.000Z', meta: { callId: 'new-1' } }], { seed: 'new' });
    await publish(blobs, old);
    await publish(blobs, next);
    await handler(s3Event(old.manifestKey, next.manifestKey));
    expect(logs[0]).toEqual(['info', 'manifest ingested', expect.not.objectContaining({ collisions: expect.anything() })]);
    expect(logs[1]).toEqual([
      'warn',
      'manifest ingested; calls with the same path and audio as calls catalogued before (collisions)',
      expect.objectContaining({
        alreadyCatalogued: 1,
        collisions: [expect.objectContaining({ kind: 'merged', catalogued: expect.objectContaining({ callId: 'old-17', mtime: '2026-03-01T08:00:00.000Z' }), shipped: expect.objectContaining({ callId: 'new-1', mtime: '2026-03-05T08:00:00.000Z' }) })],
      }),
    ]);
  });

  it('rejects an event that is not an S3 notification', async () => {
    const { handler } = setup();
    await expect(handler({ detail: {} })).rejects.toThrow(/Records/);
  });
});
