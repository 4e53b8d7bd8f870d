import type { AuditEvent } from './audit-trail.ts';
import { NotFoundError } from './errors.ts';
import type { ErasureRecord, ErasureStore } from './erasure-items.ts';
import { parseManifest, type PackManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { lockedUntil, type PurgeTarget } from './retention.ts';

// The purge's half of erasure (core/erasures.ts takes the request): for each pack holding a
// pending erased call, when nothing else prevents it, a target that copies the pack's other
// calls byte for byte to a new pack (core/copy-out.ts, purpose `erasure`; held calls keep their
// legal hold), re-catalogues them there, deletes the old pack, forgets the erased call's entry and
// deletes the old manifest (core/purge-delete.ts, objects before manifests as for every pack).
// Only once the old pack and manifest are gone is the request marked done.
//
// What prevents it, said in the purge report and the plan's summary:
//  - the call is under legal hold (placed after the request): it waits until the hold is released;
//  - the pack is still under the bucket's Object Lock: it waits until then ("erasure pending until").
// A pack the retention plan deletes anyway just carries the erased calls' requests along.
//
// Crash safety: the request gates every reader from the moment it is recorded, so no step makes
// the call playable; the other calls are copied, verified and re-catalogued before the old pack
// goes, so none is lost; a re-run finds the erased call by its catalogue entry (or, once that is
// forgotten, the manifest the request named), and a copy that already exists is re-catalogued,
// not redone.

export interface ErasurePlanDeps {
  blobs: Pick<BlobStore, 'get'>;
  catalogue: Pick<CatalogueStore, 'getRecordings'>;
  erasures: Pick<ErasureStore, 'listErasures'>;
}

export interface ErasureSummary {
  /** Pending requests the plan carries out (packs rewritten or deleted). */
  planned: number;
  /** Pending requests whose pack is still under Object Lock: the first comes free on `until`. */
  locked?: { count: number; until: string };
  /** Pending requests whose call is under legal hold (placed after the request): they wait for its release. */
  held?: string[];
}

export interface ErasurePlan {
  targets: PurgeTarget[];
  /** Dead attempts at the packs targeted (they hold the erased calls' bytes too), by pack key. */
  dead: Map<string, string[]>;
  /** Requests whose call's pack and manifest are gone already: done (a purge that stopped before marking them). */
  gone: ErasureRecord[];
  summary: ErasureSummary;
}

/** Where each pending request's call is now: the manifest of its catalogue entry, else the one the request named. */
async function locate(deps: ErasurePlanDeps, site: string, pending: ErasureRecord[]): Promise<Map<string, ErasureRecord[]>> {
  const entries = await deps.catalogue.getRecordings(pending.map((e) => ({ site, rid: e.rid })));
  const byManifest = new Map<string, ErasureRecord[]>();
  for (const e of pending) {
    const manifestKey = entries.get(recordingLookupKey(site, e.rid))?.manifestKey ?? e.manifestKey;
    byManifest.set(manifestKey, [...(byManifest.get(manifestKey) ?? []), e]);
  }
  return byManifest;
}

async function manifestOf(deps: ErasurePlanDeps, key: string): Promise<PackManifest | undefined> {
  try {
    return parseManifest(await readSmallObject(deps.blobs, key, 16 * 1024 * 1024, 'manifest'));
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
}

/**
 * The erasure targets of a site's purge. `planned` is the retention plan's targets: a pack it
 * deletes anyway carries the erased calls along (`erase` added to its target); `held` the calls
 * under legal hold; `deadAttempts` the dead attempts a manifest lists (core/purge.ts).
 */
export async function planErasures(
  deps: ErasurePlanDeps,
  input: { site: string; now: Date; objectLockDays?: number; held: Set<string>; planned: PurgeTarget[]; deadAttempts: (m: PackManifest) => string[] },
): Promise<ErasurePlan> {
  const plan: ErasurePlan = { targets: [], dead: new Map(), gone: [], summary: { planned: 0 } };
  const pending = (await deps.erasures.listErasures(input.site)).filter((e) => e.status === 'pending');
  if (pending.length === 0) return plan;
  const heldWait: string[] = [];
  let locked = 0;
  let firstFree = Number.POSITIVE_INFINITY;
  for (const [manifestKey, requests] of await locate(deps, input.site, pending)) {
    const manifest = await manifestOf(deps, manifestKey);
    const members = new Set(manifest?.members.map((m) => m.rid) ?? []);
    const here = requests.filter((e) => members.has(e.rid));
    // Neither entry nor manifest: the pack and its manifest were deleted (objects before manifests) by a purge that stopped before saying so.
    plan.gone.push(...requests.filter((e) => !members.has(e.rid)));
    const erase = here.filter((e) => !input.held.has(e.rid)).map((e) => e.rid);
    heldWait.push(...here.filter((e) => input.held.has(e.rid)).map((e) => e.rid));
    if (!manifest || erase.length === 0) continue;
    const retained = input.planned.find((t) => t.key === manifest.packKey);
    if (retained) {
      retained.erase = erase;
      plan.summary.planned += erase.length;
      continue;
    }
    const until = lockedUntil(manifest.createdAt, { now: input.now, objectLockDays: input.objectLockDays });
    if (until !== undefined) {
      locked += erase.length;
      firstFree = Math.min(firstFree, until);
      continue;
    }
    const gone = new Set(erase);
    const keep = manifest.members.map((m) => m.rid).filter((rid) => !gone.has(rid));
    const reason = `${erase.length} call(s) erased at a data subject's request${keep.length ? `; the other ${keep.length} copied to a new pack first` : ''}`;
    plan.targets.push({ key: manifest.packKey, then: manifestKey, kind: 'pack', source: manifest.source, reason, erase, ...(keep.length ? { keep } : {}), ...(keep.some((rid) => input.held.has(rid)) ? { keepHeld: true } : {}) });
    plan.dead.set(manifest.packKey, input.deadAttempts(manifest));
    plan.summary.planned += erase.length;
  }
  if (locked) plan.summary.locked = { count: locked, until: new Date(firstFree).toISOString() };
  if (heldWait.length) plan.summary.held = heldWait;
  return plan;
}

/** Who the audit trail names as having carried out an erasure. */
export const ERASURE_PRINCIPAL = 'ferry purge (erasure)';

/**
 * Marks requests done: the call's pack and manifest are gone. The record is written on the request
 * (table and bucket) after the audit record: a purge that stops between them leaves the request
 * pending with its deletion recorded, and the next purge marks it (never done without a record).
 */
export async function markErased(deps: { erasures: Pick<ErasureStore, 'getErasure' | 'markDone'>; audit?: (event: AuditEvent) => void | Promise<void> }, site: string, rids: string[], at: string, note: string, audited: boolean): Promise<number> {
  let done = 0;
  for (const rid of rids) {
    const request = await deps.erasures.getErasure(site, rid);
    if (!request || request.status === 'done') continue;
    if (!audited) await deps.audit?.({ at, action: 'purge', site, rid, principal: ERASURE_PRINCIPAL, detail: { rule: 'erasure', erased: [rid], calls: [`${rid} ${request.call}`], note } });
    await deps.erasures.markDone({ ...request, status: 'done', doneAt: at, doneNote: note });
    done++;
  }
  return done;
}
