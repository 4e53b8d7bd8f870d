import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { FileStamp } from '../journal.ts';
import { StabilityTracker, type StabilityEntry } from '../sources/stability.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';
import { PendingViewReader, PendingViewWriter, stillPending, type LeftView } from './pending-view.ts';

// What the agent saw of each source, kept in the state directory so that every conclusion
// drawn from two observations (a file stable for `stableSeconds`, a pending recording that is
// gone now, a ready backup overwritten before it shipped) holds across passes of different
// processes: a cron-driven `--once`, a restart, a `kill -9`. Rewritten atomically at the end of
// each source's pass; a crash before that leaves the previous observation, which at worst makes
// a file wait one more window and finds the same losses again (the loss log records each once).
// The recordings each source has pending are kept beside it, one file per source, in the
// streaming format of state/pending-view.ts (`pending/<source>.jsonl`): what the pass's walk saw
// pending. What shipped or was found lost after the walk stays in it until the next walk;
// readers take it out with the journal and the loss log (pending-view.ts, leftView).

interface SourceFile {
  /**
   * Recordings, as agents before the streaming scan kept them: batch → listing of the files seen
   * and not shipped ("name\tsize\tmtime", NUL-separated). Read once, then replaced by the
   * source's pending view file.
   */
  pending?: Record<string, string>;
  /** Recordings: how many batch directories the last scan found (an empty root after that is suspicious). */
  batchesSeen?: number;
  /** Recordings: the root the pending view was taken of (a view of another root says nothing of this one). */
  root?: string;
  /**
   * Recordings: the root directory's identity at that view ("device:inode"): another disk mounted
   * at the same path (or the directory replaced) has another, though the path is the same.
   */
  rootId?: string;
  /** When a pass first ran without the source in the configuration (ISO): its records are kept for REMOVED_KEPT_DAYS after. */
  removedAt?: string;
  /** When the source was last scanned successfully. */
  lastScan?: string;
  /**
   * Recordings whose batches are the recorder's numbering (one level, `000123`): the highest
   * number a pass saw (kept when the newest batches vanish), one of its names, the lowest number
   * of the last complete walk, and whether its numbers had no holes. A next walk whose new
   * batches start above high + 1 found batches nobody saw (gap check). `outside`: names of the
   * root set aside as far outside the run (a year directory of a new layout), kept so they stay
   * no batch number once they are alone.
   */
  numbering?: { shape: string; low?: number; high: number; name: string; contiguous: boolean; at: string; outside?: string[] };
  /** Artefacts: first-seen times of each file's current state, [size, mtimeMs, sinceMs]. */
  stability?: Record<string, StabilityEntry>;
  /** Artefacts: complete versions not shipped at the end of the last pass, [size, mtimeMs]. */
  readyUnshipped?: Record<string, [number, number]>;
  /** Binlogs: when each gap ("from-to") was first seen, epoch ms; forgotten once it is gone. */
  gapsSeen?: Record<string, number>;
  /**
   * Binlogs: when the agent found the server's numbering restarted (RESET MASTER, a new or
   * restored server), ISO: segments shipped before it belong to the run before.
   */
  runSince?: string;
  /** Binlogs: the highest closed segment the store held when the journal knew none (a state directory lost): where the chain offsite ends. */
  shippedTop?: number;
  /** Binlogs: closed segments of this run in a gap of the journal that the store holds committed (a state directory put back to an older copy). */
  offsite?: number[];
}

/** How long the records of a source taken out of the configuration are kept (put back within it, it goes on where it was). */
export const REMOVED_KEPT_DAYS = 7;

interface ObservationsFile {
  format: 1;
  sources: Record<string, SourceFile>;
}

const SEP = '\0';
function decode(text: string): FileStamp[] {
  if (text === '') return [];
  return text.split(SEP).map((item) => {
    const [name = '', size = '0', mtime = '0'] = item.split('\t');
    return { name, size: Number(size), mtimeMs: Number(mtime) };
  });
}

export interface PendingView {
  batches: Map<string, FileStamp[]>;
  batchesSeen: number;
  lastScan?: string;
}

export class Observations {
  private readonly file: string;
  private readonly directory: string;
  private readonly sources: Record<string, SourceFile>;
  private readonly trackers = new Map<string, StabilityTracker>();
  private readonly staleNumbering = new Set<string>();

  constructor(directory: string) {
    this.directory = directory;
    this.file = join(directory, 'observations.json');
    this.sources = readJsonFile<ObservationsFile>(this.file)?.sources ?? {};
    for (const [source, s] of Object.entries(this.sources)) {
      // A walk records the numbering with its scan time (pendingCommitted), so a scan after it
      // was made by an agent that does not keep the numbering: an older release run on
      // this state directory (a rollback). Batches it shipped and the recorder then evicted would
      // be taken for batches no pass saw: the memory starts afresh instead.
      if (s.numbering && s.lastScan && s.numbering.at < s.lastScan) {
        delete s.numbering;
        this.staleNumbering.add(source);
      }
    }
  }

  /** Whether the source's numbering memory was older than its last scan when loaded, and so forgotten (see the constructor). */
  numberingForgotten(source: string): boolean {
    return this.staleNumbering.has(source);
  }

  private of(source: string): SourceFile {
    return (this.sources[source] ??= {});
  }

  private pendingFile(source: string): string {
    return join(this.directory, 'pending', `${encodeURIComponent(source)}.jsonl`);
  }

  /** The recordings seen and not shipped at the last pass of any process, streamed in batch order (empty before the first pass). */
  previousPending(source: string): PendingViewReader {
    // A view in observations.json is newer than the view file, when both are there: this agent
    // drops it as it commits the file (pendingCommitted), so one there now was written after, by
    // an older release run on this state directory (a rollback). The file is the view before it.
    const legacy = this.sources[source]?.pending;
    if (legacy) return PendingViewReader.of(Object.entries(legacy).map(([batch, list]) => ({ batch, files: decode(list) })));
    const file = this.pendingFile(source);
    if (existsSync(file)) return PendingViewReader.open(file);
    return PendingViewReader.empty();
  }

  /** Whether a pass of any process has recorded a pending view for the source. */
  hasPending(source: string): boolean {
    return existsSync(this.pendingFile(source)) || this.sources[source]?.pending !== undefined;
  }

  /** The writer of the source's next pending view; `pendingCommitted` after its commit. */
  pendingWriter(source: string): PendingViewWriter {
    mkdirSync(join(this.directory, 'pending'), { recursive: true });
    return new PendingViewWriter(this.pendingFile(source));
  }

  /**
   * Records that a pass committed the source's pending view, having found `batchesSeen` batch
   * directories, and what its walk saw of the recorder's numbering (undefined: none, a root of
   * another naming), in one write: the numbering is taken at the scan time it goes with.
   */
  pendingCommitted(source: string, batchesSeen: number, at: Date, root?: string, numbering?: SourceFile['numbering'], rootId?: string): void {
    const s = this.of(source);
    delete s.pending;
    s.batchesSeen = batchesSeen;
    if (root !== undefined) s.root = root;
    if (rootId !== undefined) s.rootId = rootId;
    else delete s.rootId;
    s.lastScan = at.toISOString();
    if (numbering === undefined) delete s.numbering;
    else s.numbering = numbering;
    this.save();
  }

  /** What the last complete walk of a numbered root saw of the numbering (undefined otherwise). */
  numbering(source: string): SourceFile['numbering'] {
    return this.sources[source]?.numbering;
  }

  /** How many batch directories the last pass found, and when (undefined before the first pass). */
  lastPass(source: string): { batchesSeen: number; lastScan?: string; root?: string; rootId?: string } | undefined {
    if (!this.hasPending(source)) return undefined;
    const s = this.sources[source];
    return { batchesSeen: s?.batchesSeen ?? 0, lastScan: s?.lastScan, ...(s?.root === undefined ? {} : { root: s.root }), ...(s?.rootId === undefined ? {} : { rootId: s.rootId }) };
  }

  /** Forgets the source's pending view (its root changed: the view was of another directory). */
  forgetPending(source: string): void {
    rmSync(this.pendingFile(source), { force: true });
    const s = this.of(source);
    delete s.pending;
    delete s.batchesSeen;
    delete s.root;
    delete s.rootId;
    delete s.numbering;
    this.save();
  }

  /**
   * The whole pending view in memory (status tools and tests; a pass streams it instead);
   * `left` takes out what shipped or was found lost after the pass wrote it.
   */
  pending(source: string, left?: LeftView): PendingView | undefined {
    const last = this.lastPass(source);
    if (!last) return undefined;
    const batches = new Map<string, FileStamp[]>();
    const reader = this.previousPending(source);
    for (let e = reader.take(); e; e = reader.take()) {
      const files = stillPending(e, left);
      if (files.length > 0) batches.set(e.batch, files);
    }
    return { batches, ...last };
  }

  /** The source's stability tracker, restored from the last pass; `save()` keeps its changes. */
  stability(source: string): StabilityTracker {
    let t = this.trackers.get(source);
    if (!t) {
      t = StabilityTracker.restore(this.sources[source]?.stability ?? {});
      this.trackers.set(source, t);
    }
    return t;
  }

  readyUnshipped(source: string): Map<string, FileStamp> {
    const saved = this.sources[source]?.readyUnshipped ?? {};
    return new Map(Object.entries(saved).map(([name, [size, mtimeMs]]) => [name, { name, size, mtimeMs }]));
  }

  setReadyUnshipped(source: string, files: ReadonlyMap<string, FileStamp>, at: Date): void {
    const s = this.of(source);
    s.readyUnshipped = Object.fromEntries([...files.values()].map((f) => [f.name, [f.size, Math.trunc(f.mtimeMs)]]));
    s.lastScan = at.toISOString();
  }

  /**
   * When each of `gaps` (keys "from-to") was first seen, by any pass; the others are forgotten.
   * Kept apart from the gap's alert, which a resolution removes: the time the gap came to light
   * must not move when its alert is resolved.
   */
  gapsFirstSeen(source: string, gaps: readonly string[], nowMs: number): Map<string, number> {
    const s = this.of(source);
    const before = s.gapsSeen ?? {};
    const seen = new Map(gaps.map((g) => [g, before[g] ?? nowMs]));
    if (seen.size > 0) s.gapsSeen = Object.fromEntries(seen);
    else delete s.gapsSeen;
    return seen;
  }

  /** When the binlog numbering of the source last restarted, as the agent found it (`runSince`). */
  binlogRunSince(source: string): string | undefined {
    return this.sources[source]?.runSince;
  }

  setBinlogRunSince(source: string, at: Date): void {
    this.of(source).runSince = at.toISOString();
    delete this.of(source).offsite; // the run before's segments
  }

  /** Closed segments of this run found committed in the store though the journal does not know them (`offsite`). */
  binlogOffsite(source: string): number[] {
    return this.sources[source]?.offsite ?? [];
  }

  addBinlogOffsite(source: string, sequences: readonly number[]): void {
    const entry = this.of(source);
    entry.offsite = [...new Set([...(entry.offsite ?? []), ...sequences])].sort((a, b) => a - b);
    this.save();
  }

  /** The highest closed segment the store held when the state directory knew none (`shippedTop`). */
  binlogShippedTop(source: string): number | undefined {
    return this.sources[source]?.shippedTop;
  }

  setBinlogShippedTop(source: string, sequence: number): void {
    this.of(source).shippedTop = sequence;
    this.save();
  }

  /**
   * Sources this state directory holds records of (observations, pending views) that are not in
   * `configured`: removed, or renamed (a renamed source is a new one to the agent).
   */
  static unconfigured(directory: string, configured: ReadonlySet<string>): string[] {
    const names = new Set(Object.keys(readJsonFile<ObservationsFile>(join(directory, 'observations.json'))?.sources ?? {}));
    const pending = join(directory, 'pending');
    if (existsSync(pending)) for (const f of readdirSync(pending)) if (f.endsWith('.jsonl')) names.add(decodeURIComponent(f.slice(0, -'.jsonl'.length)));
    return [...names].filter((n) => !configured.has(n)).sort();
  }

  /**
   * Files source `from`'s observations and pending view under `to` (a recordings source renamed).
   * The view moves first: a rename cut short there (the view under `to`, the rest still under
   * `from`) is found again and finished (agent/source-rename.ts).
   */
  renameSource(from: string, to: string): void {
    const s = this.sources[from];
    if (s === undefined) return;
    mkdirSync(join(this.directory, 'pending'), { recursive: true });
    if (existsSync(this.pendingFile(from))) renameSync(this.pendingFile(from), this.pendingFile(to));
    this.sources[to] = s;
    delete this.sources[from];
    this.trackers.delete(from);
    this.save();
  }

  /**
   * Sources not in `configured` are kept (observations, pending view) for REMOVED_KEPT_DAYS from
   * the first pass without them, then forgotten: a source taken out of the configuration for a
   * while (maintenance) and put back finds what it had pending still watched for loss, and what
   * it shipped still known (the caller keeps that through a compaction). A source configured
   * again is no longer counted as removed. Returns the sources still kept, and those back.
   */
  settleUnconfigured(configured: ReadonlySet<string>, now: Date): { kept: string[]; back: string[] } {
    const kept: string[] = [];
    const back: string[] = [];
    let changed = false;
    for (const [name, s] of Object.entries(this.sources)) {
      if (!configured.has(name) || s.removedAt === undefined) continue;
      delete s.removedAt;
      back.push(name);
      changed = true;
    }
    for (const name of Observations.unconfigured(this.directory, configured)) {
      const s = this.of(name);
      if (s.removedAt === undefined) {
        s.removedAt = now.toISOString();
        changed = true;
      }
      if (now.getTime() - Date.parse(s.removedAt) < REMOVED_KEPT_DAYS * 86_400_000) {
        kept.push(name);
        continue;
      }
      rmSync(this.pendingFile(name), { force: true });
      delete this.sources[name];
      this.trackers.delete(name);
      changed = true;
    }
    if (changed) this.save();
    return { kept, back };
  }

  /** Whether the state directory holds observations of the source (its pending view aside). */
  recorded(source: string): boolean {
    return this.sources[source] !== undefined;
  }

  /** The root the source's last pending view was taken of, as recorded (whether or not that view is still there). */
  recordedRoot(source: string): string | undefined {
    return this.sources[source]?.root;
  }

  /** When a pass first ran without the source in the configuration (undefined: configured, or never removed). */
  removedAt(source: string): string | undefined {
    return this.sources[source]?.removedAt;
  }

  /** When the source was last scanned by any process. */
  lastScan(source: string): string | undefined {
    return this.sources[source]?.lastScan;
  }

  /** Writes everything observed so far, atomically. */
  save(): void {
    for (const [source, t] of this.trackers) this.of(source).stability = t.snapshot();
    writeFileAtomic(this.file, JSON.stringify({ format: 1, sources: this.sources } satisfies ObservationsFile));
  }
}
