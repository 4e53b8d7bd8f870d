// A full SQL dump taken with --master-data / --source-data records the binlog coordinates it
// is consistent with (`CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=342`,
// commented out with --master-data=2). Point-in-time restore starts the binlog replay there.
// mysqldump and mariadb-dump write it in the header, so only the first bytes are looked at.

const LOOK_AT_BYTES = 1024 * 1024;
const POSITION = /CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\s+TO\s+(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^'\\/]+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)/i;

/**
 * Text dumps that say at their end that they are whole: mysqldump and mariadb-dump write
 * `-- Dump completed` as their last line (also with --skip-dump-date; with --skip-comments they
 * write neither this nor their header line), pg_dump's plain format `-- PostgreSQL database dump
 * complete`. A dump that starts as one of them and lacks its last line was cut short, or is still
 * being written by a job that paused longer than the stability window.
 */
const DUMPS: { tool: string; header: RegExp; trailer: string }[] = [
  { tool: 'mysqldump', header: /^-- MySQL dump \d/, trailer: '-- Dump completed' },
  { tool: 'mariadb-dump', header: /^-- MariaDB dump \d/, trailer: '-- Dump completed' },
  { tool: 'pg_dump', header: /^--\r?\n-- PostgreSQL database dump\r?\n/, trailer: '-- PostgreSQL database dump complete' },
];
const TAIL_BYTES = 4096;

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
    const m = POSITION.exec(Buffer.concat(this.head).toString('latin1'));
    return m ? { logFile: m[1] as string, logPos: Number(m[2]) } : undefined;
  }
}
