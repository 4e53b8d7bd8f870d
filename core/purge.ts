import { messageOf } from './errors.ts';
import { futureDatedSummary, type FutureDatedSummary } from './future-dated.ts';
import { entriesOf } from './ingest.ts';
import { packAttemptsPrefixOf, sitePrefix } from './layout.ts';
import { heldRids, type HoldStore } from './hold-items.ts';
import { parseManifest } from './manifest.ts';
import { findOrphanPacks } from './orphan-sweep.ts';
import { gatherArtefacts, type ArtefactCatalogue } from './purge-artefacts.ts';
import type { BlobStore, CatalogueStore } from './ports.ts';
import { batchTargets, lockedUntil, packMayGo, planRetention, retentionCutoff, type LockWait, type PackCandidate, type PurgeBatch, type PurgeTarget } from './retention.ts';
import { siteTreeRetentionSchema } from './tree-retention.ts';
import { planTreePurge, treeBatches, type TreePurgeSummary, type TreeSourceKept } from './tree-purge.ts';
import type { SitePurgeSettings } from './workflow-config.ts';
import { BATCH_RESULT_BYTES, readText } from './purge-delete.ts';
import { markErased, planErasures, type ErasureSummary } from './erasure-purge.ts';
import type { ErasureStore } from './erasure-items.ts';
import type { AuditEvent } from './audit-trail.ts';
import type { IntentsSettled } from './purge-intents.ts';

// The purge's three steps around the pure planner (core/retention.ts):
//  - planPurge: gathers packs from their manifests (the commit records: what exists), backups
//    and log segments from the catalogue's artefact items (core/purge-artefacts.ts), legal holds
//    from their own records (core/hold-items.ts, never touched by ingest), and cuts the plan
//    into delete batches;
//  - deletePurgeBatch (core/purge-delete.ts): proves the lock is still ours (fencing), copies the held calls of a pack
//    out first where the plan says so (core/copy-out.ts), deletes each object, then its
//    manifest once the object is gone; Object Lock refusals are reported, never forced;
//  - purgeReport (core/purge-report.ts): one message saying what went, what stayed and why.
// A pack's manifest lists the dead attempts at it (objects are write-once, so a publish that went
// wrong was shipped again under another key): they go with the pack, just before it.

export interface DeleteOutcome {
  deleted: string[];
  /** Refused by Object Lock (retention or legal hold) or access policy: skipped, reported. */
  retained: { key: string; reason: string }[];
  /** Anything else; tried again by the next purge. */
  failed: { key: string; reason: string }[];
}

export interface ObjectDeleter {
  /**
   * Deletes every key for good (every version, where the store keeps versions), never
   * bypassing Object Lock. An absent key counts as deleted. Per-key refusals come back in
   * `retained` or `failed`; only a failure of the whole call throws.
   */
  deleteObjects(keys: string[]): Promise<DeleteOutcome>;
}

/** ObjectDeleter over a BlobStore (memory, or any store without versions), with Object Lock simulated by `retainedUntil`. */
export class BlobStoreDeleter implements ObjectDeleter {
  constructor(
    private readonly blobs: Pick<BlobStore, 'delete'>,
    private readonly retainedUntil: (key: string) => string | undefined = () => undefined,
  ) {}

  async deleteObjects(keys: string[]): Promise<DeleteOutcome> {
    const out: DeleteOutcome = { deleted: [], retained: [], failed: [] };
    for (const key of keys) {
      const until = this.retainedUntil(key);
      if (until) {
        out.retained.push({ key, reason: `AccessDenied: under Object Lock until ${until}` });
        continue;
      }
      try {
        await this.blobs.delete(key);
        out.deleted.push(key);
      } catch (error) {
        out.failed.push({ key, reason: messageOf(error) });
      }
    }
    return out;
  }
}

// ---- plan ----

export interface PurgePlanInput {
  site: string;
  settings: SitePurgeSettings;
  now: Date;
  maxTargets: number;
  batchObjects: number;
  /** Told every planned deletion with its reason (the function logs them: the audit trail of what the purge deletes and why). */
  onTarget?: (target: PurgeTarget) => void;
  /** Told, for each tree source, what its rules keep and how far back a restore reaches after the purge (`ferry purge plan`). */
  onTreeSource?: (kept: TreeSourceKept) => void;
}

export interface PurgePlanResult {
  site: string;
  batches: PurgeBatch[];
  summary: {
    targets: number;
    packs: number;
    fulls: number;
    segments: number;
    keptPacks: number;
    keptPacksHeld: number;
    /** Packs that go once their held calls are copied out to their own held pack. */
    copiedOut: number;
    keptFulls: number;
    keptSegments: number;
    /** Manifests that could not be read: their objects are kept. */
    unreadable: number;
    /** Pack attempts that never got a manifest, past the grace period (core/orphan-sweep.ts). */
    orphans: number;
    truncated: boolean;
    /** Targets left for the next purge because the plan would not fit Step Functions' state (fitPlanState). */
    deferred?: number;
    /**
     * Past the rules but still under the bucket's Object Lock (settings.objectLockDays): not
     * planned, since S3 would refuse them; they go in the first purge after `firstFree`.
     */
    locked?: LockWait;
    /** Tree snapshots (file shares): core/tree-purge.ts. */
    trees?: TreePurgeSummary;
    /**
     * Fulls, segments and tree snapshots dated after now plus the clock margin (core/future-dated.ts):
     * kept, counted toward no rule, named in the report as a warning (a site clock ahead, or
     * manifests written by someone holding the site's agent key). Absent when there are none.
     */
    futureDated?: FutureDatedSummary;
    /** Data subjects' erasure requests (core/erasure-purge.ts): carried out, waiting for Object Lock or a legal hold, found done. Absent when none is pending. */
    erasures?: ErasureSummary & { done?: number };
    /** Intents an earlier purge left open, settled by this plan (core/purge-intents.ts); absent when there were none. */
    intents?: IntentsSettled;
  };
}

export interface PurgePlanDeps {
  blobs: Pick<BlobStore, 'list' | 'get'>;
  holds: Pick<HoldStore, 'listHolds'>;
  /**
   * The catalogue: its time index (calls that started before the cutoff in packs dated after it)
   * and its artefact items (the backups and log segments judged: core/purge-artefacts.ts).
   */
  catalogue: Pick<CatalogueStore, 'searchRecordings'> & Partial<Pick<CatalogueStore, 'getRecordings' | 'copiesOf'>> & ArtefactCatalogue;
  /** Erasure requests (core/erasure-purge.ts); absent: none is carried out. */
  erasures?: Pick<ErasureStore, 'listErasures' | 'getErasure' | 'markDone' | 'noteWaiting'>;
  /** The site's audit trail: a request found done by this plan (its purge stopped before marking it) is recorded here. */
  audit?: (event: AuditEvent) => void | Promise<void>;
}

/** The erasure targets (core/erasure-purge.ts), and the requests whose call is gone already marked done. */
async function erasurePart(deps: PurgePlanDeps, input: PurgePlanInput, planned: PurgeTarget[], held: Set<string>) {
  const getRecordings = deps.catalogue.getRecordings?.bind(deps.catalogue);
  const copiesOf = deps.catalogue.copiesOf?.bind(deps.catalogue);
  if (!deps.erasures || !getRecordings || !copiesOf) return undefined;
  const plan = await planErasures({ blobs: deps.blobs, catalogue: { getRecordings, copiesOf }, erasures: deps.erasures }, { site: input.site, now: input.now, objectLockDays: input.settings.objectLockDays, held, planned, deadAttempts: (m) => deadAttempts(m.packKey, m.superseded) });
  // What a pending request waits for, on the request (said by `ferry erasures list` and the 410): written when it changed.
  for (const [rid, reason] of plan.waits) {
    const request = await deps.erasures.getErasure(input.site, rid);
    if (request?.status === 'pending' && request.waiting !== reason) await deps.erasures.noteWaiting({ ...request, waiting: reason, waitingAt: input.now.toISOString() });
  }
  const done = plan.gone.length ? await markErased({ erasures: deps.erasures, audit: deps.audit }, input.site, plan.gone.map((e) => e.rid), input.now.toISOString(), 'its pack and manifest were deleted by an earlier purge', false) : 0;
  const pending = plan.summary.planned || plan.summary.locked || plan.summary.held || plan.summary.afterRewrite || done;
  return { ...plan, summary: pending ? { ...plan.summary, ...(done ? { done } : {}) } : undefined };
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, '/');
}

function withHolds(held: Set<string>, pack: Omit<PackCandidate, 'members'>, members: { rid: string; start: string }[]): PackCandidate {
  return { ...pack, members: members.map((m) => ({ ...m, legalHold: held.has(m.rid) })) };
}

/** A pack's candidate from its manifest: members with their starts and holds; throws for a manifest that cannot be read or lies outside the site. */
async function packCandidate(deps: PurgePlanDeps, site: string, manifestKey: string, held: Set<string>): Promise<{ pack: PackCandidate; dead: string[] }> {
  const manifest = parseManifest(await readText(deps.blobs, manifestKey));
  const members = entriesOf(manifest, manifestKey).map((e) => ({ rid: e.rid, start: e.start }));
  const pack = withHolds(held, { packKey: manifest.packKey, manifestKey, source: manifest.source, createdAt: manifest.createdAt }, members);
  if (!pack.packKey.startsWith(sitePrefix('recordings', site))) throw new Error(`pack ${pack.packKey} is outside the site's prefix`);
  return { pack, dead: deadAttempts(manifest.packKey, manifest.superseded) };
}

/** Calls the catalogue is asked about at once when looking for packs dated after the cutoff. */
const LATE_PAGE = 1000;

/**
 * Packs dated after the cutoff day (a pack is dated by its oldest file's time) that hold calls
 * which started before the cutoff: a recorder that wrote its files late, an old archive migrated
 * at go-live. The day-ordered listing stops at the cutoff day and never sees them; the
 * catalogue's time index finds their calls. Each such pack is judged like any other (every
 * member past retention and not held), at most `budget` of them.
 */
async function gatherLateDated(deps: PurgePlanDeps, input: PurgePlanInput, known: ReadonlySet<string>, held: Set<string>, budget: number, counters: { unreadable: number }): Promise<{ packs: PackCandidate[]; dead: Map<string, string[]>; more: boolean }> {
  const packs: PackCandidate[] = [];
  const dead = new Map<string, string[]>();
  if (!deps.catalogue || budget <= 0) return { packs, dead, more: false };
  const cutoff = retentionCutoff({ now: input.now, retentionDays: input.settings.retentionDays });
  const prefix = `${sitePrefix('manifests', input.site)}recordings/`;
  const lastDay = dayOf(cutoff);
  const manifests = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const page = await deps.catalogue.searchRecordings({ site: input.site, to: new Date(cutoff - 1).toISOString(), limit: LATE_PAGE, ...(cursor ? { cursor } : {}) });
    for (const e of page.items) {
      if (known.has(e.packKey) || !e.manifestKey.startsWith(prefix) || e.manifestKey.slice(prefix.length, prefix.length + 10) <= lastDay) continue;
      manifests.set(e.packKey, e.manifestKey);
    }
    cursor = page.cursor;
  } while (cursor && manifests.size < budget);
  for (const manifestKey of [...manifests.values()].slice(0, budget)) {
    try {
      const { pack, dead: attempts } = await packCandidate(deps, input.site, manifestKey, held);
      packs.push(pack);
      dead.set(pack.packKey, attempts);
    } catch {
      counters.unreadable++;
    }
  }
  return { packs, dead, more: cursor !== undefined || manifests.size > budget };
}

/** Packs whose manifest date is not after the cutoff day, until `enough` of them may go. */
async function gatherPacks(
  deps: PurgePlanDeps,
  input: PurgePlanInput,
  counters: { unreadable: number },
): Promise<{ packs: PackCandidate[]; dead: Map<string, string[]>; more: boolean; held: Set<string> }> {
  const cutoff = retentionCutoff({ now: input.now, retentionDays: input.settings.retentionDays });
  const prefix = `${sitePrefix('manifests', input.site)}recordings/`;
  const lastDay = dayOf(cutoff);
  const packs: PackCandidate[] = [];
  const dead = new Map<string, string[]>();
  let deletable = 0;
  // Holds are read once, before the manifests: a hold placed during the listing is still
  // honoured by Object Lock, which refuses the delete.
  const held = await heldRids(deps.holds, input.site);
  for await (const info of deps.blobs.list(prefix)) {
    // Keys are `…/recordings/yyyy/mm/dd/{packId}.json`, listed in key (so date) order; a pack
    // dated after the cutoff day holds a recording younger than the retention.
    if (info.key.slice(prefix.length, prefix.length + 10) > lastDay) break;
    if (!info.key.endsWith('.json')) continue;
    if (deletable >= input.maxTargets) return { packs, dead, more: true, held };
    try {
      const { pack, dead: attempts } = await packCandidate(deps, input.site, info.key, held);
      packs.push(pack);
      dead.set(pack.packKey, attempts);
      // A pack still under Object Lock is not planned, so it does not count toward the plan's size.
      if (packMayGo(pack, cutoff) && lockedUntil(pack.createdAt, { now: input.now, objectLockDays: input.settings.objectLockDays }) === undefined) deletable++;
    } catch {
      counters.unreadable++;
    }
  }
  return { packs, dead, more: false, held };
}

/** The superseded keys a manifest lists that really are other attempts at its pack (never another object). */
function deadAttempts(packKey: string, superseded: string[] = []): string[] {
  const prefix = packAttemptsPrefixOf(packKey);
  return superseded.filter((key) => key !== packKey && prefix !== undefined && packAttemptsPrefixOf(key) === prefix);
}

/** Each pack target preceded by the dead attempts at it; they carry no manifest of their own. */
function withDeadAttempts(targets: PurgeTarget[], dead: Map<string, string[]>): PurgeTarget[] {
  return targets.flatMap((t) => {
    const keys = t.kind === 'pack' ? (dead.get(t.key) ?? []) : [];
    const replica = t.erase?.length ? { replica: true as const } : {};
    return [...keys.map((key) => ({ key, kind: t.kind, source: t.source, reason: `dead attempt at pack ${t.key}, which goes`, ...replica })), t];
  });
}

/**
 * The most a plan may weigh as JSON. Step Functions holds it in the execution's state, which it
 * caps at 256 KiB (a task result or state over it fails the execution with
 * States.DataLimitExceeded, which no Catch takes: the site's lock would stay held): the rest of
 * the state (the lock, the run) needs the margin.
 */
export const PLAN_STATE_BYTES = 200 * 1024;

/**
 * What the plan and every batch's result (BATCH_RESULT_BYTES each, gathered by the Map state
 * beside it) may weigh together: Step Functions' 256 KiB less room for the lock, the run and the
 * round.
 */
export const PLAN_AND_RESULTS_BYTES = 240 * 1024;

/**
 * The plan cut to PLAN_STATE_BYTES, with room beside it for each batch's result
 * (PLAN_AND_RESULTS_BYTES): batches are dropped from the end (their targets wait for the next
 * purge, as when maxTargets cuts a plan) and the summary says so. Packs of many held calls
 * carry every held rid (`keep`), and are what makes a plan heavy.
 */
export function fitPlanState(result: PurgePlanResult): PurgePlanResult {
  const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));
  let size = bytes(result);
  const over = (n: number) => size > PLAN_STATE_BYTES || size + n * BATCH_RESULT_BYTES > PLAN_AND_RESULTS_BYTES;
  if (!over(result.batches.length)) return result;
  const batches = [...result.batches];
  let deferred = 0;
  while (batches.length > 0 && over(batches.length)) {
    const last = batches.pop()!;
    size -= bytes(last) + 1;
    deferred += last.targets.length;
  }
  return { ...result, batches, summary: { ...result.summary, truncated: true, deferred } };
}

export async function planPurge(deps: PurgePlanDeps, input: PurgePlanInput): Promise<PurgePlanResult> {
  const counters = { unreadable: 0 };
  const gathered = await gatherPacks(deps, input, counters);
  const known = new Set(gathered.packs.map((p) => p.packKey));
  const late = gathered.more ? { packs: [], dead: new Map<string, string[]>(), more: false } : await gatherLateDated(deps, input, known, gathered.held, input.maxTargets - gathered.packs.length, counters);
  const packs = [...gathered.packs, ...late.packs];
  const dead = new Map([...gathered.dead, ...late.dead]);
  const more = gathered.more || late.more;
  const { artefacts, cut } = await gatherArtefacts(deps.catalogue, input.site, { now: input.now, objectLockDays: input.settings.objectLockDays, partialLockDays: input.settings.partialLockDays }, counters);
  const { trees: treePolicy, orphanGraceDays, ...rules } = input.settings;
  const plan = planRetention({ rules: { now: input.now, ...rules }, packs, artefacts, maxTargets: input.maxTargets });
  const erasure = await erasurePart(deps, input, plan.targets, gathered.held);
  const erasing = erasure?.targets ?? [];
  for (const [key, keys] of erasure?.dead ?? []) dead.set(key, keys);
  const orphans = await findOrphanPacks(deps.blobs, { site: input.site, now: input.now, graceDays: orphanGraceDays, lockDays: rules.objectLockDays, limit: input.maxTargets - plan.targets.length });
  for (const t of [...plan.targets, ...erasing, ...orphans]) input.onTarget?.(t);
  const count = (kind: PurgeTarget['kind']) => plan.targets.filter((t) => t.kind === kind).length;
  const rule = { retentionDays: rules.retentionDays, cutoff: new Date(retentionCutoff({ now: input.now, retentionDays: rules.retentionDays })).toISOString() };
  const batches = batchTargets([...withDeadAttempts([...plan.targets, ...erasing], dead), ...orphans], input.batchObjects).map((b) => ({ ...b, rule }));
  const budget = input.maxTargets - plan.targets.length - orphans.length;
  const trees = await planTreePurge(deps, { site: input.site, now: input.now, policy: siteTreeRetentionSchema.parse(treePolicy ?? {}), maxTargets: budget, objectLockDays: rules.objectLockDays, onTarget: input.onTarget, onSource: input.onTreeSource });
  const future = [...plan.futureDated, ...trees.futureDated.map((s) => ({ key: s.manifestKey, takenAt: s.takenAt }))];
  return fitPlanState({
    site: input.site,
    batches: [...batches, ...treeBatches(trees.targets, input.batchObjects, batches.length)],
    summary: {
      targets: plan.targets.length,
      packs: count('pack'),
      fulls: count('full'),
      segments: count('segment'),
      keptPacks: plan.kept.packs,
      keptPacksHeld: plan.kept.packsHeld,
      copiedOut: plan.kept.copiedOut,
      keptFulls: plan.kept.fulls,
      keptSegments: plan.kept.segments,
      unreadable: counters.unreadable,
      orphans: orphans.length,
      truncated: plan.truncated || more || trees.summary.truncated,
      // Segments after a source's first locked one were not read: they wait too, uncounted.
      ...(plan.locked ? { locked: { ...plan.locked, ...(cut ? { atLeast: true } : {}) } } : {}),
      trees: trees.summary,
      ...(future.length ? { futureDated: futureDatedSummary(future) } : {}),
      ...(erasure?.summary ? { erasures: erasure.summary } : {}),
    },
  });
}

export { COPY_OUT_RESTORE_DAYS, PURGE_PRINCIPAL, deletePurgeBatch, type BatchResult, type PurgeDeleteDeps } from './purge-delete.ts';
