import type { AuditEvent } from './audit-trail.ts';
import { copyOutKeys, type CopyOutResult } from './copy-out.ts';
import { NotFoundError } from './errors.ts';
import type { ErasureRecord, ErasureStore } from './erasure-items.ts';
import { parseManifest, type PackManifest } from './manifest.ts';
import { recordingLookupKey, type BlobStore, type CatalogueStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { mapLimit } from './map-limit.ts';
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
// A pack the retention plan deletes anyway just carries the erased calls' requests along (its audit
// record names both rules: the retention's days and the requests carried out).
//
// Crash safety: the request gates every reader from the moment it is recorded, so no step makes
// the call playable; the other calls are copied, verified and re-catalogued before the old pack
// goes, so none is lost; a re-run looks for each call afresh (its catalogue entry's manifest, the
// one the request named, the copy a rewrite of either already began), and a copy that already
// exists is re-catalogued, not redone. A rewrite a stopped purge began is finished as it began
// even when another call of the pack was asked for since: that call waits in the copy for the
// next purge, and no second copy (holding it) is ever made beside the first.

export interface ErasurePlanDeps {
  /** `list`: the pack objects of a day, to find the copy a rewrite under way already made. */
  blobs: Pick<BlobStore, 'get' | 'list'>;
  /** `copiesOf`: the other packs ingest found holding a call it had catalogued (shipped twice), whatever day they are filed under. */
  catalogue: Pick<CatalogueStore, 'getRecordings' | 'copiesOf'>;
  erasures: Pick<ErasureStore, 'listErasures'>;
}

export interface ErasureSummary {
  /** Pending requests the plan carries out (packs rewritten or deleted). */
  planned: number;
  /** Pending requests whose pack is still under Object Lock: the first comes free on `until`. */
  locked?: { count: number; until: string };
  /** Pending requests whose call is under legal hold (placed after the request): they wait for its release. */
  held?: string[];
  /**
   * Pending requests whose call a rewrite under way (begun by a purge that stopped before its old
   * pack went) copied to its new pack: this purge finishes that rewrite as it began, the next one
   * erases them from the new pack.
   */
  afterRewrite?: string[];
}

export interface ErasurePlan {
  targets: PurgeTarget[];
  /** Dead attempts at the packs targeted (they hold the erased calls' bytes too), by pack key. */
  dead: Map<string, string[]>;
  /** Requests whose call no manifest lists any more (its catalogue entry's, the request's, a rewrite's copy): done (a purge that stopped before marking them). */
  gone: ErasureRecord[];
  summary: ErasureSummary;
  /** What each request left pending waits for (its pack's Object Lock, with the date; a hold), by rid: noted on the request, so the officer can say when. */
  waits: Map<string, string>;
}

/** A manifest that lists pending requests' calls, and the copy a rewrite of its pack already began. */
interface Located {
  manifestKey: string;
  manifest: PackManifest;
  requests: ErasureRecord[];
  underWay?: CopyOutResult;
}

/**
 * Every manifest that may list a pending request's call: its catalogue entry's and the one the
 * request named (they differ once a rewrite moved the entry), and those of the other copies ingest
 * recorded (the call shipped twice, its second pack perhaps filed under another day).
 */
async function candidates(deps: ErasurePlanDeps, site: string, pending: ErasureRecord[]): Promise<Map<string, ErasureRecord[]>> {
  const rids = pending.map((e) => e.rid);
  const entries = await deps.catalogue.getRecordings(rids.map((rid) => ({ site, rid })));
  const copies = await deps.catalogue.copiesOf(site, rids);
  const byManifest = new Map<string, ErasureRecord[]>();
  for (const e of pending) {
    const key = recordingLookupKey(site, e.rid);
    const manifests = [entries.get(key)?.manifestKey ?? e.manifestKey, e.manifestKey, ...(copies.get(key) ?? []).map((c) => c.manifestKey)];
    for (const manifestKey of new Set(manifests)) byManifest.set(manifestKey, [...(byManifest.get(manifestKey) ?? []), e]);
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

/** Manifests of a day read at once when looking for other copies of a call. */
const MANIFEST_READS = 16;

/** Pending requests of one pack beyond which only the sets they make in the order they came are tried (2^12 keys computed, no request made). */
const MAX_COMBINED = 12;

/** The sets of calls an earlier rewrite of the pack may have erased: every non-empty set of its pending requests (past MAX_COMBINED, those made in turn, and each alone). */
function erasedSets(requests: ErasureRecord[]): string[][] {
  const rids = [...requests].sort((a, b) => a.requestedAt.localeCompare(b.requestedAt) || a.rid.localeCompare(b.rid)).map((e) => e.rid);
  if (rids.length > MAX_COMBINED) return [...rids.map((_, i) => rids.slice(0, i + 1)), ...rids.map((rid) => [rid])];
  const sets: string[][] = [];
  for (let mask = 1; mask < 2 ** rids.length; mask++) sets.push(rids.filter((_, i) => mask & (2 ** i)));
  return sets;
}

/**
 * The copy an earlier rewrite of this pack began, if any: a purge that stopped after writing it
 * and before deleting the old pack, the requests having changed since (another call of the pack
 * asked for), would otherwise plan a second copy under other keys and leave the first, with the
 * newly asked call's bytes in it. A copy's keys follow from the calls it keeps (copyOutKeys), so
 * each set of calls the earlier rewrite may have erased names the keys its copy would have: the
 * pack objects of the day (one listing, shared by the plan) say whether one is there.
 */
async function rewriteUnderWay(site: string, manifest: PackManifest, requests: ErasureRecord[], packsOfDay: (packKey: string) => Promise<Set<string>>): Promise<CopyOutResult | undefined> {
  const present = await packsOfDay(manifest.packKey);
  for (const erased of erasedSets(requests)) {
    const gone = new Set(erased);
    const keep = manifest.members.map((m) => m.rid).filter((rid) => !gone.has(rid));
    if (keep.length === 0) continue;
    const { packKey, manifestKey, rids } = copyOutKeys(site, manifest, keep, 'erasure');
    if (present.has(packKey)) return { packKey, manifestKey, rids };
  }
  return undefined;
}

/** The manifests that still list a pending request's call, each with the copy a rewrite of its pack already began. */
async function locate(deps: ErasurePlanDeps, site: string, pending: ErasureRecord[]): Promise<{ located: Located[]; unread: Map<string, string> }> {
  const days = new Map<string, Promise<Set<string>>>();
  const packsOfDay = (packKey: string) => {
    const day = packKey.slice(0, packKey.lastIndexOf('/') + 1);
    if (!days.has(day)) days.set(day, (async () => { const keys = new Set<string>(); for await (const info of deps.blobs.list(day)) keys.add(info.key); return keys; })());
    return days.get(day)!;
  };
  const located: Located[] = [];
  const byManifest = await candidates(deps, site, pending);
  const { found, unread } = await otherCopies(deps, byManifest);
  for (const [manifestKey, requests] of [...byManifest, ...found]) {
    const manifest = await manifestOf(deps, manifestKey);
    const members = new Set(manifest?.members.map((m) => m.rid) ?? []);
    const here = requests.filter((e) => members.has(e.rid));
    if (!manifest || here.length === 0) continue;
    const underWay = await rewriteUnderWay(site, manifest, here, packsOfDay);
    located.push({ manifestKey, manifest, requests: here, ...(underWay ? { underWay } : {}) });
  }
  return { located, unread };
}

/**
 * The other manifests of the candidates' days: the same batch shipped again (an agent that lost
 * its state directory ships what the recorder still holds once more) lands in a pack of its own,
 * its calls with the same rids; ingest catalogues the first copy only, and records the second as
 * a copy (candidates), but a copy ingested before it did so is found only here, under the same
 * day. Each pending call is looked for in every manifest of its manifests' days (one listing a
 * day, each manifest read once).
 */
async function otherCopies(deps: ErasurePlanDeps, byManifest: Map<string, ErasureRecord[]>): Promise<{ found: Map<string, ErasureRecord[]>; unread: Map<string, string> }> {
  const byDay = new Map<string, Set<ErasureRecord>>();
  for (const [key, requests] of byManifest) {
    const day = key.slice(0, key.lastIndexOf('/') + 1);
    byDay.set(day, new Set([...(byDay.get(day) ?? []), ...requests]));
  }
  const found = new Map<string, ErasureRecord[]>();
  // A manifest of the day that cannot be read may list a copy: its requests are not done until it can be (by rid, why).
  const unread = new Map<string, string>();
  for (const [day, requests] of byDay) {
    const keys: string[] = [];
    for await (const info of deps.blobs.list(day)) if (!byManifest.has(info.key) && info.key.endsWith('.json')) keys.push(info.key);
    // A busy site files thousands of packs a day, read again by every purge while the request waits: read side by side.
    const read = await mapLimit(keys, MANIFEST_READS, async (key) => {
      try {
        return { key, rids: new Set((await manifestOf(deps, key))?.members.map((m) => m.rid) ?? []) };
      } catch (error) {
        return { key, error: error instanceof Error ? error.message : String(error) };
      }
    });
    for (const r of read) {
      if (r.error !== undefined) {
        for (const e of requests) if (!unread.has(e.rid)) unread.set(e.rid, `manifest ${r.key} of the call's day could not be read (${r.error}): it may list a copy of the call, so the request stays pending until it can be read`);
        continue;
      }
      const here = [...requests].filter((e) => r.rids?.has(e.rid));
      if (here.length) found.set(r.key, here);
    }
  }
  return { found, unread };
}

interface PlanInput {
  site: string;
  now: Date;
  objectLockDays?: number;
  held: Set<string>;
  planned: PurgeTarget[];
  deadAttempts: (m: PackManifest) => string[];
}

interface Waiting {
  /** The latest Object Lock end of a pack holding each locked call (ms). */
  lockedUntil: Map<string, number>;
  held: Set<string>;
  afterRewrite: Set<string>;
  locked: number;
  firstFree: number;
}

/**
 * What one pack's rewrite erases and keeps. A rewrite under way is finished as it began: it erases
 * what its copy left out, and the calls asked for since wait in the copy for the next purge; if a
 * call it erases was held since, the whole rewrite waits for the release.
 */
function eraseAndKeep(l: Located, held: Set<string>, waiting: Waiting): { erase: string[]; keep: string[] } | undefined {
  const rids = l.manifest.members.map((m) => m.rid);
  if (!l.underWay) {
    const erase = l.requests.filter((e) => !held.has(e.rid)).map((e) => e.rid);
    for (const e of l.requests) if (held.has(e.rid)) waiting.held.add(e.rid);
    return erase.length ? { erase, keep: rids.filter((rid) => !erase.includes(rid)) } : undefined;
  }
  const keep = new Set(l.underWay.rids);
  const erase = rids.filter((rid) => !keep.has(rid));
  for (const e of l.requests) (held.has(e.rid) ? waiting.held : waiting.afterRewrite).add(e.rid);
  if (erase.some((rid) => held.has(rid))) return undefined;
  for (const rid of erase) waiting.afterRewrite.delete(rid);
  return { erase, keep: [...keep] };
}

/** Plans one pack's erasure: carried by the retention plan's target, waiting for its Object Lock, or rewritten. */
function planPack(plan: ErasurePlan, input: PlanInput, l: Located, waiting: Waiting): void {
  const parts = eraseAndKeep(l, input.held, waiting);
  if (!parts) return;
  const { erase, keep } = parts;
  const { manifest, manifestKey } = l;
  const retained = input.planned.find((t) => t.key === manifest.packKey);
  if (retained) {
    retained.erase = erase;
    // A rewrite under way keeps its copy's calls, so that the copy already written is the one finished.
    if (l.underWay) retained.keep = keep;
    // With erased calls the copy-out is an erasure's, put under legal hold only when told so: the retention's kept calls are its held ones.
    if (retained.keep?.some((rid) => input.held.has(rid))) retained.keepHeld = true;
    plan.summary.planned += erase.length;
    return;
  }
  const until = lockedUntil(manifest.createdAt, { now: input.now, objectLockDays: input.objectLockDays });
  if (until !== undefined) {
    waiting.locked += erase.length;
    waiting.firstFree = Math.min(waiting.firstFree, until);
    for (const rid of erase) waiting.lockedUntil.set(rid, Math.max(waiting.lockedUntil.get(rid) ?? 0, until));
    return;
  }
  const reason = `${erase.length} call(s) erased at a data subject's request${keep.length ? `; the other ${keep.length} copied to a new pack first` : ''}`;
  plan.targets.push({ key: manifest.packKey, then: manifestKey, kind: 'pack', source: manifest.source, reason, rule: 'erasure', erase, ...(keep.length ? { keep } : {}), ...(keep.some((rid) => input.held.has(rid)) ? { keepHeld: true } : {}) });
  plan.dead.set(manifest.packKey, input.deadAttempts(manifest));
  plan.summary.planned += erase.length;
}

/**
 * Sets `eraseLater` on the targets whose erased calls are not done when their pack goes; returns
 * how many targeted packs list each call. A call another copy of which stays (under Object Lock,
 * held, in a rewrite's copy, or in a manifest that could not be read) is not done. Nor is one whose
 * copies this purge deletes from several packs: they may go in different batches (each its own
 * invocation), and one of them may be kept (a hold placed since, a failed delete). The first purge
 * after, finding no manifest that lists the call, marks the request done.
 */
function deferDone(plan: ErasurePlan, planned: PurgeTarget[], located: Located[], unread: Map<string, string>): Map<string, number> {
  const targeted = new Set([...plan.targets.map((t) => t.key), ...planned.filter((t) => t.erase?.length).map((t) => t.key)]);
  const stays = new Set(located.filter((l) => !targeted.has(l.manifest.packKey)).flatMap((l) => l.requests.map((e) => e.rid)));
  const packsListing = new Map<string, number>();
  for (const l of located) if (targeted.has(l.manifest.packKey)) for (const e of l.requests) packsListing.set(e.rid, (packsListing.get(e.rid) ?? 0) + 1);
  for (const t of [...plan.targets, ...planned]) {
    const later = t.erase?.filter((rid) => stays.has(rid) || unread.has(rid) || (packsListing.get(rid) ?? 0) > 1) ?? [];
    if (later.length) t.eraseLater = later;
  }
  return packsListing;
}

/**
 * The erasure targets of a site's purge. `planned` is the retention plan's targets: a pack it
 * deletes anyway carries the erased calls along (`erase` added to its target); `held` the calls
 * under legal hold; `deadAttempts` the dead attempts a manifest lists (core/purge.ts).
 *
 * Each pending request's call is looked for afresh on every plan, in the manifest of its catalogue
 * entry, in the one the request named, and in the copy a rewrite of either already began; a
 * request none of them lists is gone (done). A copy a rewrite under way made is not rewritten in
 * the same plan as the pack it came from: the next plan finds the calls there by their entries.
 */
export async function planErasures(deps: ErasurePlanDeps, input: PlanInput): Promise<ErasurePlan> {
  const plan: ErasurePlan = { targets: [], dead: new Map(), gone: [], summary: { planned: 0 }, waits: new Map() };
  const requests = await deps.erasures.listErasures(input.site);
  const pending = requests.filter((e) => e.status === 'pending');
  // A request done whose call is catalogued again: the recording was shipped once more after its
  // erasure (the copy has the same rid), so its pack is found and erased as a pending one's.
  const done = requests.filter((e) => e.status === 'done');
  const again = done.length ? await deps.catalogue.getRecordings(done.map((e) => ({ site: input.site, rid: e.rid }))) : new Map();
  const shippedAgain = done.filter((e) => again.has(recordingLookupKey(input.site, e.rid))).map((e) => ({ ...e, manifestKey: again.get(recordingLookupKey(input.site, e.rid))!.manifestKey }));
  if (pending.length === 0 && shippedAgain.length === 0) return plan;
  const { located, unread } = await locate(deps, input.site, [...pending, ...shippedAgain]);
  const found = new Set(located.flatMap((l) => [...l.requests.map((e) => e.rid), ...(l.underWay?.rids ?? [])]));
  plan.gone.push(...pending.filter((e) => !found.has(e.rid) && !unread.has(e.rid)));
  const copies = new Set(located.flatMap((l) => (l.underWay ? [l.underWay.manifestKey] : [])));
  const waiting: Waiting = { lockedUntil: new Map(), held: new Set(), afterRewrite: new Set(), locked: 0, firstFree: Number.POSITIVE_INFINITY };
  for (const l of located) {
    if (copies.has(l.manifestKey)) for (const e of l.requests) waiting.afterRewrite.add(e.rid);
    else planPack(plan, input, l, waiting);
  }
  const packsListing = deferDone(plan, input.planned, located, unread);
  for (const [rid, until] of waiting.lockedUntil) if (!plan.targets.some((t) => t.erase?.includes(rid))) plan.waits.set(rid, `its pack is under Object Lock until ${new Date(until).toISOString()}: the first purge after that erases the call`);
  for (const rid of waiting.held) plan.waits.set(rid, 'the call is under legal hold (placed after the request): the first purge after its release erases it');
  for (const [rid, why] of unread) if (!plan.waits.has(rid)) plan.waits.set(rid, why);
  for (const [rid, packs] of packsListing) if (packs > 1 && !plan.waits.has(rid)) plan.waits.set(rid, `this purge deletes the call from the ${packs} packs that hold a copy of it: the next purge marks the request done once no pack lists it`);
  if (waiting.locked) plan.summary.locked = { count: waiting.locked, until: new Date(waiting.firstFree).toISOString() };
  if (waiting.held.size) plan.summary.held = [...waiting.held];
  if (waiting.afterRewrite.size) plan.summary.afterRewrite = [...waiting.afterRewrite];
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
    const { waiting: _waited, waitingAt: _since, ...asked } = request;
    await deps.erasures.markDone({ ...asked, status: 'done', doneAt: at, doneNote: note });
    done++;
  }
  return done;
}
