// Ferry against its peers (rclone, AWS CLI) on the same freshly generated data and the same
// local S3 stand-in, in one run. Not a test: it never fails on a missed target, it prints.
// It exits non-zero only when a tool crashed or did not ship everything.
//
//   npm run bench [-- --json] [-- --small N --large N --batch N --tree N --share N --tree-1m N --fleet N] [-- --keep]
//                 [-- --share-restore auto|yes|no] [-- --share-file-kb KB] [-- --share-cache warm|cold]
//   investigation only: [-- --cpu-prof] (V8 profiles of each agent run, see bench/profile-summary.ts)
//                       [-- --ferry-verify etag|read-back|checksum] (Ferry's verify mode instead of its default, to measure what each costs)
//
// Scenarios (N = recordings, in batches of 100; 0 skips a scenario):
//   small  N × ~30 KB demo recordings with XML sidecars (default 10,000)  Ferry, rclone, aws-cli,
//          and the store's ceiling: one multipart upload of the same bytes (bench/agent-rows.ts)
//   large  N × ~2 MB demo recordings with XML sidecars  (default 500)     Ferry, rclone, aws-cli
//   batch  N × ~2 MB recordings in ONE batch (one pack)  (default 100)    Ferry, rclone, aws-cli
//   tree   N × 2 KB files, no sidecars (default 1,000,000; generated once into
//          $FERRY_BENCH_CACHE or ~/.cache/ferry-bench and reused)   Ferry only: peak RSS, first pack
//   share  N files of 0.5-4 KB as a `tree` source (file share): first snapshot, then a second one
//          after 1 % changed (default 100,000; the tree is written once under $FERRY_BENCH_CACHE
//          and reused, so 1,000,000 works), then up to 200,000 files a restore of it with and
//          without runs of files: time, files read, peak RSS and VmHWM; `--share-file-kb KB`:
//          files of KB on average instead (a quarter to 1.75 times it), cached apart;
//          before every snapshot (here and in tree-1m), the tree is read whole (`--share-cache warm`,
//          the default) or the kernel's caches are dropped (`--share-cache cold`, root only)
//                                                      Ferry; restic (rclone backend) when installed
//   tree-1m N files of 2 KB in directories of 100 as a `tree` source, one snapshot (default 0:
//          skipped; the issue's figure is 1,000,000): peak RSS, time to the first pack. The tree
//          is written once under $FERRY_BENCH_CACHE and reused     Ferry; restic when installed
//   fleet  N simulated sites (heartbeats, window runs, a problem on every fourth): how long
//          `ferry fleet status --json` takes to answer (default 20; target under 2 s)
//   export (`npm run bench -- export [--gb N]`, alone): a case export of N GiB (default 2) by
//          `ferry case export`, its peak RSS against 256 MB, then `ferry case verify`
// The cloud rows (scripts/bench/cloud-rows.ts), each on a fresh local cloud as `ferry start` runs it,
// in a process of its own (the players are not the service); `--cloud-in-process`: in the bench's;
// `--replay-environments N`: the replay function in N runtimes (default 1, local/lambda-pool.ts):
//   ingest  N manifests of 100 calls (default 2,000)    ingest function vs raw BatchWriteItem
//   replay  N concurrent players (default 50)           replay URL vs raw ranged GET: time to first byte
//   search  a catalogue of N calls (default 1,000,000)  catalogue API vs raw Query: page latency
//   restore-fetch a plan of N MB (default 2,048)         `ferry restore fetch` vs `aws s3 cp`: MB/s
// See docs/benchmarks.md for the figures and what they mean.
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { startLocalS3, type LocalS3 } from '../local/s3-process.ts';
import { fleetTable, runFleetBench } from './bench/fleet.ts';
import { resticEnv, restoreTable, runShareBench, shareTable } from './bench/share.ts';
import { runTree1mBench, tree1mTable } from './bench/tree-1m.ts';
import { generateRecordings, TREE_METADATA_YAML, type TreeFacts } from './bench/data.ts';
import { agentVerdicts, cachedTree, loadNow, measureCeilingMedian, type Ceiling } from './bench/agent-rows.ts';
import { runCloudScenarios, type CloudCounts } from './bench/cloud-rows.ts';
import { describeFerryLog, summarizeFerryLog } from './bench/ferry-log.ts';
import { row, scenarioTable, verdictTable, round, type RunDetail } from './bench/report.ts';
import { ferryStartProblem, findPeers, runAwsCli, runFerry, runRclone, type Target, type ToolRun, type Availability } from './bench/tools.ts';
import { cpuSecondsOf, findDescendant, killActiveTools } from './bench/measure.ts';
import { benchS3Client, checkCopyBucket, checkFerryBucket, warmUp } from './bench/verify.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import type { VerifyMode } from '../agent/verify.ts';

type Scenario = 'small' | 'large' | 'batch' | 'tree';

interface Options {
  json: boolean;
  keep: boolean;
  cpuProf: boolean;
  /** The cloud rows' local cloud in the bench's own process (the old way) instead of its own. */
  cloudInProcess: boolean;
  /** Runtimes of the replay function in the cloud rows' local cloud (--replay-environments, default 1). */
  replayEnvironments: number;
  ferryVerify?: VerifyMode;
  counts: Record<Scenario, number>;
  /** Files of the `share` scenario (a tree source); 0 skips it. */
  share: number;
  /** Whether the share scenario restores its second snapshot (`auto`: up to 200,000 files). */
  shareRestore?: boolean;
  /** Average file size of the share scenario in KB (undefined: 0.5-4 KB). */
  shareFileKb?: number;
  /** `cold`: the share's snapshots each start with the kernel's caches dropped (--share-cache). */
  shareCache: 'warm' | 'cold';
  /** Sites of the `fleet` scenario; 0 skips it. */
  fleet: number;
  /** Files of the `tree-1m` scenario (one snapshot of a large tree source); 0 skips it. */
  tree1m: number;
  /** The cloud rows; 0 skips one. */
  cloud: CloudCounts;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'cloud-in-process': { type: 'boolean', default: false },
      'replay-environments': { type: 'string', default: '1' },
      'ferry-verify': { type: 'string' },
      small: { type: 'string', default: '10000' },
      large: { type: 'string', default: '500' },
      batch: { type: 'string', default: '100' },
      tree: { type: 'string', default: '1000000' },
      share: { type: 'string', default: '100000' },
      'share-restore': { type: 'string', default: 'auto' },
      'share-file-kb': { type: 'string' },
      'share-cache': { type: 'string', default: 'warm' },
      fleet: { type: 'string', default: '20' },
      'tree-1m': { type: 'string', default: '0' },
      ingest: { type: 'string', default: '2000' },
      replay: { type: 'string', default: '50' },
      search: { type: 'string', default: '1000000' },
      'restore-fetch': { type: 'string', default: '2048' },
    },
    strict: true,
  });
  const count = (name: Scenario | 'share' | 'fleet' | 'tree-1m' | 'ingest' | 'replay' | 'search' | 'restore-fetch') => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0 (0 skips the scenario), not ${values[name]}`);
    return n;
  };
  const ferryVerify = values['ferry-verify'];
  const replayEnvironments = Number(values['replay-environments']);
  if (!Number.isInteger(replayEnvironments) || replayEnvironments < 1 || replayEnvironments > 16) throw new Error(`--replay-environments must be a whole number from 1 to 16, not ${values['replay-environments']}`);
  const shareRestore = { auto: undefined, yes: true, no: false }[values['share-restore'] as 'auto' | 'yes' | 'no'];
  if (!['auto', 'yes', 'no'].includes(values['share-restore'] as string)) throw new Error(`--share-restore must be auto, yes or no, not ${values['share-restore']}`);
  const modes: readonly string[] = ['etag', 'read-back', 'checksum'] satisfies VerifyMode[];
  if (ferryVerify !== undefined && !modes.includes(ferryVerify)) throw new Error(`--ferry-verify is one of ${modes.join(', ')}`);
  const shareCache = values['share-cache'] as 'warm' | 'cold';
  if (!['warm', 'cold'].includes(shareCache)) throw new Error(`--share-cache must be warm or cold, not ${values['share-cache']}`);
  const shareFileKb = values['share-file-kb'] === undefined ? undefined : Number(values['share-file-kb']);
  if (shareFileKb !== undefined && !(Number.isInteger(shareFileKb) && shareFileKb > 0)) throw new Error(`--share-file-kb must be a whole number of KB above 0, not ${values['share-file-kb']}`);
  return { json: values.json ?? false, keep: values.keep ?? false, cpuProf: values['cpu-prof'] ?? false, cloudInProcess: values['cloud-in-process'] ?? false, replayEnvironments, ferryVerify: ferryVerify as VerifyMode | undefined, counts: { small: count('small'), large: count('large'), batch: count('batch'), tree: count('tree') }, share: count('share'), shareRestore, shareFileKb, shareCache, fleet: count('fleet'), tree1m: count('tree-1m'), cloud: { ingest: count('ingest'), replay: count('replay'), search: count('search'), restoreFetch: count('restore-fetch') } };
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const MIB = 1024 * 1024;

/** `uptime` as the shell prints it (load averages over 1, 5 and 15 minutes). */
function uptime(): string {
  return spawnSync('uptime', { encoding: 'utf8' }).stdout?.trim() || `load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;
}

function machine(): string {
  const gib = (b: number) => `${(b / 1024 ** 3).toFixed(1)} GiB`;
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), ${gib(totalmem())} RAM (${gib(freemem())} free), load ${load}, Node ${process.version}`;
}

interface Context {
  opts: Options;
  work: string;
  s3: LocalS3;
  client: S3Client;
  peers: Availability;
  /** The s3rver process, to charge each run with the server CPU it caused. */
  s3Pid?: number;
  runs: RunDetail[];
  failures: string[];
  ceiling?: Ceiling;
}

function target(ctx: Context, bucket: string): Target {
  return { endpoint: ctx.s3.endpoint, bucket, credentials: ctx.s3.credentials };
}

function crashed(run: ToolRun): string | undefined {
  if (run.timedOut) return `${run.tool} timed out (killed); log: ${run.logFile}`;
  if (run.code !== 0) return `${run.tool} exited with ${run.code ?? run.signal}; log: ${run.logFile}`;
  return undefined;
}

async function ferryRun(ctx: Context, scenario: Scenario, facts: TreeFacts): Promise<RunDetail> {
  const bucket = `${scenario}-ferry`;
  const nodeFlags = ctx.opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(ctx.work, 'profiles', scenario)] : [];
  const serverCpu = serverCpuMeter(ctx);
  const run = await runFerry({ scenario, root: facts.root, workDir: ctx.work, target: target(ctx, bucket), metadataYaml: scenario === 'tree' ? TREE_METADATA_YAML : undefined, nodeFlags, verify: ctx.opts.ferryVerify,
    // A run of --once ships for one slice; each further run scans the whole tree again, which on
    // a million files takes minutes: the tree row measures one run (first pack, peak RSS).
    maxRuns: scenario === 'tree' ? 1 : undefined });
  const check = await checkFerryBucket(ctx.client, bucket, { batches: facts.batches, recordings: facts.recordings });
  const problems = [crashed(run), ...check.problems].filter((p): p is string => p !== undefined);
  const summary = summarizeFerryLog(run.logFile, run.startedAt);
  say(`  ${describeFerryLog(summary)}`);
  if (summary.errors.length > 0) say(`  ferry stderr/errors: ${summary.errors.slice(0, 3).join(' | ')}`);
  say(`  bucket ${bucket}: ${check.packs} pack(s) (.tar), ${check.manifests} manifest(s), ${check.batches} batch(es), ${check.members} recording(s) in manifests, ${(check.storedBytes / MIB).toFixed(1)} MB stored`);
  return { ...detail(scenario, 'ferry', facts, run, serverCpu(), check.packs + check.manifests, problems), ...(summary.firstPackAfterSec === undefined ? {} : { firstPackSec: round(summary.firstPackAfterSec, 2) }) };
}

async function peerRun(ctx: Context, scenario: Scenario, facts: TreeFacts, tool: 'rclone' | 'aws-cli'): Promise<RunDetail | undefined> {
  const bin = tool === 'rclone' ? ctx.peers.rclone : ctx.peers.aws;
  if (!bin) return undefined;
  const bucket = `${scenario}-${tool}`;
  const prefix = 'copy';
  const serverCpu = serverCpuMeter(ctx);
  const run = tool === 'rclone'
    ? await runRclone(bin, scenario, facts.root, ctx.work, target(ctx, bucket), prefix)
    : await runAwsCli(bin, scenario, facts.root, ctx.work, target(ctx, bucket), prefix);
  const check = await checkCopyBucket(ctx.client, bucket, `${prefix}/`, { files: facts.diskFiles, bytes: facts.bytes });
  const problems = [crashed(run), ...check.problems].filter((p): p is string => p !== undefined);
  return detail(scenario, tool, facts, run, serverCpu(), check.objects, problems);
}

/** Starts counting the s3rver's CPU seconds; call the result when the run is over. */
function serverCpuMeter(ctx: Context): () => number {
  const before = ctx.s3Pid === undefined ? 0 : cpuSecondsOf(ctx.s3Pid);
  return () => (ctx.s3Pid === undefined ? 0 : cpuSecondsOf(ctx.s3Pid) - before);
}

function detail(scenario: Scenario, tool: string, facts: TreeFacts, run: ToolRun, serverCpuSeconds: number, objects: number, problems: string[]): RunDetail {
  const r: RunDetail = {
    ...row(scenario, tool, facts.recordings, facts.bytes, run.seconds, Math.max(run.peakTreeRssMb, run.mainHwmMb)),
    objects,
    treeRssMb: round(run.peakTreeRssMb, 1),
    mainHwmMb: round(run.mainHwmMb, 1),
    cpuSeconds: round(run.cpuSeconds, 1),
    serverCpuSeconds: round(serverCpuSeconds, 1),
    ok: problems.length === 0,
    problems,
    load: loadNow(),
  };
  say(`  ${tool}: ${r.seconds} s, ${r.filesPerSec} files/s, ${r.mbPerSec} MB/s, peak RSS ${r.peakRssMb} MB, CPU ${r.cpuSeconds} s (s3rver ${r.serverCpuSeconds} s), load ${r.load}${r.ok ? '' : ` — FAILED: ${problems.join('; ')}`}`);
  say(`    $ ${run.commandLine}`);
  return r;
}

async function generate(ctx: Context, scenario: Scenario): Promise<TreeFacts> {
  const n = ctx.opts.counts[scenario];
  const root = join(ctx.work, 'data', scenario);
  const started = performance.now();
  say(`[${scenario}] generating ${n.toLocaleString('en-GB')} recording(s)…`);
  const facts =
    scenario === 'small' ? await generateRecordings(root, n, 1.875, 1)
    : scenario === 'large' ? await generateRecordings(root, n, 131, 2)
    : scenario === 'batch' ? await generateRecordings(root, n, 131, 3, n)
    : cachedTree(n, undefined, say);
  say(`[${scenario}] ${facts.batches} batch(es), ${facts.recordings} recording(s), ${facts.diskFiles} file(s) on disk, ${(facts.bytes / MIB).toFixed(1)} MB; generated in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return facts;
}

/**
 * Writes every dirty page to disk (`sync`) before a tool's run: the recordings just generated, and
 * what the store wrote for the tool before. Otherwise the kernel writes them back about 30 s
 * after they were written, in the middle of whichever tool's run that falls in.
 */
function writtenBack(scenario: Scenario, tool: string): void {
  const started = performance.now();
  spawnSync('sync');
  say(`[${scenario}] written back before ${tool}'s run (sync): ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function scenarioRun(ctx: Context, scenario: Scenario): Promise<void> {
  const facts = await generate(ctx, scenario);
  say(`[${scenario}] uptime: ${uptime()}`);
  writtenBack(scenario, 'ferry');
  const results: RunDetail[] = [await ferryRun(ctx, scenario, facts)];
  if (scenario === 'small') {
    ctx.ceiling = await measureCeilingMedian(ctx.client, 'ceiling', facts.bytes, () => serverCpuMeter(ctx));
    const c = ctx.ceiling;
    say(`  ceiling: median of ${c.samples?.length ?? 1} multipart uploads of ${(c.bytes / MIB).toFixed(1)} MB (${c.parts} parts of 8 MiB, ${c.partConcurrency} in flight): ${c.seconds} s, ${c.mbPerSec} MB/s (s3rver CPU ${c.serverCpuSeconds} s); each: ${c.samples?.join(', ')} MB/s`);
  }
  if (scenario !== 'tree') {
    for (const tool of ['rclone', 'aws-cli'] as const) {
      writtenBack(scenario, tool);
      const r = await peerRun(ctx, scenario, facts, tool);
      if (r) results.push(r);
    }
  }
  for (const r of results) if (!r.ok) ctx.failures.push(`${scenario}/${r.tool}: ${r.problems.join('; ')}`);
  ctx.runs.push(...results);
  const title = `${scenario}: ${facts.recordings.toLocaleString('en-GB')} recordings in ${facts.batches} batch(es), ${facts.diskFiles.toLocaleString('en-GB')} files on disk, ${(facts.bytes / MIB).toFixed(1)} MB`;
  const table = scenarioTable(title, results);
  if (ctx.opts.json) {
    say(table);
    for (const r of results) {
      const { scenario: s, tool, files, bytes, seconds, filesPerSec, mbPerSec, peakRssMb, cpuSeconds, serverCpuSeconds, firstPackSec, load } = r;
      process.stdout.write(`${JSON.stringify({ scenario: s, tool, files, bytes, seconds, filesPerSec, mbPerSec, peakRssMb, cpuSeconds, serverCpuSeconds, firstPackSec, load })}\n`);
    }
    if (scenario === 'small' && ctx.ceiling) process.stdout.write(`${JSON.stringify({ scenario, tool: 'ceiling', ...ctx.ceiling, load: loadNow() })}\n`);
  } else process.stdout.write(`\n${table}\n`);
  // The tree lives in its cache for the next run.
  if (!ctx.opts.keep && scenario !== 'tree') rmSync(facts.root, { recursive: true, force: true });
}

/** The `fleet` scenario (scripts/bench/fleet.ts): `ferry fleet status` over N simulated sites. */
async function fleetRun(ctx: Context): Promise<void> {
  const r = await runFleetBench({ work: ctx.work, sites: ctx.opts.fleet, s3: { endpoint: ctx.s3.endpoint, credentials: ctx.s3.credentials }, bucket: 'fleet', say });
  for (const p of r.problems) ctx.failures.push(`fleet: ${p}`);
  if (ctx.opts.json) process.stdout.write(`${JSON.stringify({ scenario: 'fleet', sites: r.sites, cliSeconds: r.cliSeconds, cliWarmSeconds: r.cliWarmSeconds, startSeconds: r.startSeconds, readSeconds: r.readSeconds, notOk: r.notOk })}\n`);
  else process.stdout.write(`\n${fleetTable(r)}\n`);
}

/** The `share` scenario (scripts/bench/share.ts): a tree source, first and incremental snapshot. */
async function shareRun(ctx: Context): Promise<void> {
  const resticBin = spawnSync('which', ['restic'], { encoding: 'utf8' }).stdout.trim();
  if (!resticBin || !ctx.peers.rclone) say('[share] restic (with rclone) is not installed: `apt-get install -y restic rclone`; its runs are skipped');
  const restic = resticBin && ctx.peers.rclone ? { bin: resticBin, bucket: 'share-restic' } : undefined;
  const nodeFlags = ctx.opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(ctx.work, 'profiles', 'share')] : [];
  const r = await runShareBench({ work: ctx.work, files: ctx.opts.share, target: { endpoint: ctx.s3.endpoint, credentials: ctx.s3.credentials }, ferryBucket: 'share-ferry', restic, say, nodeFlags, restores: ctx.opts.shareRestore, fileKb: ctx.opts.shareFileKb, cache: ctx.opts.shareCache });
  for (const run of r.runs) if (!run.ok) ctx.failures.push(`share/${run.tool} ${run.pass}: see ${run.logFile}`);
  if (ctx.opts.json) {
    for (const run of r.runs) process.stdout.write(`${JSON.stringify({ scenario: 'share', ...run })}\n`);
    for (const run of r.restores) process.stdout.write(`${JSON.stringify({ scenario: 'share-restore', ...run })}\n`);
  } else process.stdout.write(`\n${shareTable(ctx.opts.share, r.bytes, r.changed, r.runs)}\n${restoreTable(r.restores)}\n`);
}

/** The `tree-1m` scenario (scripts/bench/tree-1m.ts): peak RSS and time to the first pack on a large tree source. */
async function tree1mRun(ctx: Context): Promise<void> {
  const resticBin = spawnSync('which', ['restic'], { encoding: 'utf8' }).stdout.trim();
  const target = { endpoint: ctx.s3.endpoint, credentials: ctx.s3.credentials };
  const restic = resticBin && ctx.peers.rclone ? { bin: resticBin, bucket: 'tree1m-restic', env: (bucket: string) => resticEnv(target, bucket, ctx.work) } : undefined;
  const runs = await runTree1mBench({ work: ctx.work, files: ctx.opts.tree1m, target, ferryBucket: 'tree1m-ferry', restic, say, cache: ctx.opts.shareCache });
  for (const run of runs) if (!run.ok) ctx.failures.push(`tree-1m/${run.tool}: see ${run.logFile}`);
  if (ctx.opts.json) for (const run of runs) process.stdout.write(`${JSON.stringify({ scenario: 'tree-1m', ...run })}\n`);
  else process.stdout.write(`\n${tree1mTable(runs)}\n`);
}

async function main(): Promise<number> {
  // `npm run bench -- export [--gb N]`: the case export scenario alone (scripts/bench/export.ts).
  if (process.argv[2] === 'export') return (await import('./bench/export.ts')).runExportBench(process.argv.slice(3));
  // As bin/ferry.mjs does: the pinned SDK supports Node 20; its notice about future releases is noise here.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const opts = parseOptions(process.argv.slice(2));
  const out = opts.json ? say : (line: string) => process.stdout.write(`${line}\n`);
  const scenarios = (['small', 'large', 'batch', 'tree'] as const).filter((s) => opts.counts[s] > 0);
  const peers = findPeers();
  for (const line of peers.missing) say(line);
  const ferryProblem = ferryStartProblem();
  if (ferryProblem) {
    say(`Ferry's CLI does not start, nothing measured:\n${ferryProblem}`);
    return 1;
  }
  out(`machine: ${machine()}`);
  out(`uptime: ${uptime()}`);
  if (opts.ferryVerify) out(`Ferry runs with cloud.verify: ${opts.ferryVerify} (investigation: not the default measurement)`);
  const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
  mkdirSync(join(work, 's3'));
  const buckets = ['warmup', 'ceiling', ...scenarios.flatMap((s) => (s === 'tree' ? [`${s}-ferry`] : [`${s}-ferry`, `${s}-rclone`, `${s}-aws-cli`])), 'share-ferry', 'fleet', 'tree1m-ferry'];
  // restic's repositories in buckets without Object Lock: restic writes through rclone without a
  // Content-MD5, which S3 refuses under Object Lock (and a lock would keep what its prune removes).
  // The ceiling's upload from memory sends no part digest, which S3 (and the stand-in) refuse in a
  // bucket under Object Lock: it measures the store taking bytes, in a bucket without the lock.
  const s3 = await startLocalS3({ directory: join(work, 's3'), buckets, plainBuckets: ['share-restic', 'tree1m-restic', 'ceiling'] });
  const ctx: Context = { opts, work, s3, s3Pid: findDescendant('s3-server.cjs'), client: benchS3Client(s3.endpoint, s3.credentials), peers, runs: [], failures: [] };
  const cleanup = async () => {
    await s3.stop();
    if (opts.keep) say(`kept: ${work} (data, s3rver directory, tool logs${opts.cpuProf ? ', CPU profiles' : ''})`);
    else rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    killActiveTools();
    void cleanup().finally(() => process.exit(130));
  });
  try {
    say(`work directory ${work}; local S3 ${s3.endpoint}`);
    await warmUp(ctx.client, 'warmup');
    for (const scenario of scenarios) await scenarioRun(ctx, scenario);
    if (opts.share > 0) await shareRun(ctx);
    if (opts.tree1m > 0) await tree1mRun(ctx);
    if (opts.fleet > 0) await fleetRun(ctx);
    // The cloud rows' local cloud in its own process unless --cloud-in-process; profiled with --cpu-prof (each function worker too).
    const cloudFlags = opts.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(work, 'profiles', 'cloud')] : [];
    const cloudMode = opts.cloudInProcess ? ('in-process' as const) : ('process' as const);
    const cloud = await runCloudScenarios(opts.cloud, work, say, { aws: peers.aws, cpuProf: opts.cpuProf, cloud: { mode: cloudMode, nodeFlags: cloudFlags, replayEnvironments: opts.replayEnvironments } });
    ctx.failures.push(...cloud.failures);
    if (opts.json) for (const r of cloud.rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    const list = [...agentVerdicts(ctx.runs, ctx.ceiling), ...cloud.verdicts];
    if (list.length > 0) out(`\n${verdictTable(list)}`);
    out(`machine after the run: ${machine()}`);
    out(`uptime: ${uptime()}`);
  } finally {
    ctx.client.destroy();
    await cleanup();
  }
  for (const f of ctx.failures) say(`FAILED ${f}`);
  return ctx.failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    say(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 2;
  },
);
