import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageOf } from '../core/errors.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import { drillKey, putOnce } from '../core/report-keys.ts';
import type { DrillResult } from '../core/report.ts';
import { listAllArtefacts, pairLogSource, planRestoreFromCatalogue } from '../core/restore-source.ts';
import { catalogueTarget } from './catalogue-commands.ts';
import { recordOrSay } from './record-result.ts';
import { fetchPlan } from './restore-fetch.ts';

// `ferry drill`: a restore drill of one database source. Plans the latest point it can reach
// (the newest shipped binlog event, or the newest full when it has no logs), fetches every
// file of the plan into a scratch directory and checks each against its SHA-256, exactly as a
// real restore would, then deletes the scratch copy. The result is kept under
// reports/{site}/drills/, where the daily report finds it. With a scratch database, the plan's
// own apply.sh is run against it and a check query must answer.

/** `mariadb://user:password@host:port` or `mariadb://user@localhost?socket=/path` (mysql:// the same) → client command and environment. */
export function scratchClient(dsn: string): { command: string; env: Record<string, string> } {
  let url: URL;
  try {
    url = new URL(dsn);
  } catch {
    throw new RangeError(`--scratch-db "${dsn}" must be a URL such as mariadb://root@localhost?socket=/run/mysqld/mysqld.sock or mysql://user:password@host:3306`);
  }
  const family = url.protocol.replace(/:$/, '');
  if (family !== 'mariadb' && family !== 'mysql') throw new RangeError(`--scratch-db "${dsn}" must start with mariadb:// or mysql://`);
  const args = ['--no-defaults', `--user=${decodeURIComponent(url.username || 'root')}`];
  const socket = url.searchParams.get('socket');
  if (socket) args.push(`--socket=${socket}`);
  else args.push(`--host=${url.hostname || '127.0.0.1'}`, `--port=${url.port || '3306'}`);
  if (args.some((a) => !/^[A-Za-z0-9._/:=@%+-]+$/.test(a))) throw new RangeError(`--scratch-db "${dsn}" has characters a client argument cannot carry`);
  // The password goes through the environment (MYSQL_PWD), never on a command line.
  return { command: `${family} ${args.join(' ')}`, env: url.password ? { MYSQL_PWD: decodeURIComponent(url.password) } : {} };
}

function sh(script: string, args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script, 'drill', ...args], { cwd, env: { ...process.env, ...env }, timeout: 30 * 60_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs the plan's apply.sh against the scratch database, then the check query; problems are returned, not thrown. */
async function applyToScratch(dir: string, scratch: { dsn: string; check: string }): Promise<{ result?: string; problems: string[] }> {
  const client = scratchClient(scratch.dsn);
  const applied = await sh('./apply.sh', [], { ...client.env, MARIADB: client.command, MYSQL: client.command }, dir);
  if (applied.code !== 0) return { problems: [`apply.sh failed on the scratch database (exit ${applied.code}): ${applied.stderr.trim().split('\n').slice(-3).join(' / ')}`] };
  // $1 is the client command, split into words on purpose; the query is one argument.
  const checked = await sh('$1 --batch --skip-column-names -e "$2"', [client.command, scratch.check], client.env, dir);
  if (checked.code !== 0) return { problems: [`check query failed on the scratch database: ${checked.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${checked.code}`}`] };
  return { result: checked.stdout.trim(), problems: [] };
}

export interface DrillOptions {
  site: string;
  source: string;
  logSource?: string;
  /** Where to fetch to (kept); default: a temporary directory, deleted afterwards. */
  dir?: string;
  /** A scratch database to apply the fetched plan to (its apply.sh), then run `check` on it. Never a production server. */
  scratch?: { dsn: string; check: string };
  now?: () => Date;
}

export async function runDrill(deps: { blobs: Pick<BlobStore, 'get'>; catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources'> }, opts: DrillOptions): Promise<DrillResult> {
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const problems: string[] = [];
  let target: string | undefined;
  let artefacts = 0;
  let bytes = 0;
  let applied: DrillResult['applied'];
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'ferry-drill-')));
  try {
    const sources = await deps.catalogue.listArtefactSources(opts.site);
    const fulls = await listAllArtefacts(deps.catalogue, { site: opts.site, source: opts.source, role: 'full' });
    const own = sources.find((s) => s.source === opts.source);
    const logSource = own?.sourceType === 'rotated' ? pairLogSource(sources, fulls, opts.logSource) : undefined;
    // The newest point anything shipped reaches: the last shipped log event (a partial snapshot's
    // too, as `restore plan` uses them), or the newest full when it completed after that event
    // (a quiet database's nightly dump). When that full cannot be reached (its chain does not
    // reach its own second), the last event is drilled instead, as a restore to "now" would be.
    const segments = logSource ? await listAllArtefacts(deps.catalogue, { site: opts.site, source: logSource, role: 'segment' }) : [];
    const lastEvent = segments.map((s) => s.span?.to ?? s.takenAt).sort().at(-1);
    const newestFull = fulls.map((f) => f.takenAt).sort().at(-1);
    const planAt = (at: string) => planRestoreFromCatalogue(deps.catalogue, { site: opts.site, source: opts.source, at, now: now(), ...(opts.logSource ? { logSource: opts.logSource } : {}) });
    let at = [lastEvent, newestFull].filter((t): t is string => t !== undefined).sort().at(-1) ?? startedAt;
    let plan = await planAt(at);
    if (!plan.ok && at === newestFull && lastEvent !== undefined && lastEvent < newestFull) {
      const older = await planAt(lastEvent);
      if (older.ok) [at, plan] = [lastEvent, older];
    }
    if (!plan.ok) {
      problems.push(`no restore plan reaches ${at}: ${plan.reason}`);
    } else {
      target = `${plan.reachedAt} from ${plan.full.name}${plan.segments.length ? ` + ${plan.segments.length} segment(s) of ${plan.logSource}` : ''}`;
      const fetched = await fetchPlan({ plan, dir, blobs: deps.blobs });
      artefacts = fetched.files.length;
      bytes = plan.totalBytes;
      if (opts.scratch) {
        const outcome = await applyToScratch(dir, opts.scratch);
        problems.push(...outcome.problems);
        applied = { dsn: opts.scratch.dsn.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@'), check: opts.scratch.check, result: outcome.result ?? '' };
      }
    }
  } catch (error) {
    problems.push(messageOf(error));
  } finally {
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
  return { format: 'ferry.drill/1', site: opts.site, source: opts.source, startedAt, finishedAt: now().toISOString(), ok: problems.length === 0, ...(target ? { target } : {}), artefacts, bytes, ...(applied ? { applied } : {}), problems };
}

export async function recordDrill(blobs: Pick<BlobStore, 'put'>, result: DrillResult): Promise<string> {
  return putOnce(blobs, drillKey(result.site, result.source, result.startedAt), Buffer.from(`${JSON.stringify(result, null, 1)}\n`), 'application/json');
}

export function renderDrill(r: DrillResult): string {
  const head = r.ok
    ? `OK: ${r.site}/${r.source} restored to ${r.target}: ${r.artefacts} file(s), ${r.bytes} bytes fetched and verified against their SHA-256${r.applied ? `; applied to ${r.applied.dsn}, check answered: ${r.applied.result}` : ''}`
    : `FAILED: ${r.site}/${r.source}: ${r.problems.join('; ')}`;
  return `${head}\n`;
}

export function registerDrillCommands(program: Command): void {
  program
    .command('drill')
    .description('restore drill: plan the latest point of a database source, fetch every file and verify its SHA-256; the result goes to the daily report')
    .requiredOption('--site <site>', 'site')
    .requiredOption('--source <name>', 'the source of the full backups')
    .option('--log-source <name>', 'the binlog source (default: found from the site: the only one, or the one the fulls\' positions name; none for fulls no binlog replays onto); "none": the fulls alone')
    .option('--dir <dir>', 'fetch into this directory and keep it (default: a temporary directory, deleted)')
    .option('--scratch-db <url>', 'a scratch MariaDB/MySQL to apply the plan to, e.g. mariadb://root@localhost?socket=/run/mysqld/mysqld.sock (never a production server)')
    .option('--check <sql>', 'query the scratch database must answer after the apply', 'SELECT 1')
    .option('--json', 'JSON output')
    .action(async (opts: { site: string; source: string; logSource?: string; dir?: string; scratchDb?: string; check: string; json?: boolean }) => {
      if (opts.scratchDb) scratchClient(opts.scratchDb);
      const deps = catalogueTarget();
      const { scratchDb, check, ...rest } = opts;
      const result = await runDrill(deps, { ...rest, ...(scratchDb ? { scratch: { dsn: scratchDb, check } } : {}) });
      const key = await recordOrSay(() => recordDrill(deps.blobs, result), 'the drill', `reports/${opts.site}/drills/`);
      process.stdout.write(opts.json ? `${JSON.stringify({ ...result, ...(key ? { recordedAt: key } : {}) }, null, 2)}\n` : `${renderDrill(result)}${key ? `recorded: ${key}\n` : ''}`);
      process.exitCode = result.ok && key ? 0 : 1;
    });
}
