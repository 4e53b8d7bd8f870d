// A full SQL dump taken with --master-data / --source-data records the binlog coordinates it
// is consistent with (`CHANGE MASTER TO MASTER_LOG_FILE='mysql-bin.000002', MASTER_LOG_POS=342`,
// commented out with --master-data=2). Point-in-time restore starts the binlog replay there.
// mysqldump and mariadb-dump write it in the header, so only the first bytes are looked at.

const LOOK_AT_BYTES = 1024 * 1024;
const POSITION = /CHANGE\s+(?:MASTER|REPLICATION\s+SOURCE)\s+TO\s+(?:MASTER|SOURCE)_LOG_FILE\s*=\s*'([^'\\/]+)'\s*,\s*(?:MASTER|SOURCE)_LOG_POS\s*=\s*(\d+)/i;

export class DumpPositionSniffer {
  private readonly head: Buffer[] = [];
  private seen = 0;

  push(chunk: Uint8Array): void {
    if (this.seen >= LOOK_AT_BYTES) return;
    const take = chunk.subarray(0, LOOK_AT_BYTES - this.seen);
    this.head.push(Buffer.from(take));
    this.seen += take.length;
  }

  result(): { logFile: string; logPos: number } | undefined {
    const m = POSITION.exec(Buffer.concat(this.head).toString('latin1'));
    return m ? { logFile: m[1] as string, logPos: Number(m[2]) } : undefined;
  }
}
