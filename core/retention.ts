import { EARLIEST_CALL_MS } from './call-time.ts';
import { isFutureDated } from './future-dated.ts';
import { packAttemptsPrefixOf } from './layout.ts';

// Retention planning: what a purge may delete. Pure: the inputs are plain lists (gathered from
// manifests and the catalogue by core/purge.ts), the output is a list of deletions with a
// reason each. Everything not provably deletable is kept.
//
// Recordings: a recording may go when its call started more than `retentionDays` ago and it
// is not on legal hold; a pack goes only when every member may go (a pack is one tar, one
// object: a single kept member keeps the whole pack).
//
// Backups and logs (rostrvm/CVP rules): per source keep the newest `keepFullCycles` full
// backups; a log segment goes only when no kept full it relates to needs it to be rolled
// forward (in practice the oldest kept full needs the most; asking every kept full also
// settles ties and fulls of several series). A full relates to segments of its own binlog series when its dump recorded
// the binlog position (then "needed" is by segment number), otherwise to every segment (then
// "needed" is by time: a segment whose last event is at or after the full was taken). A
// segment no full relates to is kept: without a base, nobody can say it is useless.
//
// A full or segment dated after `now` plus a clock margin (core/future-dated.ts) is set aside
// first: kept, and neither counted among the newest fulls nor used to judge a segment. Otherwise a
// forged manifest dated 2099 (the site's agent key may add objects) or a site clock running a year
// ahead would stay "the newest" for ever, and every genuine full would be planned for deletion.
//
// Partial snapshots: the agent ships the active binlog segment whole every partial interval, so
// a segment that grows all day leaves hundreds of copies of its own prefix. The restore planner
// (core/restore-plan.ts slotsOf) uses, for each segment, the closed one when it was shipped, else
// only the newest snapshot (latest last event, then the larger). A snapshot of the same file (same
// source, series, number and first event) behind a closed segment or a newer snapshot is thus
// never part of any restore, and goes whatever the fulls need. Without a first event on both the
// planner cannot tell the same file from a reused name (RESET MASTER): the snapshot is judged as
// any segment.
//
// Object Lock: the bucket locks every object for `objectLockDays` from its creation, and S3
// refuses to delete it before then; a binlog partial and its manifest are written with the
// shorter `partialLockDays` (binlogs.partialLockDays), so a superseded one goes days, not the
// bucket's lock, after it was shipped (the newest is never superseded, so never planned). A pack, full or segment the rules let go but whose lock has
// not run out is left out of the plan (and does not count toward `truncated`): planned, it would
// be refused, fill the plan again in every round and keep the purge "behind" for ever. It is
// counted in `locked` and goes in the first purge after its lock ends.

export interface PackMember {
  rid: string;
  /** Call start (ISO); the file time when the metadata has none. */
  start: string;
  legalHold: boolean;
}

export interface PackCandidate {
  packKey: string;
  manifestKey: string;
  source: string;
  members: PackMember[];
  /** When its manifest was written (ISO): the pack's Object Lock runs from about then. */
  createdAt?: string;
}

export interface Artefact {
  /** The object. */
  key: string;
  /** Its commit record, deleted after the object (never before: a manifest without its object is repaired by the next purge, an object without manifest would be orphaned). */
  manifestKey?: string;
  source: string;
  kind: 'full' | 'segment';
  /** Full: when it was taken. Segment: its last event. */
  takenAt: string;
  /** Segment: its number (binlog `.000123` → 123). Full: the number of the segment holding its binlog position (the first one needed after it). */
  first?: number;
  /** Segment: its number. */
  last?: number;
  /** Segment: its series (`mysql-bin`). Full: the series of its binlog position. */
  series?: string;
  /** When it was shipped (ISO): its Object Lock runs from about then. */
  createdAt?: string;
  /** Segment: its first and last event (a partial snapshot and its closed segment start with the same one). */
  span?: { from: string; to: string };
  /** Segment: a snapshot of a still-active segment (a prefix of it); `size` then tells two snapshots with the same last event apart. */
  partial?: boolean;
  size?: number;
}

export interface RetentionRules {
  now: Date;
  retentionDays: number;
  keepFullCycles: number;
  /**
   * When a segment is compared with a full by time, it must end this long before the full was
   * taken to be unneeded (default 24 h): a full's takenAt is its completion, while its
   * snapshot may be from when the dump began.
   */
  timeMarginHours?: number;
  /** The bucket's default Object Lock retention in days: what was written less than this long ago is not planned (absent or 0: no lock). */
  objectLockDays?: number;
  /** The lock binlog partials are written with instead (binlogs.partialLockDays; absent or 0: objectLockDays). */
  partialLockDays?: number;
}

/** Tree snapshot kinds (snapshot, tree-index, tree-pack) are planned and deleted by core/tree-purge.ts. */
export type TargetKind = 'pack' | 'full' | 'segment' | 'snapshot' | 'tree-index' | 'tree-pack';

export interface PurgeTarget {
  key: string;
  /** Deleted only once `key` is gone (its manifest). */
  then?: string;
  kind: TargetKind;
  source: string;
  reason: string;
  /**
   * Pack whose only blockers are calls on legal hold: those calls (rids) are first copied out
   * to their own held pack and re-catalogued there (core/copy-out.ts), then this pack goes.
   */
  keep?: string[];
  /**
   * Calls of this pack erased at a data subject's request (core/erasure-purge.ts): never copied,
   * their requests marked done once the pack and its manifest are gone. With `keep` (the pack's
   * other calls, copied to a new pack first), `keepHeld` says whether that copy is put under
   * legal hold (one of them is held).
   */
  erase?: string[];
  /**
   * Erased calls of `erase` another copy of which stays in a pack this purge does not delete (the
   * same recording shipped twice, that copy still under Object Lock or held): their requests stay
   * pending when this pack goes, and a later purge erases them there.
   */
  eraseLater?: string[];
  keepHeld?: boolean;
  /**
   * `erasure`: the pack goes for the erasure alone (the retention keeps it). Absent on a pack the
   * retention deletes, with or without erased calls: its audit record names the retention's days.
   */
  rule?: 'erasure';
  /**
   * A dead attempt at a pack an erasure deletes (it holds the erased calls' bytes too): like that
   * pack (`erase`), its copy in the DR bucket goes with it (core/erasure-replica.ts).
   */
  replica?: true;
}

export interface RetentionPlan {
  targets: PurgeTarget[];
  kept: {
    packs: number;
    /** Packs kept only because of a member on legal hold (every member held: nothing to copy out). */
    packsHeld: number;
    /** Packs planned to go after their held calls are copied out (targets with `keep`). */
    copiedOut: number;
    fulls: number;
    segments: number;
  };
  /** Fulls and segments dated after `now` plus the clock margin: kept, not counted, not judged (named in the purge report). */
  futureDated: Artefact[];
  /** More was deletable than maxTargets allowed: the next run continues. */
  truncated: boolean;
  /** Past the rules but still under Object Lock: left out of the plan (absent when none). */
  locked?: LockWait;
}

export interface LockWait {
  count: number;
  /** When the first of them comes out of its lock (ISO). */
  firstFree: string;
  /** Log segments shipped after the first locked one were not read (core/purge-artefacts.ts): more than `count` wait. */
  atLeast?: boolean;
}

const DAY_MS = 86_400_000;

export function retentionCutoff(rules: Pick<RetentionRules, 'now' | 'retentionDays'>): number {
  return rules.now.getTime() - rules.retentionDays * DAY_MS;
}

/**
 * Whether one recording may be deleted: old enough and not held. An unreadable start keeps it, and
 * so does a start before EARLIEST_CALL_TIME (a recorder clock that was not set, shipped by an agent
 * from before the agent caught it): its real age is unknown.
 */
export function memberMayGo(member: PackMember, cutoff: number): boolean {
  const start = Date.parse(member.start);
  return !member.legalHold && Number.isFinite(start) && start >= EARLIEST_CALL_MS && start < cutoff;
}

/** A pack goes only when it has members and every one of them may go. */
export function packMayGo(pack: PackCandidate, cutoff: number): boolean {
  return pack.members.length > 0 && pack.members.every((m) => memberMayGo(m, cutoff));
}

/** Unreadable times sort as newest: kept, never the reason to delete something else. */
function takenMs(a: Artefact): number {
  const t = Date.parse(a.takenAt);
  return Number.isFinite(t) ? t : Number.POSITIVE_INFINITY;
}

function byTakenDesc(a: Artefact, b: Artefact): number {
  const d = takenMs(b) - takenMs(a);
  return d !== 0 && !Number.isNaN(d) ? d : a.key < b.key ? 1 : a.key > b.key ? -1 : 0;
}

/** Whether the kept full `full` relates to segment `seg`, and if so whether it needs it. */
function needs(full: Artefact, seg: Artefact, marginMs: number): { related: boolean; needed: boolean } {
  if (full.series !== undefined && seg.series !== undefined && full.series !== seg.series) return { related: false, needed: false };
  if (full.series !== undefined && full.first !== undefined && seg.series === full.series && seg.last !== undefined) {
    return { related: true, needed: seg.last >= full.first };
  }
  const segEnd = Date.parse(seg.takenAt);
  const fullAt = Date.parse(full.takenAt);
  // An unreadable time cannot prove the segment useless.
  return { related: true, needed: !Number.isFinite(segEnd) || !Number.isFinite(fullAt) || segEnd >= fullAt - marginMs };
}

const endOf = (a: Artefact): string => a.span?.to ?? a.takenAt;

/** Partial snapshots no restore can use (a closed segment or a newer snapshot of the same file exists), with why. */
export function supersededPartials(segments: Artefact[]): Map<string, string> {
  const files = new Map<string, Artefact[]>();
  for (const s of segments) {
    if (s.kind !== 'segment' || s.first === undefined || !s.span || !Number.isFinite(Date.parse(s.span.from))) continue;
    // The first event to the second, as logChains compares them (binlog times have 1-second resolution).
    const file = JSON.stringify([s.source, s.series ?? '', s.first, Math.floor(Date.parse(s.span.from) / 1000)]);
    files.set(file, [...(files.get(file) ?? []), s]);
  }
  const out = new Map<string, string>();
  for (const list of files.values()) {
    const final = list.find((s) => !s.partial);
    const partials = list.filter((s) => s.partial);
    if (final) {
      for (const p of partials) out.set(p.key, `partial snapshot of ${final.key}, which was shipped closed`);
      continue;
    }
    const newest = partials.reduce((a, b) => (endOf(b) > endOf(a) || (endOf(b) === endOf(a) && (b.size ?? 0) > (a.size ?? 0)) ? b : a));
    // A snapshot tied with the newest (same last event and size) is kept too: either could be the one a restore picks.
    for (const p of partials) if (endOf(p) < endOf(newest) || (endOf(p) === endOf(newest) && (p.size ?? 0) < (newest.size ?? 0))) out.set(p.key, `partial snapshot superseded by the newer snapshot ${newest.key}`);
  }
  return out;
}

function planArtefacts(all: Artefact[], rules: { now: Date; keepFullCycles: number; marginMs: number }): { targets: PurgeTarget[]; keptFulls: number; keptSegments: number; futureDated: Artefact[] } {
  const { keepFullCycles, marginMs } = rules;
  const futureDated: Artefact[] = [];
  const artefacts: Artefact[] = [];
  for (const a of all) (isFutureDated(a.takenAt, rules.now) ? futureDated : artefacts).push(a);
  const targets: PurgeTarget[] = [];
  const fullsBySource = new Map<string, Artefact[]>();
  for (const a of artefacts) if (a.kind === 'full') fullsBySource.set(a.source, [...(fullsBySource.get(a.source) ?? []), a]);
  const keptFulls: Artefact[] = [];
  for (const [source, fulls] of fullsBySource) {
    const sorted = [...fulls].sort(byTakenDesc);
    keptFulls.push(...sorted.slice(0, keepFullCycles));
    for (const f of sorted.slice(keepFullCycles)) {
      targets.push({ key: f.key, ...(f.manifestKey ? { then: f.manifestKey } : {}), kind: 'full', source, reason: `older than the ${keepFullCycles} newest full backup(s) of ${source}` });
    }
  }
  let keptSegments = 0;
  const segments = artefacts.filter((a) => a.kind === 'segment');
  const superseded = supersededPartials(segments);
  for (const seg of segments) {
    const reason = superseded.get(seg.key);
    if (reason) {
      targets.push({ key: seg.key, ...(seg.manifestKey ? { then: seg.manifestKey } : {}), kind: 'segment', source: seg.source, reason });
      continue;
    }
    const verdicts = keptFulls.map((full) => ({ full, ...needs(full, seg, marginMs) })).filter((v) => v.related);
    if (verdicts.length === 0 || verdicts.some((v) => v.needed)) {
      keptSegments++;
      continue;
    }
    const bases = [...new Set(verdicts.map((v) => v.full.source))].join(', ');
    targets.push({ key: seg.key, ...(seg.manifestKey ? { then: seg.manifestKey } : {}), kind: 'segment', source: seg.source, reason: `not needed to roll forward any kept full of ${bases}` });
  }
  return { targets, keptFulls: keptFulls.length, keptSegments, futureDated };
}

/**
 * A partial written with the short lock: its manifest is under `partial/` (core/layout.ts). One
 * shipped before partials had their own lock has its manifest beside the finals' and the bucket's lock.
 */
export function shortLocked(a: { partial?: boolean; manifestKey?: string }): boolean {
  return a.partial === true && a.manifestKey !== undefined && a.manifestKey.includes('/partial/');
}

/** The rules with a binlog partial's lock in place of the bucket's default (a partial and its manifest are written with it). */
export function partialLockRules<R extends Pick<RetentionRules, 'objectLockDays' | 'partialLockDays'>>(rules: R): R {
  return rules.partialLockDays ? { ...rules, objectLockDays: rules.partialLockDays } : rules;
}

/** When the object's Object Lock ends (ms), if that is still after `now`; undefined when it is free (or its creation time is unknown: S3 then decides). */
export function lockedUntil(createdAt: string | undefined, rules: Pick<RetentionRules, 'now' | 'objectLockDays'>): number | undefined {
  const created = createdAt === undefined ? Number.NaN : Date.parse(createdAt);
  if (!rules.objectLockDays || !Number.isFinite(created)) return undefined;
  const until = created + rules.objectLockDays * DAY_MS;
  return until > rules.now.getTime() ? until : undefined;
}

/** Targets whose object is still under Object Lock set apart: they would only be refused. */
function withoutLocked(targets: PurgeTarget[], created: Map<string, string | undefined>, partials: Set<string>, rules: RetentionRules): { free: PurgeTarget[]; locked?: LockWait } {
  const free: PurgeTarget[] = [];
  let count = 0;
  let first = Number.POSITIVE_INFINITY;
  for (const t of targets) {
    const until = lockedUntil(created.get(t.key), partials.has(t.key) ? partialLockRules(rules) : rules);
    if (until === undefined) {
      free.push(t);
      continue;
    }
    count++;
    first = Math.min(first, until);
  }
  return count ? { free, locked: { count, firstFree: new Date(first).toISOString() } } : { free };
}

/** Everything the rules allow to delete, packs first (oldest key first), capped at maxTargets; what is still under Object Lock is left out. */
export function planRetention(input: { rules: RetentionRules; packs: PackCandidate[]; artefacts: Artefact[]; maxTargets?: number }): RetentionPlan {
  const { rules } = input;
  const cutoff = retentionCutoff(rules);
  const targets: PurgeTarget[] = [];
  let keptPacks = 0;
  let packsHeld = 0;
  const packs = [...input.packs].sort((a, b) => (a.packKey < b.packKey ? -1 : a.packKey > b.packKey ? 1 : 0));
  for (const pack of packs) {
    if (packMayGo(pack, cutoff)) {
      targets.push({ key: pack.packKey, then: pack.manifestKey, kind: 'pack', source: pack.source, reason: `all ${pack.members.length} recording(s) older than ${rules.retentionDays} days, none on legal hold` });
      continue;
    }
    const held = pack.members.filter((m) => m.legalHold);
    const heldOnly = held.length > 0 && pack.members.every((m) => m.legalHold || memberMayGo(m, cutoff));
    if (heldOnly && held.length < pack.members.length) {
      // Every other call may go: copy the held ones out, then the pack goes (the "beyond the peers").
      const reason = `${pack.members.length - held.length} recording(s) older than ${rules.retentionDays} days; the ${held.length} on legal hold are copied out to their own held pack first`;
      targets.push({ key: pack.packKey, then: pack.manifestKey, kind: 'pack', source: pack.source, reason, keep: held.map((m) => m.rid) });
      continue;
    }
    keptPacks++;
    if (heldOnly) packsHeld++;
  }
  const artefactPlan = planArtefacts(input.artefacts, { now: rules.now, keepFullCycles: rules.keepFullCycles, marginMs: (rules.timeMarginHours ?? 24) * 3_600_000 });
  targets.push(...artefactPlan.targets);
  const created = new Map<string, string | undefined>([...input.packs.map((p) => [p.packKey, p.createdAt] as const), ...input.artefacts.map((a) => [a.key, a.createdAt] as const)]);
  const partials = new Set(input.artefacts.filter(shortLocked).map((a) => a.key));
  const { free, locked } = withoutLocked(targets, created, partials, rules);
  const max = input.maxTargets ?? Number.POSITIVE_INFINITY;
  return {
    targets: free.slice(0, max),
    kept: { packs: keptPacks, packsHeld, copiedOut: free.filter((t) => t.keep).length, fulls: artefactPlan.keptFulls, segments: artefactPlan.keptSegments },
    futureDated: artefactPlan.futureDated,
    truncated: free.length > max,
    ...(locked ? { locked } : {}),
  };
}

/** What the delete step needs of a target; the reasons stay in the planner's log (the workflow state is limited to 256 KB). */
export type BatchTarget = Pick<PurgeTarget, 'key' | 'then' | 'kind' | 'keep' | 'erase' | 'eraseLater' | 'keepHeld' | 'rule' | 'replica'>;

export interface PurgeBatch {
  index: number;
  targets: BatchTarget[];
  /** The recordings' rule the plan applied (its packs' audit records name it): the site's retention and the cutoff it gave. */
  rule?: { retentionDays: number; cutoff: string };
}

/**
 * Targets that go in one batch: a dead attempt whose DR copy goes with its pack's (`replica`)
 * and the targets after it at the same pack (its pack last), as the batch deleting the pack must
 * see whether the attempt's DR copy went (core/erasure-replica.ts); batches run at once.
 */
function batchUnits(targets: PurgeTarget[]): PurgeTarget[][] {
  const units: PurgeTarget[][] = [];
  for (const t of targets) {
    const last = units.at(-1)?.at(-1);
    const attempts = last?.replica && !last.then ? packAttemptsPrefixOf(last.key) : undefined;
    if (attempts !== undefined && t.kind === last!.kind && packAttemptsPrefixOf(t.key) === attempts) units.at(-1)!.push(t);
    else units.push([t]);
  }
  return units;
}

/** Splits targets into batches of at most `objects` objects (a target with a manifest counts two); an erased pack and its dead attempts are never split. */
export function batchTargets(targets: PurgeTarget[], objects: number): PurgeBatch[] {
  const batches: PurgeBatch[] = [];
  let current: BatchTarget[] = [];
  let size = 0;
  for (const unit of batchUnits(targets)) {
    const weight = unit.reduce((n, t) => n + (t.then ? 2 : 1) + (t.keep ? 2 : 0), 0);
    if (current.length > 0 && size + weight > objects) {
      batches.push({ index: batches.length, targets: current });
      current = [];
      size = 0;
    }
    for (const t of unit) current.push({ key: t.key, ...(t.then ? { then: t.then } : {}), kind: t.kind, ...(t.keep ? { keep: t.keep } : {}), ...(t.erase ? { erase: t.erase } : {}), ...(t.eraseLater?.length ? { eraseLater: t.eraseLater } : {}), ...(t.keepHeld ? { keepHeld: true } : {}), ...(t.rule ? { rule: t.rule } : {}), ...(t.replica ? { replica: true as const } : {}) });
    size += weight;
  }
  if (current.length > 0) batches.push({ index: batches.length, targets: current });
  return batches;
}
