import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { md5Base64 } from '../../adapters/s3-blob-store.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';

// After each run, the bench checks what actually landed in the tool's bucket: a fast tool that
// shipped half the data must not look good. Ferry is judged by its commit records (manifests),
// a file-by-file copier by its objects.

export interface BucketObject {
  key: string;
  size: number;
}

export function benchS3Client(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return createS3Client({ endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
}

export async function listObjects(s3: S3Client, bucket: string, prefix = ''): Promise<BucketObject[]> {
  const out: BucketObject[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key ?? '', size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export interface FerryBucketCheck {
  packs: number;
  manifests: number;
  /** Distinct batch directories named by the manifests. */
  batches: number;
  /** Members (recordings) over all manifests. */
  members: number;
  /** Recording bytes over all manifests. */
  memberBytes: number;
  /** Stored bytes of every object (packs and manifests). */
  storedBytes: number;
  problems: string[];
}

async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return JSON.parse((await res.Body?.transformToString('utf8')) ?? 'null');
}

interface ManifestShape {
  batch?: { path?: string };
  packKey?: string;
  members?: { length?: number }[];
}

/** Reads every manifest Ferry wrote; expects exactly one pack and one manifest per batch. */
export async function checkFerryBucket(s3: S3Client, bucket: string, expect: { batches: number; recordings: number }): Promise<FerryBucketCheck> {
  // The agent's heartbeats (heartbeats/{site}/…, and the day's first under heartbeats-daily/) are its health signal, not shipped data.
  const objects = (await listObjects(s3, bucket)).filter((o) => !/^heartbeats(-daily)?\//.test(o.key));
  const packs = objects.filter((o) => o.key.startsWith('recordings/') && o.key.endsWith('.tar'));
  const manifests = objects.filter((o) => o.key.startsWith('manifests/') && o.key.endsWith('.json'));
  const packKeys = new Set(packs.map((p) => p.key));
  const batches = new Set<string>();
  const problems: string[] = [];
  let members = 0;
  let memberBytes = 0;
  const queue = [...manifests];
  const worker = async () => {
    for (let m = queue.shift(); m; m = queue.shift()) {
      const doc = (await readJson(s3, bucket, m.key)) as ManifestShape;
      if (doc.batch?.path) batches.add(doc.batch.path);
      if (!doc.packKey || !packKeys.has(doc.packKey)) problems.push(`${m.key} names a pack that is not in the bucket (${doc.packKey})`);
      members += doc.members?.length ?? 0;
      memberBytes += (doc.members ?? []).reduce((n, x) => n + (x.length ?? 0), 0);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  const storedBytes = objects.reduce((n, o) => n + o.size, 0);
  if (packs.length !== expect.batches) problems.push(`${packs.length} .tar pack(s) for ${expect.batches} batch(es)`);
  if (manifests.length !== expect.batches) problems.push(`${manifests.length} manifest(s) for ${expect.batches} batch(es)`);
  if (batches.size !== expect.batches) problems.push(`manifests name ${batches.size} distinct batch(es), expected ${expect.batches}`);
  if (members !== expect.recordings) problems.push(`manifests list ${members} recording(s), expected ${expect.recordings}`);
  const stray = objects.length - packs.length - manifests.length;
  if (stray !== 0) problems.push(`${stray} object(s) that are neither packs nor manifests`);
  return { packs: packs.length, manifests: manifests.length, batches: batches.size, members, memberBytes, storedBytes, problems };
}

/** A copier must have turned every file on disk into one object of the same total size. */
export async function checkCopyBucket(s3: S3Client, bucket: string, prefix: string, expect: { files: number; bytes: number }): Promise<{ objects: number; bytes: number; problems: string[] }> {
  const objects = await listObjects(s3, bucket, prefix);
  const bytes = objects.reduce((n, o) => n + o.size, 0);
  const problems: string[] = [];
  if (objects.length !== expect.files) problems.push(`${objects.length} object(s) for ${expect.files} file(s)`);
  if (bytes !== expect.bytes) problems.push(`${bytes} byte(s) stored for ${expect.bytes} on disk`);
  return { objects: objects.length, bytes, problems };
}

/** A few hundred small PUTs before the first measured run, so no tool pays for s3rver's warm-up. */
export async function warmUp(s3: S3Client, bucket: string, requests = 300): Promise<void> {
  const body = Buffer.alloc(30_000, 7);
  let next = 0;
  const worker = async () => {
    while (next < requests) {
      const i = next++;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `warm/${i}`, Body: body, ContentMD5: md5Base64(body) }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}
