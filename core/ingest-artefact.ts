import { parseArtefactManifest, type ArtefactManifest } from './artefact.ts';
import type { Clock } from './clock.ts';
import { IntegrityError, InvalidInputError } from './errors.ts';
import { futureDatedNote, isFutureDated } from './future-dated.ts';
import { ARTEFACT_CLASS, artefactManifestKey, isArtefactManifestKey, sitePrefix } from './layout.ts';
import type { ArtefactEntry, BlobStore, CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';

// Ingest of artefact manifests (full backups, log segments, archives): the same rules as
// packs. The manifest must lie where the layout puts it for its own site, source and id; its
// object must exist with the manifest's size. Otherwise nothing is catalogued.
// A manifest dated after now (plus a clock margin) is catalogued all the same: its object is there
// and may be a genuine backup from a site whose clock is ahead; the result says so
// (`futureDated`), the ingest function logs it at warn, and the purge counts it toward nothing.

export interface ArtefactIngestDeps {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  catalogue: Pick<CatalogueStore, 'putArtefact'>;
  /** Ingest's time, to notice a manifest dated in the future (absent: not looked at). */
  clock?: Clock;
}

export interface ArtefactIngestResult {
  manifestKey: string;
  site: string;
  artefactId: string;
  source: string;
  role: ArtefactEntry['role'];
  /** Said when the manifest is dated after ingest's time plus the clock margin: catalogued, but the operator should know. */
  futureDated?: string;
}

/** Artefact manifests are a few hundred bytes. */
const MAX_MANIFEST_BYTES = 1024 * 1024;

const readSmall = (blobs: ArtefactIngestDeps['blobs'], key: string) => readSmallObject(blobs, key, MAX_MANIFEST_BYTES, 'artefact manifest');

/** A site can only publish entries for its own objects, at the one key the layout gives the manifest. */
function checkPlacement(manifestKey: string, m: ArtefactManifest): void {
  const expected = artefactManifestKey(m.site, m.sourceType, m.source, m.artefactId, m.partial === true);
  // Partials shipped before their manifests moved under partial/ keep the plain key.
  const legacy = m.partial === true && manifestKey === artefactManifestKey(m.site, m.sourceType, m.source, m.artefactId);
  if (manifestKey !== expected && !legacy) throw new InvalidInputError(`artefact manifest ${manifestKey} describes ${m.site}/${m.source}/${m.artefactId}, whose manifest key is ${expected}`);
  const prefix = `${sitePrefix(ARTEFACT_CLASS[m.sourceType], m.site)}${m.source}/`;
  if (!m.key.startsWith(prefix) || m.key.split('/').includes('..') || !m.key.includes(`/${m.artefactId}-`)) {
    throw new InvalidInputError(`artefact manifest ${manifestKey} points at ${m.key}, outside ${prefix} or not named after ${m.artefactId}`);
  }
  if (m.role === 'segment' && m.sequence === undefined) throw new InvalidInputError(`artefact manifest ${manifestKey} is a segment without a sequence number`);
}

// Compile-time guard: a catalogue entry carries every field of the shared manifest contract
// but the envelope (format, kind, parts, mtime), plus where the manifest is. A field added to
// the contract fails the build here until the entry (and its item) carry it too.
type EntryFields = Exclude<keyof ArtefactManifest, 'format' | 'kind' | 'parts' | 'mtime'> | 'manifestKey';
export const ENTRY_MATCHES_MANIFEST: [EntryFields] extends [keyof ArtefactEntry] ? ([keyof ArtefactEntry] extends [EntryFields] ? true : never) : never = true;

export function artefactEntryOf(m: ArtefactManifest, manifestKey: string): ArtefactEntry {
  const { format: _format, kind: _kind, parts: _parts, mtime: _mtime, ...fields } = m;
  return { ...fields, manifestKey };
}

/** Reads one artefact manifest, checks it and its object, then writes its catalogue entry. Idempotent. */
export async function ingestArtefact(deps: ArtefactIngestDeps, manifestKey: string): Promise<ArtefactIngestResult> {
  if (!isArtefactManifestKey(manifestKey)) throw new InvalidInputError(`${manifestKey} is not an artefact manifest key`);
  const manifest = parseArtefactManifest(await readSmall(deps.blobs, manifestKey));
  checkPlacement(manifestKey, manifest);
  const object = await deps.blobs.head(manifest.key);
  if (!object) throw new IntegrityError(`artefact ${manifest.key} of manifest ${manifestKey} is missing: nothing catalogued`);
  if (object.size !== manifest.size) {
    throw new IntegrityError(`artefact ${manifest.key} is ${object.size} bytes, manifest ${manifestKey} says ${manifest.size}: nothing catalogued`);
  }
  await deps.catalogue.putArtefact(artefactEntryOf(manifest, manifestKey));
  const now = deps.clock?.now();
  const future = now !== undefined && isFutureDated(manifest.takenAt, now) ? { futureDated: futureDatedNote(manifestKey, manifest.takenAt, now) } : {};
  return { manifestKey, site: manifest.site, artefactId: manifest.artefactId, source: manifest.source, role: manifest.role, ...future };
}
