import type { Command } from 'commander';
import { createS3Client } from '../adapters/aws-clients.ts';
import { S3BlobStore } from '../adapters/s3-blob-store.ts';
import type { BlobStore } from '../core/ports.ts';
import type { RestorePlan, RestorePlanResult, RestoreRefusal } from '../core/restore-plan.ts';
import { NO_LOG_SOURCE } from '../core/restore-source.ts';
import { ApiError, apiFor, cloudFor, configuredCloud, getJson, type CloudOptions } from './api-client.ts';
import { credentialsInUse, siteReads } from './site-access.ts';
import { bytePrinter, formatBytes } from './progress.ts';
import { fetchPlan, fullAsTaken, type FetchProgress, type FetchReport } from './restore-fetch.ts';
import { registerTreeRestoreCommand } from './tree-commands.ts';
import { interruptible } from './interrupt.ts';
import { checkAtText } from './at-time.ts';

// `ferry restore plan` and `ferry restore fetch`: the point-in-time plan from the catalogue
// API, then its files straight from S3. A secondary site runs the very same commands with
// `--site <primary>` and its own `--config`: its cloud block (or role) grants read-only
// access to the primary's prefixes. Exit 3 means "refused: T cannot be reached".

export const EXIT_REFUSED = 3;

export interface RestoreOptions extends CloudOptions {
  site: string;
  source: string;
  at: string;
  logSource?: string;
  json?: boolean;
}

export class RestoreRefusedError extends Error {
  constructor(readonly refusal: RestoreRefusal) {
    super(refusal.reason);
    this.name = 'RestoreRefusedError';
  }
}

export async function requestPlan(opts: RestoreOptions): Promise<RestorePlanResult> {
  // A time without a zone (or no time at all) is explained here, before the API refuses it.
  const params = new URLSearchParams({ at: checkAtText(opts.at) });
  if (opts.logSource) params.set('logSource', opts.logSource);
  const path = `/sites/${encodeURIComponent(opts.site)}/sources/${encodeURIComponent(opts.source)}/restore-plan?${params}`;
  try {
    return await getJson<RestorePlan>(apiFor(opts), path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 422 && error.body.ok === false) return error.body as unknown as RestoreRefusal;
    throw error;
  }
}

const short = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

export function renderPlan(p: RestorePlan): string {
  const state = fullAsTaken(p) ? `  the full as taken at ${p.reachedAt}, not the state at ${p.at}: no log segment is replayed` : `  state at ${p.at}; events from ${short(p.stopAt)} on are not applied`;
  const out = [`restore plan: site ${p.site}, source ${p.source}${p.logSource ? ` (logs: ${p.logSource})` : ''}`, state, ''];
  out.push(`files (${p.files.length}, ${formatBytes(p.totalBytes)}):`);
  const all = [p.full, ...p.segments, ...(p.others ?? [])];
  const rows = p.files.map((f, i) => {
    const a = all[i]!;
    const when = a.span ? `${short(a.span.from)} → ${short(a.span.to)}` : `taken ${short(a.takenAt)}`;
    return [f.role, f.name, formatBytes(f.size), when, f.partial ? 'partial' : '', `sha256 ${f.sha256.slice(0, 12)}…`];
  });
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) out.push(`  ${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}`);
  if (p.startPosition) out.push(`  replay starts at ${p.startPosition.logFile}:${p.startPosition.logPos} (recorded by the full)`);
  out.push('', 'commands (from the directory holding the files; `ferry restore fetch` writes them to apply.sh):', ...p.commands.map((c) => `  ${c}`));
  if (p.notes.length) out.push('', 'notes:', ...p.notes.map((n) => `  - ${n}`));
  return `${out.join('\n')}\n`;
}

export function renderRefusal(r: RestoreRefusal, opts: { site: string; source: string }): string {
  const near = r.nearestReachable ? `\n  nearest reachable time: ${r.nearestReachable}` : '\n  no time can be reached yet';
  return `ferry: cannot restore ${opts.source} of site ${opts.site} to ${r.at}: ${r.reason}${near}\n`;
}

function progressPrinter(stream: NodeJS.WriteStream = process.stderr): { update(p: FetchProgress): void; end(): void } {
  return bytePrinter((p: FetchProgress) => ({ bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, finished: p.bytesDone === p.bytesTotal, label: `file ${p.index + 1}/${p.files} ${p.file}` }), stream);
}

/**
 * The fetch's store: S3 (or the stand-in) as the configured cloud says; reads only. `directGets`
 * for a reader of whole ranges at once (`restore fetch`): its bodies are not paused for a slow
 * stream reader, so a reader that streams (the tree restore) keeps the SDK's usual transport.
 */
export function fetchStore(opts: CloudOptions & { site: string }, { directGets = false } = {}): Pick<BlobStore, 'get' | 'head' | 'list'> {
  const configured = configuredCloud(opts);
  const cloud = cloudFor(opts);
  const client = createS3Client({ region: cloud.region, endpoint: cloud.endpoint, credentials: cloud.credentials, directGets });
  // A DR role lists its primary's prefixes only: a missing key reads as 403 (readsWithoutList).
  const store = new S3BlobStore(client, cloud.bucket, { ...(cloud.endpoint ? { features: { verifiesChecksums: false, conditionalPut: false, md5ETags: true } } : {}), readsWithoutList: true });
  // A listing of another site's prefixes (a misspelt --site) is refused: named as such.
  const where = `in bucket ${cloud.bucket} ${cloud.endpoint ? `at ${cloud.endpoint}` : `(S3, ${cloud.region})`}`;
  return siteReads(store, { site: opts.site, where, credentials: credentialsInUse(cloud.credentials, configured?.credentials ? opts.config : undefined) });
}

export function renderFetch(r: FetchReport): string {
  const lines = r.files.map((f) => `  ${f.status.padEnd(8)} ${f.name} (${formatBytes(f.size)})`);
  const notes = r.notes.length ? `notes:\n${r.notes.map((n) => `  - ${n}`).join('\n')}\n` : '';
  return `fetched into ${r.dir} (${formatBytes(r.bytesDownloaded)} downloaded), every file verified against its SHA-256:\n${lines.join('\n')}\n  plan     ${r.planFile}\n  apply    ${r.script}\n${notes}`;
}

/** Plans through the API and fetches; a refusal throws RestoreRefusedError. */
export async function restoreFetch(opts: RestoreOptions & { to: string; freeBytes?: number; blobs?: Pick<BlobStore, 'get'>; onProgress?: (p: FetchProgress) => void; signal?: AbortSignal }): Promise<FetchReport> {
  const result = await requestPlan(opts);
  if (!result.ok) throw new RestoreRefusedError(result);
  // The fulls alone on request; a binlog source named "none" is still a source (its plan has a logSource).
  const logsLeftOut = opts.logSource === NO_LOG_SOURCE && result.logSource === undefined;
  return fetchPlan({ plan: result, dir: opts.to, blobs: opts.blobs ?? fetchStore(opts, { directGets: true }), freeBytes: opts.freeBytes, logsLeftOut, onProgress: opts.onProgress, ...(opts.signal ? { signal: opts.signal } : {}) });
}


function addCommon(cmd: Command): Command {
  return cmd
    .requiredOption('--site <site>', 'site whose database to restore (a DR site names the primary)')
    .requiredOption('--source <name>', 'the source of the full backups')
    .requiredOption('--at <time>', 'the time to restore to, ISO 8601 with a zone (e.g. 2026-03-01T14:05:00+01:00), or now')
    .option('--log-source <name>', 'the binlog source (default: found from the site: the only one, or the one the fulls\' positions name; none for fulls no binlog replays onto); "none": the fulls alone')
    .option('--json', 'JSON output')
    .option('--api <url>', 'catalogue API base URL')
    .option('-c, --config <file>', 'agent config whose cloud to use (a DR site: its own)');
}

function refused(r: RestoreRefusal, opts: RestoreOptions): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
  process.stderr.write(renderRefusal(r, opts));
  process.exitCode = EXIT_REFUSED;
}

export function registerRestoreCommands(program: Command): void {
  const restore = program.command('restore').description('point-in-time restore of a database from its offsite backups and logs, or of a file share (tree)');
  registerTreeRestoreCommand(restore);
  addCommon(restore.command('plan').description('which full backup and log segments reach T, and the commands to apply them')).action(async (opts: RestoreOptions) => {
    const result = await requestPlan(opts);
    if (!result.ok) return refused(result, opts);
    process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : renderPlan(result));
  });
  addCommon(restore.command('fetch').description("download the plan's files (verified, resumable) with restore-plan.json and apply.sh"))
    .requiredOption('--to <dir>', 'directory to download into (created if needed)')
    .action(async (opts: RestoreOptions & { to: string }) => {
      const injected = process.env.FERRY_TEST_FREE_BYTES;
      const bar = opts.json ? undefined : progressPrinter();
      try {
        const report = await interruptible((signal) => restoreFetch({ ...opts, freeBytes: injected === undefined ? undefined : Number(injected), onProgress: (p) => bar?.update(p), signal }), 'restore fetch');
        bar?.end();
        process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : renderFetch(report));
      } catch (error) {
        bar?.end();
        if (error instanceof RestoreRefusedError) return refused(error.refusal, opts);
        throw error;
      }
    });
}
