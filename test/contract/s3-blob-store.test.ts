// S3BlobStore through the real SDK against the local stand-in (s3rver in a child process).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { startLocalS3, type LocalS3, type LocalS3Event } from '../../local/s3-process.ts';
import { blobStoreContract, collect, readAll, sha256 } from './blob-store-contract.ts';

const STAND_IN = { verifiesChecksums: true, conditionalPut: true, md5ETags: true };

interface StandIn {
  s3: LocalS3;
  store: S3BlobStore;
  cleanup(): Promise<void>;
}

async function standIn(onEvent?: (event: LocalS3Event) => void): Promise<StandIn> {
  const directory = await mkdtemp(join(tmpdir(), 'ferry-s3-'));
  const s3 = await startLocalS3({ directory, buckets: ['ferry-data'], ...(onEvent ? { onEvent } : {}) });
  // One attempt: a stand-in fault must fail the test, not hide behind the SDK's retries.
  const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
  const store = new S3BlobStore(client, 'ferry-data', { features: STAND_IN });
  const cleanup = async () => {
    client.destroy();
    await s3.stop();
    await rm(directory, { recursive: true, force: true });
  };
  return { s3, store, cleanup };
}

blobStoreContract('S3BlobStore on the local s3rver stand-in', async () => standIn());

describe('local S3 stand-in', () => {
  const events: LocalS3Event[] = [];
  let local: StandIn;
  beforeAll(async () => {
    local = await standIn((event) => events.push(event));
  });
  afterAll(async () => {
    await local.cleanup();
  });

  it('forwards object-created and object-removed events to the parent', async () => {
    const { store } = local;
    await store.put('manifests/site-a/one.json', Buffer.from('{}'));
    await store.delete('manifests/site-a/one.json');
    const id = await store.createMultipart('recordings/site-a/p.tar');
    await store.completeMultipart('recordings/site-a/p.tar', id, [await store.uploadPart('recordings/site-a/p.tar', id, 1, Buffer.from('t'))]);
    await expect.poll(() => events.length).toBe(3);
    expect(events.map((e) => [e.Records[0]?.eventName, e.Records[0]?.s3.object.key, e.Records[0]?.s3.bucket.name])).toEqual([
      ['ObjectCreated:Put', 'manifests/site-a/one.json', 'ferry-data'],
      ['ObjectRemoved:Delete', 'manifests/site-a/one.json', 'ferry-data'],
      // s3rver names a completed multipart upload "Post"; AWS says CompleteMultipartUpload.
      ['ObjectCreated:Post', 'recordings/site-a/p.tar', 'ferry-data'],
    ]);
  });

  it('refuses a body that does not match its checksum and a put over an existing key with If-None-Match, as its features declare', async () => {
    const { store } = local;
    expect(store.features).toEqual(STAND_IN);
    await expect(store.put('torn', Buffer.from('torn'), { sha256: sha256(Buffer.from('whole body')) })).rejects.toMatchObject({ name: 'IntegrityError' });
    expect(await store.head('torn')).toBeUndefined();
    await store.put('torn', Buffer.from('first'), { ifNoneMatch: true });
    await expect(store.put('torn', Buffer.from('second'), { ifNoneMatch: true })).rejects.toMatchObject({ name: 'AlreadyExistsError' });
    expect((await readAll((await store.get('torn')).body)).toString()).toBe('first');
  });

  it('answers NoSuchUpload to a part for an unknown upload instead of creating a phantom one', async () => {
    const { store } = local;
    await expect(store.uploadPart('k', 'abcdef0123', 1, Buffer.from('x'))).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(await collect(store.listMultipart(''))).toEqual([]);
  });

  it('stop() is idempotent and leaves nothing listening', async () => {
    const other = await standIn();
    await other.cleanup();
    await other.s3.stop();
    await expect(fetch(other.s3.endpoint)).rejects.toThrow();
  });

  it('rejects with the child stderr when the server cannot start', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'ferry-s3-bad-'));
    const notADirectory = join(directory, 'file');
    await writeFile(notADirectory, 'x');
    try {
      await expect(startLocalS3({ directory: notADirectory, buckets: ['b'] })).rejects.toThrow(/exited before it was ready[\s\S]*stderr:[\s\S]*(EEXIST|ENOTDIR)/);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('client factory', () => {
  it('configures stand-in clients for path style and checksums only when required; AWS clients keep SDK defaults', async () => {
    const local = createS3Client({ endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const aws = createS3Client({ region: 'eu-west-1' });
    expect([local.config.forcePathStyle, await local.config.requestChecksumCalculation(), await local.config.responseChecksumValidation()]).toEqual([
      true,
      'WHEN_REQUIRED',
      'WHEN_REQUIRED',
    ]);
    expect([aws.config.forcePathStyle, await aws.config.requestChecksumCalculation(), await aws.config.region()]).toEqual([false, 'WHEN_SUPPORTED', 'eu-west-1']);
    const { doc } = createDynamoClients({ endpoint: 'http://127.0.0.1:9' });
    expect(doc.config.translateConfig?.marshallOptions?.removeUndefinedValues).toBe(true);
    for (const client of [local, aws, doc]) client.destroy();
  });
});
