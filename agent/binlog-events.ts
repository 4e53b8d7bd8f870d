import type { FileHandle } from 'node:fs/promises';

// MySQL/MariaDB binary log (v4) event headers, read as a stream: the 4-byte magic `\xfe bin`,
// then events, each with a 19-byte common header — timestamp u32 LE (UTC seconds), type u8,
// server_id u32, event_size u32 (header included), log_pos u32 (offset of the next event),
// flags u16 — and a body we skip. The first event must be a FORMAT_DESCRIPTION_EVENT (type 15,
// binlog version 4). The span of a segment is the min/max non-zero timestamp of its complete
// events; the last event of an active segment may be cut short and is not counted. Anything
// that does not hold together (no magic, another first event, an event ending where log_pos
// says it does not, encryption) is "unreadable": callers fall back to file times.

export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const HEADER_BYTES = 19;
/** The largest event MySQL/MariaDB write (max_allowed_packet is at most 1 GiB) plus headroom. */
const MAX_EVENT_BYTES = 1.5 * 1024 ** 3;
const FDE_BODY_BYTES = 2 + 50;
export const EVENT_TYPE = { STOP: 3, ROTATE: 4, FORMAT_DESCRIPTION: 15, START_ENCRYPTION: 164 } as const;
/** FDE flag: the server has the file open (cleared when it closes the segment properly). */
const LOG_EVENT_BINLOG_IN_USE_F = 0x1;

export type BinlogSummary =
  | {
      ok: true;
      /** First and last non-zero event timestamp of the complete events; absent when there are none. */
      from?: Date;
      to?: Date;
      events: number;
      /** Bytes of an incomplete last event (an active segment being written). */
      truncatedBytes: number;
      binlogVersion: number;
      serverVersion: string;
      /** The FDE says the server still had the file open when this copy was taken. */
      inUse: boolean;
      /** The last complete event is a ROTATE or STOP: the server closed the segment. */
      closed: boolean;
    }
  | { ok: false; reason: string; events: number };

export class BinlogEventReader {
  private offset = 0;
  private magicSeen = 0;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  /** Body bytes of the current event still to come (0: a header is expected next). */
  private bodyLeft = 0;
  private eventStart = 0;
  private current = { timestamp: 0, type: 0 };
  private readonly fdeBody = Buffer.alloc(FDE_BODY_BYTES);
  private fdeFill = 0;
  private events = 0;
  private minTs = 0;
  private maxTs = 0;
  private lastType = 0;
  private inUse = false;
  private failure: string | undefined;

  /** Feeds the next bytes of the file, in order. */
  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length && this.failure === undefined) {
      if (this.magicSeen < BINLOG_MAGIC.length) {
        if (chunk[i] !== BINLOG_MAGIC[this.magicSeen]) return this.fail('no binlog magic (\\xfe bin) at the start of the file');
        this.magicSeen++;
        i++;
        this.offset++;
      } else if (this.bodyLeft > 0) {
        const n = Math.min(this.bodyLeft, chunk.length - i);
        if (this.events === 0 && this.fdeFill < FDE_BODY_BYTES) {
          const take = Math.min(n, FDE_BODY_BYTES - this.fdeFill);
          this.fdeBody.set(chunk.subarray(i, i + take), this.fdeFill);
          this.fdeFill += take;
        }
        this.bodyLeft -= n;
        i += n;
        this.offset += n;
        if (this.bodyLeft === 0) this.complete();
      } else {
        const n = Math.min(HEADER_BYTES - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        this.offset += n;
        if (this.headerFill === HEADER_BYTES) this.onHeader();
      }
    }
  }

  private onHeader(): void {
    this.headerFill = 0;
    this.eventStart = this.offset - HEADER_BYTES;
    const h = this.header;
    const timestamp = h.readUInt32LE(0);
    const type = h.readUInt8(4);
    const size = h.readUInt32LE(9);
    const logPos = h.readUInt32LE(13);
    const flags = h.readUInt16LE(17);
    if (this.events === 0 && type !== EVENT_TYPE.FORMAT_DESCRIPTION) return this.fail(`first event is type ${type}, not a FORMAT_DESCRIPTION_EVENT: not a binlog v4 file`);
    if (type === EVENT_TYPE.START_ENCRYPTION) return this.fail('the segment is encrypted (START_ENCRYPTION_EVENT): event headers after it cannot be read');
    if (size < HEADER_BYTES || size > MAX_EVENT_BYTES) return this.fail(`event at offset ${this.eventStart} declares an implausible size of ${size} bytes`);
    // log_pos is the end of the event; beyond 4 GiB it wraps, so compare modulo 2^32.
    if (logPos !== 0 && logPos !== (this.eventStart + size) % 2 ** 32) return this.fail(`event at offset ${this.eventStart} says it ends at ${logPos}, its size says ${this.eventStart + size}`);
    if (this.events === 0) this.inUse = (flags & LOG_EVENT_BINLOG_IN_USE_F) !== 0;
    this.current = { timestamp, type };
    this.bodyLeft = size - HEADER_BYTES;
    if (this.bodyLeft === 0) this.complete();
  }

  private complete(): void {
    if (this.events === 0) {
      const version = this.fdeFill >= 2 ? this.fdeBody.readUInt16LE(0) : 0;
      if (version !== 4) return this.fail(`FORMAT_DESCRIPTION_EVENT declares binlog version ${version}, only version 4 is read`);
    }
    this.events++;
    this.lastType = this.current.type;
    const ts = this.current.timestamp;
    if (ts !== 0) {
      if (this.minTs === 0 || ts < this.minTs) this.minTs = ts;
      if (ts > this.maxTs) this.maxTs = ts;
    }
  }

  private fail(reason: string): void {
    this.failure ??= reason;
  }

  /** What was read, once every byte has been pushed. */
  finish(): BinlogSummary {
    if (this.failure !== undefined) return { ok: false, reason: this.failure, events: this.events };
    if (this.magicSeen < BINLOG_MAGIC.length) return { ok: false, reason: 'file is shorter than the binlog magic', events: 0 };
    const truncatedBytes = this.headerFill > 0 ? this.headerFill : this.bodyLeft > 0 ? this.offset - this.eventStart : 0;
    const serverVersion = this.fdeFill > 2 ? this.fdeBody.subarray(2, this.fdeFill).toString('latin1').replace(/\0.*$/s, '') : '';
    return {
      ok: true,
      ...(this.minTs ? { from: new Date(this.minTs * 1000), to: new Date(this.maxTs * 1000) } : {}),
      events: this.events,
      truncatedBytes,
      binlogVersion: this.events > 0 ? 4 : 0,
      serverVersion,
      inUse: this.inUse,
      closed: this.lastType === EVENT_TYPE.ROTATE || this.lastType === EVENT_TYPE.STOP,
    };
  }
}

/** Reads the first `size` bytes of an open segment (default: all of it) and summarises its events. */
export async function readBinlogSummary(file: FileHandle, size?: number): Promise<BinlogSummary> {
  const limit = size ?? (await file.stat()).size;
  const reader = new BinlogEventReader();
  const buffer = Buffer.allocUnsafe(1024 * 1024);
  let position = 0;
  while (position < limit) {
    const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, limit - position), position);
    if (bytesRead === 0) break;
    reader.push(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
  return reader.finish();
}
