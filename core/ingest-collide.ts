import { recordingId, rewrittenCallId } from './ids.ts';
import { parseManifest, type ManifestMember, type PackManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueEntry, type CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';

// Two calls, one recording id. A recording's id is its site, path and SHA-256 (core/ids.ts), so
// a new call written at an old path with the very same audio (a recorder that restarted its
// numbering) is the old call, unless its agent knew the name shipped before and gave it an id of
// its own (rewrittenCallId: it needs the agent's state directory). Ingest cannot re-key it (the
// manifest's id is what holds, purges and erasures go by), but it never lets it pass unsaid: a
// member landing on a call catalogued in another pack is compared with that call's member in
// its own manifest, and one with another sidecar (or, neither having one, another file time) is
// named, with both calls' metadata, in ingest's result (logged) and in the catalogued call's
// issues. So is the converse: a member under its rewritten-call id whose plain id holds a call
// with the very same sidecar (the same call sent again under new file times, catalogued twice).

/** What tells a call apart in an operator's eyes. */
export interface CallSummary {
  rid: string;
  manifestKey: string;
  mtime: string;
  start?: string;
  callId?: string;
  caller?: string;
  called?: string;
  agent?: string;
  sidecarSha256?: string;
}

export interface IngestCollision {
  path: string;
  /**
   * `merged`: another call (another sidecar or file time) shipped under the id of the call
   * catalogued: recorded as a copy of it, its own metadata not catalogued. `twice`: the call
   * catalogued, sent again under new file times with the same sidecar, catalogued a second time
   * under its rewritten-call id.
   */
  kind: 'merged' | 'twice';
  catalogued: CallSummary;
  shipped: CallSummary;
}

export interface CollideDeps {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  catalogue: Partial<Pick<CatalogueStore, 'getRecordings' | 'putRecordings'>>;
}

/** Manifests read back per ingest to compare members (a whole batch sent again reads one or two). */
const MAX_MANIFESTS_READ = 20;
const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

function summary(rid: string, manifestKey: string, m: ManifestMember): CallSummary {
  const meta: Record<string, unknown> = m.meta;
  const pick = (k: 'start' | 'callId' | 'caller' | 'called' | 'agent') => (typeof meta[k] === 'string' ? { [k]: meta[k] } : {});
  return {
    rid,
    manifestKey,
    mtime: m.mtime,
    ...pick('start'),
    ...pick('callId'),
    ...pick('caller'),
    ...pick('called'),
    ...pick('agent'),
    ...(m.sidecar ? { sidecarSha256: m.sidecar.sha256 } : {}),
  };
}

const describe = (c: CallSummary) => [c.callId && `call id ${c.callId}`, c.start && `start ${c.start}`, c.caller && `caller ${c.caller}`, `file time ${c.mtime}`].filter(Boolean).join(', ');

/** The issue the catalogued call carries: what else was shipped under its id. */
export function collisionIssue(c: IngestCollision): string {
  return c.kind === 'merged'
    ? `${c.path}: another call with the same audio at this path (${describe(c.shipped)}, ${c.shipped.manifestKey}) was shipped under this call's id and is catalogued only as a copy of it: its agent could not tell the calls apart (its state directory lost or replaced)`
    : `${c.path}: catalogued twice: the same call (the same audio and sidecar) was sent again under new file times and is catalogued as ${c.shipped.rid} too`;
}

/**
 * The collisions of `manifest`'s members with calls catalogued in other packs. `contested`: the
 * members whose id is catalogued in another pack (recorded as copies). Without getRecordings
 * (a narrowed catalogue) nothing is compared.
 */
export async function findCollisions(deps: CollideDeps, manifest: PackManifest, manifestKey: string, contested: ReadonlySet<string>): Promise<IngestCollision[]> {
  const { getRecordings } = deps.catalogue;
  if (!getRecordings) return [];
  const site = manifest.site;
  const candidates = new Map<string, { member: ManifestMember; at: string; kind: IngestCollision['kind'] }>();
  const rewritten = manifest.members.filter((m) => m.rid !== recordingId(site, m.path, m.sha256));
  const plainOf = (m: ManifestMember) => recordingId(site, m.path, m.sha256);
  for (const m of manifest.members) if (contested.has(m.rid)) candidates.set(m.rid, { member: m, at: m.rid, kind: 'merged' });
  for (const m of rewritten) candidates.set(m.rid, { member: m, at: plainOf(m), kind: 'twice' });
  if (candidates.size === 0) return [];
  // A call catalogued under its rewritten-call id, sent again by an agent that lost its state
  // directory (so under its plain id): it is catalogued already, its own metadata with it.
  const ownId = (m: ManifestMember) => (m.sidecar ? rewrittenCallId(site, m.path, m.sha256, m.sidecar.sha256) : undefined);
  const owns = [...candidates.values()].flatMap((c) => (c.kind === 'merged' && ownId(c.member) ? [ownId(c.member)!] : []));
  const held = await getRecordings.call(deps.catalogue, [...[...candidates.values()].map((c) => c.at), ...owns].map((rid) => ({ site, rid })));
  const manifests = new Map<string, PackManifest | undefined>();
  const found: IngestCollision[] = [];
  for (const c of candidates.values()) {
    const entry = held.get(recordingLookupKey(site, c.at));
    if (!entry || entry.manifestKey === manifestKey) continue;
    const own = c.kind === 'merged' ? ownId(c.member) : undefined;
    if (own !== undefined && held.has(recordingLookupKey(site, own))) continue;
    if (!manifests.has(entry.manifestKey)) {
      if (manifests.size >= MAX_MANIFESTS_READ) continue;
      manifests.set(entry.manifestKey, await readSmallObject(deps.blobs, entry.manifestKey, MAX_MANIFEST_BYTES, 'manifest').then(parseManifest, () => undefined));
    }
    const theirs = manifests.get(entry.manifestKey)?.members.find((x) => x.rid === c.at);
    if (!theirs) continue;
    const mine = c.member;
    const sameSidecar = theirs.sidecar?.sha256 === mine.sidecar?.sha256;
    const differ = c.kind === 'merged' ? !sameSidecar || (mine.sidecar === undefined && theirs.mtime !== mine.mtime) : sameSidecar && theirs.sha256 === mine.sha256;
    if (differ) found.push({ path: mine.path, kind: c.kind, catalogued: summary(c.at, entry.manifestKey, theirs), shipped: summary(mine.rid, manifestKey, mine) });
  }
  return found;
}

/** Adds each collision's issue to the catalogued call (once: ingesting the manifest again adds nothing). */
export async function noteCollisions(deps: CollideDeps, site: string, collisions: IngestCollision[], limits: { issues: number; chars: number }): Promise<void> {
  const { getRecordings, putRecordings } = deps.catalogue;
  if (!getRecordings || !putRecordings || collisions.length === 0) return;
  const entries = await getRecordings.call(deps.catalogue, collisions.map((c) => ({ site, rid: c.catalogued.rid })));
  const changed: CatalogueEntry[] = [];
  for (const c of collisions) {
    const entry = entries.get(recordingLookupKey(site, c.catalogued.rid));
    const issue = collisionIssue(c).slice(0, limits.chars);
    if (!entry || entry.issues?.includes(issue) || (entry.issues?.length ?? 0) >= limits.issues) continue;
    entry.issues = [...(entry.issues ?? []), issue];
    if (!changed.includes(entry)) changed.push(entry);
  }
  if (changed.length > 0) await putRecordings.call(deps.catalogue, changed);
}
