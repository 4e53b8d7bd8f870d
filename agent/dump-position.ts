// A full SQL dump taken with --master-data / --source-data records the binlog coordinates it
// is consistent with (`CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=342`,
// commented out with --master-data=2). Point-in-time restore starts the binlog replay there.
// mysqldump and mariadb-dump write it in the header, so only the first bytes are looked at; of a
// gzip'd dump (`.sql.gz`), the first bytes it inflates to.
import { constants, gunzipSync } from 'node:zlib';

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

const GZIP = Buffer.from([0x1f, 0x8b]);

/** The head as text: inflated first when it is the start of a gzip stream (cut short: what it holds so far). */
function text(head: Buffer): string {
  if (!head.subarray(0, 2).equals(GZIP)) return head.toString('latin1');
  try {
    return gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH }).subarray(0, LOOK_AT_BYTES).toString('latin1');
  } catch {
    return '';
  }
}

export class DumpPositionSniffer {
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

  /** The tool that wrote this dump and the last line it lacks, when the file starts as a text dump that was not completed. */
  incomplete(): { tool: string; trailer: string } | undefined {
    const start = Buffer.concat(this.head).subarray(0, 256).toString('latin1');
    const dump = DUMPS.find((d) => d.header.test(start));
    if (!dump) return undefined;
    return this.tail.toString('latin1').includes(dump.trailer) ? undefined : { tool: dump.tool, trailer: dump.trailer };
  }

  result(): { logFile: string; logPos: number } | undefined {
    const m = POSITION.exec(text(Buffer.concat(this.head)));
    return m ? { logFile: m[1] as string, logPos: Number(m[2]) } : undefined;
  }
}
