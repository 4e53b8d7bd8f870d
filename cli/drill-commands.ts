import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageOf } from '../core/errors.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import { drillKey, putOnce } from '../core/report-keys.ts';
import type { DrillResult } from '../core/report.ts';
import { listAllArtefacts, pairLogSource, planRestoreFromCatalogue } from '../core/restore-source.ts';
import { catalogueTarget } from './catalogue-commands.ts';
import { fetchPlan } from './restore-fetch.ts';

// `ferry drill`: a restore drill of one database source. Plans the latest point it can reach
// (the newest shipped binlog event, or the newest full when it has no logs), fetches every
// file of the plan into a scratch directory and checks each against its SHA-256, exactly as a
// real restore would, then deletes the scratch copy. The result is kept under
// reports/{site}/drills/, where the daily report finds it.

export interface DrillOptions {
  site: string;
  source: string;
  logSource?: string;
  /** Where to fetch to (kept); default: a temporary directory, deleted afterwards. */
  dir?: string;
  now?: () => Date;
}

export async function runDrill(deps: { blobs: Pick<BlobStore, 'get'>; catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources'> }, opts: DrillOptions): Promise<DrillResult> {
  const now = opts.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const problems: string[] = [];
  let target: string | undefined;
  let artefacts = 0;
  let bytes = 0;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'ferry-drill-')));
  try {
    const sources = await deps.catalogue.listArtefactSources(opts.site);
    const fulls = await listAllArtefacts(deps.catalogue, { site: opts.site, source: opts.source, role: 'full' });
    const own = sources.find((s) => s.source === opts.source);
    const logSource = own?.sourceType === 'rotated' ? pairLogSource(sources, fulls, opts.logSource) : undefined;
    const segments = logSource ? (await listAllArtefacts(deps.catalogue, { site: opts.site, source: logSource, role: 'segment' })).filter((s) => !s.partial) : [];
    const ends = [...segments.map((s) => s.span?.to ?? s.takenAt), ...(segments.length === 0 ? fulls.map((f) => f.takenAt) : [])].sort();
    const at = ends.at(-1) ?? startedAt;
    const plan = await planRestoreFromCatalogue(deps.catalogue, { site: opts.site, source: opts.source, at, now: now(), ...(opts.logSource ? { logSource: opts.logSource } : {}) });
    if (!plan.ok) {
      problems.push(`no restore plan reaches ${at}: ${plan.reason}`);
    } else {
      target = `${plan.reachedAt} from ${plan.full.name}${plan.segments.length ? ` + ${plan.segments.length} segment(s) of ${plan.logSource}` : ''}`;
      const fetched = await fetchPlan({ plan, dir, blobs: deps.blobs });
      artefacts = fetched.files.length;
      bytes = plan.totalBytes;
    }
  } catch (error) {
    problems.push(messageOf(error));
  } finally {
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
  return { format: 'ferry.drill/1', site: opts.site, source: opts.source, startedAt, finishedAt: now().toISOString(), ok: problems.length === 0, ...(target ? { target } : {}), artefacts, bytes, problems };
}

export async function recordDrill(blobs: Pick<BlobStore, 'put'>, result: DrillResult): Promise<string> {
  return putOnce(blobs, drillKey(result.site, result.source, result.startedAt), Buffer.from(`${JSON.stringify(result, null, 1)}\n`), 'application/json');
}

export function renderDrill(r: DrillResult): string {
  const head = r.ok
    ? `OK: ${r.site}/${r.source} restored to ${r.target}: ${r.artefacts} file(s), ${r.bytes} bytes fetched and verified against their SHA-256`
    : `FAILED: ${r.site}/${r.source}: ${r.problems.join('; ')}`;
  return `${head}\n`;
}

export function registerDrillCommands(program: Command): void {
  program
    .command('drill')
    .description('restore drill: plan the latest point of a database source, fetch every file and verify its SHA-256; the result goes to the daily report')
    .requiredOption('--site <site>', 'site')
    .requiredOption('--source <name>', 'the source of the full backups')
    .option('--log-source <name>', 'the binlog source (default: found from the site)')
    .option('--dir <dir>', 'fetch into this directory and keep it (default: a temporary directory, deleted)')
    .option('--json', 'JSON output')
    .action(async (opts: { site: string; source: string; logSource?: string; dir?: string; json?: boolean }) => {
      const deps = catalogueTarget();
      const result = await runDrill(deps, opts);
      const key = await recordDrill(deps.blobs, result);
      process.stdout.write(opts.json ? `${JSON.stringify({ ...result, recordedAt: key }, null, 2)}\n` : `${renderDrill(result)}recorded: ${key}\n`);
      process.exitCode = result.ok ? 0 : 1;
    });
}
