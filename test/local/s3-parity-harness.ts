// A local S3 stand-in and a real AWS SDK v3 client for it, one per test file, each in its own
// temporary directory. One SDK attempt: a refusal must reach the test, not hide behind retries.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { startLocalS3, type LocalS3, type LocalS3Options } from '../../local/s3-process.ts';

export const BUCKET = 'ferry-data';
export const DAY_MS = 24 * 60 * 60 * 1000;

export interface Parity {
  s3: LocalS3;
  /** The stand-in's directory (its files, for tests that check where bytes lie). */
  directory: string;
  client: S3Client;
  cleanup(): Promise<void>;
}

export async function startParity(options: Partial<LocalS3Options> = {}): Promise<Parity> {
  const directory = await mkdtemp(join(tmpdir(), 'ferry-s3-parity-'));
  const s3 = await startLocalS3({ directory, buckets: [BUCKET], ...options });
  const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 });
  return {
    s3,
    directory,
    client,
    async cleanup() {
      client.destroy();
      await s3.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('base64');
export const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('base64');

/** The S3 error code (`name`) and HTTP status a rejected SDK call carried. */
export async function refusal(call: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  const error = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (!error) throw new Error('expected the call to be refused, and it succeeded');
  return { name: error.name ?? '', status: error.$metadata?.httpStatusCode };
}

/**
 * PutObject as Ferry's writers send it: with the body's Content-MD5 (S3 refuses a write under the
 * bucket's Object Lock without a digest), unless `extra` names its own digest or leaves it out
 * (`ContentMD5: undefined`).
 */
export async function put(client: S3Client, key: string, body: Uint8Array | string, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) {
  const digest = 'ContentMD5' in extra || extra.ChecksumSHA256 !== undefined || extra.ChecksumCRC32 !== undefined ? {} : { ContentMD5: md5(typeof body === 'string' ? Buffer.from(body) : body) };
  return client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ...digest, ...extra }));
}

export async function read(client: S3Client, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return out.Body!.transformToString();
}

export async function readBytes(client: S3Client, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/**
 * A PUT that promises `declared` bytes, sends `sent`, then resets the connection: a torn upload as
 * a crash or network cut makes it. Raw HTTP, because an SDK body that fails mid-way never resets.
 * Resolves once the server has seen the connection close.
 */
export function tornPut(endpoint: string, path: string, sent: number, declared: number): Promise<void> {
  return new Promise((resolve) => {
    // The whole body's Content-MD5 (a write under Object Lock needs a digest): only the cut stops it.
    const body = randomBytes(declared);
    const req = request(`${endpoint}${path}`, { method: 'PUT', headers: { 'content-length': String(declared), 'content-md5': md5(body) } });
    req.on('error', () => setTimeout(resolve, 300));
    req.write(body.subarray(0, sent), () => setTimeout(() => req.destroy(), 100));
  });
}
