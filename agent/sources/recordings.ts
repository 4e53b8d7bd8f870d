import type { RecordingsSourceConfig } from '../../core/config.ts';
import type { Clock } from '../../core/clock.ts';
import type { FileStamp } from '../journal.ts';
import type { ScannedBatch } from './scan.ts';
import { AHEAD_SLACK_MS } from './stability.ts';

// Decides which batches are ready to ship and in what order. A batch is closed when it holds
// the configured count or has been quiet long enough; every file must also have settled (a
// file still being written is never read). The recorder evicts oldest first, so we ship
// oldest first.

export interface BatchWork {
  source: string;
  batch: string;
  /** Recordings not shipped yet, by name. */
  recordings: FileStamp[];
  /** Sidecar stamp per recording name, when the recording has one. */
  sidecars: Map<string, FileStamp>;
  oldestMs: number;
  /** Issues of recordings to name on the call, by recording name (aheadIssues). */
  issues?: Map<string, string>;
}

/**
 * The first-seen times the pending view keeps: while the sidecar wait lasts (past it, a file seen
 * before is known to have waited), and for a file dated ahead of this machine's clock when first
 * seen (its call is issued so when shipped, aheadIssues).
 */
export function firstSeenKept(source: RecordingsSourceConfig, pending: readonly FileStamp[], firstSeen: ReadonlyMap<string, number>, now: number): Map<string, number> {
  const wait = source.metadata.sidecar.enabled ? source.metadata.sidecar.waitSeconds * 1000 : 0;
  const kept = new Map<string, number>();
  for (const f of pending) {
    const t = firstSeen.get(f.name);
    if (t !== undefined && Number.isFinite(t) && (now - t < wait || f.mtimeMs - t > AHEAD_SLACK_MS)) kept.set(f.name, t);
  }
  return kept;
}

/**
 * `work` with an issue on each recording whose file time was ahead of this machine's clock by
 * more than AHEAD_SLACK_MS when a pass first saw it (`firstSeen`, the pending view's): it was held
 * until the clock passed it, and its times, the recorder's, are likely off by as much. Without
 * the issue the call would be catalogued late with nothing on it to say why.
 */
export function aheadIssues(work: BatchWork, firstSeen: ReadonlyMap<string, number> | undefined): BatchWork {
  const issues = new Map<string, string>();
  for (const f of work.recordings) {
    const seen = firstSeen?.get(f.name);
    if (seen === undefined || !Number.isFinite(seen) || f.mtimeMs - seen <= AHEAD_SLACK_MS) continue;
    const by = f.mtimeMs - seen;
    const minutes = Math.round(by / 60_000);
    const amount = minutes >= 60 ? `${(minutes / 60).toFixed(1)} h` : `${minutes} min`;
    issues.set(f.name, `${f.name}: its file time ${new Date(f.mtimeMs).toISOString()} was ${amount} ahead of the agent's clock when a pass first saw it (${new Date(seen).toISOString()}): the recorder's clock was wrong, and the call's times may be off by as much`);
  }
  return issues.size > 0 ? { ...work, issues } : work;
}

export interface Backlog {
  batches: number;
  recordings: number;
  bytes: number;
  oldest?: { source: string; batch: string; sinceMs: number };
}

export interface Selection {
  ready: BatchWork[];
  /** Everything not shipped, ready or not. */
  backlog: Backlog;
  /** Pending files dated more than AHEAD_SLACK_MS after this machine's clock: how many, and the furthest ahead (ms). */
  ahead?: { files: number; maxMs: number; batch: string };
  /** Pending recordings held back as shorter than one of their name shipped from their batch before (CUT_SHORT_HOLD_MS), and the batches holding them. */
  cutShort?: { files: number; batches: string[] };
}


/**
 * How far ahead of the recorder's clock (which dates its files: often a file server's) the
 * agent's may be without a file still being written passing for settled. A recording younger
 * than settleSeconds plus this, by the agent's clock, settles only once the recorder's own times
 * say so (a later file of its batch is settleSeconds newer) or a pass before this one saw it
 * with the same size and time: a few seconds of skew shipped calls cut short, and catalogued
 * them beside their whole selves.
 */
export const CLOCK_SKEW_ALLOWANCE_MS = 120_000;

/**
 * How long a recording shorter than one of its name that shipped from its batch before waits
 * before it ships: a copy of the calls folder still writing it (a recorder moved to a new PC,
 * the copy stalled on a slow share longer than any stability window), whose whole self is
 * offsite already. Shipped, it would be catalogued beside the whole call, cut short. The rest
 * of its batch does not wait for it; a file that stays short that long (a copy abandoned, a
 * recorder whose numbering restarted) ships then.
 */
export const CUT_SHORT_HOLD_MS = 24 * 3600_000;

export interface SidecarResolver {
  sidecarNameFor(fileName: string, siblings: ReadonlySet<string>): string | undefined;
}

export function hasExtension(name: string, extensions: readonly string[]): boolean {
  const lower = name.toLowerCase();
  return extensions.some((ext) => lower.endsWith(ext.toLowerCase()));
}

export function selectWork(
  source: RecordingsSourceConfig,
  scanned: ScannedBatch[],
  isShipped: (batch: string, file: FileStamp) => boolean,
  resolver: SidecarResolver,
  clock: Clock,
  /** Whether a pass before this one saw the file with this very size and time (the pending view it left). */
  seenBefore: (batch: string, file: FileStamp) => boolean = () => false,
  /** Whether a file of this name shipped from the batch before with more bytes (see CUT_SHORT_HOLD_MS). */
  shippedLonger: (batch: string, file: FileStamp) => boolean = () => false,
  /** How long, by this machine's clock, passes have seen the file as it is (first-seen times of the pending view; Infinity: this pass's walk judged it). */
  seenForMs: (batch: string, file: FileStamp) => number = () => 0,
): Selection {
  const now = clock.now().getTime();
  const ready: BatchWork[] = [];
  const backlog: Backlog = { batches: 0, recordings: 0, bytes: 0 };
  let ahead: Selection['ahead'];
  let cutShort: Selection['cutShort'];
  for (const b of scanned) {
    const names = new Set(b.files.keys());
    const all = [...b.files.values()].filter((f) => hasExtension(f.name, source.extensions));
    const pending = all.filter((f) => !isShipped(b.batch, f)).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    if (pending.length === 0) continue;
    const sidecars = new Map<string, FileStamp>();
    for (const f of pending) {
      const sidecarName = resolver.sidecarNameFor(f.name, names);
      const stamp = sidecarName === undefined ? undefined : b.files.get(sidecarName);
      if (stamp) sidecars.set(f.name, stamp);
    }
    const oldestMs = Math.min(...pending.map((f) => f.mtimeMs));
    backlog.batches++;
    backlog.recordings += pending.length;
    backlog.bytes += pending.reduce((n, f) => n + f.size, 0);
    if (!backlog.oldest || oldestMs < backlog.oldest.sinceMs) backlog.oldest = { source: source.name, batch: b.batch, sinceMs: oldestMs };

    const newestMs = Math.max(b.dirMtimeMs, ...[...b.files.values()].map((f) => f.mtimeMs));
    const closed = all.length >= source.closeAfterFiles || now - newestMs >= source.quietSeconds * 1000;
    const settle = source.settleSeconds * 1000;
    const recorderSettled = (f: FileStamp) => now - f.mtimeMs >= settle + CLOCK_SKEW_ALLOWANCE_MS || newestMs - f.mtimeMs >= settle || seenBefore(b.batch, f);
    const settled = [...pending, ...sidecars.values()].every((f) => now - f.mtimeMs >= settle) && (settle === 0 || pending.every(recorderSettled)) && !awaitingSidecar(source, b.files, pending, sidecars, (f) => sidecarWaitOver(source, f, newestMs, seenForMs(b.batch, f)));
    const work = { source: source.name, batch: b.batch, recordings: pending, sidecars, oldestMs };
    const short = pending.filter((f) => now - f.mtimeMs < CUT_SHORT_HOLD_MS && shippedLonger(b.batch, f));
    cutShort = tallyHeld(cutShort, b.batch, short.length);
    const shipping = withoutHeld(work, short);
    if (closed && settled && shipping) ready.push(shipping);
    for (const f of pending) {
      const by = f.mtimeMs - now;
      if (by <= AHEAD_SLACK_MS) continue;
      ahead ??= { files: 0, maxMs: 0, batch: b.batch };
      ahead.files++;
      if (by > ahead.maxMs) ahead = { ...ahead, maxMs: by, batch: b.batch };
    }
  }
  ready.sort((x, y) => x.oldestMs - y.oldestMs || (x.batch < y.batch ? -1 : x.batch > y.batch ? 1 : 0));
  return { ready, backlog, ...(ahead ? { ahead } : {}), ...(cutShort ? { cutShort } : {}) };
}

/**
 * Whether a pending recording of a batch whose recorder writes sidecars (one is there) has none
 * yet and its wait (`sidecarWaitOver`) is not over: the sidecar may come after the audio, and a
 * call shipped without it stays without its metadata.
 */
function awaitingSidecar(source: RecordingsSourceConfig, files: ReadonlyMap<string, FileStamp>, pending: readonly FileStamp[], sidecars: ReadonlyMap<string, FileStamp>, over: (f: FileStamp) => boolean): boolean {
  const sidecar = source.metadata.sidecar;
  if (!sidecar.enabled || sidecar.waitSeconds === 0 || sidecars.size === pending.length) return false;
  const young = pending.filter((f) => !sidecars.has(f.name) && !over(f));
  if (young.length === 0) return false;
  if (sidecars.size > 0) return true;
  for (const name of files.keys()) if (!hasExtension(name, source.extensions) && hasExtension(name, sidecar.extensions)) return true;
  return false;
}

/**
 * Whether a recording has waited `metadata.sidecar.waitSeconds` for its sidecar, measured from
 * when a pass of this machine first saw it as it is (the pending view keeps that time, so cron
 * runs and frequent passes add up), not from its file time: that is the recorder's clock, and one
 * behind this machine's by minutes would make a call written seconds ago look old and ship it
 * without the sidecar about to come. The recorder's own times may end the wait too: a later file
 * of its batch that much newer (one clock, so no skew between them).
 */
function sidecarWaitOver(source: RecordingsSourceConfig, f: FileStamp, newestMs: number, seenForMs: number): boolean {
  const wait = source.metadata.sidecar.waitSeconds * 1000;
  return seenForMs >= wait || newestMs - f.mtimeMs >= wait;
}

function tallyHeld(tally: Selection['cutShort'], batch: string, files: number): Selection['cutShort'] {
  if (files === 0) return tally;
  return { files: (tally?.files ?? 0) + files, batches: [...(tally?.batches ?? []), batch] };
}

/**
 * The batch without the recordings held back as cut short (and their sidecars): they wait alone,
 * and the rest ships (or is found offsite), so that a recorder evicting the batch within the day
 * loses none of the recordings that never shipped. Undefined when nothing is left.
 */
function withoutHeld(work: BatchWork, held: readonly FileStamp[]): BatchWork | undefined {
  if (held.length === 0) return work;
  const recordings = work.recordings.filter((f) => !held.includes(f));
  if (recordings.length === 0) return undefined;
  const names = new Set(recordings.map((f) => f.name));
  const sidecars = new Map([...work.sidecars].filter(([name]) => names.has(name)));
  return { ...work, recordings, sidecars, oldestMs: Math.min(...recordings.map((f) => f.mtimeMs)) };
}

/**
 * Recordings seen pending in an earlier scan (of this process or another: the view is kept in
 * the state directory) and absent now were evicted before they could be shipped: that is data
 * loss, and it is reported, never silently forgotten.
 */
export function findLosses(
  previous: ReadonlyMap<string, readonly FileStamp[]>,
  scanned: ScannedBatch[],
  isShipped: (batch: string, file: FileStamp) => boolean,
): { batch: string; files: FileStamp[] }[] {
  const present = new Map(scanned.map((b) => [b.batch, b]));
  const losses: { batch: string; files: FileStamp[] }[] = [];
  for (const [batch, stamps] of previous) {
    // A batch scanned as done comes without file records: its pending files are gone unless shipped.
    const files = present.get(batch)?.files;
    const gone = stamps.filter((f) => !files?.has(f.name) && !isShipped(batch, f));
    if (gone.length > 0) losses.push({ batch, files: [...gone].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) });
  }
  return losses;
}

export interface ShippedIndex {
  isShipped(source: string, batch: string, file: FileStamp): boolean;
  /** Whether `files` are exactly the files shipped from the batch. */
  shippedExactly(source: string, batch: string, files: Iterable<FileStamp>): boolean;
  /** Whether a file of this name was shipped from the batch under another file time (and, unless `sameSize`, size). */
  shippedUnderOtherStamp?(source: string, batch: string, file: FileStamp, o: { sameSize: boolean }): boolean;
  /** Whether a file of this name was shipped from the batch with more bytes than `file` has. */
  shippedLonger?(source: string, batch: string, file: FileStamp): boolean;
}

/**
 * Whether every recording in a batch has been shipped (sidecars travel with their recording):
 * usually one comparison of the batch's listing, file by file only when it differs.
 */
export function batchDone(index: ShippedIndex, source: Pick<RecordingsSourceConfig, 'name' | 'extensions'>) {
  return (batch: string, files: ReadonlyMap<string, FileStamp>): boolean => {
    if (index.shippedExactly(source.name, batch, files.values())) return true;
    for (const f of files.values()) if (hasExtension(f.name, source.extensions) && !index.isShipped(source.name, batch, f)) return false;
    return true;
  };
}

/** The pending view to compare the next scan against. */
export function pendingView(scanned: ScannedBatch[], isShipped: (batch: string, file: FileStamp) => boolean, extensions: readonly string[]): Map<string, FileStamp[]> {
  const view = new Map<string, FileStamp[]>();
  for (const b of scanned) {
    const pending = [...b.files.values()].filter((f) => hasExtension(f.name, extensions) && !isShipped(b.batch, f));
    if (pending.length > 0) view.set(b.batch, pending);
  }
  return view;
}

/** The backlog a pending view describes: what `selectWork` reports, without walking the scan again. */
export function backlogOf(source: string, view: ReadonlyMap<string, readonly FileStamp[]>): Backlog {
  const backlog: Backlog = { batches: 0, recordings: 0, bytes: 0 };
  for (const [batch, pending] of view) {
    backlog.batches++;
    backlog.recordings += pending.length;
    let oldest = Infinity;
    for (const f of pending) {
      backlog.bytes += f.size;
      oldest = Math.min(oldest, f.mtimeMs);
    }
    if (!backlog.oldest || oldest < backlog.oldest.sinceMs) backlog.oldest = { source, batch, sinceMs: oldest };
  }
  return backlog;
}
