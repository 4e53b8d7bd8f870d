// The BlobStore contract (core/ports.ts), run against every implementation: memory, S3 over the
// local stand-in, and any S3-compatible target. Each test works under its own prefix so one store
// serves the whole suite. Where a store declares it lacks a feature, the suite asserts the
// declared behaviour instead (the store keeps what it is given), so the declaration is tested too.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  IntegrityError,
  InvalidInputError,
  NotFoundError,
  RangeNotSatisfiableError,
} from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';

export interface BlobStoreHarness {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** S3's minimum for every part but the last; the suite uses it so it holds on AWS too. */
const MIN_PART = 5 * 1024 * 1024;

export async function readAll(body: Readable): Promise<Buffer> {
  return buffer(body);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

function byteSorted(keys: string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

export interface ContractContext {
  /** The store under test (set once the harness is made). */
  readonly store: BlobStore;
  /** A fresh prefix per test, so tests neither see nor clean up after each other. */
  fresh(): string;
}

export function blobStoreContract(name: string, make: () => Promise<BlobStoreHarness>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let harness: BlobStoreHarness | undefined;
    const run = randomUUID().slice(0, 8);
    let seq = 0;
    const t: ContractContext = {
      get store() {
        if (!harness) throw new Error('the harness is not made yet');
        return harness.store;
      },
      fresh: () => `contract-${run}/${(seq += 1)}/`,
    };

    beforeAll(async () => {
      harness = await make();
    });
    afterAll(async () => {
      await harness?.cleanup();
    });

    putHeadGetTests(t);
    rangeTests(t);
    listTests(t);
    deleteTests(t);
    multipartTests(t);
    conditionalPutTests(t);
    checksumTests(t);
    storageClassTests(t);
    keyTests(t);
  });
}

function putHeadGetTests(t: ContractContext): void {
  describe('put, head, get', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('stores a body with its content type and metadata and reads it back', async () => {
      const key = `${fresh()}call.wav`;
      const body = randomBytes(64 * 1024);
      const put = await store.put(key, body, { contentType: 'audio/wav', metadata: { site: 'site-a', Batch: '42' } });
      expect(put.etag).toMatch(/^"[0-9a-f]{32}"$/);

      const info = await store.head(key);
      expect(info).toMatchObject({ key, size: body.length, etag: put.etag, metadata: { site: 'site-a', batch: '42' } });
      expect(info?.lastModified).toBeInstanceOf(Date);

      const got = await store.get(key);
      expect(got).toMatchObject({ size: body.length, length: body.length, contentType: 'audio/wav', etag: put.etag });
      expect((await readAll(got.body)).equals(body)).toBe(true);
    });

    it('replaces an existing object when not asked to refuse', async () => {
      const key = `${fresh()}k`;
      await store.put(key, Buffer.from('first version'));
      await store.put(key, Buffer.from('second'));
      const got = await store.get(key);
      expect(got.size).toBe(6);
      expect((await readAll(got.body)).toString()).toBe('second');
    });

    it('round-trips an empty object and every byte value', async () => {
      const prefix = fresh();
      const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      await store.put(`${prefix}empty`, new Uint8Array());
      await store.put(`${prefix}bytes`, every);
      const empty = await store.get(`${prefix}empty`);
      expect([empty.size, empty.length, (await readAll(empty.body)).length]).toEqual([0, 0, 0]);
      expect(await store.head(`${prefix}empty`)).toMatchObject({ size: 0 });
      expect((await readAll((await store.get(`${prefix}bytes`)).body)).equals(every)).toBe(true);
    });

    it('head of an absent key is undefined and get of it throws NotFoundError', async () => {
      const key = `${fresh()}absent`;
      expect(await store.head(key)).toBeUndefined();
      await expect(store.get(key)).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.get(key, { start: 0, end: 10 })).rejects.toMatchObject({ name: 'NotFoundError', kind: 'not-found' });
    });
  });
}

function rangeTests(t: ContractContext): void {
  describe('ranges', () => {
    let store: BlobStore;
    const { fresh } = t;
    const body = Buffer.from('0123456789abcdefghij');
    let key: string;
    beforeAll(async () => {
      store = t.store;
      key = `${fresh()}ranged`;
      await store.put(key, body);
    });

    it('returns exactly the inclusive range, with the whole size', async () => {
      const got = await store.get(key, { start: 3, end: 12 });
      expect([got.size, got.length]).toEqual([20, 10]);
      expect((await readAll(got.body)).toString()).toBe('3456789abc');
    });

    it('returns the first byte alone for 0-0 and the last byte alone for size-1', async () => {
      const first = await store.get(key, { start: 0, end: 0 });
      expect([first.length, (await readAll(first.body)).toString()]).toEqual([1, '0']);
      const last = await store.get(key, { start: 19, end: 19 });
      expect([last.length, (await readAll(last.body)).toString()]).toEqual([1, 'j']);
    });

    it('clamps a range that ends beyond the object', async () => {
      const got = await store.get(key, { start: 15, end: 1_000_000 });
      expect([got.size, got.length]).toEqual([20, 5]);
      expect((await readAll(got.body)).toString()).toBe('fghij');
    });

    it('throws RangeNotSatisfiableError carrying the size when start >= size', async () => {
      const error = await store.get(key, { start: 20, end: 30 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeNotSatisfiableError);
      expect(error).toMatchObject({ size: 20, kind: 'range' });
      const empty = `${fresh()}empty`;
      await store.put(empty, new Uint8Array());
      await expect(store.get(empty, { start: 0, end: 0 })).rejects.toMatchObject({ name: 'RangeNotSatisfiableError', size: 0 });
    });

    it('refuses a malformed range instead of sending the whole object', async () => {
      await expect(store.get(key, { start: 5, end: 4 })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.get(key, { start: -1, end: 4 })).rejects.toBeInstanceOf(InvalidInputError);
    });
  });
}

function listTests(t: ContractContext): void {
  describe('list', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('lists every object under the prefix in UTF-8 byte order, and nothing else', async () => {
      const prefix = fresh();
      const keys = [`${prefix}b`, `${prefix}a/2`, `${prefix}a-1`, `${prefix}a/1`, `${prefix}A`, `${prefix}é`, `${prefix}z`];
      await Promise.all(keys.map((key, i) => store.put(key, Buffer.alloc(i + 1, 1))));
      await store.put(`${prefix.slice(0, -1)}-outside`, Buffer.from('x'));

      const listed = await collect(store.list(prefix));
      expect(listed.map((item) => item.key)).toEqual(byteSorted(keys));
      expect(listed.find((item) => item.key === `${prefix}a/2`)).toMatchObject({ size: 2 });
      expect(listed.every((item) => typeof item.etag === 'string' && item.lastModified instanceof Date)).toBe(true);
      expect(await collect(store.list(`${prefix}a/`))).toHaveLength(2);
      expect(await collect(store.list(`${prefix}nothing-here/`))).toEqual([]);
    });

    it('paginates past 1,000 keys without skipping or repeating any', async () => {
      const prefix = fresh();
      // Two sibling folders whose names order differently as paths than as keys ('-' < '/'):
      // a store that walks directories returns them out of order and loses its place between pages.
      const keys = Array.from({ length: 1020 }, (_, i) => `${prefix}${i % 2 ? 'site' : 'site-a'}/${String(i).padStart(5, '0')}`);
      await inBatches(keys, 32, (key) => store.put(key, Buffer.from(key.slice(-5))));
      const listed = (await collect(store.list(prefix))).map((item) => item.key);
      expect(listed).toHaveLength(1020);
      expect(listed).toEqual(byteSorted(keys));
    });
  });
}

function deleteTests(t: ContractContext): void {
  describe('delete', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('removes the object and is idempotent', async () => {
      const prefix = fresh();
      await store.put(`${prefix}gone`, Buffer.from('x'));
      await store.put(`${prefix}kept`, Buffer.from('y'));
      await store.delete(`${prefix}gone`);
      await store.delete(`${prefix}gone`);
      await store.delete(`${prefix}never-existed`);
      expect(await store.head(`${prefix}gone`)).toBeUndefined();
      await expect(store.get(`${prefix}gone`)).rejects.toBeInstanceOf(NotFoundError);
      expect((await collect(store.list(prefix))).map((item) => item.key)).toEqual([`${prefix}kept`]);
    });
  });
}

function multipartTests(t: ContractContext): void {
  describe('multipart', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('assembles the listed parts in order, whatever order they were uploaded in', async () => {
      const key = `${fresh()}pack.tar`;
      const first = randomBytes(MIN_PART);
      const second = randomBytes(1000);
      const uploadId = await store.createMultipart(key, { contentType: 'application/x-tar', metadata: { members: '2' } });
      const part2 = await store.uploadPart(key, uploadId, 2, second);
      const part1 = await store.uploadPart(key, uploadId, 1, first);
      expect([part1.partNumber, part2.partNumber]).toEqual([1, 2]);
      expect(part1.etag).not.toBe(part2.etag);

      await store.completeMultipart(key, uploadId, [part1, part2]);
      const whole = Buffer.concat([first, second]);
      expect(await store.head(key)).toMatchObject({ size: whole.length, metadata: { members: '2' } });
      const got = await store.get(key);
      expect(got.contentType).toBe('application/x-tar');
      expect(sha256(await readAll(got.body))).toBe(sha256(whole));
      // A member that straddles the part boundary reads back whole.
      const across = await store.get(key, { start: MIN_PART - 10, end: MIN_PART + 9 });
      expect((await readAll(across.body)).equals(whole.subarray(MIN_PART - 10, MIN_PART + 10))).toBe(true);
      expect(await collect(store.listMultipart(key))).toEqual([]);
    });

    it('gives parts and the assembled object S3 ETags: MD5 of each part, md5(part MD5s)-N for the object', async () => {
      const key = `${fresh()}etag.tar`;
      const first = randomBytes(MIN_PART);
      const second = randomBytes(777);
      const md5 = (b: Buffer) => createHash('md5').update(b).digest();
      const uploadId = await store.createMultipart(key);
      const part1 = await store.uploadPart(key, uploadId, 1, first);
      const part2 = await store.uploadPart(key, uploadId, 2, second);
      expect([part1.etag, part2.etag]).toEqual([`"${md5(first).toString('hex')}"`, `"${md5(second).toString('hex')}"`]);
      const done = await store.completeMultipart(key, uploadId, [part1, part2]);
      const expected = `"${md5(Buffer.concat([md5(first), md5(second)])).toString('hex')}-2"`;
      expect(done.etag).toBe(expected);
      expect((await store.head(key))?.etag).toBe(expected);
    });

    it('refuses to complete with a part whose ETag does not match what was stored, and publishes nothing', async () => {
      const key = `${fresh()}wrong-etag.tar`;
      const uploadId = await store.createMultipart(key);
      const part = await store.uploadPart(key, uploadId, 1, Buffer.from('stored'));
      await expect(store.completeMultipart(key, uploadId, [{ ...part, etag: '"00000000000000000000000000000000"' }])).rejects.toBeInstanceOf(InvalidInputError);
      expect(await store.head(key)).toBeUndefined();
      await store.completeMultipart(key, uploadId, [part]);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('stored');
    });

    it('uses the last upload of a part number', async () => {
      const key = `${fresh()}redo.tar`;
      const uploadId = await store.createMultipart(key);
      await store.uploadPart(key, uploadId, 1, Buffer.from('torn'));
      const redone = await store.uploadPart(key, uploadId, 1, Buffer.from('whole again'));
      await store.completeMultipart(key, uploadId, [redone]);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('whole again');
    });

    it('abort discards the upload, and aborting again or an unknown upload succeeds', async () => {
      const prefix = fresh();
      const key = `${prefix}aborted.tar`;
      const uploadId = await store.createMultipart(key);
      const part = await store.uploadPart(key, uploadId, 1, Buffer.from('partial'));
      expect((await collect(store.listMultipart(prefix))).map((u) => u.uploadId)).toEqual([uploadId]);

      await store.abortMultipart(key, uploadId);
      await store.abortMultipart(key, uploadId);
      await store.abortMultipart(key, 'unknown-upload-id');
      expect(await collect(store.listMultipart(prefix))).toEqual([]);
      await expect(store.completeMultipart(key, uploadId, [part])).rejects.toBeInstanceOf(NotFoundError);
      expect(await store.head(key)).toBeUndefined();
    });

    it('uploadOpen tells an open upload (with or without parts) from one aborted, completed, unknown or of another key', async () => {
      const prefix = fresh();
      const key = `${prefix}asked.tar`;
      const uploadId = await store.createMultipart(key);
      expect(await store.uploadOpen(key, uploadId)).toBe(true);
      await store.uploadPart(key, uploadId, 1, Buffer.from('partial'));
      expect(await store.uploadOpen(key, uploadId)).toBe(true);
      expect(await store.uploadOpen(`${prefix}other.tar`, uploadId)).toBe(false);
      expect(await store.uploadOpen(key, 'unknown-upload-id')).toBe(false);
      await store.abortMultipart(key, uploadId);
      expect(await store.uploadOpen(key, uploadId)).toBe(false);

      const done = await store.createMultipart(key);
      await store.completeMultipart(key, done, [await store.uploadPart(key, done, 1, Buffer.from('whole'))]);
      expect(await store.uploadOpen(key, done)).toBe(false);
    });

    it('completing or adding to an unknown upload throws NotFoundError', async () => {
      const key = `${fresh()}unknown.tar`;
      await expect(store.completeMultipart(key, 'unknown-upload-id', [{ partNumber: 1, etag: '"0"' }])).rejects.toBeInstanceOf(NotFoundError);
      await expect(store.uploadPart(key, 'unknown-upload-id', 1, Buffer.from('x'))).rejects.toBeInstanceOf(NotFoundError);
      expect(await collect(store.listMultipart(key))).toEqual([]);
    });

    it('lists open uploads under a prefix only, in key order', async () => {
      const prefix = fresh();
      const keys = [`${prefix}in/b.tar`, `${prefix}in/a.tar`, `${prefix}out/c.tar`];
      const ids = await Promise.all(keys.map((key) => store.createMultipart(key)));
      const done = await store.createMultipart(`${prefix}in/done.tar`);
      await store.completeMultipart(`${prefix}in/done.tar`, done, [await store.uploadPart(`${prefix}in/done.tar`, done, 1, Buffer.from('d'))]);

      const listed = await collect(store.listMultipart(`${prefix}in/`));
      expect(listed.map((u) => [u.key, u.uploadId])).toEqual([
        [keys[1], ids[1]],
        [keys[0], ids[0]],
      ]);
      expect((await collect(store.listMultipart(prefix))).map((u) => u.key)).toEqual(byteSorted(keys));
      await Promise.all(keys.map((key, i) => store.abortMultipart(key, ids[i] ?? '')));
      expect(await collect(store.listMultipart(prefix))).toEqual([]);
    });
  });
}

function conditionalPutTests(t: ContractContext): void {
  describe('conditional put', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('ifNoneMatch stores an object that does not exist yet', async () => {
      const key = `${fresh()}manifest.json`;
      await store.put(key, Buffer.from('{"v":1}'), { ifNoneMatch: true });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('{"v":1}');
    });

    it('ifNoneMatch refuses to replace an existing object where conditionalPut is declared, and replaces it where it is not', async () => {
      const key = `${fresh()}manifest.json`;
      await store.put(key, Buffer.from('published'));
      if (store.features.conditionalPut) {
        await expect(store.put(key, Buffer.from('impostor'), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
        expect((await readAll((await store.get(key)).body)).toString()).toBe('published');
      } else {
        await store.put(key, Buffer.from('replaced'), { ifNoneMatch: true });
        expect((await readAll((await store.get(key)).body)).toString()).toBe('replaced');
      }
    });

    it('completeMultipart with ifNoneMatch refuses to replace an existing object where conditionalPut is declared', async () => {
      const key = `${fresh()}pack.tar`;
      await store.put(key, Buffer.from('published'));
      const uploadId = await store.createMultipart(key);
      const part = await store.uploadPart(key, uploadId, 1, Buffer.from('impostor'));
      if (!store.features.conditionalPut) {
        await store.abortMultipart(key, uploadId);
        return;
      }
      await expect(store.completeMultipart(key, uploadId, [part], { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
      expect((await readAll((await store.get(key)).body)).toString()).toBe('published');
      await store.abortMultipart(key, uploadId);
    });
  });
}

function storageClassTests(t: ContractContext): void {
  describe('storage classes', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('reports the storage class a put or a multipart upload asked for in head and list, STANDARD by default', async () => {
      const prefix = fresh();
      await store.put(`${prefix}a-default`, Buffer.from('a'));
      await store.put(`${prefix}b-ia`, Buffer.from('b'), { storageClass: 'STANDARD_IA' });
      await store.put(`${prefix}c-instant`, Buffer.from('c'), { storageClass: 'GLACIER_IR' });
      const uploadId = await store.createMultipart(`${prefix}d-deep`, { storageClass: 'DEEP_ARCHIVE' });
      await store.completeMultipart(`${prefix}d-deep`, uploadId, [await store.uploadPart(`${prefix}d-deep`, uploadId, 1, Buffer.from('d'))]);
      const expected = { 'a-default': 'STANDARD', 'b-ia': 'STANDARD_IA', 'c-instant': 'GLACIER_IR', 'd-deep': 'DEEP_ARCHIVE' };
      const heads = await Promise.all(Object.keys(expected).map(async (name) => [name, (await store.head(`${prefix}${name}`))?.storageClass]));
      expect(Object.fromEntries(heads)).toEqual(expected);
      const listed = await collect(store.list(prefix));
      expect(Object.fromEntries(listed.map((item) => [item.key.slice(prefix.length), item.storageClass]))).toEqual(expected);
    });

    it('reads a GLACIER_IR object at once, whole and by range', async () => {
      const key = `${fresh()}instant.tar`;
      await store.put(key, Buffer.from('0123456789'), { storageClass: 'GLACIER_IR' });
      expect((await readAll((await store.get(key)).body)).toString()).toBe('0123456789');
      expect((await readAll((await store.get(key, { start: 3, end: 5 })).body)).toString()).toBe('345');
    });
  });
}

function checksumTests(t: ContractContext): void {
  describe('checksums', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('accepts a put and a part sent with their correct SHA-256', async () => {
      const prefix = fresh();
      const body = randomBytes(4096);
      await store.put(`${prefix}ok`, body, { sha256: sha256(body) });
      expect((await readAll((await store.get(`${prefix}ok`)).body)).equals(body)).toBe(true);

      const uploadId = await store.createMultipart(`${prefix}mp`);
      const part = await store.uploadPart(`${prefix}mp`, uploadId, 1, body, sha256(body));
      expect(part.sha256).toBe(sha256(body));
      await store.completeMultipart(`${prefix}mp`, uploadId, [part]);
      expect(await store.head(`${prefix}mp`)).toMatchObject({ size: body.length });
    });

    it('rejects a put or part whose SHA-256 does not match where verifiesChecksums is declared, and keeps it where it is not', async () => {
      const prefix = fresh();
      const body = Buffer.from('recording bytes');
      const wrong = sha256(Buffer.from('other bytes'));
      if (!store.features.verifiesChecksums) {
        // Such a store keeps whatever it is given: this is why the agent reads back what it published.
        await store.put(`${prefix}bad`, body, { sha256: wrong });
        expect((await readAll((await store.get(`${prefix}bad`)).body)).equals(body)).toBe(true);
        return;
      }
      await expect(store.put(`${prefix}bad`, body, { sha256: wrong })).rejects.toBeInstanceOf(IntegrityError);
      expect(await store.head(`${prefix}bad`)).toBeUndefined();

      const uploadId = await store.createMultipart(`${prefix}mp`);
      await expect(store.uploadPart(`${prefix}mp`, uploadId, 1, body, wrong)).rejects.toMatchObject({ name: 'IntegrityError', retryable: true });
      await store.abortMultipart(`${prefix}mp`, uploadId);
    });
  });
}

function keyTests(t: ContractContext): void {
  describe('keys', () => {
    let store: BlobStore;
    const { fresh } = t;
    beforeAll(() => {
      store = t.store;
    });

    it('round-trips keys with spaces, unicode and punctuation through put, head, get, list and delete', async () => {
      const prefix = fresh();
      const names = [
        'a b  c.wav',
        'Voice Recording 2026-01-01 2026-01-02.sdb',
        'é中文🎧.wav',
        "+&=?#%20!'()*~@,;:$[]{}^`|<>\\.x",
        'a%2Fb',
        '..dots',
        'trailing space ',
        'tab\there',
      ];
      const keys = names.map((n) => `${prefix}${n}`);
      await Promise.all(keys.map((key) => store.put(key, Buffer.from(key))));
      for (const key of keys) {
        expect(await store.head(key)).toMatchObject({ key, size: Buffer.byteLength(key) });
        expect((await readAll((await store.get(key)).body)).toString()).toBe(key);
      }
      expect((await collect(store.list(prefix))).map((item) => item.key)).toEqual(byteSorted(keys));
      await Promise.all(keys.map((key) => store.delete(key)));
      expect(await collect(store.list(prefix))).toEqual([]);
    });
  });
}
