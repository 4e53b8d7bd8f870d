import { PutObjectCommand } from '@aws-sdk/client-s3';
import { md5Base64 } from '../../adapters/s3-blob-store.ts';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { entryToItem, packToItem } from '../../core/catalogue-table.ts';
import { entriesOf } from '../../core/ingest.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { BENCH_SITE, inParallel, syntheticPack, type BenchCloud, type CloudMode, type SyntheticPack } from './cloud.ts';
import { round } from './report.ts';

// ingest: M manifests of 100 calls each reach the catalogue as they do for users: the agent
// (its own role) puts each manifest, the bucket notification invokes the ingest function's
// bundle, which reads the manifest, checks its pack and writes the entries and the pack record.
// Ferry's time runs from the first manifest PUT until every notification is handled. The raw
// baseline writes items of the same shape (entries and pack records) to the same table with
// BatchWriteItem, 25 per request and as many requests in flight as one ingest keeps (4), through
// the same DynamoDB gateway as the ingest function's role.

export interface IngestRow {
  scenario: 'ingest';
  tool: 'ferry' | 'raw-batchwrite';
  /** Where the local cloud ran. */
  cloud: CloudMode;
  manifests: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  dynaliteCpuSeconds: number;
  ok: boolean;
  problems: string[];
}

const MEMBERS = 100;
const MEMBER_BYTES = 256;
/** BatchWriteItem requests in flight for the raw baseline: one manifest's 4 chunks at once, as ingest sends them. */
export const RAW_IN_FLIGHT = 4;

async function putPacks(bench: BenchCloud, packs: SyntheticPack[]): Promise<void> {
  const agent = bench.s3As(`agent:${BENCH_SITE}`);
  const bucket = bench.cloud.bucket;
  await inParallel(packs.length, 16, async (i) => {
    const p = packs[i]!;
    const body = Buffer.alloc(p.size);
    await agent.send(new PutObjectCommand({ Bucket: bucket, Key: p.manifest.packKey, Body: body, ContentMD5: md5Base64(body), IfNoneMatch: '*' }));
  });
}

async function ferryIngest(bench: BenchCloud, packs: SyntheticPack[], say: (line: string) => void): Promise<IngestRow> {
  const agent = bench.s3As(`agent:${BENCH_SITE}`);
  const bucket = bench.cloud.bucket;
  const errorsBefore = (await bench.ingestErrors()).length;
  const cpu0 = bench.standInCpu().dynamo;
  const started = performance.now();
  await inParallel(packs.length, 8, async (i) => {
    const p = packs[i]!;
    const body = serializeManifest(p.manifest);
    await agent.send(new PutObjectCommand({ Bucket: bucket, Key: p.manifestKey, Body: body, ContentMD5: md5Base64(body), ContentType: 'application/json', IfNoneMatch: '*' }));
  });
  const putSeconds = (performance.now() - started) / 1000;
  await bench.drain();
  const seconds = (performance.now() - started) / 1000;
  say(`  ferry: manifests all put after ${putSeconds.toFixed(1)} s, all ingested after ${seconds.toFixed(1)} s`);
  const problems = (await bench.ingestErrors()).slice(errorsBefore).slice(0, 3).map((e) => `${e.key}: ${e.error}`);
  problems.push(...(await spotCheck(bench, packs)));
  const entries = packs.length * MEMBERS;
  return row(bench.mode, 'ferry', packs.length, entries, seconds, bench.standInCpu().dynamo - cpu0, problems);
}

/** Every pack record, and the first and last entry of a few packs, are in the catalogue. */
async function spotCheck(bench: BenchCloud, packs: SyntheticPack[]): Promise<string[]> {
  const problems: string[] = [];
  const step = Math.max(1, Math.floor(packs.length / 20));
  for (let i = 0; i < packs.length; i += step) {
    const m = packs[i]!.manifest;
    for (const member of [m.members[0]!, m.members[m.members.length - 1]!]) {
      const entry = await bench.cloud.catalogue.getRecording(BENCH_SITE, member.rid);
      if (!entry || entry.packKey !== m.packKey || entry.offset !== member.offset) problems.push(`entry ${member.rid} of pack ${m.packId} is missing or wrong`);
    }
    if (!(await bench.cloud.catalogue.getPack(BENCH_SITE, m.packId))) problems.push(`pack record ${m.packId} is missing`);
  }
  return problems.slice(0, 5);
}

async function rawIngest(bench: BenchCloud, packs: SyntheticPack[]): Promise<IngestRow> {
  const doc: DynamoDBDocumentClient = bench.dynamoAs('function:ingest');
  const table = bench.cloud.table;
  const requests: Record<string, unknown>[][] = [];
  for (const p of packs) {
    const items = entriesOf(p.manifest, p.manifestKey).map(entryToItem);
    for (let i = 0; i < items.length; i += 25) requests.push(items.slice(i, i + 25));
    const m = p.manifest;
    requests.push([packToItem({ site: m.site, packId: m.packId, packKey: m.packKey, manifestKey: p.manifestKey, source: m.source, members: m.members.length, size: m.pack.size, createdAt: m.createdAt })]);
  }
  const cpu0 = bench.standInCpu().dynamo;
  const problems: string[] = [];
  const started = performance.now();
  await inParallel(requests.length, RAW_IN_FLIGHT, async (i) => {
    let pending = requests[i]!.map((Item) => ({ PutRequest: { Item } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 8) {
        problems.push(`${pending.length} item(s) still unprocessed after 8 attempts`);
        return;
      }
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  });
  const seconds = (performance.now() - started) / 1000;
  return row(bench.mode, 'raw-batchwrite', packs.length, packs.length * MEMBERS, seconds, bench.standInCpu().dynamo - cpu0, problems.slice(0, 3));
}

function row(mode: CloudMode, tool: IngestRow['tool'], manifests: number, entries: number, seconds: number, cpu: number, problems: string[]): IngestRow {
  return { scenario: 'ingest', tool, cloud: mode, manifests, entries, seconds: round(seconds, 2), entriesPerSec: round(entries / seconds, 1), dynaliteCpuSeconds: round(cpu, 1), ok: problems.length === 0, problems };
}

/**
 * Ferry, then the raw writes. Each writes new keys (the raw side the items of the next M packs,
 * built the same way): rewriting an existing item costs dynalite more (old index entries go), and
 * both sides must pay the same.
 */
export async function runIngestBench(bench: BenchCloud, manifests: number, say: (line: string) => void): Promise<IngestRow[]> {
  const packs = Array.from({ length: manifests }, (_, n) => syntheticPack(n, MEMBERS, MEMBER_BYTES));
  const t0 = performance.now();
  await putPacks(bench, packs);
  say(`[ingest] ${manifests} pack(s) of ${MEMBERS} calls put in ${((performance.now() - t0) / 1000).toFixed(1)} s; ingesting…`);
  const ferry = await ferryIngest(bench, packs, say);
  const raw = await rawIngest(bench, Array.from({ length: manifests }, (_, n) => syntheticPack(manifests + n, MEMBERS, MEMBER_BYTES)));
  say(`  raw BatchWriteItem (${RAW_IN_FLIGHT} in flight): ${raw.seconds} s`);
  return [ferry, raw];
}
