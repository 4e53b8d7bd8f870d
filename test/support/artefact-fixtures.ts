import { createHash } from 'node:crypto';
import { ARTEFACT_FORMAT, artefactId, serializeArtefactManifest, type ArtefactManifest } from '../../core/artefact.ts';
import { artefactKey, artefactManifestKey } from '../../core/layout.ts';
import type { ArtefactEntry, BlobStore } from '../../core/ports.ts';

// Catalogue entries for artefacts, as ingest would write them from real manifests.

export const T0 = Date.parse('2026-03-01T00:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();
/** Minutes after T0, as ISO. */
export const min = (m: number) => iso(T0 + m * 60_000);

function entry(site: string, source: string, sourceType: ArtefactEntry['sourceType'], role: ArtefactEntry['role'], name: string, takenAt: string, over: Partial<ArtefactEntry>): ArtefactEntry {
  const sha256 = over.sha256 ?? createHash('sha256').update(`${site}/${source}/${name}/${takenAt}/${over.partial ? 'p' : 'f'}`).digest('hex');
  const id = artefactId(site, source, name, sha256, over.partial ?? false);
  return {
    site,
    source,
    sourceType,
    role,
    artefactId: id,
    key: artefactKey(site, sourceType, source, id, name, new Date(takenAt), over.partial ?? false),
    manifestKey: artefactManifestKey(site, sourceType, source, id, over.partial ?? false),
    name,
    size: 1000,
    sha256,
    takenAt,
    createdAt: takenAt,
    ...over,
  };
}

/** A full backup taken at `takenAt`, optionally recording the binlog position it was taken at. */
export function makeFull(takenAt: string, over: Partial<ArtefactEntry> & { site?: string; source?: string } = {}): ArtefactEntry {
  const { site = 'site-a', source = 'db', ...rest } = over;
  return entry(site, source, 'rotated', 'full', rest.name ?? `full-${takenAt.slice(0, 19).replace(/[-:]/g, '')}.sql`, takenAt, { profile: 'generic', ...rest });
}

/** Log segment `{series}.{seq}` whose events span from..to (its takenAt is its last event). */
export function makeSegment(sequence: number, from: string, to: string, over: Partial<ArtefactEntry> & { site?: string; source?: string } = {}): ArtefactEntry {
  const { site = 'site-a', source = 'binlog', ...rest } = over;
  const series = rest.series ?? 'mysql-bin';
  const name = rest.name ?? `${series}.${String(sequence).padStart(6, '0')}`;
  return entry(site, source, 'binlog', 'segment', name, to, { sequence, series, span: { from, to }, spanSource: 'events', ...rest });
}

/** A closed archive covering from..to. */
export function makeArchive(from: string, to: string, over: Partial<ArtefactEntry> & { site?: string; source?: string } = {}): ArtefactEntry {
  const { site = 'site-a', source = 'voice', ...rest } = over;
  return entry(site, source, 'archive', 'archive', rest.name ?? `Voice Recording ${from} ${to}.sdb`, to, { span: { from, to }, spanSource: 'name', ...rest });
}

export interface PublishArtefactInput {
  site?: string;
  source: string;
  sourceType: ArtefactEntry['sourceType'];
  role: ArtefactEntry['role'];
  name: string;
  body: Uint8Array;
  takenAt: string;
  extra?: Partial<ArtefactManifest>;
}

/** Writes an artefact's object, then its manifest (the commit rule), as the agent would; returns the manifest. */
export async function publishArtefact(blobs: Pick<BlobStore, 'put'>, input: PublishArtefactInput): Promise<ArtefactManifest> {
  const site = input.site ?? 'site-a';
  const sha256 = createHash('sha256').update(input.body).digest('hex');
  const partial = input.extra?.partial ?? false;
  const id = artefactId(site, input.source, input.name, sha256, partial);
  const manifest: ArtefactManifest = {
    format: ARTEFACT_FORMAT,
    kind: 'artefact',
    site,
    source: input.source,
    sourceType: input.sourceType,
    role: input.role,
    artefactId: id,
    key: artefactKey(site, input.sourceType, input.source, id, input.name, new Date(input.takenAt), partial),
    name: input.name,
    size: input.body.length,
    sha256,
    parts: 1,
    mtime: input.takenAt,
    takenAt: input.takenAt,
    createdAt: input.takenAt,
    ...input.extra,
  };
  await blobs.put(manifest.key, input.body);
  await blobs.put(artefactManifestKey(site, input.sourceType, input.source, id), serializeArtefactManifest(manifest));
  return manifest;
}
