// A full SQL dump taken with --master-data / --source-data records the binlog coordinates it
// is consistent with (`CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=342`,
// commented out with --master-data=2). Point-in-time restore starts the binlog replay there.
// mysqldump and mariadb-dump write it in the header, so only the first bytes are looked at.
//
// A rotated file that is a gzip stream (`.sql.gz`, a PBX's `.tar.gz`) is inflated as it is read,
// on the thread pool: its header and last line are judged on what it inflates to, and a stream
// that stops before gzip's own end (its trailer) is a file still being written or cut short.
import { createGunzip, type Gunzip } from 'node:zlib';
import { FORMAT_HEAD_BYTES, formatOf } from './file-format.ts';

const LOOK_AT_BYTES = 1024 * 1024;
const POSITION = /CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\s+TO\s+(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^'\\/]+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)/i;

/**
 * Text dumps that say at their end that they are whole: mysqldump and mariadb-dump write
 * `-- Dump completed` as their last line (also with --skip-dump-date; with --skip-comments they
 * write neither this nor their header line), pg_dump's plain format `-- PostgreSQL database dump
 * complete`. A dump that starts as one of them and lacks its last line was cut short, or is still
 * being written by a job that paused longer than the stability window.
 */
/** MariaDB 10.5.25, 10.6.18, 10.11.8, 11.x and later write this line first, before their header. */
const SANDBOX = String.raw`(?:/\*M?!999999\\- enable the sandbox mode \*/\r?\n)?`;
const DUMPS: { tool: string; header: RegExp; trailer: string }[] = [
  { tool: 'mysqldump', header: new RegExp(`^${SANDBOX}-- MySQL dump \\d`), trailer: '-- Dump completed' },
  { tool: 'mariadb-dump', header: new RegExp(`^${SANDBOX}-- MariaDB dump \\d`), trailer: '-- Dump completed' },
  { tool: 'pg_dump', header: /^--\r?\n-- PostgreSQL database dump\r?\n/, trailer: '-- PostgreSQL database dump complete' },
];
const TAIL_BYTES = 4096;

/** gzip's magic and its one compression method (deflate): what every gzip writer starts with. */
const GZIP = Buffer.from([0x1f, 0x8b, 0x08]);

/** Why a file is not whole: a text dump without its tool's last line, or a gzip stream that stops before its end. */
export type Incomplete = { kind: 'dump'; tool: string; trailer: string; gzip: boolean } | { kind: 'gzip' };

export interface DumpVerdict {
  incomplete?: Incomplete;
  position?: { logFile: string; logPos: number };
  /** What the file's first bytes show it to be (file-format.ts); undefined: nothing Ferry knows. */
  format?: string;
}

/** The first LOOK_AT_BYTES and the last TAIL_BYTES of a byte stream. */
class HeadAndTail {
  private readonly head: Buffer[] = [];
  private seen = 0;
  private tail = Buffer.alloc(0);

  push(chunk: Uint8Array): void {
    this.tail = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - TAIL_BYTES))]);
    if (this.tail.length > TAIL_BYTES) this.tail = this.tail.subarray(this.tail.length - TAIL_BYTES);
    if (this.seen >= LOOK_AT_BYTES) return;
    const take = chunk.subarray(0, LOOK_AT_BYTES - this.seen);
    this.head.push(Buffer.from(take));
    this.seen += take.length;
  }

  headText(): string {
    return Buffer.concat(this.head).toString('latin1');
  }

  tailText(): string {
    return this.tail.toString('latin1');
  }
}

export class DumpPositionSniffer {
  private readonly text = new HeadAndTail();
  private started = false;
  /** The file's own first bytes (before any inflating). */
  private raw = Buffer.alloc(0);
  private gunzip?: Gunzip;
  private gunzipDone?: Promise<'whole' | 'cut' | 'unreadable'>;

  /** Takes the next bytes of the file. A returned promise asks the reader to wait (the inflater is behind). */
  push(chunk: Uint8Array): Promise<void> | undefined {
    if (this.raw.length < FORMAT_HEAD_BYTES) this.raw = Buffer.concat([this.raw, chunk.subarray(0, FORMAT_HEAD_BYTES - this.raw.length)]);
    if (!this.started) {
      this.started = true;
      if (chunk.length >= GZIP.length && Buffer.from(chunk.buffer, chunk.byteOffset, GZIP.length).equals(GZIP)) this.startGunzip();
    }
    const gunzip = this.gunzip;
    if (!gunzip) {
      this.text.push(chunk);
      return undefined;
    }
    // The reader reuses its buffer: the inflater gets a copy.
    if (gunzip.write(Buffer.from(chunk))) return undefined;
    return new Promise((resolve) => {
      const go = () => {
        gunzip.off('drain', go);
        gunzip.off('close', go);
        resolve();
      };
      gunzip.once('drain', go);
      gunzip.once('close', go);
    });
  }

  private startGunzip(): void {
    const gunzip = createGunzip();
    this.gunzip = gunzip;
    gunzip.on('data', (data: Buffer) => this.text.push(data));
    this.gunzipDone = new Promise((resolve) => {
      gunzip.once('end', () => resolve('whole'));
      // "unexpected end of file": the stream stops before gzip's trailer. Any other error (bytes that
      // are not deflate, something after the last member) is not a sign of a job still writing.
      gunzip.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'Z_BUF_ERROR' ? 'cut' : 'unreadable'));
    });
  }

  /** Once every byte was pushed: whether the file is whole, and the binlog position its header records. */
  async finish(): Promise<DumpVerdict> {
    let gzip = false;
    if (this.gunzip && this.gunzipDone) {
      gzip = true;
      this.gunzip.end();
      const state = await this.gunzipDone;
      if (state === 'cut') return { incomplete: { kind: 'gzip' }, format: 'gzip' };
      if (state === 'unreadable') return this.position();
    }
    const dump = DUMPS.find((d) => d.header.test(this.text.headText().slice(0, 256)));
    const incomplete: Incomplete | undefined = dump && !this.text.tailText().includes(dump.trailer) ? { kind: 'dump', tool: dump.tool, trailer: dump.trailer, gzip } : undefined;
    const format = gzip ? 'gzip' : formatOf(this.raw, dump?.tool);
    return { ...(incomplete ? { incomplete } : {}), ...this.position(), ...(format ? { format } : {}) };
  }

  private position(): DumpVerdict {
    const m = POSITION.exec(this.text.headText());
    return m ? { position: { logFile: m[1] as string, logPos: Number(m[2]) } } : {};
  }

  /** Stops an inflater left running (the read failed before finish). */
  abandon(): void {
    this.gunzip?.destroy();
  }
}
