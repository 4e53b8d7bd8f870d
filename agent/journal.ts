import { mkdirSync, openSync, fsyncSync, closeSync, renameSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LineFileReader } from './line-file.ts';
import { JournalWriter, type JournalSync } from './journal-writer.ts';
import { ShippedIndex } from './state/shipped-index.ts';
import { ArtefactLedger, type ArtefactRecord, type InflightArtefact } from './artefact-ledger.ts';
import { fsyncDirectory, writeAllSync } from './state/atomic-file.ts';
import { FerryError } from '../core/errors.ts';
import type { Event, FileStamp, InflightPack, LossRecord, Totals } from './journal-records.ts';

// Crash-safe journal: append-only JSON lines, made durable before the step they record is
// taken. Every append returns a promise that resolves once its line is written and synced
// (agent/journal-writer.ts: in order, group commit, through libuv's thread pool), so the main
// thread goes on filling other packs while the disk works; the caller awaits it before the step
// the line guards. A torn last line (crash mid-append) is ignored on load.
// Compaction writes a snapshot to a temporary file, fsyncs it, renames it over the journal (atomic)
// and fsyncs the directory; it waits for the appends under way. What shipped from each batch is not held here
// but in the shipped index beside the journal (state/shipped-index.ts): compaction merges what
// was published since into it first, so the snapshot need not list it, and loading streams the
// journal line by line.

/**
 * An event appended after the journal closed (the agent stopped, or died of a fatal error such
 * as a full state disk): nothing more can be recorded, so no attempt is made again.
 */
export class JournalClosedError extends FerryError {
  override readonly name = 'JournalClosedError';
  constructor(message: string) {
    super('fatal', message);
  }
}

/**
 * Whether a failed shipping step may be tried again: not when the journal cannot record it (closed,
 * or its disk full: ENOSPC), whatever the store would say; otherwise as the error says.
 */
export function shipRetryable(error: unknown): boolean {
  if (error instanceof JournalClosedError || (error as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC') return false;
  return error instanceof FerryError ? error.retryable : true;
}

export const stampKey = (f: FileStamp): string => `${f.name}\t${f.size}\t${Math.trunc(f.mtimeMs)}`;
const batchKey = (source: string, batch: string): string => `${source}\t${batch}`;
const MAX_LOSSES_KEPT = 200;
/** Lines after which a pass compacts the journal. */
export const COMPACT_AFTER_LINES = 5000;
/**
 * Bytes appended since the last snapshot after which a pass compacts the journal, whatever its
 * lines: a cron pass with nothing to ship reads the whole journal, and 5,000 lines of packs of
 * 100 recordings (each `begin` lists its files) are some 35 MB, seconds of every pass.
 */
export const COMPACT_AFTER_BYTES = 4 * 2 ** 20;

export type { JournalSync } from './journal-writer.ts';
export type { FileStamp, InflightPack, LossRecord, Totals } from './journal-records.ts';

export class Journal {
  private readonly file: string;
  /** Appends the lines; none in a read-only journal. */
  private writer: JournalWriter | undefined;
  private lines = 0;
  /** Bytes of the lines since the last snapshot (the snapshot's own not counted). */
  private bytesSinceSnapshot = 0;
  /** What shipped from each batch (source\tbatch), on disk but for the latest batches. */
  private readonly shipped: ShippedIndex;
  private readonly inflight = new Map<string, InflightPack>();
  /**
   * Packs this journal saw begin and not yet publish (abandoned ones included): attempts of
   * them may be in the store. Not kept through a compaction, like a lost journal: see begunBefore.
   */
  private readonly begun = new Set<string>();
  private losses: LossRecord[] = [];
  private readonly art = new ArtefactLedger();
  private readonly sync: JournalSync | undefined;
  readonly totals: Totals = { packs: 0, recordings: 0, bytes: 0, lostBatches: 0, lostRecordings: 0, artefacts: 0, artefactBytes: 0, lostArtefacts: 0 };

  /** `readOnly` loads the state without taking the journal for writing (for `status`). */
  constructor(
    readonly directory: string,
    options: { readOnly?: boolean; sync?: JournalSync; shippedHeld?: number } = {},
  ) {
    this.sync = options.sync;
    if (!options.readOnly) mkdirSync(directory, { recursive: true });
    this.file = join(directory, 'journal.jsonl');
    this.shipped = new ShippedIndex(join(directory, 'shipped.jsonl'), { readOnly: options.readOnly, overlayLimit: options.shippedHeld });
    this.load();
    if (!options.readOnly) this.writer = new JournalWriter(this.file, this.sync);
  }

  /** Replays the journal line by line (it is never read whole). */
  private load(): void {
    if (!existsSync(this.file)) return;
    const lines = new LineFileReader(this.file);
    for (let line = lines.next(); line !== undefined; line = lines.next()) {
      let event: Event;
      try {
        event = JSON.parse(line) as Event;
      } catch {
        continue; // torn tail from a crash mid-append
      }
      this.apply(event);
      this.lines++;
      this.bytesSinceSnapshot = event.e === 'snapshot' ? 0 : this.bytesSinceSnapshot + Buffer.byteLength(line) + 1;
    }
  }

  private apply(ev: Event): void {
    switch (ev.e) {
      case 'begin':
        this.inflight.set(ev.pack.packId, { ...ev.pack, uploads: [] });
        this.begun.add(ev.pack.packId);
        break;
      case 'upload':
        // Artefact uploads are recorded under the artefact id (`a…`), pack uploads under the pack id (`p…`).
        (this.inflight.get(ev.packId) ?? this.art.inflight.get(ev.packId))?.uploads.push(ev.uploadId);
        break;
      case 'upload-end': {
        const p = this.inflight.get(ev.packId) ?? this.art.inflight.get(ev.packId);
        if (p) p.uploads = p.uploads.filter((u) => u !== ev.uploadId);
        break;
      }
      case 'published': {
        const p = this.inflight.get(ev.packId);
        if (!p) break;
        this.shipped.add(batchKey(p.source, p.batch), p.files.map(stampKey));
        this.inflight.delete(ev.packId);
        this.begun.delete(ev.packId);
        if (ev.found) {
          this.totals.foundPacks = (this.totals.foundPacks ?? 0) + 1;
          this.totals.foundRecordings = (this.totals.foundRecordings ?? 0) + ev.recordings;
          this.totals.foundBytes = (this.totals.foundBytes ?? 0) + ev.bytes;
          break;
        }
        this.totals.packs++;
        this.totals.recordings += ev.recordings;
        this.totals.bytes += ev.bytes;
        break;
      }
      case 'abandoned':
        this.inflight.delete(ev.packId);
        break;
      case 'lost':
        this.losses.push(ev.loss);
        if (this.losses.length > MAX_LOSSES_KEPT) this.losses = this.losses.slice(-MAX_LOSSES_KEPT);
        if (ev.loss.kind === 'artefact') this.totals.lostArtefacts++;
        else {
          this.totals.lostBatches++;
          this.totals.lostRecordings += ev.loss.files.length;
        }
        break;
      case 'snapshot':
        if (ev.index === undefined) {
          // A journal of an older agent: its snapshot lists everything shipped (moved to the index).
          this.shipped.clear();
          for (const [k, v] of Object.entries(ev.shipped)) this.shipped.add(k, v);
        }
        this.inflight.clear();
        for (const p of ev.inflight) this.inflight.set(p.packId, p);
        this.begun.clear();
        for (const p of ev.inflight) this.begun.add(p.packId);
        Object.assign(this.totals, ev.totals);
        this.losses = ev.losses;
        this.art.restore(ev);
        break;
      default: {
        const published = this.art.apply(ev);
        if (published) {
          this.totals.artefacts++;
          this.totals.artefactBytes += published.size;
        }
      }
    }
  }

  /**
   * Applies the event to the state now and queues its line; resolves once the line is durable.
   * The caller awaits it before the step it guards (crash safety depends on that order). A
   * failed write or sync rejects every line of its group; later appends are tried again.
   */
  private append(event: Event): Promise<void> {
    if (!this.writer?.open) return Promise.reject(new JournalClosedError('journal is closed'));
    this.apply(event);
    this.lines++;
    const line = `${JSON.stringify(event)}\n`;
    this.bytesSinceSnapshot += Buffer.byteLength(line);
    return this.writer.append(line);
  }

  /** Resolves when every line appended so far was written (or failed to be). */
  async settled(): Promise<void> {
    await this.writer?.settled();
  }

  begin(pack: Omit<InflightPack, 'uploads'>): Promise<void> {
    return this.append({ e: 'begin', pack });
  }
  uploadStarted(packId: string, uploadId: string): Promise<void> {
    return this.append({ e: 'upload', packId, uploadId });
  }
  uploadEnded(packId: string, uploadId: string): Promise<void> {
    return this.append({ e: 'upload-end', packId, uploadId });
  }
  /** `found`: the pack was found already offsite (committed by an earlier state directory), not sent. */
  published(packId: string, recordings: number, bytes: number, found = false): Promise<void> {
    return this.append({ e: 'published', packId, recordings, bytes, ...(found ? { found: 1 as const } : {}) });
  }
  abandoned(packId: string, reason: string): Promise<void> {
    return this.append({ e: 'abandoned', packId, reason });
  }
  lost(loss: LossRecord): Promise<void> {
    return this.append({ e: 'lost', loss });
  }

  artefactBegin(art: Omit<InflightArtefact, 'uploads'>): Promise<void> {
    return this.append({ e: 'art-begin', art });
  }
  artefactPublished(artefactId: string, at: string): Promise<void> {
    return this.append({ e: 'art-published', artefactId, at });
  }
  artefactKnown(record: ArtefactRecord): Promise<void> {
    return this.append({ e: 'art-known', record });
  }
  artefactAbandoned(artefactId: string, reason: string): Promise<void> {
    return this.append({ e: 'art-abandoned', artefactId, reason });
  }
  /** Shipped artefact versions, by file state and content (read-only view). */
  get artefacts(): Pick<ArtefactLedger, 'shipped' | 'withContent' | 'lastPartial' | 'records'> {
    return this.art;
  }
  inflightArtefacts(): InflightArtefact[] {
    return [...this.art.inflight.values()];
  }

  isShipped(source: string, batch: string, file: FileStamp): boolean {
    return this.shipped.get(batchKey(source, batch)).has(stampKey(file));
  }

  /**
   * Whether a file of this name was shipped from the batch under another stamp: another file
   * time (and, unless `sameSize`, another size). The same recording touched since (a scanner, a
   * copy back without times), or one rewritten, or a new one under an old name.
   */
  shippedUnderOtherStamp(source: string, batch: string, file: FileStamp, o: { sameSize: boolean }): boolean {
    const prefix = o.sameSize ? `${file.name}\t${file.size}\t` : `${file.name}\t`;
    const own = stampKey(file);
    for (const key of this.shipped.get(batchKey(source, batch))) if (key.startsWith(prefix) && key !== own) return true;
    return false;
  }

  /** Whether a file of this name shipped from the batch with more bytes than `file` has (one lookup of the batch). */
  shippedLonger(source: string, batch: string, file: FileStamp): boolean {
    return this.shippedStamps(source, batch).some((s) => s.name === file.name && s.size > file.size);
  }

  /**
   * Whether anything shipped from the batch (a pass read it), or, for a directory above the
   * batches (batchDepth 2 or more), from any batch below it.
   */
  shippedAny(source: string, batch: string): boolean {
    return this.shipped.get(batchKey(source, batch)).size > 0 || this.shipped.anyUnder(`${batchKey(source, batch)}/`);
  }

  /** The stamps of what shipped from the batch (any file time it shipped under). */
  shippedStamps(source: string, batch: string): FileStamp[] {
    return [...this.shipped.get(batchKey(source, batch))].map((key) => {
      const [mtime, size] = [key.lastIndexOf('\t'), key.lastIndexOf('\t', key.lastIndexOf('\t') - 1)];
      return { name: key.slice(0, size), size: Number(key.slice(size + 1, mtime)), mtimeMs: Number(key.slice(mtime + 1)) };
    });
  }

  /** Whether `files` are exactly the files shipped from the batch (one lookup of the batch). */
  shippedExactly(source: string, batch: string, files: Iterable<FileStamp>): boolean {
    const shipped = this.shipped.get(batchKey(source, batch));
    if (shipped.size === 0) return false;
    const keys = new Set([...files].map(stampKey));
    if (keys.size !== shipped.size) return false;
    for (const k of keys) if (!shipped.has(k)) return false;
    return true;
  }
  /** Batches whose shipped files are held in memory (the rest are answered from the shipped index on disk). */
  get shippedHeld(): number {
    return this.shipped.held;
  }
  /**
   * Whether this journal saw the pack begin and not publish: an attempt of it may be in the
   * store. False proves nothing on its own (a compaction forgets abandoned packs, a state
   * directory can be lost or restored from an old copy): the caller relies on the store's
   * refusal to replace an object for what the journal does not know (agent/pack-attempts.ts).
   */
  begunBefore(packId: string): boolean {
    return this.begun.has(packId);
  }
  inflightPacks(): InflightPack[] {
    return [...this.inflight.values()];
  }
  recentLosses(): LossRecord[] {
    return [...this.losses];
  }

  /**
   * Rewrites the journal as one snapshot, once the shipped index holds everything published
   * (durably: the lines that said so are dropped). `keepBatches` (source\tbatch keys still on
   * disk) lets the index forget batches the recorder has evicted, so it stays small for ever;
   * `keepArtefactNames` (source\tname still on the site) does the same for artefact versions.
   */
  async compact(keepBatches?: ReadonlySet<string>, keepArtefactNames?: ReadonlySet<string>): Promise<void> {
    await this.settled();
    this.shipped.merge(keepBatches);
    const art = this.art.snapshot(keepArtefactNames);
    const snapshot: Event = { e: 'snapshot', shipped: {}, index: 1, inflight: this.inflightPacks(), totals: { ...this.totals }, losses: this.losses, ...art };
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w');
    writeAllSync(fd, `${JSON.stringify(snapshot)}\n`);
    fsyncSync(fd);
    closeSync(fd);
    this.writer?.closeNow();
    renameSync(tmp, this.file);
    fsyncDirectory(dirname(this.file)); // the rename durable too, as writeFileAtomic's and the shipped index's are
    this.writer = new JournalWriter(this.file, this.sync);
    this.lines = 1;
    this.bytesSinceSnapshot = 0;
    this.shipped.overflowed = false;
    if (keepArtefactNames) this.art.restore(art);
  }

  /**
   * Files what shipped from source `from`'s batches under `to` (a recordings source renamed):
   * the journal is compacted first, so that no line of it names `from` for a later load to read
   * back. Returns how many batches moved (0: none left, as after a rename made before a crash).
   */
  async renameSource(from: string, to: string): Promise<number> {
    await this.compact();
    return this.shipped.renameSource(from, to);
  }

  get lineCount(): number {
    return this.lines;
  }

  /**
   * Whether the journal should be compacted now: past COMPACT_AFTER_LINES lines or
   * COMPACT_AFTER_BYTES bytes, or once its replay held more published batches than the shipped
   * index keeps in memory: until a compaction drops those lines, every load would merge them
   * into the index again, rewriting its whole base file (megabytes, fsynced) at every cron pass.
   */
  get compactionDue(): boolean {
    return this.lineCount > COMPACT_AFTER_LINES || this.bytesSinceSnapshot > COMPACT_AFTER_BYTES || this.shipped.overflowed;
  }

  /** Takes no more lines; the file is closed once the lines already appended are written. */
  close(): void {
    this.writer?.close();
  }
}

export { batchKey };
