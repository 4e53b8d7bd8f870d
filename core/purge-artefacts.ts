import { sitePrefix } from './layout.ts';
import type { ArtefactEntry, CatalogueStore } from './ports.ts';
import { lockedUntil, partialLockRules, shortLocked, type Artefact, type RetentionRules } from './retention.ts';

// The backups and log segments the purge judges, from the catalogue's artefact items (ART#{site},
// written by ingest from each manifest), not by GETting every manifest of the site: those
// manifests grow by 288 a day per binlog source and are all kept while their Object Lock runs,
// so a plan that read each one took longer every week and, with a lock of years, more than the
// purge function's timeout. The reads here are Queries of up to 1000 items: every full of each
// source (one a day at most), and the segments in sequence order only up to the first one still
// under Object Lock (and the rest of its sequence: its partial snapshots and final), since the
// ones after it were shipped later and are locked too. With partials on a shorter lock than the
// bucket's, only a locked partial cuts (locksTheRest): the read then spans the closed segments
// of the bucket's lock, a few dozen items, so that their successors' superseded partials are seen.
//
// An artefact whose manifest ingest never catalogued is not seen, so it is kept: the safe side
// (a full missing here only makes older fulls count among the kept ones). A segment after the
// first locked one that is free after all (the numbering restarted, so a lower number was shipped
// later) waits until that one's lock ends.

export type ArtefactCatalogue = Pick<CatalogueStore, 'listArtefacts' | 'listArtefactSources'>;

const PAGE = 1000;
const SEQUENCE = /^(.*)\.(\d+)$/;

/** What the planner needs of a catalogue entry; undefined for archives (not the purge's to judge). */
export function artefactOfEntry(e: ArtefactEntry): Artefact | undefined {
  if (e.role === 'archive') return undefined;
  const base = { key: e.key, manifestKey: e.manifestKey, source: e.source, takenAt: e.takenAt, createdAt: e.createdAt };
  if (e.role === 'full') {
    const position = e.position ? SEQUENCE.exec(e.position.logFile) : null;
    return { ...base, kind: 'full', ...(position ? { series: position[1]!, first: Number(position[2]) } : {}) };
  }
  const segment = { ...(e.series ? { series: e.series } : {}), ...(e.sequence !== undefined ? { first: e.sequence, last: e.sequence } : {}) };
  const partial = e.partial ? { partial: true, size: e.size } : {};
  return { ...base, kind: 'segment', ...segment, ...(e.span ? { span: e.span } : {}), ...partial };
}

async function* pages(catalogue: ArtefactCatalogue, query: { site: string; source: string; role: 'full' | 'segment' }): AsyncGenerator<ArtefactEntry> {
  let cursor: string | undefined;
  do {
    const page = await catalogue.listArtefacts({ ...query, limit: PAGE, ...(cursor ? { cursor } : {}) });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor);
}

type LockRules = Pick<RetentionRules, 'now' | 'objectLockDays' | 'partialLockDays'>;

/**
 * Whether every segment after `e` is locked too, so need not be read. Shipped later than a locked
 * one is locked too, but with partials on a shorter lock, only a locked partial says so: a
 * segment closed yesterday is locked for the bucket's days while the partials of the ones after
 * it are free in a few.
 */
function locksTheRest(e: ArtefactEntry, rules: LockRules): boolean {
  const shortPartials = (rules.partialLockDays ?? 0) > 0 && rules.partialLockDays! < (rules.objectLockDays ?? 0);
  if (e.partial) return lockedUntil(e.createdAt, shortLocked(e) ? partialLockRules(rules) : rules) !== undefined;
  return !shortPartials && lockedUntil(e.createdAt, rules) !== undefined;
}

/** A source's segments in sequence order, up to the first that locks the rest (locksTheRest) and the rest of its sequence. */
async function freeSegments(catalogue: ArtefactCatalogue, site: string, source: string, rules: LockRules): Promise<{ segments: ArtefactEntry[]; cut: boolean }> {
  const segments: ArtefactEntry[] = [];
  let lastSequence: number | undefined;
  for await (const e of pages(catalogue, { site, source, role: 'segment' })) {
    if (lastSequence !== undefined && (e.sequence ?? 0) > lastSequence) return { segments, cut: true };
    segments.push(e);
    if (lastSequence === undefined && locksTheRest(e, rules)) lastSequence = e.sequence ?? 0;
  }
  return { segments, cut: false };
}

/**
 * The site's fulls and the segments that can matter to this plan, each checked to lie in the
 * site's prefixes (`counters.unreadable` counts those that do not); `cut` when some source's
 * segments after its first locked one were not read.
 */
export async function gatherArtefacts(catalogue: ArtefactCatalogue, site: string, rules: LockRules, counters: { unreadable: number }): Promise<{ artefacts: Artefact[]; cut: boolean }> {
  const artefacts: Artefact[] = [];
  let cut = false;
  const inSite = (e: ArtefactEntry) =>
    e.site === site && e.manifestKey.startsWith(sitePrefix('manifests', site)) && (e.key.startsWith(sitePrefix('backups', site)) || e.key.startsWith(sitePrefix('logs', site)));
  for (const { source } of await catalogue.listArtefactSources(site)) {
    const entries: ArtefactEntry[] = [];
    for await (const e of pages(catalogue, { site, source, role: 'full' })) entries.push(e);
    const free = await freeSegments(catalogue, site, source, rules);
    entries.push(...free.segments);
    cut ||= free.cut;
    for (const e of entries) {
      if (!inSite(e)) {
        counters.unreadable++;
        continue;
      }
      const artefact = artefactOfEntry(e);
      if (artefact) artefacts.push(artefact);
    }
  }
  return { artefacts, cut };
}
