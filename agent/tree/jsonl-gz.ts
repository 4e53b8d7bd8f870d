import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createGunzip, createGzip, type Gzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { once } from 'node:events';

// Gzip JSON-lines files, written and read as streams: a snapshot's index (and the agent's own
// copy of it) is never held whole in memory. Concatenated gzip members read as one stream,
// which is how an index gets its header line after its entries are counted.

export class JsonlGzWriter {
  private readonly gzip: Gzip;
  private readonly out: WriteStream;
  private closed: Promise<void> | undefined;
  /** Lines not handed to gzip yet: one zlib call per 64 KB, not per line (each call costs more than the line). */
  private pending: string[] = [];
  private pendingBytes = 0;
  lines = 0;

  constructor(readonly file: string) {
    this.gzip = createGzip({ level: 6 });
    this.out = createWriteStream(file);
    this.gzip.pipe(this.out);
  }

  async write(value: unknown): Promise<void> {
    this.lines++;
    const line = `${JSON.stringify(value)}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= 64 * 1024) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.gzip.write(chunk)) await once(this.gzip, 'drain');
  }

  /** Ends the stream and waits until every byte is on disk. */
  close(): Promise<void> {
    this.closed ??= this.flush().then(
      () =>
        new Promise<void>((resolve, reject) => {
          this.out.once('error', reject);
          this.gzip.once('error', reject);
          this.out.once('close', () => resolve());
          this.gzip.end();
        }),
    );
    return this.closed;
  }
}

/** Lines of a gzip JSON-lines stream, parsed one at a time. */
export async function* readJsonlGz(input: Readable): AsyncGenerator<unknown> {
  const lines = createInterface({ input: input.pipe(createGunzip()), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.length > 0) yield JSON.parse(line) as unknown;
  }
}

export function readJsonlGzFile(file: string): AsyncGenerator<unknown> {
  return readJsonlGz(createReadStream(file));
}
