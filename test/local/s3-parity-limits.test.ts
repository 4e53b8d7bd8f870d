// The local S3 refuses what AWS S3 refuses for its size: keys over 1,024 bytes of UTF-8, user
// metadata over 2 KB, part numbers over 10,000, DeleteObjects of more than 1,000 keys. Real SDK v3 client, real HTTP, the stand-in process.
import { CreateMultipartUploadCommand, DeleteObjectsCommand, HeadObjectCommand, UploadPartCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artefactKey, treePackKey, packManifestKey, treeSnapshotManifestKey } from '../../core/layout.ts';
import { BUCKET, md5, put, read, refusal, startParity, type Parity } from './s3-parity-harness.ts';

let p: Parity;
beforeAll(async () => {
  p = await startParity();
});
afterAll(async () => {
  await p.cleanup();
});

describe('S3 size limits', () => {
  it('refuses a key of 1,025 UTF-8 bytes with 400 KeyTooLongError and stores nothing; takes 1,024', async () => {
    // Segments of 80 three-byte characters (the stand-in keeps a key as a path: a segment is a file name of at most 255 bytes).
    const fits = `${Array.from({ length: 4 }, () => '€'.repeat(80)).join('/')}/${'a'.repeat(60)}`;
    const long = `${fits}b`;
    expect([fits.length, Buffer.byteLength(fits), Buffer.byteLength(long)]).toEqual([384, 1024, 1025]);
    expect(await refusal(put(p.client, long, 'x'))).toEqual({ name: 'KeyTooLongError', status: 400 });
    await put(p.client, fits, 'y');
    expect(await read(p.client, fits)).toBe('y');
    expect(await refusal(p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: long })))).toEqual({ name: 'KeyTooLongError', status: 400 });
  });

  it('refuses user metadata over 2 KB of names and values with 400 MetadataTooLarge; takes 2 KB', async () => {
    expect(await refusal(put(p.client, 'meta/over', 'x', { Metadata: { a: 'v'.repeat(2048) } }))).toEqual({ name: 'MetadataTooLarge', status: 400 });
    expect(await refusal(p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/over' })))).toMatchObject({ status: 404 });
    await put(p.client, 'meta/fits', 'x', { Metadata: { a: 'v'.repeat(2047) } });
    expect((await p.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'meta/fits' }))).Metadata).toEqual({ a: 'v'.repeat(2047) });
    expect(await refusal(p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'meta/mpu', Metadata: { b: 'v'.repeat(1024), c: 'v'.repeat(1023) } })))).toEqual({ name: 'MetadataTooLarge', status: 400 });
  });

  it('refuses part number 10,001 with 400 InvalidArgument', async () => {
    const { UploadId } = await p.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: 'parts/many' }));
    const body = Buffer.from('part');
    const part = (n: number) => p.client.send(new UploadPartCommand({ Bucket: BUCKET, Key: 'parts/many', UploadId, PartNumber: n, Body: body, ContentMD5: md5(body) }));
    expect(await refusal(part(10_001))).toEqual({ name: 'InvalidArgument', status: 400 });
    await part(10_000);
    await p.client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: 'parts/many', UploadId }));
  });

  it('refuses a DeleteObjects of 1,001 keys with 400 MalformedXML, deleting none; takes 1,000', async () => {
    await put(p.client, 'del/kept', 'x');
    const keys = (n: number) => [{ Key: 'del/kept' }, ...Array.from({ length: n - 1 }, (_, i) => ({ Key: `del/absent-${i}` }))];
    const deleteObjects = (n: number) => p.client.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: keys(n), Quiet: true } }));
    expect(await refusal(deleteObjects(1001))).toEqual({ name: 'MalformedXML', status: 400 });
    expect(await read(p.client, 'del/kept')).toBe('x');
    expect((await deleteObjects(1000)).Errors ?? []).toEqual([]);
  });

  it('every key the layout builds stays within 1,024 bytes with the longest site and source names and file names', () => {
    const name63 = `a${'b'.repeat(62)}`;
    const at = new Date('2026-03-01T00:00:00Z');
    const keys = [
      artefactKey(name63, 'binlog', name63, `a${'0'.repeat(23)}`, `${'x'.repeat(400)}.bak`, at, true),
      treePackKey(name63, name63, `t${'0'.repeat(23)}`, at, 999_999),
      packManifestKey(name63, `p${'0'.repeat(23)}`, at),
      treeSnapshotManifestKey(name63, name63, `s${'0'.repeat(23)}`, at),
    ];
    for (const key of keys) expect(Buffer.byteLength(key)).toBeLessThan(400);
  });
});
