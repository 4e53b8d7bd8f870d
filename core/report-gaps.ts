import { parseArtefactManifest } from './artefact.ts';
import { findCatalogueGaps, type GapDeps, type GapSource } from './catalogue-gaps.ts';
import { artefactEntryOf } from './ingest-artefact.ts';
import { logGapsOf, type LogGap } from './log-gaps.ts';
import type { ArtefactEntry, ArtefactSourceRecord, BlobStore, CatalogueStore } from './ports.ts';
import { within } from './report-keys.ts';
import { readSmallObject } from './read-small.ts';
import { hhmm } from './report-render.ts';
import type { AgentSignals, ExpectedSource, SiteDayFacts } from './report.ts';
import { parseTreeSnapshotManifest, snapshotSummary, type SnapshotSummary } from './tree-manifest.ts';

// The daily report's backups and tree snapshots that the catalogue lacks (their ingest failed):
// read from the bucket for the report's days (core/catalogue-gaps.ts), judged as the copies they
// are (offsite: the source's schedule is met) and named as not catalogued, with the command that
// repairs it. Without this a source whose manifests never reached the catalogue did not exist
// for the report (FULL without it), or was "not offsite", sending the operator to the site.

export interface UncataloguedCopy {
  source: string;
  kind: 'artefact' | 'snapshot';
  key: string;
}

export interface CopyGaps {
  artefacts: ArtefactEntry[];
  snapshots: SnapshotSummary[];
  missing: UncataloguedCopy[];
}

/**
 * The uncatalogued artefact and snapshot manifests of the days written by `writtenBefore`, read
 * and counted as copies; those written after `ingestingAfter` (an hour before the report: their
 * ingest may be under way, as when the report runs just after the day ends) are not named as
 * missing from the catalogue.
 */
export async function gatherCopyGaps(
  deps: { blobs: Pick<BlobStore, 'list' | 'head' | 'get'>; catalogue: Pick<GapDeps['catalogue'], 'listArtefacts' | 'listSnapshots'> },
  query: { site: string; days: string[]; sources: GapSource[]; writtenBefore: number; ingestingAfter: number },
): Promise<CopyGaps> {
  const out: CopyGaps = { artefacts: [], snapshots: [], missing: [] };
  // Packs: core/report-packs.ts (uncataloguedPacks).
  const { ingestingAfter, ...gapQuery } = query;
  for (const gap of await findCatalogueGaps(deps, { ...gapQuery, packs: false })) {
    const bytes = await readSmallObject(deps.blobs, gap.key, 16 * 1024 * 1024, 'manifest');
    if (gap.kind === 'artefact') out.artefacts.push(artefactEntryOf(parseArtefactManifest(bytes), gap.key));
    else out.snapshots.push(snapshotSummary(parseTreeSnapshotManifest(bytes), gap.key));
    // One written in the last hour is offsite and counted, but its ingest is still under way: not named as failed.
    if (gap.writtenAt !== undefined && gap.writtenAt > ingestingAfter) continue;
    out.missing.push({ source: gap.source!, kind: gap.kind === 'artefact' ? 'artefact' : 'snapshot', key: gap.key });
  }
  return out;
}

/**
 * What the report says of a backup or tree source's copies the catalogue lacks: the manifests it
 * found, or (none found in its days) the agent's word that it shipped one when the catalogue
 * has no copy of the source at all. `instead`: the source's schedule cannot be judged (the
 * catalogue has nothing), so this replaces "not offsite".
 */
export function catalogueGapProblems(source: string, f: SiteDayFacts): { problems: string[]; instead: boolean } {
  const fix = `run \`ferry catalogue rebuild --site ${f.site}\``;
  const mine = (f.uncataloguedCopies ?? []).filter((c) => c.source === source);
  if (mine.length > 0) {
    const what = mine[0]!.kind === 'artefact' ? 'copy(ies)' : 'snapshot(s)';
    return { problems: [`${mine.length} ${what} shipped but not in the catalogue (its ingest failed): no restore plan or listing finds them; ${fix} (first: ${mine[0]!.key})`], instead: false };
  }
  const said = f.signals?.lastShipped?.find((l) => l.source === source && l.type !== undefined && l.type !== 'recordings');
  if (!said || f.newest[source] !== undefined || f.newestSnapshot[source] !== undefined) return { problems: [], instead: false };
  return { problems: [`its agent says ${said.key} shipped at ${hhmm(said.at)}, but the catalogue has no copy of this source (its ingest failed): no restore plan finds it; ${fix}`], instead: true };
}

// ---- gathering: the report's backup and tree facts, the catalogue's and the bucket's ----

async function allArtefacts(catalogue: Pick<CatalogueStore, 'listArtefacts'>, site: string, source: string): Promise<ArtefactEntry[]> {
  const out: ArtefactEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await catalogue.listArtefacts({ site, source, limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return out;
}

export const isCopySourceType = (t: string | undefined): t is GapSource['type'] => t === 'rotated' || t === 'binlog' || t === 'archive' || t === 'tree';

/** The backup and tree sources whose days are read from the bucket: the catalogue's and those the agent's heartbeat names. */
export function sourcesToCheck(records: ArtefactSourceRecord[], treeSources: string[], signals: AgentSignals | undefined): GapSource[] {
  const found = new Map<string, GapSource>();
  for (const r of records) found.set(r.source, { name: r.source, type: r.sourceType });
  for (const name of treeSources) found.set(name, { name, type: 'tree' });
  for (const [name, type] of Object.entries(signals?.sourceTypes ?? {})) if (!found.has(name) && isCopySourceType(type)) found.set(name, { name, type });
  return [...found.values()];
}

export function mergeSnapshotGaps(gaps: SnapshotSummary[], into: Pick<SiteDayFacts, 'snapshots' | 'newestSnapshot'> & { expected: Map<string, ExpectedSource> }, start: number, judged: number): void {
  for (const s of gaps) {
    if (Date.parse(s.takenAt) > judged) continue;
    if (!into.expected.has(s.source)) into.expected.set(s.source, { name: s.source, type: 'tree' });
    if (!into.newestSnapshot[s.source] || s.takenAt > into.newestSnapshot[s.source]!) into.newestSnapshot[s.source] = s.takenAt;
    if (within(s.takenAt, start, judged + 1)) into.snapshots.push({ source: s.source, takenAt: s.takenAt, problems: s.problems, ...(s.massChange ? { massChange: s.massChange } : {}) });
  }
}

/** Every backup, segment and archive source's copies up to the judging time: the catalogue's, and those of the days it lacks. */
export async function gatherArtefacts(catalogue: Pick<CatalogueStore, 'listArtefacts'>, site: string, records: ArtefactSourceRecord[], uncatalogued: ArtefactEntry[], expected: Map<string, ExpectedSource>, start: number, judged: number) {
  const artefacts: ArtefactEntry[] = [];
  const newest: SiteDayFacts['newest'] = {};
  const logGaps: LogGap[] = [];
  const lastCopy = new Map<string, number>();
  const sources = new Map<string, ArtefactEntry['sourceType']>(records.map((r) => [r.source, r.sourceType]));
  for (const a of uncatalogued) if (!sources.has(a.source)) sources.set(a.source, a.sourceType);
  for (const [source, sourceType] of sources) {
    const known = records.some((r) => r.source === source) ? await allArtefacts(catalogue, site, source) : [];
    const all = [...known, ...uncatalogued.filter((a) => a.source === source)].filter((a) => Date.parse(a.createdAt) <= judged);
    // A source is expected from its first shipped copy on: the day before a site was installed is not a failed day.
    if (all.length === 0) continue;
    expected.set(source, { name: source, type: sourceType });
    lastCopy.set(source, Math.max(...all.map((a) => Date.parse(a.createdAt))));
    artefacts.push(...all.filter((a) => within(a.createdAt, start, judged + 1)));
    logGaps.push(...logGapsOf(source, all.filter((a) => a.role === 'segment'), start, judged + 1));
    const at = (a: ArtefactEntry) => Date.parse(a.role === 'segment' ? (a.span?.to ?? a.takenAt) : a.takenAt);
    newest[source] = [...all].sort((a, b) => at(b) - at(a))[0];
  }
  return { artefacts, newest, logGaps, lastCopy };
}

/** A backup or tree source its agent says it shipped (by the judging time) is expected, even when the catalogue never heard of it. */
export function expectShippedCopies(expected: Map<string, ExpectedSource>, signals: AgentSignals | undefined, judged: number): void {
  for (const l of signals?.lastShipped ?? []) {
    if (!expected.has(l.source) && isCopySourceType(l.type) && Date.parse(l.at) <= judged) expected.set(l.source, { name: l.source, type: l.type });
  }
}
