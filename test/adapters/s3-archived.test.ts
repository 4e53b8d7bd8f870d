// A pack in Deep Archive (or Glacier Flexible Retrieval) cannot be read until it is recalled:
// S3 answers GET with 403 InvalidObjectState. The adapter names that, so the replay answers a
// clear 409 instead of a 500. aws-sdk-client-mock stands in for S3: no network here.
import { GetObjectCommand, InvalidObjectState, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { S3BlobStore, translateS3Error } from '../../adapters/s3-blob-store.ts';
import { ArchivedError, FerryError } from '../../core/errors.ts';
import { errorResponse } from '../../functions/shared/errors.ts';

const s3 = mockClient(S3Client);
// The clients' classes stay mocked until restored: later test files in this process use the real ones.
afterAll(() => { s3.restore(); });
const store = new S3BlobStore(new S3Client({ region: 'eu-west-1' }), 'ferry-data');
const KEY = 'recordings/site-a/2024/01/01/p1.tar';

afterEach(() => {
  s3.reset();
});

function invalidObjectState(): InvalidObjectState {
  return new InvalidObjectState({ message: 'The operation is not valid for the object storage class', $metadata: { httpStatusCode: 403 }, StorageClass: 'DEEP_ARCHIVE' });
}

describe('an archived object', () => {
  it('GET of a DEEP_ARCHIVE object (403 InvalidObjectState) rejects with ArchivedError naming the key, the class and the recall', async () => {
    s3.on(GetObjectCommand).rejects(invalidObjectState());
    const error = await store.get(KEY, { start: 0, end: 9 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchivedError);
    expect(error).toMatchObject({ name: 'ArchivedError', kind: 'conflict', retryable: false, storageClass: 'DEEP_ARCHIVE' });
    expect((error as Error).message).toContain(KEY);
    expect((error as Error).message).toMatch(/is in the archive tier \(DEEP_ARCHIVE\); request a recall/);
    expect((error as Error).cause).toBeInstanceOf(InvalidObjectState);
  });

  it('the name survives without the SDK class (a plain 403 InvalidObjectState, as a stand-in sends it)', () => {
    const plain = Object.assign(new Error('not valid for the storage class'), { name: 'InvalidObjectState', $metadata: { httpStatusCode: 403 } });
    expect(translateS3Error(plain, 'get', KEY)).toBeInstanceOf(ArchivedError);
  });

  it('other 403s stay fatal', () => {
    const denied = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    const translated = translateS3Error(denied, 'get', KEY);
    expect(translated).not.toBeInstanceOf(ArchivedError);
    expect(translated).toMatchObject({ kind: 'fatal' });
    expect(translated).toBeInstanceOf(FerryError);
  });

  it('becomes HTTP 409 {"error":"ArchivedError"} with the recall hint, not a 500', () => {
    const res = errorResponse(translateS3Error(invalidObjectState(), 'get', KEY), () => undefined);
    expect(res.statusCode).toBe(409);
    const body = JSON.parse(res.body as string) as { error: string; message: string };
    expect(body.error).toBe('ArchivedError');
    expect(body.message).toContain('request a recall');
  });
});

describe('an archived object on the local S3 stand-in (real SDK, real HTTP)', () => {
  it('a ranged GET of a DEEP_ARCHIVE pack rejects with ArchivedError; a STANDARD one reads', async () => {
    s3.restore(); // the stand-in, not the mock, answers here
    const { startParity, put } = await import('../local/s3-parity-harness.ts');
    const parity = await startParity();
    try {
      await put(parity.client, KEY, 'archived bytes', { StorageClass: 'DEEP_ARCHIVE' });
      await put(parity.client, 'recordings/site-a/2024/01/01/p2.tar', 'instant bytes');
      const real = new S3BlobStore(parity.client, 'ferry-data');
      await expect(real.get(KEY, { start: 0, end: 3 })).rejects.toMatchObject({ name: 'ArchivedError', kind: 'conflict' });
      const ok = await real.get('recordings/site-a/2024/01/01/p2.tar', { start: 0, end: 3 });
      expect(ok.length).toBe(4);
    } finally {
      await parity.cleanup();
    }
  });
});
