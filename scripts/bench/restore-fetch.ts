import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { artefactId } from '../../core/artefact.ts';
import { artefactKey, artefactManifestKey } from '../../core/layout.ts';
import type { ArtefactEntry } from '../../core/ports.ts';
import { BENCH_SITE, startBenchCloud } from './cloud.ts';
import { cpuSecondsOf, runMeasured, type Measured } from './measure.ts';
import { round } from './report.ts';
import { loadNow } from './agent-rows.ts';

// restore fetch: a point-in-time plan of about N MB (one full backup of half of it, the other
// half in 16 binlog segments) is fetched by Ferry's real CLI (`ferry restore fetch`: the plan
// from the catalogue API, then every file from the store, verified against its SHA-256, fsynced,
// renamed) and by `aws s3 cp --recursive` of the same objects, one after the other, from the
// same local store (the local cloud's s3rver, with the store's own key pair, as the other aws-cli
// rows use it). Measured: wall time from spawn to exit, MB/s, peak RSS, CPU, the store's CPU.
// The bytes each tool wrote are compared with what was stored.

export interface RestoreFetchRow {
  scenario: 'restore-fetch';
  tool: 'ferry' | 'aws-cli';
  files: number;
  bytes: number;
  seconds: number;
  mbPerSec: number;
  peakRssMb: number;
  cpuSeconds: number;
  serverCpuSeconds: number;
  /** Ferry only: what its CLI takes to start and exit (`ferry restore fetch --help`), measured just before: part of `seconds`. */
  startupSeconds?: number;
  ok: boolean;
  problems: string[];
  load: number;
}

const MIB = 1024 * 1024;
const PART = 8 * MIB;
const SEGMENTS = 16;
const SOURCE = 'db';
const LOG_SOURCE = 'binlog';
const T0 = Date.UTC(2026, 2, 1);
const minute = (m: number) => new Date(T0 + m * 60_000).toISOString();
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const FERRY_BIN = join(REPO, 'bin', 'ferry.mjs');

export interface Seeded {
  entries: ArtefactEntry[];
  bytes: number;
  /** The time the plan restores to: inside the last segment. */
  at: string;
}

/** The bytes of file `name`, 8 MiB at a time: an AES-256-CTR key stream, so they can be drawn twice (hash, then upload) and compress like real backups do not. */
function* bytesOf(name: string, size: number): Generator<Buffer> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(name).digest(), Buffer.alloc(16));
  const zeros = Buffer.alloc(PART);
  for (let offset = 0; offset < size; offset += PART) yield cipher.update(zeros.subarray(0, Math.min(PART, size - offset)));
}

function sha256Of(name: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of bytesOf(name, size)) hash.update(chunk);
  return hash.digest('hex');
}

/** Stores the bytes of `name` at `key` (multipart, 8 MiB parts, 4 in flight). */
async function put(s3: S3Client, bucket: string, key: string, name: string, size: number): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
  const parts: { PartNumber: number; ETag?: string }[] = [];
  const inFlight: Promise<void>[] = [];
  let n = 0;
  for (const Body of bytesOf(name, size)) {
    const PartNumber = ++n;
    inFlight.push(s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber, Body })).then((out) => void parts.push({ PartNumber, ETag: out.ETag })));
    if (inFlight.length >= 4) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  parts.sort((a, b) => a.PartNumber - b.PartNumber);
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

function entry(over: Pick<ArtefactEntry, 'source' | 'sourceType' | 'role' | 'name' | 'size' | 'sha256' | 'takenAt'> & Partial<ArtefactEntry>): ArtefactEntry {
  const id = artefactId(BENCH_SITE, over.source, over.name, over.sha256);
  return { site: BENCH_SITE, artefactId: id, key: artefactKey(BENCH_SITE, over.sourceType, over.source, id, over.name, new Date(over.takenAt)), manifestKey: artefactManifestKey(BENCH_SITE, over.sourceType, over.source, id), createdAt: over.takenAt, ...over };
}

/** A full backup of half the bytes and 16 binlog segments of the rest, stored and catalogued (as ingest would from their manifests). */
export async function seedRestorePlan(s3: S3Client, bucket: string, catalogue: { putArtefact(e: ArtefactEntry): Promise<void> }, totalMb: number): Promise<Seeded> {
  const fullSize = Math.round((totalMb * MIB) / 2);
  const segmentSize = Math.round((totalMb * MIB - fullSize) / SEGMENTS);
  const specs = [
    { source: SOURCE, sourceType: 'rotated' as const, role: 'full' as const, name: 'full-20260301T000000.sql', size: fullSize, takenAt: minute(0), profile: 'generic', position: { logFile: 'mysql-bin.000001', logPos: 328 } },
    ...Array.from({ length: SEGMENTS }, (_, i) => ({ source: LOG_SOURCE, sourceType: 'binlog' as const, role: 'segment' as const, name: `mysql-bin.${String(i + 1).padStart(6, '0')}`, size: segmentSize, takenAt: minute(10 * i + 9), sequence: i + 1, series: 'mysql-bin', span: { from: minute(10 * i), to: minute(10 * i + 9) }, spanSource: 'events' as const })),
  ];
  const entries: ArtefactEntry[] = [];
  for (const spec of specs) {
    // The key holds the artefact id, which is derived from the SHA-256: hash first, then store.
    const e = entry({ ...spec, sha256: sha256Of(spec.name, spec.size) });
    await put(s3, bucket, e.key, spec.name, spec.size);
    await catalogue.putArtefact(e);
    entries.push(e);
  }
  return { entries, bytes: entries.reduce((s, e) => s + e.size, 0), at: minute(10 * (SEGMENTS - 1) + 5) };
}

/** Every file of `dir` (recursively) with its size, by name. */
function filesUnder(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), statSync(p).size);
    }
  };
  walk(dir);
  return out;
}


export interface RestoreFetchOptions {
  work: string;
  /** Plan size in MB (MiB); 0 skips. */
  mb: number;
  /** The AWS CLI, or undefined when absent (then only Ferry runs). */
  aws?: string;
  nodeFlags?: string[];
  say: (line: string) => void;
}

export async function runRestoreFetchBench(o: RestoreFetchOptions): Promise<RestoreFetchRow[]> {
  // In the bench's process: both sides are CLI processes reading the store directly; the cloud's
  // own event loop only answers Ferry's one plan request.
  const bench = await startBenchCloud(join(o.work, 'cloud-restore-fetch'), { mode: 'in-process' });
  const { cloud } = bench;
  const admin = createS3Client({ region: cloud.region, endpoint: cloud.s3Endpoint, credentials: cloud.credentials });
  try {
    const t0 = performance.now();
    const seeded = await seedRestorePlan(admin, cloud.bucket, cloud.catalogue, o.mb);
    o.say(`[restore-fetch] a plan of ${seeded.entries.length} files, ${(seeded.bytes / MIB).toFixed(0)} MB, stored and catalogued in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const expected = new Map(seeded.entries.map((e) => [e.name, e]));
    const rows: RestoreFetchRow[] = [];
    const s3Cpu = () => cpuSecondsOf(cloud.children.s3);
    const credentials = { AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey };

    // Ferry: its real CLI, plan through the API, files from the store. `ferry restore` runs from
    // the single-file bundle (as on a site host) only when it is newer than every source: build it.
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed, so Ferry's CLI would run from source: ${build.stderr}`);
    const ferryDir = join(o.work, 'restore-ferry');
    const ferryHome = join(o.work, 'restore-ferry-home');
    mkdirSync(ferryHome, { recursive: true });
    const ferryArgs = [...(o.nodeFlags ?? []), FERRY_BIN, 'restore', 'fetch', '--site', BENCH_SITE, '--source', SOURCE, '--at', seeded.at, '--to', ferryDir, '--api', cloud.apiUrl, '--json'];
    const ferryEnv = { ...process.env, ...credentials, FERRY_HOME: ferryHome, FERRY_BUCKET: cloud.bucket, AWS_ENDPOINT_URL_S3: cloud.s3Endpoint, AWS_REGION: cloud.region, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
    const startup = await runMeasured(process.execPath, [FERRY_BIN, 'restore', 'fetch', '--help'], { logFile: join(o.work, 'restore-fetch-ferry-help.log'), env: ferryEnv, cwd: REPO });
    let cpu0 = s3Cpu();
    const ferry = await runMeasured(process.execPath, ferryArgs, { logFile: join(o.work, 'restore-fetch-ferry.log'), env: ferryEnv, cwd: REPO, timeoutMs: 30 * 60_000 });
    const ferryProblems = check(ferry, filesUnder(ferryDir), new Map([...expected].map(([name, e]) => [name, e.size])), ['restore-plan.json', 'apply.sh']);
    rows.push({ ...result('ferry', seeded, ferry, s3Cpu() - cpu0, ferryProblems), startupSeconds: round(startup.seconds, 2) });
    o.say(`    $ node ${ferryArgs.slice(ferryArgs.indexOf(FERRY_BIN)).map((a) => (a === FERRY_BIN ? 'bin/ferry.mjs' : a)).join(' ')}`);
    rmSync(ferryDir, { recursive: true, force: true });

    if (o.aws) {
      // The same objects: everything under the site's backups/ and logs/ prefixes.
      const awsDir = join(o.work, 'restore-aws');
      const args = ['--endpoint-url', cloud.s3Endpoint, 's3', 'cp', '--recursive', '--only-show-errors', '--exclude', '*', '--include', `backups/${BENCH_SITE}/*`, '--include', `logs/${BENCH_SITE}/*`, `s3://${cloud.bucket}/`, awsDir];
      const env: NodeJS.ProcessEnv = { ...process.env, ...credentials, AWS_DEFAULT_REGION: cloud.region, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
      for (const k of Object.keys(env)) if (k.startsWith('AWS_ENDPOINT_URL') || k === 'AWS_PROFILE' || k === 'AWS_CA_BUNDLE') delete env[k];
      cpu0 = s3Cpu();
      const aws = await runMeasured(o.aws, args, { logFile: join(o.work, 'restore-fetch-aws-cli.log'), env, timeoutMs: 30 * 60_000 });
      const byKey = new Map(seeded.entries.map((e) => [e.key, e.size]));
      rows.push(result('aws-cli', seeded, aws, s3Cpu() - cpu0, check(aws, filesUnder(awsDir), byKey, [])));
      o.say(`    $ ${o.aws} ${args.join(' ')}`);
      rmSync(awsDir, { recursive: true, force: true });
    }
    for (const r of rows) o.say(`  ${r.tool}: ${r.files} files, ${(r.bytes / MIB).toFixed(0)} MB in ${r.seconds} s, ${r.mbPerSec} MB/s, peak RSS ${r.peakRssMb} MB, CPU ${r.cpuSeconds} s (s3rver ${r.serverCpuSeconds} s)${r.startupSeconds === undefined ? '' : `, CLI start-up alone ${r.startupSeconds} s`}, load ${r.load}${r.ok ? '' : ` — FAILED: ${r.problems.join('; ')}`}`);
    return rows;
  } finally {
    admin.destroy();
    await bench.stop();
  }
}

/** The tool exited 0 and wrote exactly the expected files with their sizes (Ferry checks SHA-256 itself; the sizes catch a short copy). */
function check(run: Measured, got: Map<string, number>, want: Map<string, number>, extra: string[]): string[] {
  const problems: string[] = [];
  if (run.timedOut) problems.push('timed out (killed)');
  else if (run.code !== 0) problems.push(`exited with ${run.code ?? run.signal}`);
  for (const [name, size] of want) if (got.get(name) !== size) problems.push(`${name}: ${got.get(name) ?? 'missing'} bytes, expected ${size}`);
  for (const name of got.keys()) if (!want.has(name) && !extra.includes(name)) problems.push(`unexpected file ${name}`);
  return problems.slice(0, 3);
}

function result(tool: RestoreFetchRow['tool'], seeded: Seeded, run: Measured, serverCpu: number, problems: string[]): RestoreFetchRow {
  return {
    scenario: 'restore-fetch',
    tool,
    files: seeded.entries.length,
    bytes: seeded.bytes,
    seconds: round(run.seconds, 2),
    mbPerSec: round(seeded.bytes / MIB / run.seconds, 1),
    peakRssMb: round(Math.max(run.peakTreeRssMb, run.mainHwmMb), 1),
    cpuSeconds: round(run.cpuSeconds, 1),
    serverCpuSeconds: round(serverCpu, 1),
    ok: problems.length === 0,
    problems,
    load: loadNow(),
  };
}
