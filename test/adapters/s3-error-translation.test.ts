// SDK errors become Ferry errors in one place (translateS3Error); S3BlobStore applies the port's
// absent/idempotent rules on top. aws-sdk-client-mock stands in for S3: no network here.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NoSuchUpload,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { S3BlobStore, translateS3Error } from '../../adapters/s3-blob-store.ts';
import { shippingError } from '../../agent/store-refusal.ts';
import {
  AlreadyExistsError,
  FerryError,
  IntegrityError,
  InvalidInputError,
  NotFoundError,
  RangeNotSatisfiableError,
  TransientError,
} from '../../core/errors.ts';

const s3 = mockClient(S3Client);
// The clients' classes stay mocked until restored: later test files in this process use the real ones.
afterAll(() => { s3.restore(); });
const store = new S3BlobStore(new S3Client({ region: 'eu-west-1' }), 'ferry-data');

afterEach(() => {
  s3.reset();
});

function sdkError(name: string, status: number, extra: Record<string, unknown> = {}): S3ServiceException {
  const error = new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', $metadata: { httpStatusCode: status }, message: `${name} happened` });
  return Object.assign(error, extra);
}

function networkError(code: string): Error {
  return Object.assign(new Error(`socket ${code}`), { code });
}

type ErrorClass = abstract new (...args: never[]) => Error;

const cases: Array<[string, Error, ErrorClass, string]> = [
  ['NoSuchKey', new NoSuchKey({ message: 'no key', $metadata: { httpStatusCode: 404 } }), NotFoundError, 'not-found'],
  ['NotFound (404, no body)', sdkError('NotFound', 404), NotFoundError, 'not-found'],
  ['an unnamed 404', sdkError('UnknownError', 404), NotFoundError, 'not-found'],
  ['NoSuchUpload', new NoSuchUpload({ message: 'gone', $metadata: { httpStatusCode: 404 } }), NotFoundError, 'not-found'],
  ['InvalidRange', sdkError('InvalidRange', 416, { ActualObjectSize: '11' }), RangeNotSatisfiableError, 'range'],
  ['PreconditionFailed', sdkError('PreconditionFailed', 412), AlreadyExistsError, 'conflict'],
  ['an unnamed 412', sdkError('UnknownError', 412), AlreadyExistsError, 'conflict'],
  ['ConditionalRequestConflict', sdkError('ConditionalRequestConflict', 409), AlreadyExistsError, 'conflict'],
  ['BadDigest', sdkError('BadDigest', 400), IntegrityError, 'integrity'],
  ['InvalidDigest', sdkError('InvalidDigest', 400), IntegrityError, 'integrity'],
  ['XAmzContentSHA256Mismatch', sdkError('XAmzContentSHA256Mismatch', 400), IntegrityError, 'integrity'],
  ['InvalidPart', sdkError('InvalidPart', 400), InvalidInputError, 'invalid-input'],
  ['EntityTooSmall', sdkError('EntityTooSmall', 400), InvalidInputError, 'invalid-input'],
  ['InvalidStorageClass', sdkError('InvalidStorageClass', 400), InvalidInputError, 'invalid-input'],
  ['SlowDown', sdkError('SlowDown', 503), TransientError, 'transient'],
  ['ThrottlingException', sdkError('ThrottlingException', 400), TransientError, 'transient'],
  ['InternalError', sdkError('InternalError', 500), TransientError, 'transient'],
  ['an unnamed 502', sdkError('UnknownError', 502), TransientError, 'transient'],
  ['an unnamed 429', sdkError('UnknownError', 429), TransientError, 'transient'],
  ['RequestTimeout', sdkError('RequestTimeout', 400), TransientError, 'transient'],
  ['MalformedXML (an XML body the SDK wrote, torn on the way)', sdkError('MalformedXML', 400), TransientError, 'transient'],
  ['ECONNRESET', networkError('ECONNRESET'), TransientError, 'transient'],
  ['ECONNREFUSED', networkError('ECONNREFUSED'), TransientError, 'transient'],
  ['ETIMEDOUT', networkError('ETIMEDOUT'), TransientError, 'transient'],
  ['TimeoutError', Object.assign(new Error('request timed out'), { name: 'TimeoutError' }), TransientError, 'transient'],
  ['AccessDenied', sdkError('AccessDenied', 403), FerryError, 'fatal'],
  ['NoSuchBucket (a deployment fault, not an absent object)', sdkError('NoSuchBucket', 404), FerryError, 'fatal'],
  ['NotImplemented (501 is not worth retrying)', sdkError('NotImplemented', 501), FerryError, 'fatal'],
  ['a plain Error', new Error('boom'), FerryError, 'fatal'],
];

describe('translateS3Error', () => {
  it.each(cases)('maps %s', (_label, error, expected, kind) => {
    const translated = translateS3Error(error, 'get', 'recordings/site-a/p.tar');
    expect(translated).toBeInstanceOf(expected);
    expect(translated).toMatchObject({ kind, retryable: kind === 'transient' || kind === 'integrity' });
    expect(translated.cause).toBe(error);
    expect(translated.message).toContain('recordings/site-a/p.tar');
  });

  it('names an unnamed answer by its status: a bodiless 403 (a HEAD with a refused key) says so, not "Unknown: UnknownError"', () => {
    const head403 = Object.assign(new S3ServiceException({ name: 'Unknown', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'UnknownError' }));
    expect(translateS3Error(head403, 'head', 'manifests/site-a/x.json').message).toBe('S3 head manifests/site-a/x.json: HTTP 403 Forbidden (the store refused these credentials or this request: check cloud.credentials and what the role may do)');
    expect(translateS3Error(sdkError('AccessDenied', 403), 'get', 'k').message).toBe('S3 get k: AccessDenied: AccessDenied happened');
    expect(translateS3Error(sdkError('UnknownError', 400), 'put', 'k').message).toBe('S3 put k: HTTP 400: UnknownError happened');
  });

  it('passes a Ferry error through untouched', () => {
    const error = new NotFoundError('already translated');
    expect(translateS3Error(error, 'get', 'k')).toBe(error);
  });

  it('takes the size of a 416 from ActualObjectSize, else the Content-Range header, else -1', () => {
    const fromBody = translateS3Error(sdkError('InvalidRange', 416, { ActualObjectSize: '1234' }), 'get', 'k');
    const fromHeader = translateS3Error(sdkError('InvalidRange', 416, { $response: { headers: { 'content-range': 'bytes */42' } } }), 'get', 'k');
    const unknown = translateS3Error(sdkError('UnknownError', 416), 'get', 'k');
    expect([fromBody, fromHeader, unknown].map((e) => (e as RangeNotSatisfiableError).size)).toEqual([1234, 42, -1]);
  });
});

describe('S3BlobStore error handling', () => {
  it('get rejects with the translated error', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no key', $metadata: { httpStatusCode: 404 } }));
    await expect(store.get('k')).rejects.toBeInstanceOf(NotFoundError);
    s3.on(GetObjectCommand).rejects(sdkError('InvalidRange', 416, { ActualObjectSize: '7' }));
    await expect(store.get('k', { start: 9, end: 20 })).rejects.toMatchObject({ name: 'RangeNotSatisfiableError', size: 7 });
  });

  it('head returns undefined on 404 but rethrows anything else', async () => {
    s3.on(HeadObjectCommand).rejects(sdkError('NotFound', 404));
    expect(await store.head('k')).toBeUndefined();
    s3.on(HeadObjectCommand).rejects(sdkError('AccessDenied', 403));
    await expect(store.head('k')).rejects.toMatchObject({ kind: 'fatal' });
  });

  it('put maps a lost conditional write, a bad digest and throttling', async () => {
    s3.on(PutObjectCommand).rejectsOnce(sdkError('PreconditionFailed', 412)).rejectsOnce(sdkError('BadDigest', 400)).rejectsOnce(sdkError('SlowDown', 503));
    await expect(store.put('k', Buffer.from('x'), { ifNoneMatch: true })).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(store.put('k', Buffer.from('x'), { sha256: 'AAAA' })).rejects.toBeInstanceOf(IntegrityError);
    await expect(store.put('k', Buffer.from('x'))).rejects.toBeInstanceOf(TransientError);
  });

  it('delete of an absent key and abort of an unknown upload succeed; complete of one does not', async () => {
    s3.on(DeleteObjectCommand).rejects(new NoSuchKey({ message: 'no key', $metadata: { httpStatusCode: 404 } }));
    s3.on(AbortMultipartUploadCommand).rejects(new NoSuchUpload({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    s3.on(CompleteMultipartUploadCommand).rejects(new NoSuchUpload({ message: 'gone', $metadata: { httpStatusCode: 404 } }));
    await expect(store.delete('k')).resolves.toBeUndefined();
    await expect(store.abortMultipart('k', 'u')).resolves.toBeUndefined();
    await expect(store.completeMultipart('k', 'u', [{ partNumber: 1, etag: '"e"' }])).rejects.toBeInstanceOf(NotFoundError);
  });

  it('abort still fails on errors other than absence', async () => {
    s3.on(AbortMultipartUploadCommand).rejects(networkError('ECONNRESET'));
    await expect(store.abortMultipart('k', 'u')).rejects.toBeInstanceOf(TransientError);
  });
});

describe('S3BlobStore requests', () => {
  it('sends the SHA-256 and If-None-Match it was given', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    await store.put('manifests/site-a/m.json', Buffer.from('{}'), { sha256: 'c2hh', ifNoneMatch: true, contentType: 'application/json' });
    expect(s3.commandCalls(PutObjectCommand)[0]?.args[0].input).toMatchObject({
      Bucket: 'ferry-data',
      Key: 'manifests/site-a/m.json',
      ChecksumSHA256: 'c2hh',
      IfNoneMatch: '*',
      ContentType: 'application/json',
      ContentLength: 2,
    });
  });

  it('asks for a part checksum when the store verifies them and reports it back', async () => {
    s3.on(UploadPartCommand).resolves({ ETag: '"p1"', ChecksumSHA256: 'c3VtMQ==' });
    const part = await store.uploadPart('k', 'u', 1, Buffer.from('abc'));
    expect(part).toEqual({ partNumber: 1, etag: '"p1"', sha256: 'c3VtMQ==' });
    expect(s3.commandCalls(UploadPartCommand)[0]?.args[0].input).toMatchObject({ ChecksumAlgorithm: 'SHA256', UploadId: 'u', PartNumber: 1 });
  });

  it('sends a Content-MD5 with every put and part: the one given, else the MD5 of the body', async () => {
    s3.on(PutObjectCommand).resolves({ ETag: '"e"' });
    s3.on(UploadPartCommand).resolves({ ETag: '"p"' });
    const md5 = (text: string) => createHash('md5').update(text).digest('base64');
    await store.put('manifests/site-a/m.json', Buffer.from('{}'));
    await store.put('recordings/site-a/p.tar', Buffer.from('tar'), { md5: 'Z2l2ZW4=' });
    await store.uploadPart('k', 'u', 1, Buffer.from('abc'));
    await store.uploadPart('k', 'u', 2, Buffer.from('def'), undefined, 'cGFydA==');
    expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.ContentMD5)).toEqual([md5('{}'), 'Z2l2ZW4=']);
    expect(s3.commandCalls(UploadPartCommand).map((c) => c.args[0].input.ContentMD5)).toEqual([md5('abc'), 'cGFydA==']);
  });

  it('pages through ListObjectsV2 with the continuation token', async () => {
    s3.on(ListObjectsV2Command)
      .resolvesOnce({ IsTruncated: true, NextContinuationToken: 't1', Contents: [{ Key: 'p/a', Size: 1 }] })
      .resolvesOnce({ IsTruncated: false, Contents: [{ Key: 'p/b', Size: 2, StorageClass: 'GLACIER_IR' }] });
    const listed = [];
    for await (const item of store.list('p/')) listed.push(item);
    expect(listed.map((i) => [i.key, i.size, i.storageClass])).toEqual([
      ['p/a', 1, 'STANDARD'],
      ['p/b', 2, 'GLACIER_IR'],
    ]);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.ContinuationToken)).toEqual([undefined, 't1']);
  });

  it('reads the whole size of a ranged get from Content-Range', async () => {
    s3.on(GetObjectCommand).resolves({ Body: Readable.from([Buffer.from('cde')]) as never, ContentLength: 3, ContentRange: 'bytes 2-4/100' });
    const got = await store.get('k', { start: 2, end: 4 });
    expect([got.size, got.length]).toEqual([100, 3]);
    expect(s3.commandCalls(GetObjectCommand)[0]?.args[0].input.Range).toBe('bytes=2-4');
  });
});

describe("a refusal of the agent's temporary credentials or of its clock, as its alerts say it", () => {
  it.each([
    ['ExpiredToken', 400, /^the agent's temporary credentials expired \(ExpiredToken\): a session copied into .* is not renewed\. Give the agent a profile that renews its session/],
    ['InvalidToken', 400, /^the store refused the session token of .* \(InvalidToken: mistyped, cut short/],
    ['InvalidClientTokenId', 403, /^AWS knows no such access key for the profile the agent assumes its role with \(InvalidClientTokenId: the source profile's key was deleted or deactivated/],
    ['RequestTimeTooSkewed', 403, /^the store refused the request's time \(RequestTimeTooSkewed\): this machine's clock is more than 15 minutes off the store's.*Set the clock right \(NTP/],
  ])('names %s as the problem it is (credentials or clock), what to do, and S3 or STS words after it', (name, status, words) => {
    const said = shippingError(translateS3Error(sdkError(name, status), 'put', 'recordings/site-a/p.tar'), 'site-a');
    expect(said).toMatch(words);
    expect(said).toContain(`The store said: S3 put recordings/site-a/p.tar: ${name}: ${name} happened`);
  });
});
