// `npm run bench -- export [--gb N] [--keep]`: a case export of N GiB (default 2) of
// recordings, from the S3 and DynamoDB stand-ins to a bundle on disk, by the real
// `ferry case export` process; prints its throughput and peak RSS (target: under 256 MB
// whatever the case's size, as the bundle is streamed), then `ferry case verify` likewise.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { createCatalogueTable, DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { startLocalDynamo } from '../../local/dynalite-process.ts';
import { startLocalS3 } from '../../local/s3-process.ts';
import { buildPack, publish } from '../../test/support/pack-fixture.ts';
import { runMeasured } from './measure.ts';

const MIB = 1024 * 1024;
const RECORDING = 8 * MIB;
const PER_PACK = 8;
const TARGET_MB = 256;
const say = (line: string) => process.stderr.write(`${line}\n`);

export async function runExportBench(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { gb: { type: 'string', default: '2' }, keep: { type: 'boolean', default: false } }, strict: true });
  const gib = Number(values.gb);
  if (!(gib > 0 && gib <= 64)) throw new Error(`--gb must be a number of GiB in (0, 64], not ${values.gb}`);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-export-'));
  const [s3, dynamo] = await Promise.all([startLocalS3({ directory: join(dir, 's3'), buckets: ['bench'] }), startLocalDynamo({})]);
  try {
    const credentials = s3.credentials;
    const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint: dynamo.endpoint, credentials });
    await createCatalogueTable(client, 'catalogue');
    const blobs = new S3BlobStore(createS3Client({ region: 'us-east-1', endpoint: s3.endpoint, credentials }), 'bench', { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } });
    const catalogue = new DynamoCatalogue(doc, 'catalogue');
    const recordings = Math.ceil((gib * 1024 * MIB) / RECORDING);
    const rids: string[] = [];
    say(`export bench: ${recordings} recordings of ${RECORDING / MIB} MiB (${gib} GiB) in packs of ${PER_PACK}…`);
    for (let first = 0; first < recordings; first += PER_PACK) {
      const members = Array.from({ length: Math.min(PER_PACK, recordings - first) }, (_, i) => ({ path: `batch-${first}/call-${first + i}.wav`, body: randomBytes(RECORDING) }));
      const pack = buildPack('bench', members, { seed: `bench-${first}` });
      await publish(blobs, pack);
      await ingestManifest({ blobs, catalogue }, pack.manifestKey);
      rids.push(...pack.manifest.members.map((m) => m.rid));
    }
    client.destroy();
    const out = join(dir, 'bundle.tar');
    const env = { ...process.env, FERRY_BUCKET: 'bench', FERRY_TABLE: 'catalogue', AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, FERRY_PRINCIPAL: 'bench', FERRY_HOME: join(dir, 'home') };
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'ferry.mjs');
    const exported = await runMeasured(process.execPath, [bin, 'case', 'export', '--site', 'bench', ...rids.flatMap((r) => ['--rid', r]), '--reason', 'export benchmark', '--out', out], { env, logFile: join(dir, 'export.log') });
    const bytes = exported.code === 0 ? statSync(out).size : 0;
    const verified = exported.code === 0 ? await runMeasured(process.execPath, [bin, 'case', 'verify', out], { env, logFile: join(dir, 'verify.log') }) : undefined;
    const line = (name: string, m: typeof exported) => `${name.padEnd(7)} exit ${m.code}  ${m.seconds.toFixed(1)} s  ${(bytes / MIB / m.seconds).toFixed(0)} MiB/s  peak RSS ${m.peakTreeRssMb.toFixed(0)} MB (target < ${TARGET_MB} MB: ${m.peakTreeRssMb < TARGET_MB ? 'met' : 'MISSED'})`;
    process.stdout.write(`case export of ${recordings} recordings, bundle ${(bytes / MIB).toFixed(0)} MiB\n${line('export', exported)}\n${verified ? `${line('verify', verified)}\n` : ''}`);
    if (exported.code !== 0 || verified?.code !== 0) say(`a step failed: see ${dir}/export.log and verify.log`);
    return exported.code === 0 && verified?.code === 0 ? 0 : 1;
  } finally {
    await Promise.all([s3.stop(), dynamo.stop()]);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else say(`kept ${dir}`);
  }
}
