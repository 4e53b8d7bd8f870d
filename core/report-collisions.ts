import { messageOf } from './errors.ts';
import { mapLimit } from './map-limit.ts';
import { findCollisions, type CallSummary, type IngestCollision } from './ingest-collide.ts';
import type { PackManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueStore } from './ports.ts';

// The daily report's call collisions: calls of the day's packs that ingest found under another
// call's id, or catalogued twice (core/ingest-collide.ts). Ingest names each one in its log, its
// CallCollisions metric and the catalogued call's issues, where nobody looks unless told: the
// report finds them again, by ingest's own rule, for each pack written in the day, and says how
// many, a few with both calls' metadata, and what to do. A warning: nothing is lost (both
// recordings are kept), but one call's metadata is not searchable.

/** Packs checked side by side. */
const CHECKS_AT_ONCE = 8;

/** Collisions the report names with both calls' metadata; the others are counted. */
export const COLLISION_EXAMPLES = 5;

export interface DayCollisions {
  /** The day's collisions found (merged and twice). */
  count: number;
  /** The first COLLISION_EXAMPLES of them, both calls' metadata each. */
  examples: IngestCollision[];
  /** Why some packs of the day could not be checked (counted by what was checked). */
  unread?: string;
}

export interface CollisionDeps {
  blobs: Pick<BlobStore, 'get' | 'head'>;
  catalogue: Partial<Pick<CatalogueStore, 'packKeysOf' | 'getRecordings'>>;
}

/** The collisions of the day's packs (their manifests as read); undefined when none, or when the catalogue cannot be asked. */
export async function gatherCollisions(deps: CollisionDeps, manifests: readonly { key: string; manifest: PackManifest }[]): Promise<DayCollisions | undefined> {
  const { packKeysOf } = deps.catalogue;
  if (!packKeysOf || !deps.catalogue.getRecordings) return undefined;
  const unread: string[] = [];
  // One catalogue read per pack (a day of a busy site is a thousand packs), a few at once.
  const perPack = await mapLimit(manifests, CHECKS_AT_ONCE, async ({ key, manifest }) => {
    try {
      // As ingest decided: a member whose id is catalogued in another pack is a copy (contested).
      const where = await packKeysOf.call(deps.catalogue, manifest.members.map((m) => ({ site: manifest.site, rid: m.rid })));
      const elsewhere = (rid: string) => [undefined, manifest.packKey].every((k) => where.get(recordingLookupKey(manifest.site, rid)) !== k);
      const contested = new Set(manifest.members.map((m) => m.rid).filter(elsewhere));
      return await findCollisions(deps, manifest, key, contested);
    } catch (error) {
      unread.push(`${key}: ${messageOf(error)}`);
      return [];
    }
  });
  const found = perPack.flat();
  if (found.length === 0 && unread.length === 0) return undefined;
  return { count: found.length, examples: found.slice(0, COLLISION_EXAMPLES), ...(unread.length ? { unread: `${unread.length} pack(s) of the day not checked for collisions: ${unread.slice(0, 3).join('; ')}` } : {}) };
}

const callText = (c: CallSummary) => [c.callId && `call id ${c.callId}`, c.start && `start ${c.start}`, c.agent && `agent ${c.agent}`, c.caller && `caller ${c.caller}`, c.called && `called ${c.called}`, `file time ${c.mtime}`, c.manifestKey].filter(Boolean).join(', ');

/** One collision as the report lists it: what happened, the catalogued call and the one shipped. */
export function collisionText(c: IngestCollision): string {
  return c.kind === 'merged'
    ? `${c.path}: a call shipped under the id ${c.catalogued.rid} of a call catalogued before, with the same audio at the same path; catalogued: ${callText(c.catalogued)}; shipped: ${callText(c.shipped)} (kept as a copy, its own metadata not searchable)`
    : `${c.path}: the same call (same audio and sidecar) catalogued twice, as ${c.catalogued.rid} and ${c.shipped.rid}; first: ${callText(c.catalogued)}; again: ${callText(c.shipped)}`;
}

/** What to do about the day's collisions. */
export const COLLISION_ADVICE =
  "the site's agent could not tell these calls from calls it shipped before: its state directory was lost or replaced (an agent installed afresh, a host rebuilt) while the recorder reuses paths. Give the agent its state directory back, or keep it across reinstalls, so that new calls get their own ids; nothing is lost: both recordings are kept, each catalogued call names the other in its issues (`ferry calls search --json`), and the shipped call's metadata is in the manifest named";
