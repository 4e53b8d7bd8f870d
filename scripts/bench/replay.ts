import { randomBytes } from 'node:crypto';
import { md5Base64 } from '../../adapters/s3-blob-store.ts';
import { Agent, request } from 'node:http';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { presignReplayLink } from '../../adapters/replay-link.ts';
import { entriesOf } from '../../core/ingest.ts';
import { CpuMeter, describeCpu, type CpuSplit } from './cpu-split.ts';
import { BENCH_SITE, inParallel, latencySummary, syntheticPack, type BenchCloud, type CloudMode } from './cloud.ts';

// replay: P players at once, each playing its own recording through the replay URL as the
// page does (a presigned link with the recording's place, signed once as the site's compliance officer), fetching it in
// successive 64 KiB ranges. Measured: time to first byte of each ranged GET. The raw baseline
// is a ranged GET of the same bytes of the pack straight from the store (the AWS SDK, through
// the S3 gateway as the replay function's role), with as many at once. Rounds alternate
// Ferry / raw so a change in the machine's load hits both. Each side first plays as many other
// recordings in a warm-up round, which opens every connection a round uses (the players' to the
// front door and the store, the function's to the store) and is reported apart: the measured
// rounds are a running service's, whose first play of a recording still looks its entry up.

export interface ReplayRow {
  scenario: 'replay';
  tool: 'ferry' | 'raw-get';
  /** Where the local cloud ran. */
  cloud: CloudMode;
  players: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** TTFB of each play's first range (bytes 0-…: the one the replay function audits as a listen). */
  firstRangeP50Ms: number;
  firstRangeP99Ms: number;
  /** TTFB of the other ranges of a play (not audited). */
  laterRangesP50Ms: number;
  laterRangesP99Ms: number;
  /** The warm-up round (every connection opened in it, other recordings), not in the figures above. */
  warmUp: { p50Ms: number; p99Ms: number; firstRangeP99Ms: number };
  /** CPU milliseconds a request, by place (cpu-split.ts), over this side's rounds. */
  cpuMsPerRequest: CpuSplit & { total: number };
  ok: boolean;
  problems: string[];
}

const MEMBER_BYTES = 1024 * 1024;
const PER_PACK = 10;
const RANGE_BYTES = 64 * 1024;
const RANGES_PER_PLAY = 8;
const ROUNDS = 3;

interface Play {
  rid: string;
  packKey: string;
  /** Offset of the recording in its pack. */
  offset: number;
  /** The pack's bytes, to check what came back. */
  pack: Buffer;
  link?: string;
}

async function seed(bench: BenchCloud, players: number): Promise<Play[]> {
  const agent = bench.s3As(`agent:${BENCH_SITE}`);
  const plays: Play[] = [];
  const packs = Math.ceil(players / PER_PACK);
  for (let n = 0; n < packs; n++) {
    const p = syntheticPack(1_000_000 + n, PER_PACK, MEMBER_BYTES);
    const body = randomBytes(p.size);
    await agent.send(new PutObjectCommand({ Bucket: bench.cloud.bucket, Key: p.manifest.packKey, Body: body, ContentMD5: md5Base64(body), IfNoneMatch: '*' }));
    // Catalogued directly (ingest is its own row): what the replay function looks up.
    await bench.cloud.catalogue.putRecordings(entriesOf(p.manifest, p.manifestKey));
    for (const m of p.manifest.members) plays.push({ rid: m.rid, packKey: p.manifest.packKey, offset: m.offset, pack: body });
  }
  return plays.slice(0, players);
}

type Fetch = (play: Play, start: number, end: number) => Promise<{ ttfbMs: number; body: Buffer }>;

function ferryFetch(agent: Agent): Fetch {
  return (play, start, end) =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      let ttfbMs = -1;
      const req = request(play.link!, { agent, headers: { Range: `bytes=${start}-${end}` } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          if (ttfbMs < 0) ttfbMs = performance.now() - t0;
          chunks.push(c);
        });
        res.on('end', () => (res.statusCode === 206 ? resolve({ ttfbMs, body: Buffer.concat(chunks) }) : reject(new Error(`replay answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
}

function rawFetch(s3: S3Client, bucket: string): Fetch {
  return async (play, start, end) => {
    const t0 = performance.now();
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: play.packKey, Range: `bytes=${play.offset + start}-${play.offset + end}` }));
    const chunks: Buffer[] = [];
    let ttfbMs = -1;
    for await (const c of out.Body as AsyncIterable<Buffer>) {
      if (ttfbMs < 0) ttfbMs = performance.now() - t0;
      chunks.push(c);
    }
    return { ttfbMs, body: Buffer.concat(chunks) };
  };
}

/** TTFB samples, by whether the range was a play's first. */
interface Samples {
  first: number[];
  later: number[];
}

/** Every player at once, each fetching its recording range after range; TTFB of every request. */
async function round(plays: Play[], fetch: Fetch, problems: string[], samples: Samples = { first: [], later: [] }): Promise<Samples> {
  await inParallel(plays.length, plays.length, async (i) => {
    const play = plays[i]!;
    for (let r = 0; r < RANGES_PER_PLAY; r++) {
      const start = r * RANGE_BYTES;
      const end = start + RANGE_BYTES - 1;
      try {
        const { ttfbMs, body } = await fetch(play, start, end);
        (r === 0 ? samples.first : samples.later).push(ttfbMs);
        if (!body.equals(play.pack.subarray(play.offset + start, play.offset + end + 1))) problems.push(`${play.rid} bytes ${start}-${end}: wrong bytes`);
      } catch (error) {
        problems.push(`${play.rid} bytes ${start}-${end}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  });
  return samples;
}

export async function runReplayBench(bench: BenchCloud, players: number, say: (line: string) => void): Promise<ReplayRow[]> {
  const seeded = await seed(bench, 2 * players);
  const [plays, warmPlays] = [seeded.slice(0, players), seeded.slice(players)];
  const officer = bench.credentialsOf(`officer:${BENCH_SITE}`);
  for (const play of seeded) {
    // With the recording's place, as the console mints its play links from the entry it checked.
    const place = { packKey: play.packKey, offset: play.offset, length: MEMBER_BYTES };
    play.link = await presignReplayLink({ replayUrl: bench.cloud.replayUrl, region: bench.cloud.region, site: BENCH_SITE, rid: play.rid, credentials: officer, expiresInSeconds: 3600, place });
  }
  // Idle sockets closed after 30 s, before the endpoint closes them (local/listen.ts): never reused as the server drops them.
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 30_000 });
  const s3 = bench.s3As('function:replay');
  const ferry = ferryFetch(agent);
  const raw = rawFetch(s3, bench.cloud.bucket);
  // One warm-up round each (cold runtime, first connections) on the other recordings, as many
  // players at once as the measured rounds: not counted, reported apart.
  const warm: string[] = [];
  const warmUp = { ferry: await round(warmPlays, ferry, warm), raw: await round(warmPlays, raw, warm) };
  const samples = { ferry: { first: [], later: [] } as Samples, raw: { first: [], later: [] } as Samples };
  const problems = { ferry: warm.slice(0, 3), raw: [] as string[] };
  const cpu = new CpuMeter<ReplayRow['tool']>(bench.cpuPids);
  const requests = plays.length * RANGES_PER_PLAY;
  for (let r = 0; r < ROUNDS; r++) {
    await cpu.charge('ferry', requests, () => round(plays, ferry, problems.ferry, samples.ferry));
    await cpu.charge('raw-get', requests, () => round(plays, raw, problems.raw, samples.raw));
  }
  agent.destroy();
  const row = (tool: ReplayRow['tool'], s: Samples, w: Samples, p: string[]): ReplayRow => {
    const [first, later] = [latencySummary(s.first), latencySummary(s.later)];
    const split = { firstRangeP50Ms: first.p50Ms, firstRangeP99Ms: first.p99Ms, laterRangesP50Ms: later.p50Ms, laterRangesP99Ms: later.p99Ms };
    const all = latencySummary([...w.first, ...w.later]);
    const opening = { p50Ms: all.p50Ms, p99Ms: all.p99Ms, firstRangeP99Ms: latencySummary(w.first).p99Ms };
    const measured = { ...latencySummary([...s.first, ...s.later]), ...split, warmUp: opening, cpuMsPerRequest: cpu.perRequest(tool) };
    return { scenario: 'replay', tool, cloud: bench.mode, players: plays.length, requests: s.first.length + s.later.length, ...measured, ok: p.length === 0, problems: p.slice(0, 3) };
  };
  const rows = [row('ferry', samples.ferry, warmUp.ferry, problems.ferry), row('raw-get', samples.raw, warmUp.raw, problems.raw)];
  for (const r of rows) {
    const split = `first range of a play p50/p99 ${r.firstRangeP50Ms}/${r.firstRangeP99Ms} ms, later ranges ${r.laterRangesP50Ms}/${r.laterRangesP99Ms} ms`;
    const cold = `warm-up round, connections opened: p50/p99 ${r.warmUp.p50Ms}/${r.warmUp.p99Ms} ms, first ranges p99 ${r.warmUp.firstRangeP99Ms} ms`;
    say(`  ${r.tool}: ${r.requests} ranged GETs of ${RANGE_BYTES / 1024} KiB, TTFB p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, mean ${r.meanMs} ms (${split}; ${cold}); ${describeCpu(r.cpuMsPerRequest)}${r.ok ? '' : ` — FAILED: ${r.problems.join('; ')}`}`);
  }
  return rows;
}
