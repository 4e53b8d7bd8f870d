// Writes small binlog v4 segments for tests that need controlled event times (order, gaps,
// partials). The parser is also tested against real MariaDB bytes (fixture and live server).

export interface SyntheticEvent {
  /** UTC seconds. */
  ts: number;
  /** Event type (default 2, QUERY_EVENT). */
  type?: number;
  bodyBytes?: number;
}

function header(ts: number, type: number, size: number, end: number, flags = 0): Buffer {
  const h = Buffer.alloc(19);
  h.writeUInt32LE(ts, 0);
  h.writeUInt8(type, 4);
  h.writeUInt32LE(1, 5);
  h.writeUInt32LE(size, 9);
  h.writeUInt32LE(end, 13);
  h.writeUInt16LE(flags, 17);
  return h;
}

/** A segment: magic, FORMAT_DESCRIPTION at `startTs`, the events, and a ROTATE to `rotateTo` when closed. */
export function binlogSegment(options: { startTs: number; events: SyntheticEvent[]; rotateTo?: { name: string; ts: number }; inUse?: boolean }): Buffer {
  const parts: Buffer[] = [Buffer.from([0xfe, 0x62, 0x69, 0x6e])];
  let offset = 4;
  const add = (ts: number, type: number, body: Buffer, flags = 0) => {
    const size = 19 + body.length;
    parts.push(header(ts, type, size, offset + size, flags), body);
    offset += size;
  };
  const fde = Buffer.alloc(2 + 50 + 4 + 1 + 40);
  fde.writeUInt16LE(4, 0);
  fde.write('10.11.0-synthetic-log', 2, 'latin1');
  fde.writeUInt32LE(options.startTs, 52);
  fde.writeUInt8(19, 56);
  add(options.startTs, 15, fde, options.inUse ? 1 : 0);
  for (const e of options.events) add(e.ts, e.type ?? 2, Buffer.alloc(e.bodyBytes ?? 40, 0x61));
  if (options.rotateTo) {
    const body = Buffer.alloc(8 + options.rotateTo.name.length);
    body.writeBigUInt64LE(4n, 0);
    body.write(options.rotateTo.name, 8, 'latin1');
    add(options.rotateTo.ts, 4, body);
  }
  return Buffer.concat(parts);
}
