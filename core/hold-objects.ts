import type { Clock } from './clock.ts';
import { NotFoundError } from './errors.ts';
import { scopeKey, type CaseRecord, type HoldRecord, type HoldScope, type HoldStore } from './hold-items.ts';
import { parseManifest } from './manifest.ts';
import { mapLimit } from './map-limit.ts';
import type { BlobStore, CatalogueEntry, CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';

// What the call holds (core/holds.ts) and the case holds (core/case-holds.ts) share: their
// dependencies, the objects a call lives in, and how a new hold record is named.

/** Sets S3 Object Lock legal hold on an object (its current version). */
export interface ObjectHolder {
  /** ON or OFF; idempotent. NotFoundError when the object is absent. */
  setLegalHold(key: string, on: boolean): Promise<void>;
}

export interface HoldDeps {
  holds: HoldStore;
  catalogue: Pick<CatalogueStore, 'getRecording' | 'getRecordings'>;
  blobs: Pick<BlobStore, 'get' | 'head'>;
  holder: ObjectHolder;
  clock: Clock;
  /** Members a case hold (or an add to a held case) holds in one request at most; default CASE_HOLD_BATCH. */
  caseBatch?: number;
}

export interface HoldOutcome {
  site: string;
  rid?: string;
  caseId?: string;
  /** The hold records written (placed or released); on a repeated place, the active ones. */
  holds: HoldRecord[];
  /** A place that wrote no new record: the same matter's hold (same scope and reference) was active already. */
  existing?: boolean;
  /** Objects whose legal hold was set (ON on place, OFF on release). */
  objects: string[];
  /** A case's members no longer in the catalogue (deleted by retention before the hold): nothing of them to hold. */
  gone?: string[];
  /** A case: on hold now (every member still in the archive is held), or not yet (`remaining`). */
  held?: boolean;
  /** A case: members still to hold; the caller asks again (a case hold is done a part at a time). */
  remaining?: number;
  /** A case: how many calls it lists. */
  members?: number;
  /** A case: SHA-256 of its sorted member list (membersDigest), as the audit record names it. */
  membersSha256?: string;
}

/** Requests in flight at once for a case's members and objects: a case of 1,000 calls must fit a function's time. */
export const CASE_CONCURRENCY = 16;

export async function recording(deps: Pick<HoldDeps, 'catalogue'>, site: string, rid: string): Promise<CatalogueEntry> {
  const entry = await deps.catalogue.getRecording(site, rid);
  if (!entry) throw new NotFoundError(`no recording ${rid} in site ${site}`);
  return entry;
}

export async function existingCase(deps: Pick<HoldDeps, 'holds'>, site: string, caseId: string): Promise<CaseRecord> {
  const found = await deps.holds.getCase(site, caseId);
  if (!found) throw new NotFoundError(`no case ${caseId} in site ${site}`);
  return found;
}

/** The objects a call lives in: its pack and the pack's manifest. */
export function objectsOf(entry: CatalogueEntry): string[] {
  return [entry.packKey, entry.manifestKey];
}

export async function lockObjects(deps: Pick<HoldDeps, 'holder'>, keys: string[], on: boolean): Promise<string[]> {
  const unique = [...new Set(keys)];
  await mapLimit(unique, CASE_CONCURRENCY, (key) => deps.holder.setLegalHold(key, on));
  return unique;
}

/**
 * Sets legal hold OFF on the objects of the given calls where no call of the same pack is in
 * `stillHeld` (a pack is one object: one held member keeps the whole pack under legal hold).
 * The calls are read from the catalogue 100 a request (getRecordings), each pack's manifest once
 * (and not at all when no call of the site is held), CASE_CONCURRENCY packs at a time.
 */
export async function unlockWhereFree(deps: Pick<HoldDeps, 'catalogue' | 'blobs' | 'holder'>, site: string, rids: readonly string[], stillHeld: ReadonlySet<string>): Promise<string[]> {
  const free = [...new Set(rids)].filter((rid) => !stillHeld.has(rid));
  if (free.length === 0) return [];
  const packs = new Map<string, CatalogueEntry>();
  for (const entry of (await deps.catalogue.getRecordings(free.map((rid) => ({ site, rid })))).values()) if (!packs.has(entry.manifestKey)) packs.set(entry.manifestKey, entry);
  const off = await mapLimit([...packs.values()], CASE_CONCURRENCY, async (entry) => {
    if (stillHeld.size > 0) {
      const manifest = parseManifest(await readSmallObject(deps.blobs, entry.manifestKey, 16 * 1024 * 1024, 'manifest'));
      if (manifest.members.some((m) => stillHeld.has(m.rid))) return [];
    }
    await Promise.all(objectsOf(entry).map((key) => deps.holder.setLegalHold(key, false)));
    return objectsOf(entry);
  });
  return off.flat();
}

/**
 * A new hold record of `rid` under `scope`, given the call's records so far (`all`). A record is
 * keyed by its call, time and scope: two matters' holds placed in the same millisecond are a
 * millisecond apart.
 */
export function newHoldRecord(deps: Pick<HoldDeps, 'clock'>, all: readonly HoldRecord[], site: string, rid: string, scope: HoldScope, input: { reason: string; reference?: string; principal: string }): HoldRecord {
  let placedAt = deps.clock.now().getTime();
  while (all.some((h) => h.placedAt === new Date(placedAt).toISOString() && scopeKey(h.scope) === scopeKey(scope))) placedAt += 1;
  return { site, rid, scope, reason: input.reason, ...(input.reference ? { reference: input.reference } : {}), placedBy: input.principal, placedAt: new Date(placedAt).toISOString() };
}
