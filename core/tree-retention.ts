import { z } from 'zod';
import { isFutureDated } from './future-dated.ts';
import { lockedUntil } from './retention.ts';

// Retention of tree snapshots (file shares), restic `forget --keep-daily/--keep-weekly/
// --keep-monthly` semantics, and which objects may go once snapshots are forgotten. Pure: the
// inputs are plain lists (gathered from the snapshot manifests and a listing of the source's
// packs and indexes by core/tree-purge.ts), the output says what to forget and why.
//
// Keep rules, per source, over its snapshots newest first (times in UTC):
//  - the newest snapshot is always kept;
//  - keepDaily N: the newest snapshot of each of the N most recent days that have a snapshot;
//    keepWeekly (ISO weeks) and keepMonthly likewise. A snapshot may satisfy several rules.
// Everything else is forgotten: its manifest and its index go. A pack goes only when NO kept
// snapshot lists it (packs are shared between snapshots: content is stored once). A pack or an
// index no manifest at all names (left by a purge that stopped half-way, or by a snapshot the
// agent never finished) goes once it is older than `orphanGraceDays`: a snapshot being written
// now has its packs out before its manifest, so a young unreferenced pack is not an orphan yet.
// A snapshot dated after `now` plus a clock margin (core/future-dated.ts) is set aside before the
// rules run: kept with its packs and index, but it is not "the newest" and fills no day, week or
// month. Fourteen forged snapshots dated 2099 (the site's agent key may add objects) would
// otherwise fill every bucket, and every genuine snapshot and its packs would be forgotten.
// The snapshot a mass change started from (its manifest's `massChange.parentTakenAt`: a share
// encrypted in place, or rewritten wholesale) is kept for `keepBeforeMassChangeDays` after the
// mass change, whatever the other rules say: once the share is encrypted, every later snapshot
// fills the day, week and month slots, and the files as they were would otherwise go with the
// rules' counts while the site still recovers.
// Object Lock: the bucket locks every object for `objectLockDays` from when it was written (the
// listing's time), and S3 refuses to delete it before. A snapshot the rules forget whose manifest
// or index is still locked waits: it is not planned and stays, with its index and every pack it
// lists, exactly as a kept one (planned, its manifest would be refused in every purge, and its
// packs with it since a live manifest lists them). A pack only forgotten snapshots list that is
// itself still locked waits too. Both are counted in `locked` and go in the first purge after
// their lock ends. An orphan pack or index waits for the later of its grace period and its lock,
// as the recordings' pack-attempt sweep does (core/orphan-sweep.ts).

export const treeRetentionSchema = z
  .object({
    keepDaily: z.number().int().min(0).max(10_000).default(14),
    keepWeekly: z.number().int().min(0).max(10_000).default(8),
    keepMonthly: z.number().int().min(0).max(10_000).default(12),
    /** The snapshot a mass change started from is kept this many days after the mass change (0: no such rule). */
    keepBeforeMassChangeDays: z.number().int().min(0).max(36_500).default(90),
    /** Unreferenced packs and indexes younger than this are left alone (a snapshot may be in flight). */
    orphanGraceDays: z.number().int().min(1).max(365).default(7),
  })
  .strict();
export type TreeRetention = z.infer<typeof treeRetentionSchema>;
export type TreeRetentionPolicyInput = z.input<typeof treeRetentionSchema>;

/** A site's policy, with optional per-source overrides (each a whole or partial policy on top of the site's). */
export const siteTreeRetentionSchema = treeRetentionSchema.extend({
  sources: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a source name'), treeRetentionSchema.partial().strict()).default({}),
});
export type SiteTreeRetention = z.infer<typeof siteTreeRetentionSchema>;
export type SiteTreeRetentionInput = z.input<typeof siteTreeRetentionSchema>;

export const DEFAULT_TREE_RETENTION: TreeRetention = treeRetentionSchema.parse({});
export const DEFAULT_SITE_TREE_RETENTION: SiteTreeRetention = siteTreeRetentionSchema.parse({});

/** The policy of one source: the site's, overridden by the source's own entry. */
export function retentionFor(policy: SiteTreeRetention, source: string): TreeRetention {
  const { sources, ...site } = policy;
  return { ...site, ...(sources[source] ?? {}) };
}

export interface SnapshotFacts {
  snapshotId: string;
  takenAt: string;
  manifestKey: string;
  indexKey: string;
  /** Every pack key the snapshot's manifest lists. */
  packs: string[];
  /** The snapshot changed most files of the one taken at this time (its manifest's `massChange.parentTakenAt`). */
  massChangeFrom?: string;
  /** When its manifest was written (ISO): the listing's time, which is when S3 started its Object Lock (else the manifest's own createdAt). */
  createdAt?: string;
}

export interface StoredObject {
  key: string;
  lastModified?: Date;
}

export type KeepReason = 'newest' | 'daily' | 'weekly' | 'monthly' | 'before-mass-change';

/** Past the rules but still under Object Lock: left out of the plan. */
export interface TreeLockWait {
  /** Snapshots the rules forget whose manifest or index is still locked (they stay, with their packs). */
  snapshots: number;
  /** Packs only forgotten snapshots list, themselves still locked. */
  packs: number;
  /** When the first of them comes out of its lock (ISO). */
  firstFree: string;
}

export interface TreeRetentionPlan {
  kept: { snapshot: SnapshotFacts; reasons: KeepReason[] }[];
  /** Forgotten by the rules and free of Object Lock: planned (manifest, then index). */
  forgotten: SnapshotFacts[];
  /** Forgotten by the rules but still under Object Lock: not planned, kept with their packs and index until a later purge. */
  waiting: SnapshotFacts[];
  /** What waits for its lock (absent when nothing does). */
  locked?: TreeLockWait;
  /** Dated after now plus the clock margin: kept with their packs and indexes, counted by no rule. */
  futureDated: SnapshotFacts[];
  /** Packs no kept snapshot lists: listed by a forgotten one, or orphans past the grace period. */
  packs: { key: string; reason: string }[];
  /** Indexes of forgotten snapshots, and orphan indexes past the grace period. */
  indexes: { key: string; reason: string }[];
}

const DAY_MS = 86_400_000;

function dayKey(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** ISO 8601 week `yyyy-Www` (Monday first; week 1 holds the year's first Thursday), UTC. */
export function isoWeekKey(at: Date): string {
  const d = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
  const weekday = (d.getUTCDay() + 6) % 7; // Monday 0
  d.setUTCDate(d.getUTCDate() - weekday + 3); // the Thursday of this week decides the year
  const year = d.getUTCFullYear();
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const week = 1 + Math.round(((d.getTime() - jan4.getTime()) / DAY_MS - 3 + ((jan4.getUTCDay() + 6) % 7)) / 7);
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function monthKey(at: Date): string {
  return at.toISOString().slice(0, 7);
}

const RULES: { reason: Exclude<KeepReason, 'newest' | 'before-mass-change'>; count: (p: TreeRetention) => number; bucket: (at: Date) => string }[] = [
  { reason: 'daily', count: (p) => p.keepDaily, bucket: dayKey },
  { reason: 'weekly', count: (p) => p.keepWeekly, bucket: isoWeekKey },
  { reason: 'monthly', count: (p) => p.keepMonthly, bucket: monthKey },
];

/** Newest first; ties by snapshot id (descending) so the order never depends on the listing's. */
function newestFirst(a: SnapshotFacts, b: SnapshotFacts): number {
  const ta = Date.parse(a.takenAt);
  const tb = Date.parse(b.takenAt);
  if (ta !== tb) return tb - ta;
  return a.snapshotId < b.snapshotId ? 1 : a.snapshotId > b.snapshotId ? -1 : 0;
}

/**
 * Which snapshots of one source the policy keeps (restic's algorithm: walk newest first, one per
 * new bucket while the rule has count left), over the snapshots not dated in the future: those
 * come back apart, in `futureDated`, and are neither kept by a rule nor forgotten.
 */
export function keepSnapshots(snapshots: SnapshotFacts[], policy: TreeRetention, now: Date): Pick<TreeRetentionPlan, 'kept' | 'forgotten' | 'futureDated'> {
  const futureDated = snapshots.filter((s) => isFutureDated(s.takenAt, now)).sort(newestFirst);
  const ordered = snapshots.filter((s) => !isFutureDated(s.takenAt, now)).sort(newestFirst);
  const left = RULES.map((r) => r.count(policy));
  const lastBucket: (string | undefined)[] = RULES.map(() => undefined);
  const kept: TreeRetentionPlan['kept'] = [];
  const forgotten: SnapshotFacts[] = [];
  const beforeMassChange = massChangeParents(ordered, policy, now);
  ordered.forEach((snapshot, i) => {
    const at = new Date(snapshot.takenAt);
    const reasons: KeepReason[] = i === 0 ? ['newest'] : [];
    RULES.forEach((rule, r) => {
      const bucket = rule.bucket(at);
      if (left[r]! > 0 && bucket !== lastBucket[r]) {
        reasons.push(rule.reason);
        left[r]!--;
      }
      lastBucket[r] = bucket;
    });
    if (beforeMassChange.has(snapshot.takenAt)) reasons.push('before-mass-change');
    if (reasons.length > 0) kept.push({ snapshot, reasons });
    else forgotten.push(snapshot);
  });
  return { kept, forgotten, futureDated };
}

/**
 * The times of the snapshots mass changes started from, for the mass changes of the last
 * `keepBeforeMassChangeDays` (a mass change dated in the future pins nothing).
 */
function massChangeParents(snapshots: SnapshotFacts[], policy: TreeRetention, now: Date): Set<string> {
  const since = now.getTime() - policy.keepBeforeMassChangeDays * DAY_MS;
  const parents = new Set<string>();
  for (const s of snapshots) {
    const at = Date.parse(s.takenAt);
    if (s.massChangeFrom !== undefined && at >= since && at <= now.getTime()) parents.add(s.massChangeFrom);
  }
  return parents;
}

export interface TreeRetentionPlanInput {
  now: Date;
  policy: TreeRetention;
  /** Every readable snapshot of the source (an unreadable manifest means: plan nothing for the source). */
  snapshots: SnapshotFacts[];
  /** Every object under the source's `packs/` (for orphans); omit to skip the orphan sweep. */
  storedPacks?: StoredObject[];
  /** Every object under the source's `index/`. */
  storedIndexes?: StoredObject[];
  /** The bucket's default Object Lock retention in days (absent or 0: no lock). */
  objectLockDays?: number;
}

/** The rules' forgotten snapshots split: those whose manifest or index is still locked wait, with when the first comes free (ms). */
function splitLocked(forgotten: SnapshotFacts[], input: TreeRetentionPlanInput): { free: SnapshotFacts[]; waiting: SnapshotFacts[]; first: number } {
  const indexWritten = new Map((input.storedIndexes ?? []).map((o) => [o.key, o.lastModified?.toISOString()]));
  const lock = { now: input.now, objectLockDays: input.objectLockDays };
  const free: SnapshotFacts[] = [];
  const waiting: SnapshotFacts[] = [];
  let first = Number.POSITIVE_INFINITY;
  for (const s of forgotten) {
    const until = [lockedUntil(s.createdAt, lock), lockedUntil(indexWritten.get(s.indexKey), lock)].filter((t) => t !== undefined);
    if (until.length === 0) {
      free.push(s);
      continue;
    }
    waiting.push(s);
    // The snapshot comes free when both its manifest and its index do.
    first = Math.min(first, Math.max(...until));
  }
  return { free, waiting, first };
}

/** What one source's retention forgets and which of its objects may go. Never a pack a kept, future-dated or locked snapshot lists; nothing still locked. */
export function planTreeRetention(input: TreeRetentionPlanInput): TreeRetentionPlan {
  const rules = keepSnapshots(input.snapshots, input.policy, input.now);
  const { kept, futureDated } = rules;
  const { free: forgotten, waiting, first } = splitLocked(rules.forgotten, input);
  const staying = [...kept.map((k) => k.snapshot), ...futureDated, ...waiting];
  const keptPacks = new Set(staying.flatMap((s) => s.packs));
  const keptIndexes = new Set(staying.map((s) => s.indexKey));
  const known = new Set(input.snapshots.flatMap((s) => s.packs));
  const knownIndexes = new Set(input.snapshots.map((s) => s.indexKey));
  const lock = { now: input.now, objectLockDays: input.objectLockDays };
  const graceDays = Math.max(input.policy.orphanGraceDays, input.objectLockDays ?? 0);
  const graceCutoff = input.now.getTime() - graceDays * DAY_MS;
  const pastGrace = (o: StoredObject) => o.lastModified !== undefined && o.lastModified.getTime() < graceCutoff;
  const packWritten = new Map((input.storedPacks ?? []).map((o) => [o.key, o.lastModified?.toISOString()]));

  const packs = new Map<string, string>();
  const lockedPacks = new Set<string>();
  let firstFree = first;
  for (const snapshot of forgotten) {
    for (const key of snapshot.packs) {
      if (keptPacks.has(key) || packs.has(key) || lockedPacks.has(key)) continue;
      const until = lockedUntil(packWritten.get(key), lock);
      if (until !== undefined) {
        lockedPacks.add(key);
        firstFree = Math.min(firstFree, until);
      } else packs.set(key, `listed only by forgotten snapshot(s), first ${snapshot.snapshotId} (${snapshot.takenAt})`);
    }
  }
  for (const o of input.storedPacks ?? []) {
    if (!known.has(o.key) && !packs.has(o.key) && pastGrace(o)) packs.set(o.key, `listed by no snapshot manifest, older than ${graceDays} day(s)`);
  }
  const indexes = new Map<string, string>();
  for (const snapshot of forgotten) {
    if (!keptIndexes.has(snapshot.indexKey)) indexes.set(snapshot.indexKey, `index of forgotten snapshot ${snapshot.snapshotId} (${snapshot.takenAt})`);
  }
  for (const o of input.storedIndexes ?? []) {
    if (!knownIndexes.has(o.key) && !indexes.has(o.key) && pastGrace(o)) indexes.set(o.key, `index of no snapshot manifest, older than ${graceDays} day(s)`);
  }
  return {
    kept,
    forgotten,
    waiting,
    futureDated,
    ...(waiting.length || lockedPacks.size ? { locked: { snapshots: waiting.length, packs: lockedPacks.size, firstFree: new Date(firstFree).toISOString() } } : {}),
    packs: [...packs].map(([key, reason]) => ({ key, reason })),
    indexes: [...indexes].map(([key, reason]) => ({ key, reason })),
  };
}
