import { AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, loadavg } from 'node:os';
import { join } from 'node:path';
import { generateTree, type TreeFacts } from './data.ts';
import { round, type RunDetail, type Verdict } from './report.ts';

// The agent's shipping rows (docs/benchmarks.md): the store's own ceiling measured in the same
// run as Ferry, the targets each scenario is judged against, and the cached 1,000,000-file tree.

const MIB = 1024 * 1024;

/** The 1-minute load average, printed with every row: the machine is shared, so figures are read as same-run ratios. */
export function loadNow(): number {
  return round(loadavg()[0] ?? 0, 2);
}

export interface Ceiling {
  bytes: number;
  seconds: number;
  mbPerSec: number;
  parts: number;
  partConcurrency: number;
  /** CPU seconds the store spent taking it (same machine: how much of the ceiling is the store). */
  serverCpuSeconds: number;
  /** MB/s of every upload taken; the row is the median one. */
  samples?: number[];
}

/** Uploads the ceiling takes in one run: one upload moved 4× between two runs on a loaded machine. */
export const CEILING_UPLOADS = 3;

/**
 * The store's ceiling as the median of `uploads` uploads of the same bytes, one after the other
 * (each into its own key): the row is the upload with the median MB/s, with every MB/s beside it.
 */
export async function measureCeilingMedian(client: S3Client, bucket: string, bytes: number, serverCpu: () => () => number, uploads = CEILING_UPLOADS): Promise<Ceiling> {
  const taken: Ceiling[] = [];
  for (let n = 0; n < uploads; n++) taken.push(await measureCeiling(client, bucket, bytes, serverCpu, 4, `ceiling-${n + 1}.bin`));
  return medianCeiling(taken);
}

/** The upload with the median MB/s (the lower middle one of an even count), every MB/s in `samples` in the order taken. */
export function medianCeiling(taken: Ceiling[]): Ceiling {
  if (taken.length === 0) throw new RangeError('the ceiling needs at least one upload');
  const sorted = [...taken].sort((a, b) => a.mbPerSec - b.mbPerSec);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] as Ceiling;
  return { ...median, samples: taken.map((c) => c.mbPerSec) };
}

/**
 * The store's ceiling: one large multipart upload of `bytes` (8 MiB parts, `partConcurrency` in
 * flight) from memory, so nothing is measured but the client sending and the store taking it.
 * Ferry's small-file throughput is compared with it in the same run.
 */
export async function measureCeiling(client: S3Client, bucket: string, bytes: number, serverCpu: () => () => number, partConcurrency = 4, key = 'ceiling.bin'): Promise<Ceiling> {
  const partSize = 8 * MIB;
  const parts = Math.max(1, Math.ceil(bytes / partSize));
  const body = randomBytes(partSize);
  const cpu = serverCpu();
  const started = performance.now();
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const etags: string[] = [];
  try {
    let next = 1;
    const worker = async () => {
      while (next <= parts) {
        const n = next++;
        const size = n === parts ? bytes - (parts - 1) * partSize : partSize;
        const r = await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body.subarray(0, size) }));
        etags[n - 1] = r.ETag ?? '';
      }
    };
    await Promise.all(Array.from({ length: partConcurrency }, worker));
    const Parts = etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 }));
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts } }));
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId })).catch(() => undefined);
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  return { bytes, seconds: round(seconds, 2), mbPerSec: round(bytes / MIB / seconds, 2), parts, partConcurrency, serverCpuSeconds: round(cpu(), 1) };
}

/**
 * The recordings tree of `n` 2 KB files, generated once into a cache directory and reused
 * (writing a million files takes minutes; Ferry only reads them). A marker beside the tree
 * says it is complete: an interrupted generation is started again.
 */
export function cachedTree(n: number, cacheDir = process.env.FERRY_BENCH_CACHE ?? join(homedir(), '.cache', 'ferry-bench'), say: (line: string) => void = () => undefined): TreeFacts {
  const root = join(cacheDir, `tree-${n}`);
  const marker = `${root}.complete`;
  if (!existsSync(marker)) {
    say(`[tree] generating ${n.toLocaleString('en-GB')} file(s) into ${root} (kept for later runs)…`);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root, { recursive: true });
    const facts = generateTree(root, n);
    writeFileSync(marker, `${JSON.stringify(facts)}\n`);
    return facts;
  }
  say(`[tree] reusing ${root}`);
  return generateTreeFacts(root, n);
}

function generateTreeFacts(root: string, n: number): TreeFacts {
  // The same shape generateTree writes (batches of 100, 2,048-byte files), without a stat per file.
  const batches = Math.ceil(n / Math.min(100, n));
  const files = batches * Math.min(100, n);
  return { root, batches, recordings: files, diskFiles: files, bytes: files * 2048 };
}

const fmt = (n: number, digits = 1) => n.toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function ratio(what: string, a: number | undefined, b: number | undefined, min: number, ok: boolean): Verdict {
  const target = `≥ ${min}×`;
  if (a === undefined || b === undefined) return { what, value: 'peer or Ferry not run', target, outcome: 'n/a' };
  if (!ok) return { what, value: 'a run failed', target, outcome: 'n/a' };
  const r = a / b;
  return { what, value: `${r.toFixed(2)}× (${fmt(a)} / ${fmt(b)})`, target, outcome: r >= min ? 'PASS' : 'MISS' };
}

function bestPeer(runs: RunDetail[], scenario: string): RunDetail | undefined {
  return runs.filter((r) => r.scenario === scenario && r.tool !== 'ferry' && r.tool !== 'ceiling' && r.ok).sort((x, y) => y.mbPerSec - x.mbPerSec)[0];
}

/** The targets of the agent's shipping rows, each a ratio of two figures of the same run. */
export function agentVerdicts(runs: RunDetail[], ceiling?: Ceiling): Verdict[] {
  const find = (scenario: string, tool: string) => runs.find((r) => r.scenario === scenario && r.tool === tool);
  const out: Verdict[] = [];
  const small = find('small', 'ferry');
  if (small) {
    const rclone = find('small', 'rclone');
    out.push(ratio('small: Ferry files/s ÷ rclone files/s', small.filesPerSec, rclone?.filesPerSec, 10, small.ok && (rclone?.ok ?? true)));
    out.push(ratio('small: Ferry MB/s ÷ the store ceiling MB/s (one multipart upload)', small.mbPerSec, ceiling?.mbPerSec, 0.45, small.ok));
  }
  for (const [scenario, min] of [['large', 1.1], ['batch', 1.0]] as const) {
    const ferry = find(scenario, 'ferry');
    if (!ferry) continue;
    const best = bestPeer(runs, scenario);
    out.push(ratio(`${scenario}: Ferry MB/s ÷ best peer MB/s${best ? ` (${best.tool})` : ''}`, ferry.mbPerSec, best?.mbPerSec, min, ferry.ok));
  }
  const tree = find('tree', 'ferry');
  if (tree) {
    const files = tree.files.toLocaleString('en-GB');
    const outcome = (pass: boolean) => (tree.ok ? (pass ? 'PASS' : 'MISS') : 'n/a');
    out.push({ what: `tree: Ferry peak RSS, ${files} files`, value: `${fmt(tree.peakRssMb)} MB (main VmHWM ${fmt(tree.mainHwmMb)} MB)`, target: '≤ 250 MB', outcome: outcome(tree.peakRssMb <= 250) });
    const first = tree.firstPackSec;
    out.push({ what: `tree: start to first pack published, ${files} files`, value: first === undefined ? 'no pack' : `${fmt(first, 2)} s`, target: '≤ 3 s', outcome: first === undefined ? 'n/a' : outcome(first <= 3) });
  }
  return out;
}
