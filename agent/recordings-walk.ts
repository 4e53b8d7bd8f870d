import type { Clock } from '../core/clock.ts';
import { UnreadableSourceError } from '../core/errors.ts';
import type { RecordingsSourceConfig } from '../core/config.ts';
import type { FileStamp } from './journal.ts';
import { numberedBatches, compareBatches } from './sources/batch-order.ts';
import { aheadIssues, batchDone, firstSeenKept, CUT_SHORT_HOLD_MS, hasExtension, pendingView, selectWork, type Backlog, type BatchWork, type Selection, type ShippedIndex, type SidecarResolver } from './sources/recordings.ts';
import { scanBatch, type ScanHooks, type ScannedBatch } from './sources/scan.ts';
import { firstSeenOf, stillPending, type LeftView, type PendingEntry, type PendingViewReader, type PendingViewWriter, type ViewLine } from './state/pending-view.ts';

// One pass over a recordings root as a stream: batch directories are visited one at a time in
// compareBatches order, and for each the walk (1) compares it with the previous pass's pending
// view (a pending recording that is gone and not shipped is a loss), (2) writes its pending
// recordings to the next view, and (3) hands it to the ship workers when it is closed. Nothing
// is held per file beyond the batch in hand and `lookahead` batches queued with their records;
// other ready batches are queued by name and read again when a worker takes them.
//
// On a root whose batch names are the recorder's numbering (batch-order.ts) the walk order is
// the age order, so the first closed batch ships as soon as it has been seen. Otherwise the
// whole root is walked first and ready batches ship oldest file first, as before.

const UNREADABLE = Symbol('unreadable');

/**
 * How a recording gone before it shipped may yet be offsite: one of its name and size shipped from
 * the batch before under another file time (`shippedBefore`), or, `cutShort` too, it was held back
 * as shorter than the one of its name that shipped (CUT_SHORT_HOLD_MS).
 */
export type LossKind = { shippedBefore: true; cutShort?: true };

export interface WalkDeps {
  source: RecordingsSourceConfig;
  clock: Clock;
  journal: ShippedIndex;
  resolver: SidecarResolver;
  previous: PendingViewReader;
  next: PendingViewWriter;
  warn: (message: string, path: string) => void;
  /** When the last pass looked at the source (ISO): a file gone between passes is judged as that pass saw it. */
  lastSeen?: string;
  /** Records pending files of `batch` that are gone; resolves to how many were newly lost. */
  lost: (batch: string, files: FileStamp[], when: 'between passes' | 'while shipping', o?: LossKind) => Promise<number>;
  /** Ready batches queued with their file records (the rest are queued by name). */
  lookahead: number;
  /**
   * What left the previous view after it was written (shipped, or found lost, by its pass):
   * taken out of what a stopped walk carries over unexamined.
   */
  left: LeftView;
  /**
   * A batch directory (or, in `unreadablePrefixes`, a directory above batches) that cannot be
   * read: its recordings are carried over as they were (pending, not lost) and it is told here.
   */
  unreadable?: (path: string, reason: string) => void;
  unreadablePrefixes?: readonly string[];
  /** A file of a batch whose name is not UTF-8 (sources/names.ts): not shipped, told here. */
  badName?: (path: string) => void;
  /** A directory inside a batch directory with recordings below it (never shipped): told here (scan.ts). */
  misplaced?: (path: string, example: string) => void;
  /** Every batch directory's files as scanned (shipped ones included), for what looks at all of them. */
  files?: (batch: string, files: ReadonlyMap<string, FileStamp>) => void;
}

interface Ready {
  batch: string;
  oldestMs: number;
  line: ViewLine;
  work?: BatchWork;
}

interface BatchSummary {
  recordings: number;
  bytes: number;
  oldestMs: number;
}

export class RecordingsWalk {
  /** Recordings newly found lost by this walk. */
  lost = 0;
  /** Recordings gone before they shipped again whose name and size had shipped before (recorded, alerted as a warning). */
  doubtful = 0;
  /** Recordings shipped again whose name shipped before under another size or file time (the first batches named). */
  readonly reshipped = { files: 0, batches: [] as string[], more: false };
  /** The most batches held with their file records at once (memory is bounded by `lookahead`). */
  maxHeld = 0;
  /** Ready batches found so far. */
  readyFound = 0;
  /** Pending recordings dated ahead of this machine's clock (they cannot settle until it passes them). */
  ahead: Selection['ahead'];
  /** Recordings held back as shorter than one of their name shipped from their batch before (the first batches named). */
  readonly cutShort = { files: 0, batches: [] as string[], more: false };
  readonly ordered: boolean;
  private readonly queue: Ready[] = [];
  private held = 0;
  private walking = true;
  private stopped = false;
  private failure: unknown;
  private waiters: (() => void)[] = [];
  private readonly summary = new Map<string, BatchSummary>();
  private readonly isDone: (batch: string, files: ReadonlyMap<string, FileStamp>) => boolean;
  /** What every batch's scan reports besides its files (made once, not once a batch). */
  private readonly hooks: ScanHooks;

  constructor(
    private readonly deps: WalkDeps,
    private readonly batches: readonly string[],
  ) {
    this.ordered = numberedBatches(batches);
    this.isDone = batchDone(deps.journal, deps.source);
    const { source, warn, badName, misplaced } = deps;
    this.hooks = { warn, badName, misplaced, isRecording: (name) => hasExtension(name, source.extensions) };
  }

  private isShipped = (batch: string, f: FileStamp): boolean => this.deps.journal.isShipped(this.deps.source.name, batch, f);
  private shippedLonger = (batch: string, f: FileStamp): boolean => this.deps.journal.shippedLonger?.(this.deps.source.name, batch, f) === true;

  /** Walks the root; resolves when the next view is complete (not committed: the caller commits it). Rejects on a scan error. */
  async walk(): Promise<void> {
    const later: Ready[] = [];
    try {
      let i = 0;
      for (; i < this.batches.length && !this.stopped; i++) {
        const ready = await this.visit(this.batches[i] as string);
        if (!ready) continue;
        this.readyFound++;
        if (!this.ordered) later.push(ready);
        else this.push(ready);
      }
      const { previous } = this.deps;
      if (this.stopped) {
        // Stopped early: what the old view holds past this point is carried over unexamined.
        for (let e = previous.take(); e; e = previous.take()) this.carry(e);
      } else {
        for (let e = previous.take(); e; e = previous.take()) await this.goneOrHidden(e);
      }
      later.sort((x, y) => x.oldestMs - y.oldestMs || compareBatches(x.batch, y.batch));
      for (const r of later) this.push(r);
    } catch (error) {
      this.failure = error;
      throw error;
    } finally {
      this.deps.previous.close();
      this.walking = false;
      this.wakeAll();
    }
  }

  /** No further batch directories are visited (the agent is stopping); the old view's rest is carried over. */
  stop(): void {
    this.stopped = true;
  }

  private async visit(batch: string): Promise<Ready | undefined> {
    const { previous, next, source } = this.deps;
    // Batches of the old view before this one are not on disk any more.
    for (let e = previous.peek(); e && compareBatches(e.batch, batch) < 0; e = previous.peek()) await this.goneOrHidden(previous.take() as PendingEntry);
    const before = previous.peek()?.batch === batch ? previous.take() : undefined;
    const scanned = await this.scan(batch);
    if (scanned === UNREADABLE) {
      if (before) this.carry(before);
      return undefined;
    }
    if (!scanned) {
      if (before) await this.gone(before, undefined);
      return undefined;
    }
    this.deps.files?.(batch, scanned.files);
    const done = this.isDone(batch, scanned.files);
    if (before) await this.gone(before, done ? undefined : scanned.files);
    if (done) return undefined;
    const pending = pendingView([scanned], this.isShipped, source.extensions).get(batch) ?? [];
    const now = this.deps.clock.now().getTime();
    const firstSeen = firstSeenOf(before, pending, now, this.deps.lastSeen ? Date.parse(this.deps.lastSeen) : undefined);
    const line = next.add(batch, pending, firstSeenKept(source, pending, firstSeen, now));
    if (!line) return undefined;
    this.summary.set(batch, summarize(pending));
    const work = this.select(scanned, before, firstSeen);
    return work ? { batch, oldestMs: work.oldestMs, line, work } : undefined;
  }

  /** The batch scanned; UNREADABLE (told to `unreadable`) when it cannot be examined. */
  private async scan(batch: string): Promise<ScannedBatch | undefined | typeof UNREADABLE> {
    try {
      return await scanBatch(this.deps.source.path, batch, this.hooks);
    } catch (error) {
      if (!(error instanceof UnreadableSourceError)) throw error;
      this.deps.unreadable?.(batch, error.message);
      return UNREADABLE;
    }
  }

  /** A batch of the previous view that the listing did not name: lost, unless it lies below a directory that could not be listed. */
  private async goneOrHidden(entry: PendingEntry): Promise<void> {
    if (this.deps.unreadablePrefixes?.some((p) => entry.batch.startsWith(`${p}/`))) this.carry(entry);
    else await this.gone(entry, undefined);
  }

  private select(scanned: ScannedBatch, before: PendingEntry | undefined, firstSeen: ReadonlyMap<string, number>): BatchWork | undefined {
    const seen = new Set(before?.files.map((f) => `${f.name}\t${f.size}\t${f.mtimeMs}`));
    const now = this.deps.clock.now().getTime();
    const seenFor = (_batch: string, f: FileStamp) => Math.max(0, now - (firstSeen.get(f.name) ?? now));
    const selection = selectWork(this.deps.source, [scanned], this.isShipped, this.deps.resolver, this.deps.clock, (_batch, f) => seen.has(`${f.name}\t${f.size}\t${f.mtimeMs}`), this.shippedLonger, seenFor);
    const work = selection.ready[0] && aheadIssues(selection.ready[0], firstSeen);
    const a = selection.ahead;
    if (a) this.ahead = !this.ahead || a.maxMs > this.ahead.maxMs ? { ...a, files: a.files + (this.ahead?.files ?? 0) } : { ...this.ahead, files: this.ahead.files + a.files };
    if (selection.cutShort) this.countCutShort(selection.cutShort);
    return work;
  }

  /**
   * Counts the recordings of `work`, just shipped again, whose name shipped from their batch before
   * under another size or file time (ransomware that appends grows them). Called once the pack is
   * sent: a batch found offsite with the same content (copied without its times) sent nothing.
   */
  countReshipped(work: BatchWork): void {
    const { journal, source } = this.deps;
    if (!journal.shippedUnderOtherStamp) return;
    for (const f of work.recordings) {
      if (!journal.shippedUnderOtherStamp(source.name, work.batch, f, { sameSize: false })) continue;
      this.reshipped.files++;
      const named = this.reshipped.batches;
      if (named.includes(work.batch)) continue;
      // Packs finish in any order: the first batches in the recorder's order are the ones named.
      named.push(work.batch);
      named.sort(compareBatches);
      if (named.length > 5) {
        named.pop();
        this.reshipped.more = true;
      }
    }
  }

  private countCutShort(held: NonNullable<Selection['cutShort']>): void {
    this.cutShort.files += held.files;
    for (const batch of held.batches) {
      if (this.cutShort.batches.length < 5) this.cutShort.batches.push(batch);
      else this.cutShort.more = true;
    }
  }

  /** The pending files of `entry` not among `present` (undefined: the batch is gone or done) and not shipped are lost. */
  private async gone(entry: PendingEntry, present: ReadonlyMap<string, FileStamp> | undefined, when: 'between passes' | 'while shipping' = 'between passes'): Promise<void> {
    const files = entry.files.filter((f) => !present?.has(f.name) && !this.isShipped(entry.batch, f)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // A file of a name and size shipped before under another time is the same recording touched
    // since (a scanner, a copy back without times), or a new one of a recorder replaced or whose
    // numbering restarted: told apart only by content, which is gone. Recorded and alerted as a
    // warning naming both readings, not counted as a certain loss.
    const before = (f: FileStamp) => this.deps.journal.shippedUnderOtherStamp?.(this.deps.source.name, entry.batch, f, { sameSize: true }) === true;
    // A file held back as shorter than the one of its name that shipped from the batch (a copy of
    // the calls folder cut short) never shipped, and the longer one is offsite: the call is lost
    // only if the short one was a new call under an old name. A warning too, saying so.
    // Gone between passes, it was held back if it was at the last look: a pass that comes after
    // the hold would have ended (a daily cron) finds it gone, never shipped, all the same.
    const looked = when === 'between passes' && this.deps.lastSeen ? Date.parse(this.deps.lastSeen) : this.deps.clock.now().getTime();
    const held = (f: FileStamp) => !before(f) && looked - f.mtimeMs < CUT_SHORT_HOLD_MS && this.shippedLonger(entry.batch, f);
    const lost = files.filter((f) => !before(f) && !held(f));
    const doubtful = files.filter(before);
    const cutShort = files.filter(held);
    if (lost.length > 0) this.lost += await this.deps.lost(entry.batch, lost, when);
    if (doubtful.length > 0) this.doubtful += await this.deps.lost(entry.batch, doubtful, when, { shippedBefore: true });
    if (cutShort.length > 0) this.doubtful += await this.deps.lost(entry.batch, cutShort, when, { shippedBefore: true, cutShort: true });
  }

  private carry(entry: PendingEntry): void {
    const files = stillPending(entry, this.deps.left);
    if (this.deps.next.add(entry.batch, files, entry.firstSeen)) this.summary.set(entry.batch, summarize(files));
  }

  private push(ready: Ready): void {
    if (this.ordered && this.held < this.deps.lookahead && ready.work) {
      this.held++;
      this.maxHeld = Math.max(this.maxHeld, this.held);
    } else delete ready.work;
    this.queue.push(ready);
    this.wakeAll();
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** The next batch to ship, oldest first; undefined when the walk is over and nothing is left. */
  async next(): Promise<BatchWork | undefined> {
    for (;;) {
      const item = this.queue.shift();
      if (item?.work) {
        this.held--;
        return item.work;
      }
      if (item) {
        const work = await this.reread(item);
        if (work) return work;
        continue;
      }
      if (!this.walking || this.failure !== undefined) return undefined;
      await this.wait();
    }
  }

  /** Whether a batch is still waiting to ship (waits for the walk to queue one or end). */
  async hasMore(): Promise<boolean> {
    while (this.queue.length === 0 && this.walking && this.failure === undefined) await this.wait();
    return this.queue.length > 0;
  }

  /** A batch queued by name: read again now; its pending files that vanished since the walk saw them are lost. */
  private async reread(item: Ready): Promise<BatchWork | undefined> {
    const { files: pending, firstSeen } = this.deps.next.entryAt(item.line);
    const scanned = await this.scan(item.batch);
    // Unreadable since the walk saw it: it stays pending in the view, neither shipped nor lost.
    if (scanned === UNREADABLE) return undefined;
    await this.gone({ batch: item.batch, files: pending }, scanned?.files, 'while shipping');
    // It was closed when the walk saw it: a recorder evicting part of it does not reopen it
    // (the rest ships now, as it would had the pack been under way).
    // The walk judged it settled; a file changed since then (not as the view has it) is judged afresh.
    const asWalked = new Set(pending.map((f) => `${f.name}\t${f.size}\t${f.mtimeMs}`));
    const work = scanned ? selectWork({ ...this.deps.source, closeAfterFiles: 1 }, [scanned], this.isShipped, this.deps.resolver, this.deps.clock, (_b, f) => asWalked.has(`${f.name}\t${f.size}\t${f.mtimeMs}`), this.shippedLonger, () => Infinity).ready[0] : undefined;
    return work && aheadIssues(work, firstSeen);
  }

  /** A worker finished with `work`: its recordings shipped or lost leave the backlog. */
  done(work: BatchWork, left: (f: FileStamp) => boolean): void {
    const s = this.summary.get(work.batch);
    if (!s) return;
    for (const f of work.recordings) {
      if (!left(f)) continue;
      s.recordings--;
      s.bytes -= f.size;
    }
    if (s.recordings <= 0) this.summary.delete(work.batch);
  }

  /** What is not shipped: the pending view as the walk wrote it, less what shipped since. */
  backlog(): Backlog {
    const backlog: Backlog = { batches: 0, recordings: 0, bytes: 0 };
    for (const [batch, s] of this.summary) {
      backlog.batches++;
      backlog.recordings += s.recordings;
      backlog.bytes += Math.max(0, s.bytes);
      if (!backlog.oldest || s.oldestMs < backlog.oldest.sinceMs) backlog.oldest = { source: this.deps.source.name, batch, sinceMs: s.oldestMs };
    }
    return backlog;
  }
}

function summarize(files: readonly FileStamp[]): BatchSummary {
  let bytes = 0;
  let oldestMs = Infinity;
  for (const f of files) {
    bytes += f.size;
    oldestMs = Math.min(oldestMs, f.mtimeMs);
  }
  return { recordings: files.length, bytes, oldestMs };
}

/**
 * The backlog a pending view describes, streamed (a source that cannot be scanned reports its
 * last view): `left` takes out what shipped or was found lost after the view was written;
 * `each` is called with every batch of the view.
 */
export function backlogOfView(source: string, view: PendingViewReader, o: { each?: (batch: string) => void; left?: LeftView } = {}): Backlog {
  const backlog: Backlog = { batches: 0, recordings: 0, bytes: 0 };
  for (let e = view.take(); e; e = view.take()) {
    o.each?.(e.batch);
    const files = stillPending(e, o.left);
    if (files.length === 0) continue;
    const s = summarize(files);
    backlog.batches++;
    backlog.recordings += s.recordings;
    backlog.bytes += s.bytes;
    if (!backlog.oldest || s.oldestMs < backlog.oldest.sinceMs) backlog.oldest = { source, batch: e.batch, sinceMs: s.oldestMs };
  }
  view.close();
  return backlog;
}
