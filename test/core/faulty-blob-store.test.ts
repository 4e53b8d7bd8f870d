import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { IntegrityError, NotFoundError, TransientError } from '../../core/errors.ts';
import { FaultyBlobStore } from '../../core/faulty-blob-store.ts';
import { MemoryBlobStore, sha256Base64 } from '../../core/memory-blob-store.ts';

const body = Buffer.from('0123456789');

async function read(store: FaultyBlobStore, key: string): Promise<string> {
  return (await buffer((await store.get(key)).body)).toString();
}

function setup() {
  const inner = new MemoryBlobStore();
  return { inner, faulty: new FaultyBlobStore(inner) };
}

describe('FaultyBlobStore', () => {
  it('keeps a torn put: the call succeeds and the store holds the first half', async () => {
    const { faulty } = setup();
    faulty.truncateNext(1);
    await expect(faulty.put('a', body, { sha256: sha256Base64(body) })).resolves.toMatchObject({ etag: expect.any(String) });
    expect(await read(faulty, 'a')).toBe('01234');
    await faulty.put('a', body);
    expect(await read(faulty, 'a')).toBe('0123456789');
    expect(faulty.injected).toEqual([{ kind: 'truncate', method: 'put', key: 'a' }]);
  });

  it('tears only matching keys, the given number of times, to the given length', async () => {
    const { faulty } = setup();
    faulty.truncateNext(2, { match: (key) => key.endsWith('.tar'), keepBytes: 3 });
    await faulty.put('m.json', body);
    await faulty.put('p1.tar', body);
    await faulty.put('p2.tar', body);
    await faulty.put('p3.tar', body);
    expect(await Promise.all(['m.json', 'p1.tar', 'p2.tar', 'p3.tar'].map((k) => read(faulty, k)))).toEqual(['0123456789', '012', '012', '0123456789']);
    expect(faulty.pending).toBe(0);
  });

  it('with keepChecksum, a verifying store catches the damage as S3 would', async () => {
    const { faulty } = setup();
    faulty.truncateNext(1, { keepChecksum: true });
    await expect(faulty.put('a', body, { sha256: sha256Base64(body) })).rejects.toBeInstanceOf(IntegrityError);
    expect(await faulty.head('a')).toBeUndefined();
  });

  it('flips one byte of a part, and the assembled object carries it', async () => {
    const { faulty } = setup();
    faulty.flipNext(1, { at: 2 });
    const id = await faulty.createMultipart('p.tar');
    const part = await faulty.uploadPart('p.tar', id, 1, body, sha256Base64(body));
    expect(part.sha256).not.toBe(sha256Base64(body));
    await faulty.completeMultipart('p.tar', id, [part]);
    const stored = await buffer((await faulty.get('p.tar')).body);
    expect(stored[2]).toBe(body[2]! ^ 0xff);
    expect(Buffer.concat([stored.subarray(0, 2), stored.subarray(3)])).toEqual(Buffer.concat([body.subarray(0, 2), body.subarray(3)]));
    expect(faulty.injected).toEqual([{ kind: 'flip', method: 'uploadPart', key: 'p.tar' }]);
  });

  it('fails the next N calls of a method before the store sees them', async () => {
    const { inner, faulty } = setup();
    faulty.failNext('put', 2);
    await expect(faulty.put('a', body)).rejects.toBeInstanceOf(TransientError);
    await expect(faulty.put('a', body)).rejects.toMatchObject({ retryable: true, message: 'injected fault: put a' });
    expect(await inner.head('a')).toBeUndefined();
    await faulty.put('a', body);
    expect(await inner.head('a')).toMatchObject({ size: 10 });
  });

  it("fails 'after': the store acted but the caller sees an error (a lost response)", async () => {
    const { inner, faulty } = setup();
    faulty.failNext('completeMultipart', 1, { when: 'after' });
    const id = await faulty.createMultipart('p.tar');
    const part = await faulty.uploadPart('p.tar', id, 1, body);
    await expect(faulty.completeMultipart('p.tar', id, [part])).rejects.toBeInstanceOf(TransientError);
    expect(await inner.head('p.tar')).toMatchObject({ size: 10 });
    // A retry of the same complete now meets an upload that no longer exists.
    await expect(faulty.completeMultipart('p.tar', id, [part])).rejects.toBeInstanceOf(NotFoundError);
  });

  it('fails listings by prefix, with a custom error', async () => {
    const { faulty } = setup();
    await faulty.put('logs/a', body);
    await faulty.put('packs/b', body);
    faulty.failNext('list', 1, { match: (prefix) => prefix.startsWith('logs/'), error: () => new Error('custom') });
    const keys = async (prefix: string) => {
      const out: string[] = [];
      for await (const item of faulty.list(prefix)) out.push(item.key);
      return out;
    };
    expect(await keys('packs/')).toEqual(['packs/b']);
    await expect(keys('logs/')).rejects.toThrow('custom');
    expect(await keys('logs/')).toEqual(['logs/a']);
  });

  it('clear() disarms pending faults and features are the inner store', async () => {
    const inner = new MemoryBlobStore({ features: { conditionalPut: false } });
    const faulty = new FaultyBlobStore(inner).failNext('get', 5).truncateNext(5);
    expect(faulty.pending).toBe(10);
    faulty.clear();
    await faulty.put('a', body);
    expect(await read(faulty, 'a')).toBe('0123456789');
    expect(faulty.features).toEqual({ verifiesChecksums: true, conditionalPut: false, md5ETags: true });
  });
});
