import { existsSync, mkdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { signedFetch } from '../../adapters/sigv4.ts';
import { CATALOGUE_INDEXES } from '../../core/catalogue-table.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { loadCatalogueDirect, writtenSoFar } from './catalogue-load.ts';
import { CpuMeter, describeCpu, type CpuSplit } from './cpu-split.ts';
import { AGENTS, BENCH_SITE, BENCH_SOURCE, latencySummary, startBenchCloud, syntheticMeta, syntheticPackId, syntheticRid, syntheticSha, type BenchCloud, type BenchCloudOptions, type CloudMode } from './cloud.ts';

// search: a catalogue of N calls (one a minute, 200 agents), searched by agent as an officer
// pages through results on the page: GET /sites/{site}/recordings?agent=…&limit=50 through the
// catalogue API (SigV4 + IAM, the catalogue function's bundle, its sealed cursors), page after
// page. The raw baseline is the Query that page needs, on the same index (byAgent, Limit 51,
// ExclusiveStartKey from the previous page), through the DynamoDB gateway as the catalogue
// function's role. Ferry and raw alternate query by query; latency per page.
//
// The catalogue is loaded once per size straight into a dynalite directory (catalogue-load.ts:
// dynalite's own store functions, not its HTTP front) kept in the bench cache (FERRY_BENCH_CACHE,
// default ~/.cache/ferry-bench, shared with the tree rows) and reused by later runs (the loading
// time is printed).

export interface SearchRow {
  scenario: 'search';
  tool: 'ferry' | 'raw-query';
  /** Where the local cloud ran. */
  cloud: CloudMode;
  calls: number;
  pages: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /**
   * CPU milliseconds a page, by place (cpu-split.ts), over the windows of this side's requests.
   * Ferry's seal of a page's audit record runs after the answer, partly in the raw Query's window
   * that follows: a share of Ferry's CPU is charged to the raw side.
   */
  cpuMsPerRequest: CpuSplit & { total: number };
  ok: boolean;
  problems: string[];
}

const PAGE = 50;
const SEARCHES = 20;
const PAGES_PER_SEARCH = 5;

export function benchCacheDir(): string {
  return process.env.FERRY_BENCH_CACHE ?? join(homedir(), '.cache', 'ferry-bench');
}

export function syntheticEntry(n: number): CatalogueEntry {
  const meta = syntheticMeta(n);
  const packId = syntheticPackId(Math.floor(n / 100));
  return {
    site: BENCH_SITE,
    rid: syntheticRid(n),
    source: BENCH_SOURCE,
    packId,
    packKey: `recordings/${BENCH_SITE}/2023/01/01/${packId}.tar`,
    manifestKey: `manifests/${BENCH_SITE}/recordings/2023/01/01/${packId}.json`,
    offset: 512 + (n % 100) * 1024,
    length: 512,
    sha256: syntheticSha(n),
    contentType: 'audio/wav',
    path: `batch/${n}.wav`,
    start: meta.start!,
    meta,
  };
}

/** The dynalite directory holding a catalogue of `calls` calls; loaded now unless the cache has it. */
export async function catalogueOf(calls: number, say: (line: string) => void): Promise<string> {
  const dir = join(benchCacheDir(), `catalogue-${calls}`);
  if (existsSync(dir)) {
    say(`[search] reusing the catalogue of ${calls.toLocaleString('en-GB')} calls in ${dir}`);
    return dir;
  }
  const loading = `${dir}.loading`;
  // An interrupted load goes on where it stopped (a million items take a while); anything else there is started again.
  if (writtenSoFar(loading) === undefined) rmSync(loading, { recursive: true, force: true });
  mkdirSync(loading, { recursive: true });
  const started = performance.now();
  await loadCatalogueDirect(loading, calls, syntheticEntry, say);
  const seconds = (performance.now() - started) / 1000;
  say(`[search] loaded ${calls.toLocaleString('en-GB')} calls straight into dynalite's store in ${seconds.toFixed(0)} s (${(calls / seconds).toFixed(0)} items/s)`);
  renameSync(loading, dir);
  return dir;
}

export async function runSearchBench(calls: number, work: string, say: (line: string) => void, cloudOptions: BenchCloudOptions = {}): Promise<SearchRow[]> {
  const catalogue = await catalogueOf(calls, say);
  const directory = join(work, 'cloud-search');
  mkdirSync(directory, { recursive: true });
  symlinkSync(catalogue, join(directory, 'dynamo'));
  const bench = await startBenchCloud(directory, { ...cloudOptions, fresh: false });
  try {
    return await measure(bench, calls, say);
  } finally {
    await bench.stop();
  }
}

async function measure(bench: BenchCloud, calls: number, say: (line: string) => void): Promise<SearchRow[]> {
  const officer = bench.credentialsOf(`officer:${BENCH_SITE}`);
  const doc = bench.dynamoAs('function:catalogue');
  const samples = { ferry: [] as number[], raw: [] as number[] };
  const problems = { ferry: [] as string[], raw: [] as string[] };
  const perAgent = Math.floor(calls / AGENTS);
  const pages = Math.min(PAGES_PER_SEARCH, Math.ceil(perAgent / PAGE));
  const cpu = new CpuMeter<SearchRow['tool']>(bench.cpuPids);
  for (let s = -1; s < SEARCHES; s++) {
    // s = -1 warms both paths up (cold function, first connections); not counted.
    const agent = `agent-${(Math.max(0, s) * 37) % AGENTS}`;
    let cursor: string | undefined;
    let startKey: Record<string, unknown> | undefined;
    for (let p = 0; p < pages; p++) {
      const url = new URL(`${bench.cloud.apiUrl}/sites/${BENCH_SITE}/recordings`);
      url.searchParams.set('agent', agent);
      url.searchParams.set('limit', String(PAGE));
      if (cursor) url.searchParams.set('cursor', cursor);
      const counted = s < 0 ? 0 : 1;
      const { res, body, ferryMs } = await cpu.charge('ferry', counted, async () => {
        const t0 = performance.now();
        const res = await signedFetch(url.toString(), { service: 'execute-api', region: bench.cloud.region, credentials: officer });
        const body = (await res.json()) as { items?: { rid: string }[]; cursor?: string; message?: string };
        return { res, body, ferryMs: performance.now() - t0 };
      });
      const t0 = performance.now();
      const out = await cpu.charge('raw-query', counted, () => doc.send(
        new QueryCommand({
          TableName: bench.cloud.table,
          IndexName: CATALOGUE_INDEXES.byAgent.indexName,
          KeyConditionExpression: '#p = :p',
          ExpressionAttributeNames: { '#p': CATALOGUE_INDEXES.byAgent.partitionKey.name },
          ExpressionAttributeValues: { ':p': `${BENCH_SITE}#${agent}` },
          Limit: PAGE + 1,
          ExclusiveStartKey: startKey,
        }),
      ));
      const rawMs = performance.now() - t0;
      if (s < 0) continue;
      samples.ferry.push(ferryMs);
      samples.raw.push(rawMs);
      const items = out.Items ?? [];
      if (res.status !== 200) problems.ferry.push(`page ${p} of ${agent}: HTTP ${res.status} ${body.message ?? ''}`);
      else if (body.items?.length !== Math.min(PAGE, items.length) || body.items.some((e, i) => e.rid !== items[i]?.rid)) problems.ferry.push(`page ${p} of ${agent}: not the rows the index holds`);
      if (items.length === 0) problems.raw.push(`page ${p} of ${agent}: empty`);
      cursor = body.cursor;
      // The next page starts after the last row shown (the 51st only says whether more follow).
      const last = items[Math.min(PAGE, items.length) - 1];
      startKey = last && { pk: last.pk, sk: last.sk, agentPk: last.agentPk, startRid: last.startRid };
    }
  }
  const row = (tool: SearchRow['tool'], s: number[], p: string[]): SearchRow => ({ scenario: 'search', tool, cloud: bench.mode, calls, pages: s.length, ...latencySummary(s), cpuMsPerRequest: cpu.perRequest(tool), ok: p.length === 0, problems: p.slice(0, 3) });
  const rows = [row('ferry', samples.ferry, problems.ferry), row('raw-query', samples.raw, problems.raw)];
  for (const r of rows) say(`  ${r.tool}: ${r.pages} pages of ${PAGE} (by agent, ${calls.toLocaleString('en-GB')} calls), p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, mean ${r.meanMs} ms; ${describeCpu(r.cpuMsPerRequest)}${r.ok ? '' : ` — FAILED: ${r.problems.join('; ')}`}`);
  return rows;
}
