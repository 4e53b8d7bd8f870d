import type { BlobStore, CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { expectShippedCopies, gatherArtefacts, gatherCopyGaps, mergeSnapshotGaps, sourcesToCheck } from './report-gaps.ts';
import { REPORT_LOOKBACK_DAYS } from './report-judges.ts';
import { dayBounds, drillPrefix, utcDaysCovering, within } from './report-keys.ts';
import { gatherPacks, uncataloguedPacks } from './report-packs.ts';
import type { AgentSignals, DrillResult, ExpectedSource, SiteDayFacts } from './report.ts';
import { readScrubs, type ScrubResult } from './verify.ts';
import { readOverdueErasures } from './erasure-overdue.ts';
import type { ErasureStore } from './erasure-items.ts';
import type { PackManifest } from './manifest.ts';
import { gatherCollisions } from './report-collisions.ts';

// The daily report's facts of one site's day, read from the catalogue and the bucket
// (core/report.ts judges them).

const HOUR = 3_600_000;

export interface GatherOptions {
  now?: () => Date;
  /** Per-source overrides of the defaults (everyHours, rpoMinutes, maxUnshippedHours), or extra sources expected. */
  expect?: ExpectedSource[];
  /** What the agent reported about itself for the day, when the cloud has it. */
  signals?: (site: string, day: string, timeZone?: string) => Promise<AgentSignals | undefined>;
  /**
   * The site's own zone (IANA; the deployment's `sites[].timeZone`, default UTC): the day is its
   * local day, midnight to midnight there (23 or 25 hours when the clocks change).
   */
  timeZone?: string;
  /** Days before the report's day whose packs make a recordings source expected (default 2); a source that left the agent's configuration is expected as long. */
  lookbackDays?: number;
  /** The first day (YYYY-MM-DD) the site no longer ships (the deployment's `retired`): its reports from that day on say RETIRED. */
  retired?: string;
  /** Where the site's erasure requests are read: one pending past ERASURE_WARN_DAYS is named (core/erasure-overdue.ts). */
  erasures?: Pick<ErasureStore, 'listErasures'>;
}

async function gatherSnapshots(catalogue: Pick<CatalogueStore, 'listSnapshots'>, site: string, start: number, judged: number, expected: Map<string, ExpectedSource>) {
  const snapshots: SiteDayFacts['snapshots'] = [];
  const newestSnapshot: SiteDayFacts['newestSnapshot'] = {};
  let cursor: string | undefined;
  do {
    const page = await catalogue.listSnapshots({ site, at: new Date(judged).toISOString(), limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const s of page.items) {
      if (!expected.has(s.source)) expected.set(s.source, { name: s.source, type: 'tree' });
      if (!newestSnapshot[s.source] || s.takenAt > newestSnapshot[s.source]!) newestSnapshot[s.source] = s.takenAt;
      if (within(s.takenAt, start, judged + 1)) snapshots.push({ source: s.source, takenAt: s.takenAt, problems: s.problems, ...(s.massChange ? { massChange: s.massChange } : {}) });
    }
    cursor = page.cursor;
  } while (cursor);
  return { snapshots, newestSnapshot };
}

/**
 * The sources the heartbeat that speaks for the day no longer names (the agent's configuration
 * dropped them): one whose last copy is older than `from` is not expected any more, the others
 * are marked as having left. Recordings sources are already expected only while a pack of theirs
 * is among the report's days (or the agent names them), so backups and trees now end the same
 * way: removing a source from the agent's configuration ends what the report expects of it after
 * those days, whatever its type. Without a heartbeat nothing is known to have left.
 */
function markLeftSources(expected: Map<string, ExpectedSource>, signals: AgentSignals | undefined, lastCopy: ReadonlyMap<string, number>, from: number, days: number): void {
  if (!signals?.sources || signals.heartbeatAt === undefined) return;
  const named = new Set(signals.sources);
  for (const [name, e] of expected) {
    if (named.has(name)) continue;
    const last = lastCopy.get(name);
    if (e.type !== 'recordings' && (last === undefined || last < from)) expected.delete(name);
    else e.left = { heartbeatAt: signals.heartbeatAt, days };
  }
}

/** The scrubs and drills that started in the day: kept under the UTC day they started, so a local day's are read from the days it touches. */
async function dayChecks(blobs: Pick<BlobStore, 'list' | 'get'>, site: string, start: number, end: number): Promise<{ scrubs: ScrubResult[]; drills: DrillResult[] }> {
  const scrubs: ScrubResult[] = [];
  const drills: DrillResult[] = [];
  for (const d of utcDaysCovering(start, end)) {
    scrubs.push(...(await readScrubs(blobs, site, d)).filter((r) => within(r.startedAt, start, end)));
    for await (const info of blobs.list(drillPrefix(site, d))) {
      if (!info.key.endsWith('.json')) continue;
      const drill = JSON.parse((await readSmallObject(blobs, info.key, 1024 * 1024, 'drill result')).toString('utf8')) as DrillResult;
      if (within(drill.startedAt, start, end)) drills.push(drill);
    }
  }
  return { scrubs, drills };
}

/** The site's erasure requests pending past ERASURE_WARN_DAYS when the day is judged, or why they could not be read. */
async function overdueFacts(store: GatherOptions['erasures'], site: string, judged: number): Promise<Pick<SiteDayFacts, 'erasures' | 'erasuresUnread'>> {
  if (!store) return {};
  const read = await readOverdueErasures(store, site, judged);
  if (read.problem !== undefined) return { erasuresUnread: read.problem };
  return read.overdue.length ? { erasures: read.overdue } : {};
}

/** Reads what the catalogue and the bucket hold about one site's day. */
export async function gatherSiteDay(
  deps: { blobs: Pick<BlobStore, 'list' | 'get' | 'head'>; catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources' | 'listSnapshots'> & Partial<Pick<CatalogueStore, 'getPack' | 'packKeysOf' | 'getRecordings'>> },
  site: string,
  day: string,
  options: GatherOptions = {},
): Promise<SiteDayFacts> {
  const timeZone = options.timeZone ?? 'UTC';
  const { start, end } = dayBounds(day, timeZone);
  const now = (options.now ?? (() => new Date()))().getTime();
  if (start > now) throw new RangeError(`date ${day} has not begun yet (now ${new Date(now).toISOString()}): a day is reported from its start on`);
  const judged = Math.min(end, now);
  const expected = new Map<string, ExpectedSource>();

  const lookback = options.lookbackDays ?? REPORT_LOOKBACK_DAYS;
  const ofDay: { key: string; manifest: PackManifest }[] = [];
  const packs = await gatherPacks(deps.blobs, site, utcDaysCovering(start - lookback * 24 * HOUR, end), start, judged, expected, ofDay);
  const uncatalogued = await uncataloguedPacks(deps.catalogue, site, packs, now);
  const collisions = await gatherCollisions(deps, ofDay);
  const signals = await options.signals?.(site, day, timeZone);

  const records = await deps.catalogue.listArtefactSources(site);
  const { snapshots, newestSnapshot } = await gatherSnapshots(deps.catalogue, site, start, judged, expected);
  // What the bucket holds of the days that the catalogue lacks: judged as the copies they are, and named.
  const gapSources = sourcesToCheck(records, Object.keys(newestSnapshot), signals);
  const gaps = await gatherCopyGaps(deps, { site, days: utcDaysCovering(start - lookback * 24 * HOUR, end), sources: gapSources, writtenBefore: now, ingestingAfter: now - HOUR });
  mergeSnapshotGaps(gaps.snapshots, { snapshots, newestSnapshot, expected }, start, judged);
  const { artefacts, newest, logGaps, lastCopy } = await gatherArtefacts(deps.catalogue, site, records, gaps.artefacts, expected, start, judged);
  for (const [source, at] of Object.entries(newestSnapshot)) if (at !== undefined) lastCopy.set(source, Date.parse(at));
  expectShippedCopies(expected, signals, judged);
  markLeftSources(expected, signals, lastCopy, start - lookback * 24 * HOUR, lookback + 1);

  for (const e of options.expect ?? []) {
    // Expected by name: judged on its schedule, whether or not the agent still has it.
    const { left: _left, ...found } = expected.get(e.name) ?? { name: e.name, type: e.type };
    expected.set(e.name, { ...found, ...e });
  }
  if (signals) {
    const names = [...signals.lost.map((l) => l.source), ...signals.unshipped.map((u) => u.source), ...(signals.recordingSources ?? [])];
    for (const name of names) if (!expected.has(name)) expected.set(name, { name, type: 'recordings' });
  }

  const { scrubs, drills } = await dayChecks(deps.blobs, site, start, end);
  const erasures = await overdueFacts(options.erasures, site, judged);

  return {
    site,
    day,
    judgedAt: new Date(judged).toISOString(),
    ...(options.timeZone !== undefined ? { timeZone } : {}),
    expected: [...expected.values()],
    packs,
    ...(uncatalogued.length ? { uncatalogued } : {}),
    ...(gaps.missing.length ? { uncataloguedCopies: gaps.missing } : {}),
    ...(collisions ? { collisions } : {}),
    artefacts,
    newest,
    snapshots,
    newestSnapshot,
    ...(logGaps.length ? { logGaps } : {}),
    ...(signals ? { signals } : {}),
    scrubs,
    drills,
    ...erasures,
    ...(options.retired !== undefined && day >= options.retired ? { retired: options.retired } : {}),
  };
}

