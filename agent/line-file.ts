import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

// Plain (uncompressed) JSON-lines files, written and read synchronously in large chunks: the
// agent's own state files read once per pass (the recordings' pending view, a line per batch;
// the tree's local index of an older agent, read once to be converted: tree/local-index.ts).
// Uncompressed: a gzip of each line on write and a gunzip on the next read cost more CPU than
// the rest of the work for an unchanged line (docs/operations.md).
// Synchronous for the reason the walk's lstat is: these bytes are in the page cache, and a
// thread-pool trip per chunk waits longest exactly when the machine is busy.

const CHUNK_BYTES = 1024 * 1024;

/** The lines of a plain JSON-lines file, one at a time, read in chunks of 1 MiB; empty lines are skipped. */
export class LineFileReader {
  private readonly bytes: LineBytesReader;

  constructor(file: string) {
    this.bytes = new LineBytesReader(file);
  }

  /** The next line; undefined at the end of the file. A line is decoded whole, so no character is cut by a chunk's end. */
  next(): string | undefined {
    return this.bytes.next()?.toString('utf8');
  }

  close(): void {
    this.bytes.close();
  }
}

/**
 * The lines of a file as bytes, never decoded: each `next()` is a view of the reader's buffer
 * (valid until the next call), so a file can be copied line by line without a string a line
 * (the shipped index's merge copies 48 MB of lines for a million recordings and reads a key of each).
 */
export class LineBytesReader {
  private fd: number | undefined;
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private start = 0;
  private end = 0;

  constructor(file: string) {
    this.fd = openSync(file, 'r');
  }

  /** The next non-empty line without its newline; undefined at the end of the file. */
  next(): Buffer | undefined {
    for (;;) {
      const nl = this.buf.indexOf(10, this.start);
      if (nl >= 0 && nl < this.end) {
        const line = this.buf.subarray(this.start, nl);
        this.start = nl + 1;
        if (line.length > 0) return line;
        continue;
      }
      if (this.fd === undefined) {
        // The last line, without a newline.
        const line = this.buf.subarray(this.start, this.end);
        this.start = this.end;
        return line.length > 0 ? line : undefined;
      }
      // Keep the partial line at the front, in a larger buffer when it fills this one.
      const partial = this.end - this.start;
      if (partial === this.buf.length) {
        const larger = Buffer.allocUnsafe(this.buf.length * 2);
        this.buf.copy(larger, 0, this.start, this.end);
        this.buf = larger;
      } else this.buf.copy(this.buf, 0, this.start, this.end);
      this.start = 0;
      this.end = partial;
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (n === 0) this.close();
      this.end += n;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Writes lines, given as bytes or strings, through a buffer of 1 MiB. */
export class LineFileWriter {
  private fd: number | undefined;
  private readonly buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  lines = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  /** Writes a line (without its newline). */
  writeLine(line: Buffer | string): void {
    const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
    this.lines++;
    if (this.used + bytes.length + 1 > this.buf.length) this.flush();
    if (bytes.length + 1 > this.buf.length) {
      this.writeAll(bytes);
      this.writeAll(Buffer.from('\n'));
      return;
    }
    this.used += bytes.copy(this.buf, this.used);
    this.buf[this.used++] = 10;
  }

  private writeAll(bytes: Buffer): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`);
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
  }

  private flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  /** Writes what is pending and closes the file; `sync` puts its bytes on disk first. */
  close({ sync = false } = {}): void {
    if (this.fd === undefined) return;
    try {
      this.flush();
      if (sync) fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
