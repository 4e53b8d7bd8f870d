import { createHash } from 'node:crypto';
import { artefactId, ARTEFACT_FORMAT, serializeArtefactManifest, type ArtefactManifest } from '../../core/artefact.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { artefactEntryOf } from '../../core/ingest-artefact.ts';
import { artefactKey, artefactManifestKey, type ArtefactSourceType } from '../../core/layout.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';
import type { HoldStore } from '../../core/hold-items.ts';
import type { ObjectHolder } from '../../core/holds.ts';

// Histories for purge tests: recording packs with call starts at given ages (published and
// ingested, as the agent and the ingest function would), and backup/log artefacts with their
// manifests (the layout of issue 3).

const DAY = 86_400_000;

/** With `hold`, the given members are put on legal hold as the hold function does: a hold record, and Object Lock legal hold on the pack and manifest when a holder is given. */
/** `packAgeDays`: the pack's date, when its files were written later than its calls (default: the oldest call's day); `createdAt`: when it was committed (its Object Lock runs from then). */
export async function publishPack(deps: { blobs: BlobStore; catalogue: CatalogueStore; holds?: HoldStore; holder?: ObjectHolder }, site: string, now: Date, name: string, ageDays: number[], opts: { hold?: number[]; packAgeDays?: number; createdAt?: Date; shippedBy?: PackFixture['manifest']['shippedBy'] } = {}): Promise<PackFixture> {
  const oldest = opts.packAgeDays ?? Math.max(...ageDays);
  const fixture = buildPack(
    site,
    ageDays.map((age, i) => ({ path: `${name}/call-${i}.wav`, body: audio(i + name.length * 7, 600), meta: { callId: `${name}-${i}`, start: new Date(now.getTime() - age * DAY).toISOString() } })),
    { seed: name, day: new Date(now.getTime() - oldest * DAY).toISOString().slice(0, 10) + 'T00:00:00Z', ...(opts.createdAt ? { createdAt: opts.createdAt.toISOString() } : {}), ...(opts.shippedBy ? { shippedBy: opts.shippedBy } : {}) },
  );
  await publish(deps.blobs, fixture);
  await ingestManifest(deps, fixture.manifestKey);
  for (const i of opts.hold ?? []) {
    if (!deps.holds) throw new Error('publishPack: a hold needs deps.holds');
    await deps.holds.putHold({ site, rid: fixture.manifest.members[i]!.rid, scope: { kind: 'call' }, reason: 'litigation', placedBy: 'test', placedAt: now.toISOString() });
    await deps.holder?.setLegalHold(fixture.packKey, true);
    await deps.holder?.setLegalHold(fixture.manifestKey, true);
  }
  return fixture;
}

export interface ArtefactSpec {
  source: string;
  type: ArtefactSourceType;
  name: string;
  takenAt: Date;
  sequence?: number;
  series?: string;
  position?: { logFile: string; logPos: number };
}

/** Given the catalogue too (`{ blobs, catalogue }`), the artefact is catalogued as ingest does. */
export async function publishArtefact(to: BlobStore | { blobs: BlobStore; catalogue: Pick<CatalogueStore, 'putArtefact'> }, site: string, spec: ArtefactSpec): Promise<{ key: string; manifestKey: string }> {
  const { blobs, catalogue } = 'catalogue' in to ? to : { blobs: to, catalogue: undefined };
  const body = Buffer.from(`${spec.source}/${spec.name}`);
  const sha256 = createHash('sha256').update(body).digest('hex');
  const id = artefactId(site, spec.source, spec.name, sha256);
  const key = artefactKey(site, spec.type, spec.source, id, spec.name, spec.takenAt);
  const manifestKey = artefactManifestKey(site, spec.type, spec.source, id);
  const manifest: ArtefactManifest = {
    format: ARTEFACT_FORMAT,
    kind: 'artefact',
    site,
    source: spec.source,
    sourceType: spec.type,
    role: spec.type === 'rotated' ? 'full' : spec.type === 'binlog' ? 'segment' : 'archive',
    artefactId: id,
    key,
    name: spec.name,
    size: body.length,
    sha256,
    parts: 1,
    mtime: spec.takenAt.toISOString(),
    takenAt: spec.takenAt.toISOString(),
    ...(spec.sequence !== undefined ? { sequence: spec.sequence } : {}),
    ...(spec.series ? { series: spec.series } : {}),
    ...(spec.position ? { position: spec.position } : {}),
    createdAt: spec.takenAt.toISOString(),
  };
  await blobs.put(key, body);
  await blobs.put(manifestKey, serializeArtefactManifest(manifest));
  await catalogue?.putArtefact(artefactEntryOf(manifest, manifestKey));
  return { key, manifestKey };
}

export function daysAgo(now: Date, days: number): Date {
  return new Date(now.getTime() - days * DAY);
}
