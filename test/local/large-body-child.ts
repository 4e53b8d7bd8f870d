// Child process of large-body-memory.test.ts (run with `node --import tsx`): ships one large file
// as a tree pack, the way the agent does (PackBuilder over a shared PartPool, S3BlobStore as
// the site's agent role), through the IAM gateway into the S3 stand-in, then reads it back
// through the gateway as the DR role. Memory is sampled every 20 ms in this process (uploader,
// SDK and gateway) and in the stand-in's process. A first pack of WARM_MIB lends out every pool
// buffer and loads every code path, so what the large pack adds is measured over that baseline.
// Prints one JSON line: { uploadGrowthMiB, downloadGrowthMiB, standInGrowthMiB, sha256Sent, sha256Read }.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { treePackKey } from '../../core/layout.ts';
import { PackBuilder } from '../../agent/pack-builder.ts';
import { PartPool } from '../../agent/part-pool.ts';
import { startLocalIam } from '../../local/iam-gateway/index.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { LOCAL_S3_CREDENTIALS, startLocalS3 } from '../../local/s3-process.ts';

const [dir, file, warmFile] = process.argv.slice(2) as [string, string, string];
const BUCKET = 'ferry-data';
const SITE = 'big';
const MiB = 1024 * 1024;

/** Peak RSS of this process and of the stand-in while `work` runs, sampled every 20 ms. */
async function peaks<T>(work: () => Promise<T>): Promise<{ result: T; self: number; standIn: number }> {
  let self = process.memoryUsage().rss;
  let standIn = standInRss();
  const timer = setInterval(() => {
    self = Math.max(self, process.memoryUsage().rss);
    standIn = Math.max(standIn, standInRss());
  }, 20);
  try {
    const result = await work();
    return { result, self: Math.max(self, process.memoryUsage().rss), standIn: Math.max(standIn, standInRss()) };
  } finally {
    clearInterval(timer);
  }
}

const s3 = await startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] });
const standInRss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${s3.pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const iam = await startLocalIam({ directory: dir, sites: [SITE], bucket: BUCKET, table: 'ferry-catalogue', snapshot: await synthesizeDeployment([SITE]) });
const gateway = (await iam.gateway('s3', s3.endpoint, LOCAL_S3_CREDENTIALS)).endpoint;
const features = { verifiesChecksums: false, conditionalPut: false, md5ETags: true };
const agent = new S3BlobStore(createS3Client({ endpoint: gateway, credentials: iam.credentialsOf(`agent:${SITE}`) }), BUCKET, { features });
const dr = new S3BlobStore(createS3Client({ endpoint: gateway, credentials: iam.credentialsOf(`dr:${SITE}`) }), BUCKET, { features });
// The agent's defaults: 8 MiB parts, two in flight, one being filled.
const pool = new PartPool(8 * MiB, 3);

async function ship(path: string, id: string): Promise<{ key: string; sha256: string }> {
  const key = treePackKey(SITE, 'share', id, new Date());
  const builder = new PackBuilder(agent, { key, partSize: pool.partSize, partConcurrency: 2, pool, etag: true, contentType: 'application/x-tar' });
  const handle = await open(path);
  try {
    const { size } = await handle.stat();
    const slice = await builder.addFile('member', handle, size, new Date(), path);
    await builder.finish();
    return { key, sha256: slice.sha256 };
  } finally {
    await handle.close();
  }
}

async function readBack(key: string): Promise<void> {
  const { body } = await dr.get(key);
  for await (const chunk of body as AsyncIterable<Buffer>) createHash('sha256').update(chunk);
}

async function readMember(key: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const { body } = await dr.get(key, { start: 512, end: 512 + size - 1 });
  for await (const chunk of body as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

try {
  const warm = await ship(warmFile, 'twarm');
  await readBack(warm.key);
  globalThis.gc?.();
  const before = { self: process.memoryUsage().rss, standIn: standInRss() };
  const up = await peaks(() => ship(file, 'tlarge'));
  globalThis.gc?.();
  const between = process.memoryUsage().rss;
  const down = await peaks(() => readMember(up.result.key, statSync(file).size));
  process.stdout.write(
    `${JSON.stringify({
      uploadGrowthMiB: (up.self - before.self) / MiB,
      downloadGrowthMiB: (down.self - between) / MiB,
      standInGrowthMiB: (Math.max(up.standIn, down.standIn) - before.standIn) / MiB,
      sha256Sent: up.result.sha256,
      sha256Read: down.result,
    })}\n`,
  );
} finally {
  await iam.stop();
  await s3.stop();
}
