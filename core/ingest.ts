import { normalizeIso } from './catalogue-table.ts';
import { IntegrityError, InvalidInputError, messageOf } from './errors.ts';
import { ingestChecked, type CheckedIngestDeps } from './ingest-checked.ts';
import { isArtefactManifestKey, isPackManifestKey, isTreeSnapshotManifestKey, packAttemptsPrefixOf, parseKey, sitePrefix } from './layout.ts';
import { parseManifest, type PackManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueEntry, type CatalogueStore, type PackRecord, type RecordingCopy } from './ports.ts';
import { memberIdsAllowed } from './ids.ts';
import { findCollisions, noteCollisions, type IngestCollision } from './ingest-collide.ts';
import { readSmallObject } from './read-small.ts';

// Ingest: manifest → catalogue entries. The catalogue is a cache of the manifests, so ingest
// is idempotent (same manifest, same items) and rebuildCatalogue can replay every manifest.
// A manifest whose pack is missing or of another size writes nothing: no catalogue entry
// for data that is not there.

export interface IngestDeps {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  /** With getRecordings, a call shipped under another call's id is named (core/ingest-collide.ts). */
  catalogue: Pick<CatalogueStore, 'putRecordings' | 'putPack' | 'packKeysOf' | 'putCopies'> & Partial<Pick<CatalogueStore, 'getRecordings'>>;
}

export interface IngestResult {
  manifestKey: string;
  site: string;
  packId: string;
  /** Entries this manifest points at its pack (new ones, and its own again). */
  recordings: number;
  /**
   * Members already catalogued in another pack (the same site, path and bytes shipped twice:
   * a batch sent again after the agent lost its state). The first copy stays the catalogue's;
   * this one is recorded as a copy of the call (putCopies), for its erasure.
   */
  alreadyCatalogued?: number;
  /** Calls of this manifest and calls catalogued before that share a path and audio, and what was made of them. */
  collisions?: IngestCollision[];
}

export interface IngestOptions {
  /**
   * The pack whose entries this manifest may take over: a purge's copy-out moves held calls from
   * it to a pack of their own. Without it an entry catalogued in another pack is never re-pointed.
   */
  takesOverFrom?: string;
}

/** Manifests are small (about 100 members); anything far larger is not one of ours. */
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

const readManifest = (blobs: IngestDeps['blobs'], key: string) => readSmallObject(blobs, key, MAX_MANIFEST_BYTES, 'manifest');

/** The manifest must describe its own site's pack: a site can never publish entries pointing elsewhere. */
function checkPlacement(manifestKey: string, manifest: PackManifest): void {
  const site = parseKey(manifestKey)?.site;
  if (site !== manifest.site) {
    throw new InvalidInputError(`manifest ${manifestKey} names site "${manifest.site}" but lies under site "${site}"`);
  }
  if (!manifestKey.endsWith(`/${manifest.packId}.json`)) {
    throw new InvalidInputError(`manifest ${manifestKey} names pack ${manifest.packId}, which does not match its key`);
  }
  const packKey = manifest.packKey;
  // Attempt n > 0 at a pack is `{packId}-{n}.tar` (core/layout.ts: objects are write-once).
  const named = packKey.endsWith(`/${manifest.packId}.tar`) || packAttemptsPrefixOf(packKey)?.endsWith(`/${manifest.packId}`) === true;
  if (!packKey.startsWith(sitePrefix('recordings', site)) || !named || packKey.includes('..')) {
    const names = `${manifest.packId}.tar or ${manifest.packId}-{attempt}.tar`;
    throw new InvalidInputError(`manifest ${manifestKey} points at pack ${packKey}, outside recordings/${site}/ or not named ${names}`);
  }
}

/**
 * Every member's id must be its own: `recordingId(site, path, sha256)`, or for a call written at
 * the path of an earlier one with the same bytes, `rewrittenCallId(…, its sidecar's SHA-256)`
 * (core/ids.ts). A member under another recording's id would replace that call's audio in the
 * catalogue (the recorder deleted the original long ago); the whole manifest is refused.
 */
function checkMemberIds(manifestKey: string, manifest: PackManifest): void {
  for (const m of manifest.members) {
    const own = memberIdsAllowed(manifest.site, m);
    if (!own.includes(m.rid)) throw new IntegrityError(`manifest ${manifestKey}: member ${m.path} is listed as recording ${m.rid}, but its site, path and SHA-256${own.length > 1 ? ' (and its sidecar\'s)' : ''} make it ${own.join(' or ')}: a member under another recording's id; nothing catalogued`);
  }
}

/** A catalogue entry carries at most this many of its member's issues, each at most this long (an item stays small). */
const MAX_ENTRY_ISSUES = 10;
const MAX_ISSUE_CHARS = 500;

export function entriesOf(manifest: PackManifest, manifestKey: string): CatalogueEntry[] {
  return manifest.members.map((m) => ({
    site: manifest.site,
    rid: m.rid,
    source: manifest.source,
    packId: manifest.packId,
    packKey: manifest.packKey,
    manifestKey,
    offset: m.offset,
    length: m.length,
    sha256: m.sha256,
    contentType: m.contentType,
    path: m.path,
    start: normalizeIso(m.meta.start ?? m.mtime, `members[${m.rid}].start`),
    meta: m.meta,
    ...(m.issues.length > 0 ? { issues: m.issues.slice(0, MAX_ENTRY_ISSUES).map((i) => i.slice(0, MAX_ISSUE_CHARS)) } : {}),
    ...(manifest.shippedBy ? { shippedBy: manifest.shippedBy } : {}),
  }));
}

/**
 * Reads one manifest, checks it and its pack, then writes one entry per member and the pack
 * record. An entry already catalogued in another pack is left as it is (the first copy wins):
 * a manifest can add calls, never re-point one, unless `takesOverFrom` names that pack.
 */
export async function ingestManifest(deps: IngestDeps, manifestKey: string, options: IngestOptions = {}): Promise<IngestResult> {
  if (!isPackManifestKey(manifestKey)) throw new InvalidInputError(`${manifestKey} is not a recordings manifest key`);
  const manifest = parseManifest(await readManifest(deps.blobs, manifestKey));
  checkPlacement(manifestKey, manifest);
  checkMemberIds(manifestKey, manifest);

  const pack = await deps.blobs.head(manifest.packKey);
  if (!pack) throw new IntegrityError(`pack ${manifest.packKey} of manifest ${manifestKey} is missing: nothing catalogued`);
  if (pack.size !== manifest.pack.size) {
    throw new IntegrityError(`pack ${manifest.packKey} is ${pack.size} bytes, manifest ${manifestKey} says ${manifest.pack.size}: nothing catalogued`);
  }

  const all = entriesOf(manifest, manifestKey);
  const existing = await deps.catalogue.packKeysOf(all.map((e) => ({ site: e.site, rid: e.rid })));
  const entries: CatalogueEntry[] = [];
  const copies: RecordingCopy[] = [];
  for (const e of all) {
    const before = existing.get(recordingLookupKey(e.site, e.rid));
    if (before === undefined || before === e.packKey || (options.takesOverFrom !== undefined && before === options.takesOverFrom)) entries.push(e);
    else copies.push({ site: e.site, rid: e.rid, packId: e.packId, packKey: e.packKey, manifestKey });
  }
  const record: PackRecord = {
    site: manifest.site,
    packId: manifest.packId,
    packKey: manifest.packKey,
    manifestKey,
    source: manifest.source,
    members: manifest.members.length,
    size: manifest.pack.size,
    createdAt: manifest.createdAt,
  };
  // Entries first, pack record last: a pack record means "all of this pack is catalogued". A call
  // catalogued in another pack is recorded as a copy there, so that an erasure finds this one too.
  await deps.catalogue.putRecordings(entries);
  if (copies.length > 0) await deps.catalogue.putCopies(copies);
  await deps.catalogue.putPack(record);
  // Never silent: a call shipped under another call's id, or a call catalogued twice, is named.
  const collisions = await findCollisions(deps, manifest, manifestKey, new Set(copies.map((c) => c.rid)));
  await noteCollisions(deps, manifest.site, collisions, { issues: MAX_ENTRY_ISSUES, chars: MAX_ISSUE_CHARS });
  const alreadyCatalogued = all.length - entries.length;
  return { manifestKey, site: manifest.site, packId: manifest.packId, recordings: entries.length, ...(alreadyCatalogued > 0 ? { alreadyCatalogued } : {}), ...(collisions.length > 0 ? { collisions } : {}) };
}

export interface RebuildProgress {
  key: string;
  ok: boolean;
  done: number;
  error?: string;
}

export interface RebuildReport {
  ok: number;
  recordings: number;
  /** Artefact manifests (backups, log segments, archives) among the ok ones. */
  artefacts: number;
  /** Tree snapshot manifests among the ok ones. */
  snapshots: number;
  failed: { key: string; reason: string }[];
  /** Entries the catalogue held whose manifest and pack are both gone (purged after the table's restore point): forgotten. */
  forgotten?: number;
  /** The sites whose manifests were read. */
  sites?: string[];
  /** Manifests whose data a purge deleted while they were rebuilt: what the rebuild wrote of them is forgotten again. */
  purgedMeanwhile?: number;
}

export interface RebuildOptions {
  site?: string;
  onProgress?: (progress: RebuildProgress) => void;
  /** Manifests ingested at once (default 4). */
  concurrency?: number;
}

/** Re-ingests every manifest, packs, artefacts and tree snapshots (of one site, or all); one bad manifest never stops the rest. */
export async function rebuildCatalogue(
  deps: { blobs: Pick<BlobStore, 'get' | 'head' | 'list'>; catalogue: CheckedIngestDeps['catalogue'] & Partial<Pick<CatalogueStore, 'searchRecordings'>> },
  options: RebuildOptions = {},
): Promise<RebuildReport> {
  const prefix = options.site === undefined ? 'manifests/' : sitePrefix('manifests', options.site);
  const report: RebuildReport = { ok: 0, recordings: 0, artefacts: 0, snapshots: 0, failed: [] };
  const listing = deps.blobs.list(prefix)[Symbol.asyncIterator]();
  // Workers share one listing; next() calls are chained so no iterator sees two at once.
  let chain: Promise<unknown> = Promise.resolve();
  const nextKey = () => {
    const result = chain.then(() => listing.next());
    chain = result.catch(() => undefined);
    return result;
  };
  let done = 0;
  const sites = new Set<string>();
  const manifests = new Set<string>();

  const worker = async () => {
    for (let next = await nextKey(); !next.done; next = await nextKey()) {
      const { key } = next.value;
      manifests.add(key);
      const site = /^manifests\/([^/]+)\//.exec(key)?.[1];
      if (site) sites.add(site);
      if (!isArtefactManifestKey(key) && !isTreeSnapshotManifestKey(key) && !isPackManifestKey(key)) continue;
      try {
        // Checked: a purge beside the rebuild may delete what it is writing (core/ingest-checked.ts).
        const outcome = await ingestChecked(deps, key);
        if (outcome.kind === 'purged') {
          report.purgedMeanwhile = (report.purgedMeanwhile ?? 0) + 1;
          options.onProgress?.({ key, ok: true, done: ++done });
          continue;
        }
        if (outcome.kind === 'artefact') report.artefacts++;
        else if (outcome.kind === 'snapshot') report.snapshots++;
        else report.recordings += outcome.recordings;
        report.ok++;
        options.onProgress?.({ key, ok: true, done: ++done });
      } catch (error) {
        report.failed.push({ key, reason: `${error instanceof Error ? error.name : 'Error'}: ${messageOf(error)}` });
        options.onProgress?.({ key, ok: false, done: ++done, error: messageOf(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
  report.failed.sort((a, b) => (a.key < b.key ? -1 : 1));
  report.sites = [...(options.site ? new Set([...sites, options.site]) : sites)].sort();
  const { searchRecordings, forgetPack } = deps.catalogue;
  if (searchRecordings && forgetPack) {
    const catalogue = { searchRecordings: searchRecordings.bind(deps.catalogue), forgetPack: forgetPack.bind(deps.catalogue) };
    report.forgotten = await forgetVanished({ blobs: deps.blobs, catalogue }, options.site ? new Set([options.site]) : sites, manifests);
  }
  return report;
}

/**
 * The catalogue entries no manifest in the bucket stands for, whose pack is gone too: a table
 * restored to a point before a purge lists calls the purge deleted since. They are forgotten, so
 * that no search offers a call that cannot be played. An entry whose pack is still there stays.
 */
async function forgetVanished(deps: { blobs: Pick<BlobStore, 'head'>; catalogue: Pick<CatalogueStore, 'searchRecordings' | 'forgetPack'> }, sites: ReadonlySet<string>, manifests: ReadonlySet<string>): Promise<number> {
  let forgotten = 0;
  for (const site of sites) {
    const stale: CatalogueEntry[] = [];
    let cursor: string | undefined;
    do {
      const page = await deps.catalogue.searchRecordings({ site, limit: 1000, ...(cursor ? { cursor } : {}) });
      stale.push(...page.items.filter((e) => !manifests.has(e.manifestKey)));
      cursor = page.cursor;
    } while (cursor);
    const packGone = new Map<string, boolean>();
    for (const e of stale) {
      if (!packGone.has(e.packKey)) packGone.set(e.packKey, (await deps.blobs.head(e.packKey)) === undefined);
      if (!packGone.get(e.packKey)) continue;
      await deps.catalogue.forgetPack(site, e.packId, [e.rid]);
      forgotten++;
    }
  }
  return forgotten;
}
