import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { createGunzip, gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

// Gzip JSON-lines files, written and read in chunks: a snapshot's published index is never held
// whole in memory. Concatenated gzip members read as one stream, which is how an index gets its
// header line after its entries are counted, and how the writer works: every ~256 KB of lines
// becomes one gzip member, compressed on libuv's thread pool while the walk goes on (at most
// MAX_IN_FLIGHT at once) and written in order. A snapshot writes a line per path; compressing
// them on the main thread was a fifth of an incremental snapshot's time, and through a zlib
// stream each line cost a trip to the thread pool and a wait for it.

const CHUNK_BYTES = 256 * 1024;
/** Members being compressed at once: bounds the memory (4 × 256 KB of lines) and keeps a core for the walk. */
export const MAX_IN_FLIGHT = 4;
/** zlib's smallest output buffer that is worth one trip (its default is 16 KiB). */
const MIN_OUTPUT_CHUNK = 64 * 1024;

const gzipAsync = promisify(gzip);

/**
 * A 4 KiB window, not zlib's 32 KiB: a line is most like the few lines just before it (the same
 * folder, the same fields), and the smaller window finds those faster. A share's index of 100,000
 * paths (20 MB of lines): 205 ms of CPU and 4.87 MB, against 265 ms and 5.06 MB (level 1 both).
 * Any gunzip reads it (a window is at most 32 KiB).
 */
const WINDOW_BITS = 12;

const PACK_KEY = ',"pack":';
const OFFSET_KEY = ',"offset":';
/** The longest packed tail: both keys, two numbers of up to 16 digits, the brace and the newline. */
const PACKED_TAIL_MAX = PACK_KEY.length + OFFSET_KEY.length + 2 * 16 + 2;

function writeAscii(b: Buffer, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) b[at + i] = text.charCodeAt(i);
  return at + text.length;
}

/** Writes a safe non-negative integer's decimal digits, as `${n}` prints it. */
export function writeDigits(b: Buffer, at: number, n: number): number {
  let length = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) length++;
  for (let i = at + length - 1, m = n; i >= at; i--, m = Math.floor(m / 10)) b[i] = 0x30 + (m % 10);
  return at + length;
}

export class JsonlGzWriter {
  private fd: number | undefined;
  /** Lines not compressed yet, as bytes: one zlib call per 256 KB, not per line (each call costs more than the line). */
  private pending: Buffer = Buffer.allocUnsafe(2 * CHUNK_BYTES);
  private pendingBytes = 0;
  /**
   * Line buffers of members already written, taken again for the next lines: at most
   * MAX_IN_FLIGHT + 1 for the whole file, instead of a new 512 KB buffer a member left for the
   * garbage collector (at a million paths, 800 of them, outliving the young generation).
   */
  private readonly spare: Buffer[] = [];
  /** Line buffers made (for tests: bounded whatever the number of lines). */
  buffersMade = 1;
  /** Whether a gzip member was started: an empty file is not valid gzip, so close writes an empty member. */
  private members = 0;
  /** Members compressed or being compressed, not written yet, oldest first; each resolves once written. */
  private inFlight: Promise<void>[] = [];
  private written: Promise<void> = Promise.resolve();
  private failed: unknown;
  lines = 0;

  /** `level`: gzip level; 1 compresses index lines about a third faster than 6, for 2 % more bytes. */
  constructor(
    readonly file: string,
    private readonly level = 1,
  ) {
    this.fd = openSync(file, 'w');
  }

  write(value: unknown): void {
    this.writeLine(JSON.stringify(value));
  }

  /** Writes a line already serialised (without its newline); await `settle()` when `backlogged`. */
  writeLine(line: string): void {
    this.lines++;
    this.room(3 * line.length + 1);
    this.pendingBytes += this.pending.write(line, this.pendingBytes, 'utf8');
    this.pending[this.pendingBytes++] = 0x0a;
    if (this.pendingBytes >= CHUNK_BYTES) this.flush();
  }

  /**
   * Writes a line from bytes already serialised, `src[start..end]` followed by `tail` (ASCII) and
   * its newline: how an unchanged file's line is made from its previous one without a string.
   */
  writeLineFrom(src: Buffer, start: number, end: number, tail: string): void {
    this.lines++;
    this.room(end - start + tail.length + 1);
    this.pendingBytes += src.copy(this.pending, this.pendingBytes, start, end);
    this.pendingBytes += this.pending.write(tail, this.pendingBytes, 'latin1');
    this.pending[this.pendingBytes++] = 0x0a;
    if (this.pendingBytes >= CHUNK_BYTES) this.flush();
  }

  /**
   * Writes the line `src[start..end]` followed by `,"pack":P,"offset":O}` and its newline, the
   * numbers written as digits (an unchanged file's published line: no string made for it).
   */
  writeLineFromPacked(src: Buffer, start: number, end: number, pack: number, offset: number): void {
    if (!Number.isSafeInteger(pack) || !Number.isSafeInteger(offset) || pack < 0 || offset < 0) return this.writeLineFrom(src, start, end, `,"pack":${pack},"offset":${offset}}`);
    this.lines++;
    this.room(end - start + PACKED_TAIL_MAX);
    const b = this.pending;
    let p = this.pendingBytes + src.copy(b, this.pendingBytes, start, end);
    p = writeAscii(b, p, PACK_KEY);
    p = writeDigits(b, p, pack);
    p = writeAscii(b, p, OFFSET_KEY);
    p = writeDigits(b, p, offset);
    b[p++] = 0x7d;
    b[p++] = 0x0a;
    this.pendingBytes = p;
    if (this.pendingBytes >= CHUNK_BYTES) this.flush();
  }

  /** Makes room for `n` more bytes, starting a member (or a larger buffer for one long line) when needed. */
  private room(n: number): void {
    if (this.pendingBytes + n <= this.pending.length) return;
    this.flush();
    if (n > this.pending.length) {
      if (this.pending.length === 2 * CHUNK_BYTES) this.spare.push(this.pending);
      this.pending = this.newBuffer(n);
    }
  }

  private newBuffer(size = 2 * CHUNK_BYTES): Buffer {
    this.buffersMade++;
    return Buffer.allocUnsafe(size);
  }

  /** True when as many members are being compressed as may be: the caller awaits settle() before writing more. */
  get backlogged(): boolean {
    return this.inFlight.length >= MAX_IN_FLIGHT;
  }

  /** Waits for the oldest member in flight to be written; throws what compressing or writing threw. */
  async settle(): Promise<void> {
    await this.inFlight[0];
    if (this.failed !== undefined) throw this.failed;
  }

  /** Starts compressing what is pending as one gzip member (at close, an empty one when there never was one). */
  private flush(): void {
    if (this.fd === undefined || (this.pendingBytes === 0 && this.members > 0)) return;
    // The member's bytes are compressed on the thread pool: another buffer takes the next lines.
    // One output buffer as large as the input: zlib's default (16 KiB) made a thread-pool trip
    // and a callback on the main thread for every 16 KiB it produced, about six a member.
    const input = this.pending;
    const compressed = gzipAsync(input.subarray(0, this.pendingBytes), { level: this.level, windowBits: WINDOW_BITS, chunkSize: Math.max(MIN_OUTPUT_CHUNK, this.pendingBytes + 1024) });
    this.pending = this.spare.pop() ?? this.newBuffer();
    this.pendingBytes = 0;
    this.members++;
    const done = (this.written = Promise.all([compressed, this.written]).then(
      ([member]) => {
        // Compressed: zlib no longer reads the lines (a long line's own buffer is not kept).
        if (input.length === 2 * CHUNK_BYTES) this.spare.push(input);
        if (this.failed !== undefined || this.fd === undefined) return;
        for (let at = 0; at < member.length; ) at += writeSync(this.fd, member, at);
      },
      (error: unknown) => {
        this.failed ??= error;
      },
    ));
    const settled = done.catch((error: unknown) => {
      this.failed ??= error;
    });
    this.inFlight.push(settled);
    void settled.then(() => this.inFlight.shift());
  }

  /** Writes what is pending and closes the file (its bytes are in the page cache: the caller syncs what must survive a crash). */
  async close(): Promise<void> {
    if (this.fd === undefined) return;
    try {
      this.flush();
      await Promise.all(this.inFlight);
      if (this.failed !== undefined) throw this.failed;
    } finally {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

/**
 * Lines of a gzip JSON-lines stream, unparsed, in batches (one per chunk the gunzip hands over):
 * one await per batch instead of one per line.
 */
export async function* readLineBatches(input: Readable): AsyncGenerator<string[]> {
  const gunzip = input.pipe(createGunzip({ chunkSize: 256 * 1024 }));
  input.once('error', (error) => gunzip.destroy(error));
  // A character cut in two by a chunk boundary is joined again by the decoder.
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    const text = rest + decoder.write(chunk);
    const lines = text.split('\n');
    rest = lines.pop()!;
    const batch = lines.filter((l) => l.length > 0);
    if (batch.length > 0) yield batch;
  }
  rest += decoder.end();
  if (rest.length > 0) yield [rest];
}

/** Lines of a gzip JSON-lines stream, parsed one at a time. */
export async function* readJsonlGz(input: Readable): AsyncGenerator<unknown> {
  for await (const batch of readLineBatches(input)) for (const line of batch) yield JSON.parse(line) as unknown;
}

export function readJsonlGzFile(file: string): AsyncGenerator<unknown> {
  return readJsonlGz(createReadStream(file, { highWaterMark: 256 * 1024 }));
}

export function readLineBatchesFile(file: string): AsyncGenerator<string[]> {
  return readLineBatches(createReadStream(file, { highWaterMark: 256 * 1024 }));
}
