import { describe, it, expect } from 'vitest';
import { randomBytes, createHash } from 'node:crypto';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import type { BlobStore } from '../../core/ports.ts';
import { readAll } from '../../agent/recover.ts';

const MiB = 1024 * 1024;

function recordingStore() {
  const store = new MemoryBlobStore({ minPartSize: 5 * MiB });
  const parts: number[] = [];
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    uploadPart: (k: string, u: string, n: number, b: Uint8Array, s?: string) => {
      parts.push(b.length);
      return store.uploadPart(k, u, n, b, s);
    },
  });
  return { store, spy, parts };
}

describe('stream uploader buffer sizing', () => {
  it.each([
    ['a hint far too small', 100_000],
    ['no hint', undefined],
    ['an exact hint', 12 * MiB],
  ])('with %s, sends full-size parts but the last and stores the exact bytes', async (_what, sizeHint) => {
    const { store, spy, parts } = recordingStore();
    const body = randomBytes(12 * MiB);
    const u = new StreamUploader(spy, { key: 'k', partSize: 5 * MiB, partConcurrency: 2, sizeHint });
    for (let at = 0; at < body.length; at += 700_000) await u.write(body.subarray(at, at + 700_000));
    const result = await u.finish();
    expect(parts).toEqual([5 * MiB, 5 * MiB, 2 * MiB]);
    expect(result).toMatchObject({ size: body.length, parts: 3, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await readAll(store, 'k')).equals(body)).toBe(true);
  });

  it('sends a small object as one PUT', async () => {
    const { store, spy, parts } = recordingStore();
    const body = randomBytes(300_000);
    const u = new StreamUploader(spy, { key: 'small', partSize: 8 * MiB, partConcurrency: 2, sizeHint: 300_000 });
    await u.write(body);
    expect(await u.finish()).toMatchObject({ size: 300_000, parts: 1 });
    expect(parts).toEqual([]);
    expect((await readAll(store, 'small')).equals(body)).toBe(true);
  });
});
