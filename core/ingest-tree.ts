import type { Clock } from './clock.ts';
import { IntegrityError, InvalidInputError } from './errors.ts';
import { futureDatedNote, isFutureDated } from './future-dated.ts';
import { NAME_PATTERN, isTreeSnapshotManifestKey, parseKey, sitePrefix, treeIndexKey, treeSnapshotManifestKey } from './layout.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { parseTreeSnapshotManifest, snapshotSummary, type SnapshotSummary, type TreeSnapshotManifest } from './tree-manifest.ts';

// Ingest of tree snapshot manifests (file shares): the same rules as packs and artefacts. The
// manifest must lie at the one key the layout gives it for its own site, source, snapshot and
// time; its index and every pack it lists must lie under that source's prefix and exist with
// the manifest's sizes (HEAD). Otherwise nothing is catalogued: never a snapshot whose bytes
// are not all there.
// A snapshot dated after now (plus a clock margin) is catalogued all the same (its bytes are
// there; a site clock ahead dates genuine snapshots so): the result says so (`futureDated`), the
// ingest function logs it at warn, and the purge counts it toward no keep rule.

export interface TreeIngestDeps {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  catalogue: Pick<CatalogueStore, 'putSnapshot'>;
  /** Ingest's time, to notice a snapshot dated in the future (absent: not looked at). */
  clock?: Clock;
}

export interface TreeIngestResult {
  manifestKey: string;
  site: string;
  source: string;
  snapshotId: string;
  packs: number;
  /** Said when the snapshot is dated after ingest's time plus the clock margin: catalogued, but the operator should know. */
  futureDated?: string;
}

/** A snapshot manifest lists packs, not files: a few hundred KB for a very large share. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** HEADs in flight while checking a snapshot's packs. */
const HEAD_CONCURRENCY = 8;

const PACK_NAME = /\/packs\/\d{4}\/\d{2}\/\d{2}\/t[0-9a-f]{23}(-[1-9]\d*)?\.tar$/;

/** A site can only publish a snapshot of its own objects, at the one key the layout gives the manifest. */
function checkPlacement(manifestKey: string, m: TreeSnapshotManifest): void {
  const site = parseKey(manifestKey)?.site;
  if (site !== m.site) throw new InvalidInputError(`snapshot manifest ${manifestKey} names site "${m.site}" but lies under site "${site}"`);
  if (!NAME_PATTERN.test(m.source)) throw new InvalidInputError(`snapshot manifest ${manifestKey} names source "${m.source}", which is not a source name`);
  const expected = treeSnapshotManifestKey(m.site, m.source, m.snapshotId, new Date(m.takenAt));
  if (manifestKey !== expected) throw new InvalidInputError(`snapshot manifest ${manifestKey} describes ${m.site}/${m.source}/${m.snapshotId} taken ${m.takenAt}, whose manifest key is ${expected}`);
  const index = treeIndexKey(m.site, m.source, m.snapshotId);
  if (m.index.key !== index) throw new InvalidInputError(`snapshot manifest ${manifestKey} points at index ${m.index.key}, not ${index}`);
  const packs = `${sitePrefix('trees', m.site)}${m.source}/packs/`;
  const seen = new Set<string>();
  m.packs.forEach((pack, i) => {
    if (!pack.key.startsWith(packs) || pack.key.split('/').includes('..') || !PACK_NAME.test(pack.key)) {
      throw new InvalidInputError(`snapshot manifest ${manifestKey}: packs[${i}] ${pack.key} is outside ${packs} or not named {yyyy}/{mm}/{dd}/t{id}[-n].tar`);
    }
    if (seen.has(pack.key)) throw new InvalidInputError(`snapshot manifest ${manifestKey}: packs[${i}] ${pack.key} is listed twice`);
    seen.add(pack.key);
  });
  if (m.counts.filesRead > m.counts.files) throw new InvalidInputError(`snapshot manifest ${manifestKey}: counts.filesRead (${m.counts.filesRead}) exceeds counts.files (${m.counts.files})`);
}

async function checkExists(blobs: TreeIngestDeps['blobs'], manifestKey: string, what: string, object: { key: string; size: number }): Promise<void> {
  const info = await blobs.head(object.key);
  if (!info) throw new IntegrityError(`${what} ${object.key} of snapshot manifest ${manifestKey} is missing: nothing catalogued`);
  if (info.size !== object.size) throw new IntegrityError(`${what} ${object.key} is ${info.size} bytes, snapshot manifest ${manifestKey} says ${object.size}: nothing catalogued`);
}

/** Reads one snapshot manifest, checks its placement, its index and every pack it lists, then writes its catalogue entry. Idempotent. */
export async function ingestTreeSnapshot(deps: TreeIngestDeps, manifestKey: string): Promise<TreeIngestResult> {
  if (!isTreeSnapshotManifestKey(manifestKey)) throw new InvalidInputError(`${manifestKey} is not a tree snapshot manifest key`);
  const manifest = parseTreeSnapshotManifest(await readSmallObject(deps.blobs, manifestKey, MAX_MANIFEST_BYTES, 'tree snapshot manifest'));
  checkPlacement(manifestKey, manifest);
  await checkExists(deps.blobs, manifestKey, 'index', manifest.index);
  let next = 0;
  const worker = async () => {
    while (next < manifest.packs.length) {
      const i = next++;
      await checkExists(deps.blobs, manifestKey, `packs[${i}]`, manifest.packs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, manifest.packs.length) }, worker));
  const summary: SnapshotSummary = snapshotSummary(manifest, manifestKey);
  await deps.catalogue.putSnapshot(summary);
  const now = deps.clock?.now();
  const future = now !== undefined && isFutureDated(manifest.takenAt, now) ? { futureDated: futureDatedNote(manifestKey, manifest.takenAt, now) } : {};
  return { manifestKey, site: manifest.site, source: manifest.source, snapshotId: manifest.snapshotId, packs: manifest.packs.length, ...future };
}
