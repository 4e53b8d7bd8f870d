// CompleteMultipartUpload on the local S3 without a byte copy: parts written at their final
// offsets in one data file of the upload, which the completion renames into place when the parts
// lie end to end (local/s3-parts.cjs); every other completion copies, as before. What the object
// must be either way: the bytes last stored under each listed part, S3's ETag md5(part MD5s)-N,
// nothing visible before the completion answers, If-None-Match and Object Lock as for any write.
// Real SDK v3 client, real HTTP, the stand-in process.
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalS3 } from '../../local/s3-process.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { BUCKET, md5, put, read, readBytes, refusal, startParity, tornPut, type Parity } from './s3-parity-harness.ts';

const MiB = 1024 * 1024;
type Part = { PartNumber: number; ETag: string };
let p: Parity;
beforeAll(async () => {
  p = await startParity();
});
afterAll(async () => {
  await p.cleanup();
});

const dataFile = (uploadId: string) => join(p.directory, BUCKET, '._S3rver_uploads', uploadId, 'data');
const objectFile = (key: string) => join(p.directory, BUCKET, `${key}._S3rver_object`);
const multipartEtag = (parts: Buffer[]) =>
  `"${createHash('md5').update(Buffer.concat(parts.map((b) => createHash('md5').update(b).digest()))).digest('hex')}-${parts.length}"`;

async function create(client: Parity['client'], key: string): Promise<string> {
  return (await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }))).UploadId!;
}

async function sendPart(client: Parity['client'], key: string, UploadId: string, PartNumber: number, Body: Buffer): Promise<Part> {
  const out = await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber, Body, ContentMD5: md5(Body) }));
  return { PartNumber, ETag: out.ETag! };
}

function complete(client: Parity['client'], key: string, UploadId: string, Parts: Part[], IfNoneMatch?: string) {
  return client.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts }, ...(IfNoneMatch ? { IfNoneMatch } : {}) }));
}

/** Three parts (5 MiB, 5 MiB, 1 KiB): the first alone, so it sets the slot size, then the other two side by side. */
async function threeParts(client: Parity['client'], key: string) {
  const bodies: [Buffer, Buffer, Buffer] = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1024)];
  const uploadId = await create(client, key);
  const first = await sendPart(client, key, uploadId, 1, bodies[0]);
  const [second, third] = await Promise.all([sendPart(client, key, uploadId, 2, bodies[1]), sendPart(client, key, uploadId, 3, bodies[2])]);
  const parts: [Part, Part, Part] = [first, second, third];
  return { uploadId, bodies, parts };
}

describe('multipart completion without a copy', () => {
  it('renames the data file its parts were written into (same inode): the object holds their bytes and has the ETag md5(part MD5s)-3', async () => {
    const { uploadId, bodies, parts } = await threeParts(p.client, 'whole/three');
    const inode = statSync(dataFile(uploadId)).ino;
    const done = await complete(p.client, 'whole/three', uploadId, parts);
    expect(statSync(objectFile('whole/three')).ino).toBe(inode);
    expect(done.ETag).toBe(multipartEtag(bodies));
    expect((await readBytes(p.client, 'whole/three')).equals(Buffer.concat(bodies))).toBe(true);
    const head = await p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'whole/three' }));
    expect([head.ContentLength, head.ETag]).toEqual([10 * MiB + 1024, multipartEtag(bodies)]);
  });

  it('shows nothing at the key (HEAD 404, not listed) while the parts are stored, and the whole object once the completion answered', async () => {
    const { uploadId, bodies, parts } = await threeParts(p.client, 'appear/one');
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'appear/one' })))).toMatchObject({ status: 404 });
    const listed = async () => (await p.client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'appear/' }))).Contents?.map((o) => o.Key) ?? [];
    expect(await listed()).toEqual([]);
    await complete(p.client, 'appear/one', uploadId, parts);
    expect(await listed()).toEqual(['appear/one']);
    expect((await readBytes(p.client, 'appear/one')).equals(Buffer.concat(bodies))).toBe(true);
  });

  it('refused under If-None-Match when the key exists (412), keeps the object and the upload: completed afterwards it holds the parts', async () => {
    await put(p.client, 'inm/taken', 'first');
    const { uploadId, bodies, parts } = await threeParts(p.client, 'inm/taken');
    expect(await refusal(complete(p.client, 'inm/taken', uploadId, parts, '*'))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await read(p.client, 'inm/taken')).toBe('first');
    await complete(p.client, 'inm/taken', uploadId, parts);
    expect((await readBytes(p.client, 'inm/taken')).equals(Buffer.concat(bodies))).toBe(true);
  });

  it('gives the object the bucket default retention: a DELETE of its version is refused', async () => {
    const { uploadId, parts } = await threeParts(p.client, 'lock/mpu');
    const done = await complete(p.client, 'lock/mpu', uploadId, parts);
    const head = await p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'lock/mpu' }));
    expect(head.ObjectLockMode).toBe('GOVERNANCE');
    const deleting = p.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'lock/mpu', VersionId: done.VersionId }));
    expect(await refusal(deleting)).toMatchObject({ name: 'AccessDenied', status: 403 });
  });

  it('never reads a torn write into a slot: the part sent again whole is what the object holds, still without a copy', async () => {
    const bodies: [Buffer, Buffer, Buffer] = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1024)];
    const uploadId = await create(p.client, 'torn/slot');
    const first = await sendPart(p.client, 'torn/slot', uploadId, 1, bodies[0]);
    await tornPut(p.s3.endpoint, `/${BUCKET}/torn/slot?partNumber=2&uploadId=${uploadId}`, MiB, 5 * MiB);
    const parts = [first, await sendPart(p.client, 'torn/slot', uploadId, 2, bodies[1]), await sendPart(p.client, 'torn/slot', uploadId, 3, bodies[2])];
    const inode = statSync(dataFile(uploadId)).ino;
    await complete(p.client, 'torn/slot', uploadId, parts);
    expect(statSync(objectFile('torn/slot')).ino).toBe(inode);
    expect((await readBytes(p.client, 'torn/slot')).equals(Buffer.concat(bodies))).toBe(true);
  });
});

describe('multipart completion that copies', () => {
  it('a last part sent first (smaller slot), a part sent again and a list with a gap: the object holds the bytes last stored under each listed part', async () => {
    const small = randomBytes(1024);
    const big = randomBytes(5 * MiB);
    const firstLast = await create(p.client, 'copy/last-first');
    const last = await sendPart(p.client, 'copy/last-first', firstLast, 2, small);
    const one = await sendPart(p.client, 'copy/last-first', firstLast, 1, big);
    expect((await complete(p.client, 'copy/last-first', firstLast, [one, last])).ETag).toBe(multipartEtag([big, small]));
    expect((await readBytes(p.client, 'copy/last-first')).equals(Buffer.concat([big, small]))).toBe(true);

    const { uploadId, bodies, parts } = await threeParts(p.client, 'copy/again');
    const replacement = randomBytes(5 * MiB);
    parts[1] = await sendPart(p.client, 'copy/again', uploadId, 2, replacement);
    await complete(p.client, 'copy/again', uploadId, parts);
    expect((await readBytes(p.client, 'copy/again')).equals(Buffer.concat([bodies[0], replacement, bodies[2]]))).toBe(true);

    const gap = await threeParts(p.client, 'copy/gap');
    const listed = [gap.parts[0], gap.parts[2]];
    expect((await complete(p.client, 'copy/gap', gap.uploadId, listed)).ETag).toBe(multipartEtag([gap.bodies[0], gap.bodies[2]]));
    expect((await readBytes(p.client, 'copy/gap')).equals(Buffer.concat([gap.bodies[0], gap.bodies[2]]))).toBe(true);
  });
});

describe('a stand-in killed during completions', () => {
  it('leaves every key absent or whole after a restart, never part of an object, whether its completion renamed or copied', async () => {
    const s3 = await startLocalS3({ directory: join(p.directory, 'crash'), buckets: [BUCKET] });
    const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
    const uploads: { key: string; uploadId: string; bodies: Buffer[]; parts: Part[] }[] = await Promise.all(
      ['crash/renamed-a', 'crash/renamed-b'].map(async (key) => ({ key, ...(await threeParts(client, key)) })),
    );
    for (const key of ['crash/copied-a', 'crash/copied-b']) {
      const [big, small] = [randomBytes(5 * MiB), randomBytes(1024)];
      const uploadId = await create(client, key);
      const last = await sendPart(client, key, uploadId, 2, small);
      uploads.push({ key, uploadId, bodies: [big, small], parts: [await sendPart(client, key, uploadId, 1, big), last] });
    }
    const completions = uploads.map((u) => complete(client, u.key, u.uploadId, u.parts).catch(() => undefined));
    await new Promise((resolve) => setTimeout(resolve, 15));
    process.kill(s3.pid, 'SIGKILL');
    await Promise.all(completions);
    client.destroy();
    await s3.stop();
    const again = await startLocalS3({ directory: join(p.directory, 'crash'), buckets: [BUCKET] });
    const reader = createS3Client({ endpoint: again.endpoint, credentials: again.credentials, maxAttempts: 1 });
    try {
      for (const u of uploads) {
        const got: Buffer | string = await readBytes(reader, u.key).catch((error: { name?: string }) => error.name ?? 'unnamed error');
        if (typeof got === 'string') expect(got).toBe('NoSuchKey');
        else expect(got.equals(Buffer.concat(u.bodies))).toBe(true);
      }
    } finally {
      reader.destroy();
      await again.stop();
    }
  });
});

describe('ListParts', () => {
  it('pages by max-parts from part-number-marker, and reads a max-parts that is no number as absent (one whole page, not an endless truncated one)', async () => {
    const key = 'list-parts/paged';
    const uploadId = await create(p.client, key);
    for (const n of [1, 2, 3]) await sendPart(p.client, key, uploadId, n, Buffer.from(`part ${n}`));
    const first = await p.client.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MaxParts: 2 }));
    expect([first.Parts?.map((x) => x.PartNumber), first.IsTruncated, first.NextPartNumberMarker]).toEqual([[1, 2], true, '2']);
    const second = await p.client.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, MaxParts: 2, PartNumberMarker: first.NextPartNumberMarker }));
    expect([second.Parts?.map((x) => x.PartNumber), second.IsTruncated]).toEqual([[3], false]);
    const res = await fetch(`${p.s3.endpoint}/${BUCKET}/${key}?uploadId=${uploadId}&max-parts=many`);
    const body = await res.text();
    expect([res.status, [...body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1]), /<IsTruncated>(\w+)</.exec(body)?.[1]]).toEqual([200, ['1', '2', '3'], 'false']);
  });
});
