import { describe, it, expect } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import type { BlobStore, BlobStoreFeatures } from '../../core/ports.ts';
import { IntegrityError } from '../../core/errors.ts';
import { publishManifest } from '../../agent/ship-batch.ts';
import { readAll } from '../../agent/recover.ts';
import type { VerifyMode } from '../../agent/verify.ts';

// How a published manifest (the commit record) is verified in each mode: in 'etag' mode the PUT's
// answer naming the MD5 sent stands for the read-back, as it does for a one-PUT pack; any other
// answer, and every other mode, reads the manifest back.

const KEY = 'manifests/site-a/cs/000001.json';
const bytes = Buffer.from(`${JSON.stringify({ format: 1, packId: 'p', members: [{ name: 'a.wav' }] })}\n`);
/** Like a stand-in: keeps what it is sent (checks no checksum), answers the MD5 of what it stored. */
const STAND_IN: Partial<BlobStoreFeatures> = { verifiesChecksums: false, conditionalPut: true, md5ETags: true };

/** Records the store's calls by verb; `answer` replaces the ETag a PUT answers with. */
function recording(store: BlobStore, answer?: (etag: string | undefined) => string | undefined) {
  const calls: string[] = [];
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    put: async (...a: Parameters<BlobStore['put']>) => {
      calls.push('put');
      const out = await store.put(...a);
      return answer ? { etag: answer(out.etag) } : out;
    },
    head: (k: string) => (calls.push('head'), store.head(k)),
    get: (...a: Parameters<BlobStore['get']>) => (calls.push('get'), store.get(...a)),
  });
  return { spy, calls };
}

describe('publishManifest: verifying the commit record', () => {
  it('in etag mode, takes a PUT answer naming the MD5 sent as the proof: one PUT, nothing read back', async () => {
    const store = new MemoryBlobStore({ features: STAND_IN });
    const { spy, calls } = recording(store);
    await publishManifest({ store: spy, verify: 'etag' }, KEY, bytes);
    expect(calls).toEqual(['put']);
    expect(await readAll(store, KEY)).toEqual(bytes);
  });

  it('in etag mode, reads back a manifest whose PUT answer names another ETag, and accepts it when the bytes are whole', async () => {
    const store = new MemoryBlobStore({ features: STAND_IN });
    const { spy, calls } = recording(store, () => '"0123456789abcdef0123456789abcdef"');
    await publishManifest({ store: spy, verify: 'etag' }, KEY, bytes);
    expect(calls).toEqual(['put', 'get']);
  });

  it('in etag mode, refuses a manifest the store kept torn (its answer is the MD5 of other bytes) after reading it back', async () => {
    const store = new MemoryBlobStore({ features: STAND_IN });
    const faulty = new FaultyBlobStore(store).flipNext(1);
    const { spy, calls } = recording(faulty);
    const published = publishManifest({ store: spy, verify: 'etag' }, KEY, bytes);
    await expect(published).rejects.toThrow(IntegrityError);
    await expect(published).rejects.toThrow(/read back as/);
    expect(faulty.injected).toHaveLength(1);
    expect(calls).toEqual(['put', 'get']);
  });

  it('in etag mode, reads the manifest back on a store whose ETags are not MD5s, even when the answer looks like the MD5 sent', async () => {
    const store = new MemoryBlobStore({ features: { ...STAND_IN, md5ETags: false } });
    const { spy, calls } = recording(store);
    await publishManifest({ store: spy, verify: 'etag' }, KEY, bytes);
    expect(calls).toEqual(['put', 'get']);
  });

  it.each<[string, VerifyMode | undefined]>([
    ['read-back', 'read-back'],
    ['checksum', 'checksum'],
    ['no mode given', undefined],
  ])('in %s, reads every manifest back even when the PUT answered the MD5 sent', async (_name, verify) => {
    const store = new MemoryBlobStore({ features: STAND_IN });
    const { spy, calls } = recording(store);
    await publishManifest({ store: spy, ...(verify ? { verify } : {}) }, KEY, bytes);
    expect(calls).toEqual(['put', 'get']);
  });

  it('in read-back mode, refuses a manifest the store kept torn', async () => {
    const store = new MemoryBlobStore({ features: STAND_IN });
    const faulty = new FaultyBlobStore(store).truncateNext(1);
    await expect(publishManifest({ store: faulty, verify: 'read-back' }, KEY, bytes)).rejects.toThrow(/read back as/);
  });
});
