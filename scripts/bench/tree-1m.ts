import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTree, type TreeFacts } from './data.ts';
import { runMeasured } from './measure.ts';
import { settle, writeTreeAgentConfig } from './share.ts';

// The `tree-1m` scenario: a share of N files of 2 KB (default 1,000,000) in directories of 100
// (the recorder's batch layout), snapshotted as a `tree` source, then snapshotted again with
// nothing changed (an incremental snapshot of a million paths: the walk and the index). What counts (issue:
// performance, the two tree rows): the agent's peak RSS (VmHWM of its process, and the highest
// sum of VmRSS over its process tree) and the time from spawn to the first pack published (the
// agent logs each pack). The tree takes minutes to write, so it is built once under a cache
// directory (FERRY_BENCH_CACHE, default $TMPDIR/ferry-bench-cache) and reused by later runs.
// restic, when installed, backs up the same tree to the same s3rver, for a side-by-side.

const REPO = join(import.meta.dirname, '..', '..');
const FERRY_BIN = join(REPO, 'bin', 'ferry.mjs');

export interface Tree1mRun {
  tool: string;
  /** Ferry's first snapshot, or its second right after (nothing changed: the walk and the index alone). */
  pass: 'first' | 'second';
  /** The state of the kernel's caches the snapshot started from (`--share-cache`: share.ts). */
  cache: 'warm' | 'cold';
  files: number;
  seconds: number;
  /** Spawn to the first pack published (Ferry's log); undefined for restic. */
  firstPackSeconds?: number;
  peakRssMb: number;
  mainHwmMb: number;
  filesRead?: number;
  ok: boolean;
  logFile: string;
}

export interface Tree1mOptions {
  work: string;
  files: number;
  target: { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  ferryBucket: string;
  restic?: { bin: string; bucket: string; env: (bucket: string) => NodeJS.ProcessEnv };
  say: (line: string) => void;
  /** `cold`: the kernel's caches dropped before each snapshot; `warm` (default): the tree read whole before it. */
  cache?: 'warm' | 'cold';
}

/** The cached tree for N files, written once (a marker file says it is complete). */
export function cachedTree(files: number, say: (line: string) => void): TreeFacts {
  const dir = join(process.env.FERRY_BENCH_CACHE ?? join(tmpdir(), 'ferry-bench-cache'), `tree-${files}`);
  const marker = join(dir, 'facts.json');
  if (existsSync(marker)) {
    say(`[tree-1m] reusing the tree in ${dir}`);
    return JSON.parse(readFileSync(marker, 'utf8')) as TreeFacts;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = performance.now();
  say(`[tree-1m] writing ${files.toLocaleString('en-GB')} files of 2 KB under ${dir} (once; later runs reuse it)…`);
  const facts = generateTree(join(dir, 'root'), files);
  writeFileSync(marker, JSON.stringify(facts));
  say(`[tree-1m] written in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return facts;
}

async function ferryPass(o: Tree1mOptions, facts: TreeFacts, pass: Tree1mRun['pass']): Promise<Tree1mRun> {
  const dir = join(o.work, 'ferry-tree-1m');
  if (pass === 'first') rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const config = writeTreeAgentConfig(dir, o.target, o.ferryBucket, 'tree1m', facts.root);
  const logFile = join(o.work, `tree-1m-ferry-${pass}.log`);
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const cache = settle(o, facts.root);
  const m = await runMeasured(process.execPath, [FERRY_BIN, 'agent', 'run', '--config', config, '--once', '--json-logs'], { logFile, env, cwd: REPO });
  const lines = readFileSync(logFile, 'utf8').split('\n');
  const firstPack = lines.find((l) => l.includes('"tree pack published"'));
  const done = lines.find((l) => l.includes('"tree snapshot published"'));
  const at = firstPack ? Date.parse((JSON.parse(firstPack) as { time: string }).time) : undefined;
  const fields = done ? (JSON.parse(done) as { read?: number }) : {};
  return {
    tool: 'ferry',
    pass,
    cache,
    files: facts.diskFiles,
    seconds: m.seconds,
    firstPackSeconds: at === undefined ? undefined : (at - m.startedAt) / 1000,
    peakRssMb: Math.max(m.peakTreeRssMb, m.mainHwmMb),
    mainHwmMb: m.mainHwmMb,
    filesRead: fields.read,
    ok: m.code === 0 && done !== undefined,
    logFile,
  };
}

async function resticPass(o: Tree1mOptions, facts: TreeFacts): Promise<Tree1mRun> {
  const env = o.restic!.env(o.restic!.bucket);
  const logFile = join(o.work, 'tree-1m-restic.log');
  await runMeasured(o.restic!.bin, ['init'], { logFile, env });
  const cache = settle(o, facts.root);
  const m = await runMeasured(o.restic!.bin, ['backup', '--quiet', facts.root], { logFile, env });
  return { tool: 'restic', pass: 'first', cache, files: facts.diskFiles, seconds: m.seconds, peakRssMb: Math.max(m.peakTreeRssMb, m.mainHwmMb), mainHwmMb: m.mainHwmMb, ok: m.code === 0, logFile };
}

export async function runTree1mBench(o: Tree1mOptions): Promise<Tree1mRun[]> {
  const facts = cachedTree(o.files, o.say);
  const runs = [await ferryPass(o, facts, 'first'), await ferryPass(o, facts, 'second')];
  if (o.restic) runs.push(await resticPass(o, facts));
  for (const r of runs) o.say(`[tree-1m] ${r.tool} ${r.pass}: ${r.seconds.toFixed(1)} s, peak RSS ${r.peakRssMb.toFixed(0)} MB (VmHWM ${r.mainHwmMb.toFixed(0)} MB)${r.firstPackSeconds === undefined ? '' : `, first pack after ${r.firstPackSeconds.toFixed(2)} s`}${r.ok ? '' : ` — FAILED, see ${r.logFile}`}`);
  return runs;
}

export function tree1mTable(runs: Tree1mRun[]): string {
  const rows = runs.map(
    (r) =>
      `| ${r.tool.padEnd(6)} | ${r.pass.padEnd(6)} | ${r.files.toLocaleString('en-GB').padStart(9)} | ${r.seconds.toFixed(1).padStart(7)} | ${(r.firstPackSeconds?.toFixed(2) ?? '').padStart(10)} | ${r.peakRssMb.toFixed(0).padStart(11)} | ${r.mainHwmMb.toFixed(0).padStart(6)} | ${r.ok ? 'ok' : `FAILED (${r.logFile})`} |`,
  );
  return [`tree-1m: a first snapshot of a tree of 2 KB files, then Ferry's second with nothing changed (targets: peak RSS ≤ 250 MB, first pack ≤ 3 s)${runs[0]?.cache === 'cold' ? '; the kernel\'s caches dropped before each' : ''}`, '| tool   | pass   |     files | seconds | first pack | peak RSS MB | VmHWM  |    |', '|--------|--------|-----------|---------|------------|-------------|--------|----|', ...rows].join('\n');
}
