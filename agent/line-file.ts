import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

// Plain (uncompressed) JSON-lines files, written and read synchronously in large chunks: the
// agent's own state files read once per pass (the recordings' pending view, a line per batch;
// the tree's local index of an older agent, read once to be converted: tree/local-index.ts).
// Uncompressed: a gzip of each line on write and a gunzip on the next read cost more CPU than
// the rest of the work for an unchanged line (docs/operations.md).
// Synchronous for the reason the walk's lstat is: these bytes are in the page cache, and a
// thread-pool trip per chunk waits longest exactly when the machine is busy.

const CHUNK_BYTES = 1024 * 1024;

export class LineFileWriter {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingChars = 0;
  lines = 0;

  constructor(readonly file: string) {
    this.fd = openSync(file, 'w');
  }

  /** Writes a line already serialised (without its newline). */
  writeLine(line: string): void {
    this.lines++;
    this.pending.push(line);
    this.pendingChars += line.length + 1;
    if (this.pendingChars >= CHUNK_BYTES) this.flush();
  }

  private flush(): void {
    if (this.fd === undefined || this.pending.length === 0) return;
    const bytes = Buffer.from(`${this.pending.join('\n')}\n`, 'utf8');
    this.pending = [];
    this.pendingChars = 0;
    for (let at = 0; at < bytes.length; ) at += writeSync(this.fd, bytes, at);
  }

  /**
   * Writes what is pending and closes the file. Its bytes are in the page cache unless `sync`
   * asks them on disk first (a file about to be renamed over one that must survive a crash).
   */
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

/** The lines of a plain JSON-lines file, one at a time, read in chunks of 1 MiB; empty lines are skipped. */
export class LineFileReader {
  private fd: number | undefined;
  private readonly chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  // A character cut in two by a chunk boundary is joined again by the decoder.
  private readonly decoder = new StringDecoder('utf8');
  private lines: string[] = [];
  private at = 0;
  private rest = '';

  constructor(file: string) {
    this.fd = openSync(file, 'r');
  }

  /** The next line; undefined at the end of the file. */
  next(): string | undefined {
    for (;;) {
      while (this.at < this.lines.length) {
        const line = this.lines[this.at++]!;
        if (line.length > 0) return line;
      }
      if (this.fd === undefined) return undefined;
      const n = readSync(this.fd, this.chunk, 0, CHUNK_BYTES, null);
      let text: string;
      if (n === 0) {
        text = this.rest + this.decoder.end();
        this.rest = '';
        this.close();
        this.lines = [text];
      } else {
        text = this.rest + this.decoder.write(this.chunk.subarray(0, n));
        this.lines = text.split('\n');
        this.rest = this.lines.pop()!;
      }
      this.at = 0;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
