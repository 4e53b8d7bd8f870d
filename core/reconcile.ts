import { daysUpTo, findCatalogueGaps, type GapDeps, type GapSource } from './catalogue-gaps.ts';
import { messageOf } from './errors.ts';
import { heartbeatListing, latestHeartbeat } from './heartbeat-read.ts';
import { ingestChecked, type CheckedIngestDeps } from './ingest-checked.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';

// The reconciler: what repairs a catalogue gap without a person. An S3 event that never came,
// or an ingest that failed past the dead-letter queue's 14 days, leaves a manifest no search
// finds; `ferry catalogue rebuild` repairs it, but only when someone runs it. This reads each
// site's last few days of manifests (core/catalogue-gaps.ts: the dated prefixes only, so its
// requests grow with the days, not with the site's history) and ingests again, through the same
// checked ingest as the rebuild, each one the catalogue lacks: ingest checks the data is there
// (never an entry for a pack that is not), and forgets what it wrote if a purge deleted it meanwhile.
// A manifest it cannot ingest stays a gap, which the daily report names.

export const DEFAULT_RECONCILE_DAYS = 3;
/** A manifest younger than this is left to the ingest its S3 event is running. */
export const RECONCILE_GRACE_MS = 3_600_000;

export type ReconcileDeps = {
  blobs: Pick<BlobStore, 'list' | 'head' | 'get'>;
  catalogue: GapDeps['catalogue'] & CheckedIngestDeps['catalogue'] & Pick<CatalogueStore, 'listArtefactSources' | 'getPack'>;
};

export interface SiteReconciled {
  site: string;
  days: string[];
  /** Manifests catalogued again, by kind. */
  repaired: { packs: number; artefacts: number; snapshots: number };
  /** Gaps whose ingest failed again (the pack missing, a bad manifest): left for the report and a person. */
  failed: { key: string; reason: string }[];
}

/** The artefact and tree sources to look at: the catalogue's, and those the site's newest heartbeat names (a source never catalogued at all). */
async function sourcesOf(deps: ReconcileDeps, site: string, now: number): Promise<GapSource[]> {
  const found = new Map<string, GapSource>();
  for (const r of await deps.catalogue.listArtefactSources(site)) found.set(r.source, { name: r.source, type: r.sourceType });
  const { heartbeat } = await latestHeartbeat(heartbeatListing(deps.blobs, site), now);
  for (const s of heartbeat?.sources ?? []) {
    if (found.has(s.name)) continue;
    if (s.type === 'rotated' || s.type === 'binlog' || s.type === 'archive' || s.type === 'tree') found.set(s.name, { name: s.name, type: s.type });
  }
  return [...found.values()];
}

/** Catalogues again what the last `days` days (UTC, today included) of the site's manifests hold and the catalogue lacks. */
export async function reconcileSite(deps: ReconcileDeps, site: string, options: { now: Date; days?: number }): Promise<SiteReconciled> {
  const now = options.now.getTime();
  const days = daysUpTo(options.now.toISOString().slice(0, 10), options.days ?? DEFAULT_RECONCILE_DAYS);
  const sources = await sourcesOf(deps, site, now);
  const gaps = await findCatalogueGaps(deps, { site, days, sources, packs: true, writtenBefore: now - RECONCILE_GRACE_MS });
  const out: SiteReconciled = { site, days, repaired: { packs: 0, artefacts: 0, snapshots: 0 }, failed: [] };
  for (const gap of gaps) {
    try {
      const done = await ingestChecked(deps, gap.key);
      if (done.kind === 'pack') out.repaired.packs++;
      else if (done.kind === 'artefact') out.repaired.artefacts++;
      else if (done.kind === 'snapshot') out.repaired.snapshots++;
    } catch (error) {
      out.failed.push({ key: gap.key, reason: `${error instanceof Error ? error.name : 'Error'}: ${messageOf(error)}` });
    }
  }
  return out;
}
