import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runMeasured, type Measured } from './measure.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { buildStore } from '../../cli/build-agent.ts';
import { findSnapshot, restoreTree } from '../../cli/tree-restore.ts';
import { cachedShareTree, changeOnePercent } from './share-tree.ts';

// The `share` scenario: a file share as a `tree` source. N small files (0.5-4 KB, 100 per
// directory, kept in the bench cache: share-tree.ts) are snapshotted once, 1 % of them are
// rewritten, and the tree is snapshotted again. What counts (issue: file shares): the second
// snapshot's time against the first's, how many files it read (the agent's log says), and the
// agent's peak RSS (its own VmHWM, and the highest sum over its process tree). restic, when
// installed, backs up the same tree states to the same s3rver through its rclone backend, for a
// side-by-side. Above 200,000 files the restores are left out (minutes of GETs that say
// nothing the smaller run does not).

const REPO = join(import.meta.dirname, '..', '..');
const FERRY_BIN = join(REPO, 'bin', 'ferry.mjs');

export interface ShareTarget {
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

export interface ShareRun {
  tool: string;
  pass: 'first' | 'second';
  seconds: number;
  peakRssMb: number;
  /** The main process's own high-water mark (VmHWM). */
  hwmMb: number;
  /** CPU seconds of the tool's process tree (less noisy than wall time on a shared machine). */
  cpuSeconds: number;
  /** Files the snapshot read (Ferry's log); undefined for restic. */
  filesRead?: number;
  files?: number;
  /** The snapshot itself (Ferry's log: walk, read, pack, publish), without process start-up. */
  snapshotSeconds?: number;
  /** Whether the caches were dropped before this snapshot (`--share-cache cold`). */
  cache: 'warm' | 'cold';
  ok: boolean;
  logFile: string;
}

/** One full restore of the second snapshot, in this process (the CLI's restoreTree) against the same store. */
export interface RestoreRun {
  mode: 'one GET per file' | 'runs of files';
  seconds: number;
  gets: number;
  files: number;
  mb: number;
}

export interface ShareOptions {
  work: string;
  files: number;
  target: ShareTarget;
  ferryBucket: string;
  /** restic and rclone binaries, when both are installed; resticBucket must exist. */
  restic?: { bin: string; bucket: string };
  say: (line: string) => void;
  /** Set by the first Ferry pass: its agent config (the restores read the store through it). */
  config?: string;
  /** Node flags for the agent runs (`--cpu-prof …`). */
  nodeFlags?: string[];
  /** Restore the second snapshot both ways (default: up to 200,000 files). */
  restores?: boolean;
  /**
   * The tree's state in the kernel's caches before every snapshot (each tool's first and
   * second): `warm` (default), every file of the tree read just before, so every snapshot finds
   * it all cached; `cold`, the page cache, dentries and inodes dropped, as a daily snapshot finds
   * a share it has not read since the day before. (Left as it was, the first snapshot of a run
   * read the tree from disk, or not, depending on the rows before it, and the next tool found it
   * cached by the one before.)
   */
  cache?: 'warm' | 'cold';
  /** Files of this size on average (KB) instead of 0.5-4 KB (share-tree.ts). */
  fileKb?: number;
}

const peak = (m: Measured) => Math.max(m.peakTreeRssMb, m.mainHwmMb);

/** An agent configuration in `dir` with one tree source, shipping to the bench's store; its path. */
export function writeTreeAgentConfig(dir: string, target: ShareTarget, bucket: string, source: string, root: string): string {
  const config = join(dir, 'agent.yaml');
  writeFileSync(
    config,
    `site: bench
state: ${join(dir, 'state')}
cloud: { bucket: ${bucket}, endpoint: ${target.endpoint}, credentials: { accessKeyId: ${target.credentials.accessKeyId}, secretAccessKey: ${target.credentials.secretAccessKey} } }
shipping: { partSizeMiB: 8 }
sources:
  - { name: ${source}, type: tree, path: "${root}" }
`,
  );
  return config;
}

async function ferryPass(o: ShareOptions, root: string, pass: ShareRun['pass']): Promise<ShareRun> {
  const dir = join(o.work, 'ferry-share');
  mkdirSync(dir, { recursive: true });
  const config = writeTreeAgentConfig(dir, o.target, o.ferryBucket, 'share', root);
  const logFile = join(o.work, `share-ferry-${pass}.log`);
  o.config = config;
  const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
  const cache = settle(o, root);
  const m = await runMeasured(process.execPath, [...(o.nodeFlags ?? []), FERRY_BIN, 'agent', 'run', '--config', config, '--once', '--json-logs'], { logFile, env, cwd: REPO });
  const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"tree snapshot published"'));
  const fields = line ? (JSON.parse(line) as { read?: number; files?: number; ms?: number }) : {};
  const snapshotSeconds = fields.ms === undefined ? undefined : fields.ms / 1000;
  return { tool: 'ferry', pass, cache, seconds: m.seconds, snapshotSeconds, peakRssMb: peak(m), hwmMb: m.mainHwmMb, cpuSeconds: m.cpuSeconds, filesRead: fields.read, files: fields.files, ok: m.code === 0 && line !== undefined, logFile };
}

/**
 * Before a snapshot, everything written goes to disk (`sync`): the files just changed, and the
 * packs the store wrote for the run before, which the kernel would otherwise write back about
 * 30 s later, in the middle of whichever snapshot that falls in. Then `warm`: every file of the
 * tree read (so it is all in the page cache); `cold`: the kernel drops its page cache, dentries
 * and inodes (root only; an error saying so otherwise).
 */
export function settle(o: { cache?: 'warm' | 'cold' }, root: string): 'warm' | 'cold' {
  execFileSync('sync');
  if (o.cache !== 'cold') {
    readEveryFile(root, Buffer.allocUnsafe(1 << 20));
    return 'warm';
  }
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch (error) {
    throw new Error(`--share-cache cold drops the kernel's caches, which needs root (writing /proc/sys/vm/drop_caches failed: ${(error as Error).message})`);
  }
  return 'cold';
}

function readEveryFile(dir: string, scratch: Buffer): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) readEveryFile(path, scratch);
    else if (entry.isFile()) {
      const fd = openSync(path, 'r');
      try {
        while (readSync(fd, scratch, 0, scratch.length, null) > 0);
      } finally {
        closeSync(fd);
      }
    }
  }
}

/** restic's environment for a repository in `bucket` of the s3rver, through its rclone backend. */
export function resticEnv(target: ShareTarget, bucket: string, work: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RESTIC_PASSWORD: 'bench',
    RESTIC_REPOSITORY: `rclone:ferry:${bucket}/repo`,
    RCLONE_CONFIG_FERRY_TYPE: 's3',
    RCLONE_CONFIG_FERRY_PROVIDER: 'Other',
    RCLONE_CONFIG_FERRY_ENDPOINT: target.endpoint,
    RCLONE_CONFIG_FERRY_ACCESS_KEY_ID: target.credentials.accessKeyId,
    RCLONE_CONFIG_FERRY_SECRET_ACCESS_KEY: target.credentials.secretAccessKey,
    RCLONE_CONFIG_FERRY_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_FERRY_REGION: 'us-east-1',
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
  };
  delete env.AWS_CA_BUNDLE; // rclone chokes on the one set here
  return env;
}

async function resticPass(o: ShareOptions, root: string, pass: ShareRun['pass']): Promise<ShareRun> {
  const env = resticEnv(o.target, o.restic!.bucket, o.work);
  const logFile = join(o.work, `share-restic-${pass}.log`);
  if (pass === 'first') await runMeasured(o.restic!.bin, ['init'], { logFile, env });
  const cache = settle(o, root);
  const m = await runMeasured(o.restic!.bin, ['backup', '--quiet', root], { logFile, env });
  return { tool: 'restic', pass, cache, seconds: m.seconds, peakRssMb: peak(m), hwmMb: m.mainHwmMb, cpuSeconds: m.cpuSeconds, ok: m.code === 0, logFile };
}

/** Restores the newest snapshot twice, once the way restore worked before runs (one ranged GET per file), once with runs. */
async function restores(o: ShareOptions): Promise<RestoreRun[]> {
  const config = parseAgentConfig(readFileSync(o.config!, 'utf8'));
  const { store } = buildStore(config);
  const found = await findSnapshot(store, 'bench', 'share', new Date(Date.now() + 86_400_000));
  if (!found) throw new Error('share: no snapshot to restore');
  const out: RestoreRun[] = [];
  for (const [mode, runMaxBytes] of [['one GET per file', 0], ['runs of files', undefined]] as const) {
    const to = join(o.work, 'restore', mode.replace(/ /g, '-'));
    const started = performance.now();
    const r = await restoreTree({ blobs: store, manifest: found.manifest, to, runMaxBytes });
    out.push({ mode, seconds: (performance.now() - started) / 1000, gets: r.gets, files: r.files.restored, mb: r.bytesDownloaded / 1048576 });
    rmSync(to, { recursive: true, force: true });
  }
  return out;
}

export async function runShareBench(o: ShareOptions): Promise<{ runs: ShareRun[]; bytes: number; changed: number; restores: RestoreRun[] }> {
  const { root, bytes } = cachedShareTree(o.files, o.say, o.fileKb);
  o.say(`[share] ${o.files.toLocaleString('en-GB')} files, ${(bytes / 1048576).toFixed(1)} MB`);
  const runs: ShareRun[] = [await ferryPass(o, root, 'first')];
  if (o.restic) runs.push(await resticPass(o, root, 'first'));
  const changed = changeOnePercent(root, o.files, o.fileKb);
  runs.push(await ferryPass(o, root, 'second'));
  if (o.restic) runs.push(await resticPass(o, root, 'second'));
  const restored = (o.restores ?? o.files <= 200_000) && runs.every((r) => r.tool !== 'ferry' || r.ok) ? await restores(o) : [];
  for (const r of restored) o.say(`[share] restore, ${r.mode}: ${r.files.toLocaleString('en-GB')} files, ${r.mb.toFixed(1)} MB in ${r.gets.toLocaleString('en-GB')} GET(s), ${r.seconds.toFixed(1)} s`);
  return { runs, bytes, changed, restores: restored };
}

export function shareTable(files: number, bytes: number, changed: number, runs: ShareRun[]): string {
  const first = (tool: string) => runs.find((r) => r.tool === tool && r.pass === 'first');
  const rows = runs.map((r) => {
    const ratio = r.pass === 'second' && first(r.tool) ? `${((r.seconds / first(r.tool)!.seconds) * 100).toFixed(1)} %` : '';
    const own = r.snapshotSeconds === undefined ? '' : r.snapshotSeconds.toFixed(1);
    const ownFirst = first(r.tool)?.snapshotSeconds;
    const ownRatio = r.pass === 'second' && r.snapshotSeconds !== undefined && ownFirst ? `${((r.snapshotSeconds / ownFirst) * 100).toFixed(1)} %` : '';
    const cpuFirst = first(r.tool)?.cpuSeconds;
    const cpuRatio = r.pass === 'second' && cpuFirst ? `${((r.cpuSeconds / cpuFirst) * 100).toFixed(1)} %` : '';
    return [r.tool, r.pass, r.seconds.toFixed(1), ratio, own, ownRatio, r.cpuSeconds.toFixed(1), cpuRatio, r.filesRead === undefined ? '' : String(r.filesRead), r.peakRssMb.toFixed(0), r.hwmMb.toFixed(0), r.ok ? 'ok' : `FAILED (${r.logFile})`];
  });
  const head = ['tool', 'snapshot', 'seconds', 'of first', 'snapshot s (log)', 'of first', 'CPU s', 'of first', 'files read', 'peak RSS MB', 'VmHWM MB', ''];
  const widths = head.map((_, c) => Math.max(head[c]!.length, ...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    `share: ${files.toLocaleString('en-GB')} files, ${(bytes / 1048576).toFixed(1)} MB; second snapshot after ${changed.toLocaleString('en-GB')} files changed${runs[0]?.cache === 'cold' ? '; the kernel\'s caches dropped before every snapshot' : ''}`,
    line(head),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function restoreTable(runs: RestoreRun[]): string {
  if (runs.length === 0) return '';
  const base = runs[0]!.seconds;
  const rows = runs.map((r) => `| ${r.mode.padEnd(16)} | ${String(r.files).padStart(7)} | ${r.mb.toFixed(1).padStart(7)} | ${String(r.gets).padStart(7)} | ${r.seconds.toFixed(1).padStart(7)} | ${((base / r.seconds) || 0).toFixed(2).padStart(6)}× |`);
  return ['restore of the second snapshot (every file verified):', '| fetch            |   files |      MB |    GETs | seconds | speed-up |', '|------------------|---------|---------|---------|---------|----------|', ...rows].join('\n');
}
