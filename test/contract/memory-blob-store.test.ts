import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { blobStoreContract, collect } from './blob-store-contract.ts';

blobStoreContract('MemoryBlobStore', async () => ({ store: new MemoryBlobStore(), cleanup: async () => {} }));
// Declaring less (as a stand-in does) must still satisfy everything the contract asks of such a store.
blobStoreContract('MemoryBlobStore declared as a stand-in', async () => ({
  store: new MemoryBlobStore({ features: { conditionalPut: false, verifiesChecksums: false } }),
  cleanup: async () => {},
}));
// With no fault armed the wrapper is transparent.
blobStoreContract('FaultyBlobStore over MemoryBlobStore, no faults armed', async () => ({
  store: new FaultyBlobStore(new MemoryBlobStore()),
  cleanup: async () => {},
}));

describe('MemoryBlobStore beyond the contract', () => {
  it('takes lastModified and initiated from its clock', async () => {
    const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));
    const store = new MemoryBlobStore({ clock });
    await store.put('k', Buffer.from('x'));
    clock.advance(60_000);
    const uploadId = await store.createMultipart('m');
    expect((await store.head('k'))?.lastModified?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
    expect((await collect(store.listMultipart('')))[0]).toMatchObject({ uploadId, initiated: new Date('2026-03-01T10:01:00Z') });
  });

  it('keeps its own copy of a body: later changes to the caller buffer do not leak in', async () => {
    const store = new MemoryBlobStore();
    const body = Buffer.from('abc');
    await store.put('k', body);
    body[0] = 0x7a;
    expect((await buffer((await store.get('k')).body)).toString()).toBe('abc');
  });

  it('lists in UTF-8 byte order, as S3 does, not UTF-16 order', async () => {
    const store = new MemoryBlobStore();
    // U+FF5E sorts after U+1F3A7 in UTF-16 code units but before it in UTF-8 bytes.
    await store.put('🎧', Buffer.from('1'));
    await store.put('～', Buffer.from('2'));
    expect((await collect(store.list(''))).map((i) => i.key)).toEqual(['～', '🎧']);
  });

  it('gives multipart objects an S3-style ETag ending in the part count', async () => {
    const store = new MemoryBlobStore();
    const id = await store.createMultipart('m');
    const parts = [await store.uploadPart('m', id, 1, Buffer.from('a')), await store.uploadPart('m', id, 2, Buffer.from('b'))];
    const { etag } = await store.completeMultipart('m', id, parts);
    expect(etag).toMatch(/^"[0-9a-f]{32}-2"$/);
  });

  it('enforces S3 part rules: ascending order, listed ETags, minimum part size', async () => {
    const store = new MemoryBlobStore({ minPartSize: 4 });
    const id = await store.createMultipart('m');
    const small = await store.uploadPart('m', id, 1, Buffer.from('abc'));
    const last = await store.uploadPart('m', id, 2, Buffer.from('d'));
    await expect(store.completeMultipart('m', id, [last, small])).rejects.toThrow(/InvalidPartOrder/);
    await expect(store.completeMultipart('m', id, [{ ...small, etag: '"bad"' }, last])).rejects.toThrow(/InvalidPart\b/);
    await expect(store.completeMultipart('m', id, [small, last])).rejects.toThrow(/EntityTooSmall/);
    await expect(store.completeMultipart('m', id, [])).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.uploadPart('m', id, 10_001, Buffer.from('x'))).rejects.toBeInstanceOf(InvalidInputError);
    // The last part may be small; only listed parts make the object.
    const big = await store.uploadPart('m', id, 1, Buffer.from('abcd'));
    await store.completeMultipart('m', id, [big]);
    expect((await store.head('m'))?.size).toBe(4);
  });

  it('refuses an empty key or one over 1,024 bytes', async () => {
    const store = new MemoryBlobStore();
    await expect(store.put('', Buffer.from('x'))).rejects.toBeInstanceOf(InvalidInputError);
    await expect(store.put('é'.repeat(513), Buffer.from('x'))).rejects.toBeInstanceOf(InvalidInputError);
  });
});
