import { ingestArtefact, type ArtefactIngestDeps } from './ingest-artefact.ts';
import { ingestTreeSnapshot, type TreeIngestDeps } from './ingest-tree.ts';
import { ingestManifest, type IngestDeps } from './ingest.ts';
import { isArtefactManifestKey, isPackManifestKey, isTreeSnapshotManifestKey } from './layout.ts';
import type { ArtefactEntry, BlobStore, CatalogueEntry, CatalogueStore, PackRecord, RecordingCopy } from './ports.ts';
import type { SnapshotSummary } from './tree-manifest.ts';

// Ingest of a manifest read long after it was published (`ferry catalogue rebuild`, the
// reconciler), while the site's purge may be deleting it. Ingest checks the pack, then writes;
// a purge that deletes the pack and forgets its entries between the two would see its forget
// undone, for a pack nothing will ever purge again (its manifest goes next). So what was
// written is checked once more afterwards, and forgotten when its data is gone:
//  - a pack or artefact: the purge deletes the object, then forgets, then deletes the manifest;
//    an object still there after the write means the purge's forget is yet to come;
//  - a snapshot: the purge forgets, deletes the manifest, then forgets again (core/tree-purge.ts);
//    a manifest still there after the write means that second forget is yet to come.
// No site lock: a rebuild takes hours and would keep the site's backup windows out that long.

export type CheckedIngestDeps = {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  catalogue: IngestDeps['catalogue'] & ArtefactIngestDeps['catalogue'] & TreeIngestDeps['catalogue'] & Partial<Pick<CatalogueStore, 'forgetPack' | 'forgetArtefact' | 'forgetSnapshot'>>;
  clock?: ArtefactIngestDeps['clock'];
};

export type CheckedIngest =
  | { kind: 'pack'; recordings: number }
  | { kind: 'artefact' }
  | { kind: 'snapshot' }
  /** The data went while it was ingested (a purge beside it): what was written is forgotten again. */
  | { kind: 'purged'; forgotten: number };

/** The catalogue as ingest sees it, noting what it writes. */
function noting(catalogue: CheckedIngestDeps['catalogue']) {
  const wrote = { entries: [] as CatalogueEntry[], copies: [] as RecordingCopy[], packs: [] as PackRecord[], artefacts: [] as ArtefactEntry[], snapshots: [] as SnapshotSummary[] };
  const seen: CheckedIngestDeps['catalogue'] = {
    packKeysOf: (keys) => catalogue.packKeysOf(keys),
    ...(catalogue.getRecordings ? { getRecordings: catalogue.getRecordings.bind(catalogue) } : {}),
    putRecordings: async (entries) => {
      await catalogue.putRecordings(entries);
      wrote.entries.push(...entries);
    },
    putCopies: async (copies) => {
      await catalogue.putCopies(copies);
      wrote.copies.push(...copies);
    },
    putPack: async (pack) => {
      await catalogue.putPack(pack);
      wrote.packs.push(pack);
    },
    putArtefact: async (entry) => {
      await catalogue.putArtefact(entry);
      wrote.artefacts.push(entry);
    },
    putSnapshot: async (summary) => {
      await catalogue.putSnapshot(summary);
      wrote.snapshots.push(summary);
    },
  };
  return { seen, wrote };
}

/** Ingests one manifest of any kind, then forgets what it wrote if the data went meanwhile. Throws what ingest throws. */
export async function ingestChecked(deps: CheckedIngestDeps, key: string): Promise<CheckedIngest> {
  const { seen, wrote } = noting(deps.catalogue);
  const d = { ...deps, catalogue: seen };
  let done: CheckedIngest;
  if (isArtefactManifestKey(key)) {
    await ingestArtefact(d, key);
    done = { kind: 'artefact' };
  } else if (isTreeSnapshotManifestKey(key)) {
    await ingestTreeSnapshot(d, key);
    done = { kind: 'snapshot' };
  } else if (isPackManifestKey(key)) {
    done = { kind: 'pack', recordings: (await ingestManifest(d, key)).recordings };
  } else {
    throw new TypeError(`${key} is not a manifest key (recordings, artefact or tree snapshot)`);
  }
  const { forgetPack, forgetArtefact, forgetSnapshot } = deps.catalogue;
  let forgotten = 0;
  for (const pack of wrote.packs) {
    if (!forgetPack || (await deps.blobs.head(pack.packKey))) continue;
    const rids = [...wrote.entries, ...wrote.copies].filter((e) => e.packId === pack.packId).map((e) => e.rid);
    await forgetPack.call(deps.catalogue, pack.site, pack.packId, rids);
    forgotten += rids.length + 1;
  }
  for (const entry of wrote.artefacts) {
    if (!forgetArtefact || (await deps.blobs.head(entry.key))) continue;
    await forgetArtefact.call(deps.catalogue, entry);
    forgotten++;
  }
  for (const summary of wrote.snapshots) {
    if (!forgetSnapshot || (await deps.blobs.head(key))) continue;
    await forgetSnapshot.call(deps.catalogue, summary);
    forgotten++;
  }
  return forgotten > 0 ? { kind: 'purged', forgotten } : done;
}
