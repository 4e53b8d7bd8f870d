import { closeSync, existsSync, fsyncSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BATCH_ORDER, compareBatches } from '../sources/batch-order.ts';
import type { FileStamp } from '../journal.ts';
import { fsyncDirectory, writeAllSync } from './atomic-file.ts';
import { LineFileReader } from '../line-file.ts';

// The recordings a source had seen and not shipped at its last pass, one line per batch, sorted
// by compareBatches: the next pass walks the root in the same order and compares the two batch
// by batch (a pending file that is gone now and was not shipped is a loss), so neither the view
// nor the scan is ever held whole in memory. A million pending recordings are ~35 MB on disk
// and a few KB in memory.
//
//   {"ferry":"pending-view","format":1,"order":"numeric-path-1"}
//   ["000001",[["c000001-0.wav",2048,1733212345678,1733212400000],["c000001-1.wav",2048,1733212345679]]]
//   ["000002",[…]]
//
// A pass writes the next view to `<file>.tmp` as it walks, then fsyncs and renames it over the
// old one (and fsyncs the directory): a crash at any moment leaves the old view or the new one,
// never a torn one. A pass that stops early copies the old view's remaining lines unchanged.
//
// A file's fourth element, when there, is when a pass of this machine first saw it as it is
// (size and time, this machine's clock, epoch ms): the sidecar wait is measured from it, not from
// the recorder's file time, whose clock may be behind (sources/recordings.ts). It is written only
// while the wait lasts; in a view whose header says `"firstSeen":true`, a file seen before without
// one was seen longer ago than that (a view of an older agent has none: seen at its pass).

export interface PendingEntry {
  batch: string;
  files: FileStamp[];
  /**
   * When a pass first saw each file (by name) with the size and time it has in `files`, by this
   * machine's clock (epoch ms), while its sidecar wait lasted; undefined in a view of an older agent.
   */
  firstSeen?: ReadonlyMap<string, number>;
}

/**
 * When a pass first saw each of `files` as it is now: as the previous view says when it had the
 * file with the same size and time (-Infinity: longer ago than the view keeps; at the previous
 * look, `lastSeenMs`, for a view of an older agent), else now.
 */
export function firstSeenOf(before: PendingEntry | undefined, files: readonly FileStamp[], nowMs: number, lastSeenMs: number | undefined): Map<string, number> {
  const previous = new Map(before?.files.map((f) => [f.name, f] as const));
  const out = new Map<string, number>();
  for (const f of files) {
    const p = previous.get(f.name);
    const same = p !== undefined && p.size === f.size && p.mtimeMs === Math.trunc(f.mtimeMs);
    const kept = before?.firstSeen ? (before.firstSeen.get(f.name) ?? -Infinity) : undefined;
    out.set(f.name, same ? (kept ?? lastSeenMs ?? nowMs) : nowMs);
  }
  return out;
}

/**
 * Whether a recording of a view has left it since the view was written: shipped (the journal) or
 * recorded lost (the loss log). A view stays as its walk wrote it; every reader takes these out.
 */
export type LeftView = (batch: string, f: FileStamp) => boolean;

/** LeftView from the journal's shipped index and the loss log (one lookup of the index a batch). */
export function leftView(journal: { isShipped(source: string, batch: string, f: FileStamp): boolean }, losses: { has(source: string, batch: string, f: FileStamp): boolean }, source: string): LeftView {
  return (batch, f) => journal.isShipped(source, batch, f) || losses.has(source, batch, f);
}

/** The files of a view's entry still pending: all of them, less what `left` says has left. */
export function stillPending(entry: PendingEntry, left: LeftView | undefined): FileStamp[] {
  return left ? entry.files.filter((f) => !left(entry.batch, f)) : entry.files;
}

/** Where a batch's line sits in a view being written (read back with PendingViewWriter.readAt). */
export interface ViewLine {
  offset: number;
  length: number;
}

const HEADER = { ferry: 'pending-view', format: 1, order: BATCH_ORDER, firstSeen: true };

export function encodeEntry(batch: string, files: readonly FileStamp[], firstSeen?: ReadonlyMap<string, number>): string {
  return JSON.stringify([
    batch,
    files.map((f) => {
      const seen = firstSeen?.get(f.name);
      return seen === undefined || !Number.isFinite(seen) ? [f.name, f.size, Math.trunc(f.mtimeMs)] : [f.name, f.size, Math.trunc(f.mtimeMs), Math.trunc(seen)];
    }),
  ]);
}

function decodeEntry(line: string, file: string, keepsFirstSeen = false): PendingEntry {
  try {
    const [batch, files] = JSON.parse(line) as [string, [string, number, number, number?][]];
    if (typeof batch !== 'string' || !Array.isArray(files)) throw new Error('not ["batch", [[name, size, mtime], …]]');
    const firstSeen = new Map<string, number>();
    for (const [name, , , seen] of files) if (typeof seen === 'number') firstSeen.set(name, seen);
    return { batch, files: files.map(([name, size, mtimeMs]) => ({ name, size, mtimeMs })), ...(keepsFirstSeen || firstSeen.size > 0 ? { firstSeen } : {}) };
  } catch (error) {
    throw new Error(`state file ${file} is damaged (${(error as Error).message}); move it aside to start its records afresh`, { cause: error });
  }
}

/** The previous view, batch by batch in compareBatches order. */
export class PendingViewReader {
  private ahead: PendingEntry | undefined;
  private last: string | undefined;

  private constructor(
    private readonly pull: () => PendingEntry | undefined,
    private readonly release: () => void,
  ) {
    this.ahead = this.pull();
  }

  static empty(): PendingViewReader {
    return new PendingViewReader(() => undefined, () => undefined);
  }

  /** Entries held in memory (a view of an older format or order): sorted here. */
  static of(entries: PendingEntry[]): PendingViewReader {
    const sorted = [...entries].sort((a, b) => compareBatches(a.batch, b.batch));
    let i = 0;
    return new PendingViewReader(() => sorted[i++], () => undefined);
  }

  /** Streams `file`; a missing file is an empty view. A view written in another order is read whole and sorted. */
  static open(file: string): PendingViewReader {
    if (!existsSync(file)) return PendingViewReader.empty();
    const lines = new LineFileReader(file);
    const header = lines.next();
    let order: unknown;
    let keepsFirstSeen = false;
    try {
      const parsed = header === undefined ? { order: BATCH_ORDER } : (JSON.parse(header) as { order?: unknown; firstSeen?: unknown });
      order = parsed.order;
      keepsFirstSeen = 'firstSeen' in parsed && parsed.firstSeen === true;
    } catch {
      order = undefined;
    }
    const pull = (): PendingEntry | undefined => {
      const line = lines.next();
      return line === undefined ? undefined : decodeEntry(line, file, keepsFirstSeen);
    };
    if (order === BATCH_ORDER) return new PendingViewReader(pull, () => lines.close());
    const all: PendingEntry[] = [];
    for (let e = pull(); e; e = pull()) all.push(e);
    return PendingViewReader.of(all);
  }

  peek(): PendingEntry | undefined {
    return this.ahead;
  }

  take(): PendingEntry | undefined {
    const e = this.ahead;
    if (e === undefined) return undefined;
    if (this.last !== undefined && compareBatches(this.last, e.batch) >= 0) throw new Error(`the pending view is out of order (${e.batch} after ${this.last}); move it aside to start its records afresh`);
    this.last = e.batch;
    this.ahead = this.pull();
    return e;
  }

  close(): void {
    this.ahead = undefined;
    this.release();
  }
}

/** The next view, written as the pass walks; `commit()` puts it in place atomically. */
export class PendingViewWriter {
  private readonly tmp: string;
  private fd: number | undefined;
  private offset = 0;
  private last: string | undefined;
  private committed = false;

  constructor(private readonly file: string) {
    this.tmp = `${file}.tmp`;
    this.fd = openSync(this.tmp, 'w+');
    this.write(`${JSON.stringify(HEADER)}\n`);
  }

  private write(text: string): ViewLine {
    if (this.fd === undefined || this.committed) throw new Error('pending view already committed');
    const bytes = Buffer.from(text, 'utf8');
    const at = this.offset;
    writeAllSync(this.fd, bytes, at);
    this.offset += bytes.length;
    return { offset: at, length: bytes.length };
  }

  /** Appends a batch's pending files (batches must come in compareBatches order; an empty list writes nothing). */
  add(batch: string, files: readonly FileStamp[], firstSeen?: ReadonlyMap<string, number>): ViewLine | undefined {
    if (files.length === 0) return undefined;
    if (this.last !== undefined && compareBatches(this.last, batch) >= 0) throw new Error(`pending view written out of order: ${batch} after ${this.last}`);
    this.last = batch;
    return this.write(`${encodeEntry(batch, files, firstSeen)}\n`);
  }

  /** A line written earlier by this writer (the ship workers read a batch's pending files back instead of holding them). */
  readAt(line: ViewLine): FileStamp[] {
    return this.entryAt(line).files;
  }

  /** readAt, with the first-seen times written with the files. */
  entryAt(line: ViewLine): PendingEntry {
    if (this.fd === undefined) throw new Error('pending view already closed');
    const buf = Buffer.allocUnsafe(line.length);
    readSync(this.fd, buf, 0, line.length, line.offset);
    return decodeEntry(buf.toString('utf8').trimEnd(), this.tmp, true);
  }

  commit(): void {
    if (this.fd === undefined || this.committed) return;
    fsyncSync(this.fd);
    renameSync(this.tmp, this.file);
    fsyncDirectory(dirname(this.file));
    this.committed = true;
  }

  /** Closes the file (after commit, or to abandon an uncommitted view: the old one stays). */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    if (!this.committed) rmSync(this.tmp, { force: true });
  }
}
