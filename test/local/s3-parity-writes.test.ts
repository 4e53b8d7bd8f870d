// The local S3 refuses the writes AWS S3 refuses: conditional writes (If-None-Match: *), digests
// that do not match the bytes, and torn bodies. Real SDK v3 client, real HTTP, the stand-in process.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET, md5, put, read, readBytes, refusal, sha256, startParity, tornPut, type Parity } from './s3-parity-harness.ts';

let p: Parity;
beforeAll(async () => {
  p = await startParity();
});
afterAll(async () => {
  await p.cleanup();
});

async function multipart(key: string, body: Uint8Array, checksum = false) {
  const { UploadId } = await p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, ...(checksum ? { ChecksumAlgorithm: 'SHA256' } : {}) }));
  const part = await p.client.send(
    new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: body, ...(checksum ? { ChecksumSHA256: sha256(body) } : { ContentMD5: md5(body) }) }),
  );
  return { uploadId: UploadId!, part: { PartNumber: 1, ETag: part.ETag!, ...(checksum ? { ChecksumSHA256: part.ChecksumSHA256! } : {}) } };
}

describe('If-None-Match: *', () => {
  it('PutObject over an existing key answers 412 PreconditionFailed and keeps the first object', async () => {
    await put(p.client, 'inm/put', 'first', { IfNoneMatch: '*' });
    expect(await refusal(put(p.client, 'inm/put', 'second', { IfNoneMatch: '*' }))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await read(p.client, 'inm/put')).toBe('first');
  });

  it('CompleteMultipartUpload over an existing key answers 412 and keeps the first object; the upload can still be aborted', async () => {
    await put(p.client, 'inm/mpu', 'published');
    const { uploadId, part } = await multipart('inm/mpu', Buffer.from('impostor'));
    const complete = new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'inm/mpu', UploadId: uploadId, IfNoneMatch: '*', MultipartUpload: { Parts: [part] } });
    expect(await refusal(p.client.send(complete))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await read(p.client, 'inm/mpu')).toBe('published');
    await p.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'inm/mpu', UploadId: uploadId }));
  });

  it('of ten racing conditional PutObjects to one new key exactly one wins, and its bytes are the object', async () => {
    const bodies = Array.from({ length: 10 }, (_, i) => `writer ${i}`);
    const results = await Promise.allSettled(bodies.map((body) => put(p.client, 'inm/race', body, { IfNoneMatch: '*' })));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [bodies[i]] : []));
    expect(won).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.name)).toEqual(Array(9).fill('PreconditionFailed'));
    expect(await read(p.client, 'inm/race')).toBe(won[0]);
  });
});

describe('digests', () => {
  it('PutObject with a SHA-256 that does not match the body answers 400 BadDigest and stores nothing', async () => {
    const refused = refusal(put(p.client, 'digest/sha', 'the body', { ChecksumAlgorithm: 'SHA256', ChecksumSHA256: sha256(Buffer.from('other')) }));
    expect(await refused).toEqual({ name: 'BadDigest', status: 400 });
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'digest/sha' })))).toMatchObject({ status: 404 });
  });

  it('PutObject with a wrong Content-MD5 answers 400 BadDigest, a malformed one 400 InvalidDigest, and neither is stored', async () => {
    expect(await refusal(put(p.client, 'digest/md5', 'the body', { ContentMD5: md5(Buffer.from('other')) }))).toEqual({ name: 'BadDigest', status: 400 });
    expect(await refusal(put(p.client, 'digest/md5', 'the body', { ContentMD5: 'not-an-md5' }))).toEqual({ name: 'InvalidDigest', status: 400 });
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'digest/md5' })))).toMatchObject({ status: 404 });
    await put(p.client, 'digest/md5', 'the body', { ContentMD5: md5(Buffer.from('the body')) });
    expect(await read(p.client, 'digest/md5')).toBe('the body');
  });

  it('UploadPart with a wrong SHA-256 answers BadDigest and leaves the part stored before it in place', async () => {
    const good = randomBytes(1024);
    const { uploadId, part } = await multipart('digest/part', good, true);
    const bad = new UploadPartCommand({ Bucket: BUCKET, Key: 'digest/part', UploadId: uploadId, PartNumber: 1, Body: randomBytes(1024), ChecksumSHA256: sha256(good) });
    expect(await refusal(p.client.send(bad))).toEqual({ name: 'BadDigest', status: 400 });
    await p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'digest/part', UploadId: uploadId, MultipartUpload: { Parts: [part] } }));
    expect((await readBytes(p.client, 'digest/part')).equals(good)).toBe(true);
  });

  it('CompleteMultipartUpload checks each part SHA-256 and the composite sha256(part SHA-256s)-N it is sent, and reports the composite', async () => {
    const body = randomBytes(2048);
    const { uploadId, part } = await multipart('digest/composite', body, true);
    const wrong = { ...part, ChecksumSHA256: sha256(Buffer.from('x')) };
    const refused = p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'digest/composite', UploadId: uploadId, MultipartUpload: { Parts: [wrong] } }));
    expect(await refusal(refused)).toEqual({ name: 'InvalidPart', status: 400 });
    const composite = `${sha256(Buffer.from(sha256(body), 'base64'))}-1`;
    const complete = (ChecksumSHA256: string) =>
      p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'digest/composite', UploadId: uploadId, ChecksumSHA256, MultipartUpload: { Parts: [part] } }));
    expect(await refusal(complete(`${sha256(Buffer.from('x'))}-1`))).toEqual({ name: 'BadDigest', status: 400 });
    const done = await complete(composite);
    expect(done.ChecksumSHA256).toBe(composite);
  });

  it('CompleteMultipartUpload listing an ETag other than the stored part\'s answers 400 InvalidPart; the right one completes', async () => {
    const body = randomBytes(2048);
    const { uploadId, part } = await multipart('etag/listed', body);
    const other = { ...part, ETag: `"${Buffer.from(md5(randomBytes(16)), 'base64').toString('hex')}"` };
    const complete = (listed: typeof part) => p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'etag/listed', UploadId: uploadId, MultipartUpload: { Parts: [listed] } }));
    expect(await refusal(complete(other))).toEqual({ name: 'InvalidPart', status: 400 });
    await complete(part);
    expect((await readBytes(p.client, 'etag/listed')).equals(body)).toBe(true);
  });

  it('UploadPart and CompleteMultipartUpload of an aborted upload answer 404 NoSuchUpload, and nothing is stored', async () => {
    const body = randomBytes(2048);
    const { uploadId, part } = await multipart('gone/upload', body);
    await p.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'gone/upload', UploadId: uploadId }));
    const again = new UploadPartCommand({ Bucket: BUCKET, Key: 'gone/upload', UploadId: uploadId, PartNumber: 2, Body: body, ContentMD5: md5(body) });
    expect(await refusal(p.client.send(again))).toEqual({ name: 'NoSuchUpload', status: 404 });
    const complete = new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'gone/upload', UploadId: uploadId, MultipartUpload: { Parts: [part] } });
    expect(await refusal(p.client.send(complete))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'gone/upload' })))).toMatchObject({ status: 404 });
  });

  it('a torn PutObject body (connection lost before Content-Length) is never stored, and leaves the object before it intact', async () => {
    await put(p.client, 'torn/put', 'whole');
    await tornPut(p.s3.endpoint, `/${BUCKET}/torn/put`, 4096, 65536);
    expect(await read(p.client, 'torn/put')).toBe('whole');
    await tornPut(p.s3.endpoint, `/${BUCKET}/torn/new`, 4096, 65536);
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'torn/new' })))).toMatchObject({ status: 404 });
  });

  it('a torn UploadPart body is never stored as the part: completing with the whole part before it gives the whole bytes', async () => {
    const whole = randomBytes(4096);
    const { uploadId, part } = await multipart('torn/part', whole);
    await tornPut(p.s3.endpoint, `/${BUCKET}/torn/part?partNumber=1&uploadId=${uploadId}`, 1024, 4096);
    await p.client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: 'torn/part', UploadId: uploadId, MultipartUpload: { Parts: [part] } }));
    expect((await readBytes(p.client, 'torn/part')).equals(whole)).toBe(true);
  });
});

describe('multipart completion', () => {
  it('refuses a part other than the last under 5 MiB with 400 EntityTooSmall, as S3 does', async () => {
    const key = 'mpu/small';
    const { UploadId } = await p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
    const parts = [];
    for (const PartNumber of [1, 2]) {
      const Body = randomBytes(1024);
      const out = await p.client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber, Body, ContentMD5: md5(Body) }));
      parts.push({ PartNumber, ETag: out.ETag! });
    }
    const complete = new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: parts } });
    expect(await refusal(p.client.send(complete))).toEqual({ name: 'EntityTooSmall', status: 400 });
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key })))).toMatchObject({ status: 404 });
  });
});

describe('aws-chunked bodies', () => {
  it('stores the decoded bytes of a streamed PutObject with a trailing SHA-256, not its chunk framing', async () => {
    const body = randomBytes(100_000);
    await p.client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'chunked/ok', Body: Readable.from([body.subarray(0, 60_000), body.subarray(60_000)]), ContentLength: body.length, ChecksumAlgorithm: 'SHA256' }),
    );
    expect((await readBytes(p.client, 'chunked/ok')).equals(body)).toBe(true);
    expect((await p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'chunked/ok' }))).ContentEncoding).toBeUndefined();
  });

  it('refuses an aws-chunked body whose trailing SHA-256 does not match (400 BadDigest) and stores nothing', async () => {
    const data = Buffer.from('chunked bytes');
    const framed = Buffer.concat([
      Buffer.from(`${data.length.toString(16)}\r\n`),
      data,
      Buffer.from(`\r\n0\r\nx-amz-checksum-sha256:${sha256(Buffer.from('other'))}\r\n\r\n`),
    ]);
    const headers = {
      'content-encoding': 'aws-chunked',
      'content-length': String(framed.length),
      'x-amz-decoded-content-length': String(data.length),
      'x-amz-trailer': 'x-amz-checksum-sha256',
      'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    };
    const res = await fetch(`${p.s3.endpoint}/${BUCKET}/chunked/bad`, { method: 'PUT', headers, body: framed });
    expect([res.status, /<Code>(\w+)<\/Code>/.exec(await res.text())?.[1]]).toEqual([400, 'BadDigest']);
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'chunked/bad' })))).toMatchObject({ status: 404 });
  });
});
