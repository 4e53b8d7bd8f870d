import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';
import { StreamUploader } from '../../agent/stream-uploader.ts';
import { planResume, resumeLost, type RecordedPart, type ResumePlan, type ResumeRecord } from '../../agent/upload-resume.ts';
import { readAll } from '../../agent/recover.ts';
import { UploadProgress, readUploadProgress } from '../../agent/upload-progress.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { lineFailure } from '../../agent/upload-keep.ts';
import { translateS3Error } from '../../adapters/s3-errors.ts';
import { SourceChangedError } from '../../core/errors.ts';
import { join } from 'node:path';

// Going on with an upload an earlier run left open: the uploader reads every byte again, and a
// part is left out only when the store holds one of the same size and MD5 as recorded; the
// completion lists the ETags of the bytes read now, so the store checks each part it kept.

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

/** A store that counts the part numbers sent to it. */
function counted(store: MemoryBlobStore): { store: BlobStore; sent: number[] } {
  const sent: number[] = [];
  const spy = Object.assign(Object.create(store) as BlobStore, {
    uploadPart: (k: string, u: string, n: number, b: Uint8Array, sha256?: string) => (sent.push(n), store.uploadPart(k, u, n, b, sha256)),
  });
  return { store: spy, sent };
}

/** An upload left open with `stored` parts of `body` in it (an earlier run's), and their record. */
async function leftOpen(store: MemoryBlobStore, key: string, body: Buffer, stored: number[]): Promise<{ uploadId: string; parts: RecordedPart[] }> {
  const uploadId = await store.createMultipart(key);
  const parts: RecordedPart[] = [];
  for (const n of stored) {
    const bytes = body.subarray((n - 1) * PART, n * PART);
    const part = await store.uploadPart(key, uploadId, n, bytes);
    parts.push({ n, size: bytes.length, md5: md5(bytes), etag: part.etag });
  }
  return { uploadId, parts };
}

const plan = (uploadId: string, parts: RecordedPart[]): ResumePlan => ({ uploadId, parts: new Map(parts.map((p) => [p.n, p])) });

async function upload(store: BlobStore, key: string, body: Buffer, resume: ResumePlan, held: number[] = []) {
  const u = new StreamUploader(store, { key, partSize: PART, partConcurrency: 2, resume, onPartStored: (_bytes, part) => part.held && held.push(part.partNumber) });
  await u.write(body);
  return u.finish();
}

describe('an upload gone on with from an earlier run', () => {
  it('sends only the parts the store does not hold as recorded; the object is the whole file', async () => {
    const memory = new MemoryBlobStore({ minPartSize: PART });
    const body = randomBytes(3 * PART + 1234);
    const open = await leftOpen(memory, 'k', body, [1, 2]);
    const { store, sent } = counted(memory);
    const held: number[] = [];
    const result = await upload(store, 'k', body, plan(open.uploadId, open.parts), held);
    expect(sent.sort()).toEqual([3, 4]);
    expect(held.sort()).toEqual([1, 2]);
    expect(result).toMatchObject({ parts: 4, sha256: createHash('sha256').update(body).digest('hex') });
    expect((await readAll(memory, 'k')).equals(body)).toBe(true);
  });

  it('sends again a recorded part whose MD5 or size differs from the bytes read now', async () => {
    const memory = new MemoryBlobStore({ minPartSize: PART });
    const body = randomBytes(3 * PART);
    const open = await leftOpen(memory, 'k', body, [1, 2, 3]);
    const [p1, p2, p3] = open.parts as [RecordedPart, RecordedPart, RecordedPart];
    const { store, sent } = counted(memory);
    await upload(store, 'k', body, plan(open.uploadId, [{ ...p1, md5: md5(Buffer.from('other bytes')) }, p2, { ...p3, size: p3.size - 1 }]));
    expect(sent.sort()).toEqual([1, 3]);
    expect((await readAll(memory, 'k')).equals(body)).toBe(true);
  });

  it.each([
    ['ETags are MD5s', { verifiesChecksums: false, conditionalPut: true, md5ETags: true }],
    ['ETags are not MD5s, part checksums checked (AWS S3 with SSE-KMS)', { verifiesChecksums: true, conditionalPut: true, md5ETags: false }],
  ])('fails with InvalidPart, not a wrong object, when the store holds other bytes than a record says (%s)', async (_what, features) => {
    const memory = new MemoryBlobStore({ minPartSize: PART, features });
    const body = randomBytes(2 * PART);
    const other = Buffer.from(body);
    other.writeUInt8(other.readUInt8(10) ^ 1, 10);
    // The store holds part 1 of `other`; the record claims the MD5 of `body`'s part 1.
    const open = await leftOpen(memory, 'k', other, [1]);
    const lying = [{ ...open.parts[0]!, md5: md5(body.subarray(0, PART)) }];
    const failure = await upload(memory, 'k', body, plan(open.uploadId, lying)).catch((e: unknown) => e);
    expect(resumeLost(failure)).toMatch(/InvalidPart/);
    expect(await memory.head('k')).toBeUndefined();
  });

  it('fails as an upload gone (NoSuchUpload) when the store no longer has it', async () => {
    const memory = new MemoryBlobStore({ minPartSize: PART });
    const body = randomBytes(2 * PART);
    const open = await leftOpen(memory, 'k', body, [1]);
    await memory.abortMultipart('k', open.uploadId);
    const failure = await upload(memory, 'k', body, plan(open.uploadId, open.parts)).catch((e: unknown) => e);
    expect(resumeLost(failure)).toMatch(/gone/);
  });
});

describe('whether a recorded upload is gone on with', () => {
  const file = { path: '/b/full.bak', size: 3 * PART, mtimeMs: 1000, dev: 2049, ino: 77 };
  const record: ResumeRecord = { uploadId: 'u1', key: 'k', partSize: PART, file, parts: [{ n: 1, size: PART, md5: 'a'.repeat(32), etag: '"x"' }] };
  const s3 = { md5ETags: true, verifiesChecksums: true };

  it('is, when key, part size and file are those of the record', () => {
    expect(planResume(record, { key: 'k', partSize: PART, file }, s3)).toMatchObject({ plan: { uploadId: 'u1' } });
  });

  it('is, for the same file seen on another device number after a reboot (an NFS or SMB mount, an LVM volume)', () => {
    expect(planResume(record, { key: 'k', partSize: PART, file: { ...file, dev: 52 } }, s3)).toMatchObject({ plan: { uploadId: 'u1' } });
  });

  it.each([
    ['another key', { key: 'k2', partSize: PART, file }, /another key/],
    ['another part size', { key: 'k', partSize: 2 * PART, file }, /part size/],
    ['a rewritten file (other inode)', { key: 'k', partSize: PART, file: { ...file, ino: 78 } }, /file changed.*ino 77 → 78/],
    ['a touched file', { key: 'k', partSize: PART, file: { ...file, mtimeMs: 2000 } }, /mtimeMs/],
  ])('is not, for %s', (_what, expected, reason) => {
    expect(planResume(record, expected, s3)).toEqual({ reason: expect.stringMatching(reason) });
  });

  it('is not, for an object with its own Object Lock date (a binlog partial), which was fixed when the upload began', () => {
    expect(planResume(record, { key: 'k', partSize: PART, file, ownLock: true }, s3)).toEqual({ reason: expect.stringMatching(/own retention date/) });
  });

  it('is not, for a record with no part, an unreadable record, or a store that checks no part at completion', () => {
    const expected = { key: 'k', partSize: PART, file };
    expect(planResume({ ...record, parts: [] }, expected, s3)).toHaveProperty('reason');
    expect(planResume({ ...record, parts: [{ n: 1 } as RecordedPart] }, expected, s3)).toHaveProperty('reason');
    expect(planResume(undefined, expected, s3)).toHaveProperty('reason');
    expect(planResume(record, expected, { md5ETags: false, verifiesChecksums: false })).toHaveProperty('reason');
  });
});

describe('the upload progress record', () => {
  const file = { path: '/b/full.bak', size: 3 * PART, mtimeMs: 1000, dev: 2049, ino: 77 };
  const from: ResumeRecord = { uploadId: 'u1', key: 'k', partSize: PART, file, parts: [{ n: 1, size: PART, md5: 'a'.repeat(32), etag: '"x"' }] };

  it('of an upload gone on with names it and its recorded parts from its first write, before the upload is taken up again', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-progress-'));
    try {
      const progress = new UploadProgress(state, 'a1', { source: 'db', name: 'full.bak', size: 3 * PART }, () => new Date(), { key: 'k', partSize: PART, file, from });
      expect(readUploadProgress(state, 'a1')).toMatchObject({ resume: from, resumedAt: PART, heldBytes: 0 });
      progress.started('u1');
      progress.stored(PART, { partNumber: 2, etag: '"y"', md5: 'b'.repeat(32) });
      progress.end();
      expect(readUploadProgress(state, 'a1')).toBeUndefined();
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('of a fresh upload records each part the store acknowledged, with its MD5 and ETag', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-progress-'));
    let now = 0;
    try {
      const progress = new UploadProgress(state, 'a2', { source: 'db', name: 'full.bak', size: 3 * PART }, () => new Date(now), { key: 'k', partSize: PART, file });
      expect(readUploadProgress(state, 'a2')?.resume).toBeUndefined();
      progress.started('u2');
      now += 10_000;
      progress.stored(PART, { partNumber: 1, etag: '"e1"', md5: 'c'.repeat(32) });
      expect(readUploadProgress(state, 'a2')?.resume).toEqual({ uploadId: 'u2', key: 'k', partSize: PART, file, parts: [{ n: 1, size: PART, md5: 'c'.repeat(32), etag: '"e1"' }], since: new Date(0).toISOString() });
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('of an upload the line stopped stays when the shipping ends, every part written; the run going on with it keeps its start and counts the stops', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-progress-'));
    let now = 0;
    try {
      const first = new UploadProgress(state, 'a3', { source: 'db', name: 'full.bak', size: 3 * PART }, () => new Date(now), { key: 'k', partSize: PART, file });
      first.started('u3');
      now += 1_000;
      // Within the 5 s between writes: only stopped() puts the part on disk.
      first.stored(PART, { partNumber: 1, etag: '"e1"', md5: 'c'.repeat(32) });
      expect(first.stopped('the line failed')).toEqual({ stored: PART, since: new Date(0).toISOString(), stops: 1 });
      first.end();
      const kept = readUploadProgress(state, 'a3')!;
      expect(kept).toMatchObject({ stoppedAt: new Date(1_000).toISOString(), stopReason: 'the line failed' });
      expect(kept.resume).toMatchObject({ uploadId: 'u3', parts: [{ n: 1, size: PART }], since: new Date(0).toISOString(), stops: 1 });

      now = 3_600_000;
      const second = new UploadProgress(state, 'a3', { source: 'db', name: 'full.bak', size: 3 * PART }, () => new Date(now), { key: 'k', partSize: PART, file, from: kept.resume });
      expect(readUploadProgress(state, 'a3')?.stoppedAt).toBeUndefined();
      expect(second.stopped('the line failed')).toEqual({ stored: PART, since: new Date(0).toISOString(), stops: 2 });
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });

  it('of an upload stopped before the store took any part is not kept: stopped() says so and end() removes it', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-progress-'));
    try {
      const progress = new UploadProgress(state, 'a4', { source: 'db', name: 'full.bak', size: 3 * PART }, () => new Date(0), { key: 'k', partSize: PART, file });
      progress.started('u4');
      expect(progress.stopped('the line failed')).toBeUndefined();
      progress.end();
      expect(readUploadProgress(state, 'a4')).toBeUndefined();
    } finally {
      rmSync(state, { recursive: true, force: true });
    }
  });
});

describe('a failure that leaves an upload worth going on with (lineFailure)', () => {
  const sdk = (name: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`${name} happened`), { name, ...extra });
  it.each([
    ['a connection reset', translateS3Error(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'uploadPart', 'k'), 'the line failed'],
    ['a connection refused (the line down)', translateS3Error(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'uploadPart', 'k'), 'the line failed'],
    ["the store's name not resolving (DNS ENOTFOUND, as the SDK throws it after its retries)", translateS3Error(Object.assign(new Error('getaddrinfo ENOTFOUND s3.eu-west-2.amazonaws.com'), { code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: 's3.eu-west-2.amazonaws.com', $metadata: { attempts: 3, totalRetryDelay: 300 } }), 'uploadPart', 'k'), "the store's name did not resolve (DNS ENOTFOUND)"],
    ["the store's name not resolving for now (DNS EAI_AGAIN)", translateS3Error(Object.assign(new Error('getaddrinfo EAI_AGAIN s3.eu-west-2.amazonaws.com'), { code: 'EAI_AGAIN', errno: -3001, syscall: 'getaddrinfo', $metadata: { attempts: 3 } }), 'uploadPart', 'k'), "the store's name did not resolve (DNS EAI_AGAIN)"],
    ["the store's 500", translateS3Error(sdk('InternalError', { $metadata: { httpStatusCode: 500 }, $response: { headers: { 'x-amz-request-id': 'r' } } }), 'uploadPart', 'k'), 'the store was unavailable (HTTP 500)'],
    ["S3's throttling 503 (SlowDown)", translateS3Error(sdk('SlowDown', { $metadata: { httpStatusCode: 503 }, $response: { headers: { 'x-amz-request-id': 'r' } } }), 'uploadPart', 'k'), 'the store asked to slow down (SlowDown, HTTP 503)'],
    ["another store's 429", translateS3Error(sdk('TooManyRequests', { $metadata: { httpStatusCode: 429 }, $response: { headers: { 'x-amz-request-id': 'r' } } }), 'uploadPart', 'k'), 'the store asked to slow down (TooManyRequests, HTTP 429)'],
    ['a request time the store refused (RequestTimeTooSkewed)', translateS3Error(sdk('RequestTimeTooSkewed', { $metadata: { httpStatusCode: 403 }, $response: { headers: { 'x-amz-request-id': 'r' } } }), 'uploadPart', 'k'), 'the store answered HTTP 403 RequestTimeTooSkewed'],
    ["S3's RequestTimeout (a line too slow to send the part)", translateS3Error(sdk('RequestTimeout', { message: 'Your socket connection to the server was not read from or written to within the timeout period.', $metadata: { httpStatusCode: 400 }, $response: { headers: { 'x-amz-request-id': 'r' } } }), 'uploadPart', 'k'), 'the line failed'],
  ])('keeps it after %s', (_what, error, reason) => {
    expect(lineFailure(error)).toBe(reason);
  });
  it.each([
    ['NoSuchUpload (the lifecycle rule aborted it)', translateS3Error(sdk('NoSuchUpload', { $metadata: { httpStatusCode: 404 } }), 'uploadPart', 'k')],
    ['InvalidPart', translateS3Error(sdk('InvalidPart', { $metadata: { httpStatusCode: 400 } }), 'completeMultipart', 'k')],
    ['AccessDenied', translateS3Error(sdk('AccessDenied', { $metadata: { httpStatusCode: 403 } }), 'uploadPart', 'k')],
    ['a torn part (BadDigest)', translateS3Error(sdk('BadDigest', { $metadata: { httpStatusCode: 400 } }), 'uploadPart', 'k')],
    ['a file changed', new SourceChangedError('changed', '/x')],
  ])('ends it after %s', (_what, error) => {
    expect(lineFailure(error)).toBeUndefined();
  });
});
