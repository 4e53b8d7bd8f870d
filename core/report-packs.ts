import { messageOf } from './errors.ts';
import { sitePrefix } from './layout.ts';
import { parseManifest, type PackManifest } from './manifest.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';
import { within } from './report-keys.ts';
import type { ExpectedSource, SiteDayFacts } from './report.ts';
import { readSmallObject } from './read-small.ts';

// The daily report's recordings facts: the day's packs, read from their manifests, and those of
// them the catalogue never recorded (an ingest that failed).

/** Time ingest is given before a shipped pack with no catalogue record counts as never catalogued. */
const INGEST_GRACE_MS = 3_600_000;

/**
 * The day's packs the catalogue has no record of, an hour after they shipped: their calls are
 * found by no search. The hour is counted to when the report is made (`now`), not to the day's
 * end: a pack shipped in the day's last hour is judged by the report made the next morning (no
 * later day's report looks at it).
 */
export async function uncataloguedPacks(catalogue: Partial<Pick<CatalogueStore, 'getPack'>>, site: string, packs: SiteDayFacts['packs'], now: number): Promise<NonNullable<SiteDayFacts['uncatalogued']>> {
  if (!catalogue.getPack) return [];
  const out: NonNullable<SiteDayFacts['uncatalogued']> = [];
  for (const p of packs) {
    if (Date.parse(p.createdAt) > now - INGEST_GRACE_MS) continue;
    if (!(await catalogue.getPack(site, p.packId))) out.push({ source: p.source, packId: p.packId, members: p.members });
  }
  return out;
}

/** Recordings: manifests under the given days' dates (UTC: the day's and those before; a batch is dated by its oldest recording). The day's own manifests are added to `ofDay`. */
export async function gatherPacks(blobs: Pick<BlobStore, 'list' | 'get'>, site: string, days: readonly string[], start: number, judged: number, expected: Map<string, ExpectedSource>, ofDay: { key: string; manifest: PackManifest }[] = []): Promise<SiteDayFacts['packs']> {
  const packs: SiteDayFacts['packs'] = [];
  for (const day of days) {
    const prefix = `${sitePrefix('manifests', site)}recordings/${day.replaceAll('-', '/')}/`;
    for await (const info of blobs.list(prefix)) {
      if (!info.key.endsWith('.json')) continue;
      let m;
      try {
        m = parseManifest(await readSmallObject(blobs, info.key, 16 * 1024 * 1024, 'manifest'));
      } catch (error) {
        throw new Error(`manifest ${info.key} cannot be read: ${messageOf(error)}`, { cause: error });
      }
      if (!expected.has(m.source)) expected.set(m.source, { name: m.source, type: 'recordings' });
      if (!within(m.createdAt, start, judged + 1)) continue;
      packs.push({ source: m.source, packId: m.packId, createdAt: m.createdAt, members: m.members.length });
      ofDay.push({ key: info.key, manifest: m });
    }
  }
  return packs;
}
