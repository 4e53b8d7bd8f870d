import { openSync, closeSync, readSync, fstatSync, existsSync, fdatasync, write } from 'node:fs';
import { promisify } from 'node:util';

// The journal's file writer: lines appended to one file and made durable in the order they came,
// with group commit. Every append returns a promise that resolves once its line is written and
// synced (fdatasync) through libuv's thread pool, so the main thread goes on while the disk
// works. One writer at a time, first in first out; the lines appended while a sync is under way
// go out together with one sync after it. A file that ends in a torn line (a crash mid-append, or
// a failed write) gets a newline first, so the next line starts on a line of its own. What the
// lines mean is the journal's (agent/journal.ts); this knows bytes, order and durability only.

const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/** Makes what was written to `fd` durable; injectable so tests can stop a process right there. */
export type JournalSync = (fd: number) => Promise<void>;

interface Waiting {
  line: string;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class JournalWriter {
  private fd: number | undefined;
  /** Lines appended and not yet written, in order; `flushing` is the writer while it runs. */
  private waiting: Waiting[] = [];
  private flushing: Promise<void> | undefined;
  /** The file ends in a torn line: the next write starts with a newline. */
  private tornTail: boolean;
  private closing = false;
  private readonly sync: JournalSync;

  /** Opens `file` for appending; `sync` is fdatasync unless a test stops the process there. */
  constructor(file: string, sync?: JournalSync) {
    this.sync = sync ?? fdatasyncAsync;
    this.tornTail = endsTorn(file);
    this.fd = openSync(file, 'a');
  }

  /** Whether lines are still taken (not closed, nor closing). */
  get open(): boolean {
    return this.fd !== undefined && !this.closing;
  }

  /**
   * Queues `line` (newline included); resolves once it is durable. A failed write or sync
   * rejects every line of its group; later appends are tried again.
   */
  append(line: string): Promise<void> {
    const durable = new Promise<void>((resolve, reject) => this.waiting.push({ line, resolve, reject }));
    this.flushing ??= this.flush();
    return durable;
  }

  /** Writes what waits, in order, one write and one sync a group, until nothing waits. */
  private async flush(): Promise<void> {
    while (this.waiting.length > 0) {
      const group = this.waiting;
      this.waiting = [];
      try {
        await this.writeAll(`${this.tornTail ? '\n' : ''}${group.map((w) => w.line).join('')}`);
        this.tornTail = false;
        await this.sync(this.fd as number);
        for (const w of group) w.resolve();
      } catch (error) {
        // Part of the group may be on disk: whatever comes next starts on a line of its own.
        this.tornTail = true;
        for (const w of group) w.reject(error);
      }
    }
    this.flushing = undefined;
    if (this.closing) this.closeNow();
  }

  private async writeAll(text: string): Promise<void> {
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; ) {
      const { bytesWritten } = await writeAsync(this.fd as number, bytes, at, bytes.length - at, null);
      at += bytesWritten;
    }
  }

  /** Resolves when every line appended so far was written (or failed to be). */
  async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** Takes no more lines; the file is closed once the lines already appended are written. */
  close(): void {
    if (this.flushing) this.closing = true;
    else this.closeNow();
  }

  /** Closes the file now (after `settled`: nothing is being written). */
  closeNow(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.closing = false;
  }
}

/** Whether the file's last byte is not a newline (a crash mid-append tore its last line). */
function endsTorn(file: string): boolean {
  if (!existsSync(file)) return false;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return false;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] !== 10;
  } finally {
    closeSync(fd);
  }
}
