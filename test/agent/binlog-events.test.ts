import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { BinlogEventReader, readBinlogSummary, type BinlogSummary } from '../../agent/binlog-events.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';

// The fixtures are real MariaDB 10.11 segments (test/fixtures/binlog/generate.ts); expected.json
// holds what `mariadb-binlog` printed for them: event count, first and last event time.

const FIXTURES = join(import.meta.dirname, '../fixtures/binlog');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { events: number; from: string; to: string }>;

function summarise(bytes: Uint8Array, chunk = bytes.length || 1): BinlogSummary {
  const reader = new BinlogEventReader();
  for (let i = 0; i < bytes.length; i += chunk) reader.push(bytes.subarray(i, i + chunk));
  return reader.finish();
}

/** Event boundaries and timestamps by a plain walk over the headers (sizes at offset 9). */
function walk(bytes: Buffer): { end: number; ts: number }[] {
  const out: { end: number; ts: number }[] = [];
  for (let at = 4; at + 19 <= bytes.length; ) {
    const size = bytes.readUInt32LE(at + 9);
    if (at + size > bytes.length) break;
    out.push({ end: at + size, ts: bytes.readUInt32LE(at) });
    at += size;
  }
  return out;
}

describe('binlog v4 event headers', () => {
  it.each(Object.keys(expected))('reads the span of the real segment %s as mariadb-binlog prints it', async (name) => {
    const file = await open(join(FIXTURES, name));
    try {
      const s = await readBinlogSummary(file);
      if (!s.ok) throw new Error(s.reason);
      expect({ events: s.events, from: s.from?.toISOString().replace('.000', ''), to: s.to?.toISOString().replace('.000', '') }).toEqual(expected[name]);
      expect(s).toMatchObject({ binlogVersion: 4, truncatedBytes: 0 });
      expect(s.serverVersion).toMatch(/MariaDB/);
      // 000001 was closed by FLUSH BINARY LOGS (ends with ROTATE, in-use flag cleared); 000002 was copied while open.
      expect({ closed: s.closed, inUse: s.inUse }).toEqual(name.endsWith('1') ? { closed: true, inUse: false } : { closed: false, inUse: true });
    } finally {
      await file.close();
    }
  });

  it('gives the same answer however the bytes are chunked', () => {
    const bytes = readFileSync(join(FIXTURES, 'mysql-bin.000001'));
    const whole = summarise(bytes);
    for (const chunk of [1, 3, 7, 19, 20, 64, 1000]) expect(summarise(bytes, chunk)).toEqual(whole);
  });

  it('reads a segment cut anywhere (an active one being written): only complete events count', () => {
    const bytes = readFileSync(join(FIXTURES, 'mysql-bin.000001'));
    const events = walk(bytes);
    expect(events).toHaveLength(expected['mysql-bin.000001']!.events);
    for (let cut = 4; cut <= bytes.length; cut++) {
      const s = summarise(bytes.subarray(0, cut), 13);
      if (!s.ok) throw new Error(`cut at ${cut}: ${s.reason}`);
      const complete = events.filter((e) => e.end <= cut);
      const lastEnd = complete.at(-1)?.end ?? 4;
      expect(s.events, `cut at ${cut}`).toBe(complete.length);
      expect(s.truncatedBytes, `cut at ${cut}`).toBe(cut - lastEnd);
      const stamps = complete.map((e) => e.ts).filter((t) => t > 0);
      expect(s.to?.getTime(), `cut at ${cut}`).toBe(stamps.length ? Math.max(...stamps) * 1000 : undefined);
    }
  });

  it('takes the minimum and maximum event time, not the first and last, and ignores zero times', () => {
    const bytes = binlogSegment({ startTs: 1_700_000_100, events: [{ ts: 1_700_000_300 }, { ts: 0 }, { ts: 1_700_000_050 }, { ts: 1_700_000_200 }], rotateTo: { name: 'x.000002', ts: 1_700_000_250 } });
    const s = summarise(bytes);
    expect(s).toMatchObject({ ok: true, events: 6, closed: true, from: new Date(1_700_000_050_000), to: new Date(1_700_000_300_000) });
  });

  it.each([
    ['no magic', Buffer.from('-- MySQL dump 10.13\nCREATE TABLE t (i int);\n'), /magic/],
    ['too short', Buffer.from([0xfe, 0x62]), /shorter than the binlog magic/],
    ['a v3 log (START_EVENT_V3 first)', Buffer.concat([Buffer.from([0xfe, 0x62, 0x69, 0x6e]), Buffer.from('0000000001000000004b000000000000000000', 'hex'), Buffer.alloc(56)]), /type 1, not a FORMAT_DESCRIPTION_EVENT/],
    ['an encrypted segment', binlogSegment({ startTs: 1_700_000_000, events: [{ ts: 1_700_000_001, type: 164 }] }), /encrypted/],
    ['an event whose log_pos disagrees with its size', (() => {
      const b = binlogSegment({ startTs: 1_700_000_000, events: [{ ts: 1_700_000_001 }] });
      b.writeUInt32LE(9999, walk(b)[0]!.end + 13);
      return b;
    })(), /says it ends at 9999/],
    ['an event with an impossible size', (() => {
      const b = binlogSegment({ startTs: 1_700_000_000, events: [{ ts: 1_700_000_001 }] });
      b.writeUInt32LE(3, walk(b)[0]!.end + 9);
      return b;
    })(), /implausible size of 3/],
  ])('says it cannot read %s (callers fall back to file times)', (_what, bytes, reason) => {
    const s = summarise(bytes, 5);
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.reason).toMatch(reason);
  });
});
