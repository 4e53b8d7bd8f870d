import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { md5Base64, S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { S3RangeReader } from '../../adapters/s3-range-get.ts';
import { S3WriteOnce } from '../../adapters/s3-write-once.ts';
import { startLocalS3 } from '../../local/s3-process.ts';

// What one ranged GET of a pack costs the process that makes it, in CPU: the SDK's GetObject (as
// the functions made it before) against the signed request of adapters/s3-range-get.ts (as the
// replay function makes it now), the same 32 KiB range of the same object on the local S3
// stand-in (its own process, so only the caller's CPU is counted), one call after another,
// the two alternating in blocks. With --put, the same for a write-once PUT of a 600-byte audit
// record to a new key: S3BlobStore.put (the SDK's PutObject) against adapters/s3-write-once.ts
// (what the functions' audit seals use). Investigation only (the `replay` and `search` rows of
// `npm run bench` are what is reported):
//   node --import tsx scripts/bench/sdk-call-cost.ts [--calls 2000] [--blocks 3] [--put]

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { calls: { type: 'string', default: '2000' }, blocks: { type: 'string', default: '3' }, put: { type: 'boolean', default: false } } });
  const calls = Number(values.calls);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-sdk-call-cost-'));
  const s3 = await startLocalS3({ directory: dir, buckets: ['b'] });
  const client = createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials });
  const reader = new S3RangeReader({ bucket: 'b', region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials });
  const writer = new S3WriteOnce({ bucket: 'b', region: 'us-east-1', endpoint: s3.endpoint, credentials: s3.credentials });
  const blobs = new S3BlobStore(client, 'b');
  const record = Buffer.from(`${JSON.stringify({ seq: 1, site: 'bench', event: { at: new Date().toISOString(), action: 'search', query: { agent: 'agent-1', limit: 50 } }, prev: '0'.repeat(64), hash: 'f'.repeat(64) })}\n`.padEnd(600, ' '));
  let n = 0;
  const put = { contentType: 'application/json', ifNoneMatch: true };
  try {
    const pack = Buffer.alloc(1 << 20, 7);
    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'pack.tar', Body: pack, ContentMD5: md5Base64(pack) }));
    const range = { start: 1024, end: 1024 + 32 * 1024 - 1 };
    const drain = async (body: AsyncIterable<unknown>) => {
      for await (const _ of body) void _;
    };
    const ways = values.put
      ? {
          sdk: async () => void (await blobs.put(`audit/bench/${String(++n).padStart(12, '0')}.json`, record, put)),
          signed: async () => void (await writer.put(`audit/bench/${String(++n).padStart(12, '0')}.json`, record, put)),
        }
      : {
          sdk: async () => drain((await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'pack.tar', Range: `bytes=${range.start}-${range.end}` }))).Body as AsyncIterable<unknown>),
          signed: async () => drain((await reader.get('pack.tar', range)).body),
        };
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    for (const way of Object.values(ways)) for (let i = 0; i < 200; i++) await way();
    for (let b = 0; b < Number(values.blocks); b++) {
      for (const [name, way] of Object.entries(ways)) {
        const [cpu, wall] = [cpuMs(), performance.now()];
        for (let i = 0; i < calls; i++) await way();
        console.log(`${name.padEnd(6)} CPU ${((cpuMs() - cpu) / calls).toFixed(3)} ms a call, wall ${((performance.now() - wall) / calls).toFixed(3)} ms a call (${calls} calls)`);
      }
    }
  } finally {
    reader.destroy();
    writer.destroy();
    client.destroy();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
