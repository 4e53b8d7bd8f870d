import { ARTEFACT_CLASS, artefactManifestKey, sitePrefix, treeSnapshotManifestPrefix, type ArtefactSourceType } from './layout.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';

// Manifests in the bucket that the catalogue lacks (their S3 event was lost, or their ingest
// failed past the dead-letter queue's days): found by no search, no restore plan, no report that
// reads the catalogue. Read for a few days only, by the dated prefixes the layout gives, so what
// it costs grows with the days asked for, never with the site's history:
//  - packs: `manifests/{site}/recordings/{day}/`, each checked by its PACK record (GetItem);
//  - tree snapshots: `manifests/{site}/trees/{source}/{day}/`, against one Query of the source's
//    snapshots of those days;
//  - artefacts: their manifests are not dated, their objects are: `{class}/{site}/{source}/{day}/`
//    (and `partial/{day}/`), against one Query of the source's artefacts taken in those days;
//    an object with no catalogue item counts once its manifest is there (HEAD).
// Sources are named by the caller (the catalogue's, the heartbeat's): the layout puts the
// source before the date, so a source no one names is not looked at.
// Used by the daily report (which says so) and the reconciler (which ingests them again).

export type GapSourceType = ArtefactSourceType | 'tree';

export interface GapSource {
  name: string;
  type: GapSourceType;
}

export interface CatalogueGap {
  kind: 'pack' | 'artefact' | 'snapshot';
  /** The manifest's key. */
  key: string;
  /** The source, for artefacts and snapshots (a pack's is in its manifest). */
  source?: string;
  /** When the manifest was written (the store's LastModified), when the store said. */
  writtenAt?: number;
}

export interface GapQuery {
  site: string;
  /** The UTC days (YYYY-MM-DD) whose prefixes are read. */
  days: readonly string[];
  /** The artefact and tree sources to look at; packs are looked at when `packs`. */
  sources: readonly GapSource[];
  packs?: boolean;
  /** Manifests written after this instant (ms; the store's LastModified) are left to the ingest under way. */
  writtenBefore: number;
}

export type GapDeps = {
  blobs: Pick<BlobStore, 'list' | 'head'>;
  /** getPack: needed when packs are looked at. */
  catalogue: Pick<CatalogueStore, 'listArtefacts' | 'listSnapshots'> & Partial<Pick<CatalogueStore, 'getPack'>>;
};

const datePath = (day: string) => day.replaceAll('-', '/');
const baseName = (key: string) => key.slice(key.lastIndexOf('/') + 1);
const settled = (info: { lastModified?: Date } | undefined, before: number) => info !== undefined && (info.lastModified === undefined || info.lastModified.getTime() <= before);

/** The manifests of the days that the catalogue lacks, in the order listed. */
export async function findCatalogueGaps(deps: GapDeps, q: GapQuery): Promise<CatalogueGap[]> {
  if (q.days.length === 0) return [];
  const gaps: CatalogueGap[] = [];
  if (q.packs) gaps.push(...(await packGaps(deps, q)));
  for (const s of q.sources) gaps.push(...(s.type === 'tree' ? await snapshotGaps(deps, q, s.name) : await artefactGaps(deps, q, s.name, s.type)));
  return gaps;
}

async function packGaps(deps: GapDeps, q: GapQuery): Promise<CatalogueGap[]> {
  const { getPack } = deps.catalogue;
  if (!getPack) throw new TypeError('looking at packs needs the catalogue\'s getPack');
  const gaps: CatalogueGap[] = [];
  for (const day of q.days) {
    for await (const info of deps.blobs.list(`${sitePrefix('manifests', q.site)}recordings/${datePath(day)}/`)) {
      const packId = /^(p[0-9a-f]{23})\.json$/.exec(baseName(info.key))?.[1];
      if (!packId || !settled(info, q.writtenBefore)) continue;
      if (!(await getPack.call(deps.catalogue, q.site, packId))) gaps.push({ kind: 'pack', key: info.key });
    }
  }
  return gaps;
}

/** First and last instant of the days, ISO. */
function span(days: readonly string[]): { from: string; to: string } {
  const sorted = [...days].sort();
  return { from: `${sorted[0]}T00:00:00.000Z`, to: `${sorted.at(-1)}T23:59:59.999Z` };
}

async function snapshotGaps(deps: GapDeps, q: GapQuery, source: string): Promise<CatalogueGap[]> {
  const listed: { key: string; id: string; writtenAt?: number }[] = [];
  for (const day of q.days) {
    for await (const info of deps.blobs.list(`${treeSnapshotManifestPrefix(q.site, source)}${datePath(day)}/`)) {
      const id = /^(s[0-9a-f]{23})\.json$/.exec(baseName(info.key))?.[1];
      if (id && settled(info, q.writtenBefore)) listed.push({ key: info.key, id, ...(info.lastModified ? { writtenAt: info.lastModified.getTime() } : {}) });
    }
  }
  if (listed.length === 0) return [];
  const { from, to } = span(q.days);
  const known = new Set<string>();
  // Newest first: stop at the first snapshot taken before the days.
  let cursor: string | undefined;
  do {
    const page = await deps.catalogue.listSnapshots({ site: q.site, source, at: to, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const s of page.items) known.add(s.snapshotId);
    cursor = page.items.some((s) => s.takenAt < from) ? undefined : page.cursor;
  } while (cursor);
  return listed.filter((l) => !known.has(l.id)).map((l) => ({ kind: 'snapshot', key: l.key, source, ...(l.writtenAt !== undefined ? { writtenAt: l.writtenAt } : {}) }));
}

async function artefactGaps(deps: GapDeps, q: GapQuery, source: string, type: ArtefactSourceType): Promise<CatalogueGap[]> {
  /** Artefact id → whether it is a partial (its manifest is then under partial/). */
  const ids = new Map<string, boolean>();
  const base = `${sitePrefix(ARTEFACT_CLASS[type], q.site)}${source}/`;
  for (const day of q.days) {
    for (const [prefix, partial] of [[`${base}${datePath(day)}/`, false], [`${base}partial/${datePath(day)}/`, true]] as const) {
      for await (const info of deps.blobs.list(prefix)) {
        const id = /^(a[0-9a-f]{23})-/.exec(baseName(info.key))?.[1];
        if (id) ids.set(id, partial);
      }
    }
  }
  if (ids.size === 0) return [];
  const { from, to } = span(q.days);
  let cursor: string | undefined;
  do {
    const page = await deps.catalogue.listArtefacts({ site: q.site, source, from, to, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const a of page.items) ids.delete(a.artefactId);
    cursor = page.cursor;
  } while (cursor);
  const gaps: CatalogueGap[] = [];
  for (const [id, partial] of ids) {
    // A partial shipped before partial manifests moved under partial/ has its manifest at the plain key.
    const keys = partial ? [artefactManifestKey(q.site, type, source, id, true), artefactManifestKey(q.site, type, source, id)] : [artefactManifestKey(q.site, type, source, id)];
    for (const key of keys) {
      // An object with no manifest is an upload its agent never committed: not a gap.
      const head = await deps.blobs.head(key);
      if (!settled(head, q.writtenBefore)) continue;
      gaps.push({ kind: 'artefact', key, source, ...(head?.lastModified ? { writtenAt: head.lastModified.getTime() } : {}) });
      break;
    }
  }
  return gaps;
}

/** The UTC days (YYYY-MM-DD) from `count - 1` days before `last` up to `last`. */
export function daysUpTo(last: string, count: number): string[] {
  const end = Date.parse(`${last}T00:00:00.000Z`);
  return Array.from({ length: Math.max(0, count) }, (_, i) => new Date(end - (count - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}
