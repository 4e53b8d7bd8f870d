import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { IntegrityError } from '../../core/errors.ts';
import { verifyObject } from '../../agent/verify.ts';

// What each verify mode asks the store, and what it refuses.

const bytes = Buffer.from('a manifest, say, of a few hundred bytes');
const expected = { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), etag: `"${createHash('md5').update(bytes).digest('hex')}"` };

/** Counts the store's HEADs and GETs. */
function counting(store: BlobStore) {
  const calls = { head: 0, get: 0 };
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    head: (k: string) => (calls.head++, store.head(k)),
    get: (...a: Parameters<BlobStore['get']>) => (calls.get++, store.get(...a)),
  });
  return { spy, calls };
}

describe('verifyObject', () => {
  it('read-back: one GET and no HEAD for an object that is whole', async () => {
    const store = new MemoryBlobStore();
    await store.put('k', bytes);
    const c = counting(store);
    await verifyObject(c.spy, 'k', expected, 'read-back');
    expect(c.calls).toEqual({ head: 0, get: 1 });
  });

  it('read-back: a missing object, a short one and one with other bytes are IntegrityErrors', async () => {
    const store = new MemoryBlobStore();
    await expect(verifyObject(store, 'k', expected, 'read-back')).rejects.toThrow(/k is missing after it was published/);
    await store.put('short', bytes.subarray(0, bytes.length - 1));
    await expect(verifyObject(store, 'short', expected, 'read-back')).rejects.toThrow(IntegrityError);
    const other = Buffer.from(bytes);
    other[3] = other[3]! ^ 1;
    await store.put('other', other);
    await expect(verifyObject(store, 'other', expected, 'read-back')).rejects.toThrow(/read back as/);
  });

  it('etag: a HEAD whose ETag is the MD5 sent, and nothing read back', async () => {
    const store = new MemoryBlobStore();
    await store.put('k', bytes);
    const c = counting(store);
    await verifyObject(c.spy, 'k', expected, 'etag');
    expect(c.calls).toEqual({ head: 1, get: 0 });
  });
});
