import { InvalidInputError, NotFoundError } from './errors.ts';
import { ARTEFACT_CLASS, sitePrefix, type ArtefactSourceType } from './layout.ts';
import type { ArtefactEntry, ArtefactQuery, ArtefactSourceRecord, BlobStore, CatalogueStore } from './ports.ts';
import { parseLogFile, planRestore, type RestorePlanResult } from './restore-plan.ts';
import { loadStep } from './restore-commands.ts';
import { collectPages } from './paging.ts';

// Reads what a restore plan needs from the catalogue: the fulls of the database's backup
// source and the segments of its binlog source. Full backups (a `rotated` source) and binlogs
// (a `binlog` source) are shipped by two sources; the binlog source is the one named, else
// the site's only one, else the one whose series the fulls' recorded positions name; none for
// fulls no binlog can be replayed onto (a SQL Server `.bak`, a CVP backup), or when `none` is named.

export type RestoreCatalogue = Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources'>;

export interface RestoreRequest {
  site: string;
  source: string;
  /** The binlog source; found automatically when absent. */
  logSource?: string;
  at: string;
  now: Date;
}

export async function listAllArtefacts(catalogue: Pick<CatalogueStore, 'listArtefacts'>, query: Omit<ArtefactQuery, 'cursor' | 'limit'>): Promise<ArtefactEntry[]> {
  return collectPages((cursor) => catalogue.listArtefacts({ ...query, limit: 1000, cursor }));
}

const names = (records: ArtefactSourceRecord[]) => records.map((r) => r.source).join(', ') || 'none';

/** `--log-source none`: the fulls alone, as taken, whatever binlog sources the site has. */
export const NO_LOG_SOURCE = 'none';

/**
 * Whether binlogs can be replayed onto these fulls: one recorded a binlog position, or is a
 * MySQL/MariaDB dump (loaded with the client, restore-commands.ts). A SQL Server `.bak`, an
 * LCSCmd export or a CVP backup at a site that also ships MySQL binlogs is not paired with them.
 */
function takesBinlogs(fulls: readonly ArtefactEntry[]): boolean {
  return fulls.some((f) => f.position !== undefined || loadStep(f, f.name).kind === 'load-sql');
}

/** The binlog source that goes with these fulls, or undefined when the site has none (or none fits them, or `none` is asked for). */
export function pairLogSource(sources: ArtefactSourceRecord[], fulls: ArtefactEntry[], explicit?: string): string | undefined {
  const binlogs = sources.filter((s) => s.sourceType === 'binlog');
  if (explicit === NO_LOG_SOURCE && !binlogs.some((s) => s.source === explicit)) return undefined;
  if (explicit !== undefined) {
    if (!binlogs.some((s) => s.source === explicit)) throw new NotFoundError(`no binlog source "${explicit}" has shipped segments (binlog sources: ${names(binlogs)}; or "${NO_LOG_SOURCE}" for the fulls alone)`);
    return explicit;
  }
  if (!takesBinlogs(fulls)) return undefined;
  if (binlogs.length <= 1) return binlogs[0]?.source;
  const series = new Set(fulls.flatMap((f) => (f.position ? [parseLogFile(f.position.logFile)?.series] : [])));
  const matching = binlogs.filter((s) => s.series !== undefined && series.has(s.series));
  if (matching.length === 1) return matching[0]!.source;
  throw new InvalidInputError(`site has several binlog sources (${names(binlogs)}): name the one that goes with ${fulls[0]?.source ?? 'this source'}`);
}

/**
 * A source the catalogue does not know but whose manifests are in the bucket (their ingest
 * failed): what to say instead of "no such source", with the command that catalogues them.
 * One LIST of one key per artefact class, asked only when the catalogue has no such source.
 */
async function uncataloguedSourceProblem(bucket: Pick<BlobStore, 'list'>, req: RestoreRequest): Promise<string | undefined> {
  for (const type of Object.keys(ARTEFACT_CLASS) as ArtefactSourceType[]) {
    const prefix = `${sitePrefix('manifests', req.site)}${ARTEFACT_CLASS[type]}/${req.source}/`;
    for await (const info of bucket.list(prefix, { pageSize: 1 })) {
      return `site ${req.site} has manifests of source "${req.source}" in the bucket (${info.key}, …) but none in the catalogue: their ingest failed, so no restore plan can use them; run \`ferry catalogue rebuild --site ${req.site}\` to catalogue them, then plan again`;
    }
  }
  return undefined;
}

/** The plan (or refusal) for one database at T, from the catalogue. NotFoundError for an unknown source (saying so when the bucket holds its manifests, `bucket` given). */
export async function planRestoreFromCatalogue(catalogue: RestoreCatalogue, req: RestoreRequest, bucket?: Pick<BlobStore, 'list'>): Promise<RestorePlanResult> {
  const sources = await catalogue.listArtefactSources(req.site);
  const own = sources.find((s) => s.source === req.source);
  if (!own) throw new NotFoundError((bucket && (await uncataloguedSourceProblem(bucket, req))) ?? `site ${req.site} has no source "${req.source}" with shipped artefacts (sources: ${names(sources)})`);
  if (own.sourceType === 'archive') {
    // Closed archives (rostrvm's .sdb): the ones whose span holds T, fetched as shipped.
    const archives = await listAllArtefacts(catalogue, { site: req.site, source: req.source, role: 'archive' });
    return planRestore(archives, { at: req.at, now: req.now, site: req.site, source: req.source, fullOnly: true });
  }
  if (own.sourceType !== 'rotated') throw new InvalidInputError(`"${req.source}" is a ${own.sourceType} source: name the source of the full backups (${names(sources.filter((s) => s.sourceType === 'rotated'))})`);
  const fulls = await listAllArtefacts(catalogue, { site: req.site, source: req.source, role: 'full' });
  const logSource = pairLogSource(sources, fulls, req.logSource);
  let segments: ArtefactEntry[] = [];
  if (logSource !== undefined) {
    // Segments older than every full's position can never be replayed: skip them when that is certain.
    const positions = fulls.map((f) => f.position && parseLogFile(f.position.logFile));
    const seqs = positions.every((p) => p !== undefined) && new Set(positions.map((p) => p!.series)).size === 1 ? positions.map((p) => p!.sequence) : [];
    const fromSequence = seqs.length ? Math.min(...seqs) : undefined;
    segments = await listAllArtefacts(catalogue, { site: req.site, source: logSource, role: 'segment', ...(fromSequence === undefined ? {} : { fromSequence }) });
  }
  return planRestore([...fulls, ...segments], { at: req.at, now: req.now, site: req.site, source: req.source, ...(logSource ? { logSource } : { fullOnly: true, logsLeftOut: req.logSource === NO_LOG_SOURCE }) });
}
