import { Worker } from 'node:worker_threads';
import type { WalkItem } from './walk.ts';

// Read-ahead for a tree the kernel has not cached. The snapshot reads small files one after the
// other on its main thread (read-file.ts): from the page cache that is the fastest way, from
// disk every file waits for its own seek, one at a time (100,000 files of 2 KB: 9 s with `cat`
// one by one, 3.2 s four at a time). When the reads it times are slow and most files of the
// runs are being read (a first snapshot, or one after most files changed), the files of each run
// are read ahead on libuv's thread pool, a few at once, so their pages are cached by the time
// the snapshot reads them. What is read ahead is thrown away: the snapshot's own read (with its
// checks that the content is the version the walk saw) is still the one that counts. On a
// cached tree, or an incremental snapshot reading a few files, it never starts; once started, it
// goes on for the rest of the snapshot while most files are read.

export interface ReadAheadOptions {
  /** Files read ahead at once (libuv's pool has 4 threads; a few more queued keep them busy). */
  concurrency?: number;
  /** Bytes read ahead of each file, from its start. */
  bytes?: number;
  /** Reads slower than this (µs, the median of the latest 32) may be from disk… */
  slowMicros?: number;
  /**
   * …and are when also this many times slower than a read of a file just read (cached for sure,
   * timed on the spot: what a read from the page cache costs on this machine, under its load).
   */
  cachedFactor?: number;
  /**
   * Reads timed before each look at them. It starts after two looks in a row found them slow,
   * `minReads` reads apart: on a loaded machine one look can catch reads from the page cache at
   * twice their usual cost (a tree of test files, just written, was once taken for a disk).
   */
  minReads?: number;
  /** The share of a run's files that must be read for read-ahead to pay (moving). */
  minShareRead?: number;
}

/**
 * The read-ahead thread: it takes a run's paths (NUL-separated bytes: a name cannot hold a NUL),
 * replacing what is left of the run before, and reads the start of each, `concurrency` at once,
 * on libuv's thread pool. Its own event loop passes each open on to its read at once; the
 * snapshot's thread, busy with its synchronous reads, would not.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { open, read, close, constants } = require('node:fs');
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | (constants.O_NONBLOCK || 0);
// As the snapshot's own reads (read-file.ts): access times left as they were, where allowed.
let noAtime = constants.O_NOATIME || 0;
const { concurrency, bytes } = workerData;
const spare = [];
let queue = [];
let head = 0;
let inFlight = 0;
parentPort.on('message', (joined) => {
  const all = Buffer.from(joined.buffer, joined.byteOffset, joined.byteLength);
  queue = [];
  head = 0;
  for (let at = 0; at < all.length; ) {
    const nul = all.indexOf(0, at);
    const end = nul < 0 ? all.length : nul;
    queue.push(all.subarray(at, end));
    at = end + 1;
  }
  pump();
});
function pump() {
  while (inFlight < concurrency && head < queue.length) {
    const path = queue[head++];
    inFlight++;
    const flags = FLAGS | noAtime;
    open(path, flags, (error, fd) => {
      if (!error || error.code !== 'EPERM' || (flags & noAtime) === 0) return readStart(error, fd);
      // Refused for O_NOATIME when the open without it succeeds: off from then on.
      open(path, FLAGS, (again, fd2) => {
        if (!again) noAtime = 0;
        readStart(again, fd2);
      });
    });
  }
}
function readStart(error, fd) {
  if (error) {
    inFlight--;
    return pump();
  }
  const buffer = spare.pop() || Buffer.allocUnsafe(bytes);
  read(fd, buffer, 0, buffer.length, 0, () => {
    spare.push(buffer);
    close(fd, () => {
      inFlight--;
      pump();
    });
  });
}
`;

export class ReadAhead {
  private readonly concurrency: number;
  private readonly bytes: number;
  private readonly slowMicros: number;
  private readonly cachedFactor: number;
  /** The latest timed read (read again to time a cached read). */
  private lastRead: (() => unknown) | undefined;
  private readonly minReads: number;
  private readonly minShareRead: number;
  /** How long the latest reads took (µs), a ring. */
  private readonly recent = new Float64Array(32);
  private reads = 0;
  /** The share of the runs' files read, as a moving average; undefined until a run with files ended. */
  private shareRead: number | undefined;
  private fromDisk = false;
  /** The reads count at the latest look (0 before the first). */
  private lookedAt = 0;
  /** Whether the latest look found the reads slow. */
  private slowLast = false;
  private worker: Worker | undefined;
  /** Files handed to the read-ahead thread so far (logs, tests). */
  queued = 0;

  constructor(options: ReadAheadOptions = {}) {
    this.concurrency = options.concurrency ?? 8;
    this.bytes = options.bytes ?? 128 * 1024;
    this.slowMicros = options.slowMicros ?? 40;
    this.cachedFactor = options.cachedFactor ?? 2;
    this.minReads = options.minReads ?? 32;
    this.minShareRead = options.minShareRead ?? 0.5;
  }

  /**
   * Whether runs are read ahead now. Once the snapshot's own reads were slow, it stays on while
   * most files are being read: read ahead, those reads are fast, which says nothing about the
   * files not read ahead yet.
   */
  get active(): boolean {
    if (this.shareRead === undefined || this.shareRead < this.minShareRead) return false;
    if (!this.fromDisk && this.reads >= this.lookedAt + this.minReads) {
      this.lookedAt = this.reads;
      const slow = this.slow();
      this.fromDisk = slow && this.slowLast;
      this.slowLast = slow;
    }
    return this.fromDisk;
  }

  /** One of the snapshot's own small reads took `nanoseconds`. */
  timed(nanoseconds: number): void {
    this.recent[this.reads++ % this.recent.length] = nanoseconds / 1000;
  }

  /** Runs one of the snapshot's own small reads, timed. */
  time<T>(read: () => T): T {
    const started = process.hrtime.bigint();
    const result = read();
    this.timed(Number(process.hrtime.bigint() - started));
    this.lastRead = read;
    return result;
  }

  /**
   * Whether the latest reads were from disk: slower than slowMicros, and than cachedFactor times
   * a cached read. On a slow or loaded machine a read from the page cache alone can take more
   * than slowMicros (45-50 µs a 1-4 KB file measured, 90 µs from disk on the same machine).
   */
  private slow(): boolean {
    const median = this.medianMicros();
    if (median <= this.slowMicros) return false;
    const cached = this.timeCachedRead();
    return cached === undefined || median > this.cachedFactor * cached;
  }

  /**
   * The middle of three reads of the file read last (µs), timed now, under the machine's load of
   * the moment as the reads it is compared with were; undefined when there is none or it fails
   * (changed, gone). Not the fastest of them: on a busy machine that one is the read the CPU
   * happened not to be taken from, and against it reads from the cache looked like reads from disk.
   */
  private timeCachedRead(): number | undefined {
    const read = this.lastRead;
    if (!read) return undefined;
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = process.hrtime.bigint();
      try {
        read();
      } catch {
        return undefined;
      }
      times.push(Number(process.hrtime.bigint() - started) / 1000);
    }
    return times.sort((a, b) => a - b)[1];
  }

  /** The median of the latest reads (a pause for garbage collection, or the first calls of a process, are not the disk). */
  private medianMicros(): number {
    const latest = this.recent.slice(0, Math.min(this.reads, this.recent.length)).sort();
    return latest[latest.length >> 1]!;
  }

  /**
   * A run starts: its small files are read ahead, in order, if read-ahead is on (what is left of
   * the run before is dropped). Returns how many files the run holds (for `end`).
   */
  begin(run: WalkItem[], maxBytes: number): number {
    let files = 0;
    for (const item of run) if (item.kind === 'file') files++;
    if (files === 0 || !this.active) return files;
    const paths: Buffer[] = [];
    for (const item of run) if (item.kind === 'file' && item.stat.size > 0 && item.stat.size <= maxBytes) paths.push(item.abs, NUL);
    if (paths.length === 0) return files;
    this.queued += paths.length / 2;
    this.thread().postMessage(Buffer.concat(paths));
    return files;
  }

  /** The run is done: `files` of it were files, `read` of those were read. */
  end(files: number, read: number): void {
    if (files > 0) this.shareRead = this.shareRead === undefined ? read / files : this.shareRead * 0.5 + (read / files) * 0.5;
  }

  /** Stops the read-ahead thread, if one was started. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    // Small heaps: it holds a run's paths and `concurrency` buffers, and a tree of a million files must stay under its memory target.
    const resourceLimits = { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 2 };
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'tree read-ahead', workerData: { concurrency: this.concurrency, bytes: this.bytes }, resourceLimits });
    // It never keeps the agent alive, and a thread that fails only means no more read-ahead.
    worker.unref();
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
    });
    this.worker = worker;
    return worker;
  }
}

const NUL = Buffer.from([0]);
