import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_INDEX } from '../../agent/tree/local-index.ts';
import { LocalRecordWriter, decodeRecord, recordLength, type RecordFields } from '../../agent/tree/local-record.ts';
import { DELTA_MAX_SHARE, LocalIndexReader, LocalIndexWriter, baseIdentity, deltaFileOf } from '../../agent/tree/local-delta.ts';

// The local index as a base and a delta (local-delta.ts): what an incremental snapshot writes
// is the changed records and ranges of the base, and what the next one reads is the same
// records in the same order as a whole index would give.

const sha = (s: string) => createHash('sha256').update(s).digest();
const tmp = () => mkdtempSync(join(tmpdir(), 'ferry-tree-delta-'));
const rec = (path: string, size = 1n): RecordFields => ({
  type: 'file',
  mode: 0o644,
  size,
  ino: 7n,
  dev: 3n,
  mtimeNs: 1_767_225_600_000_000_123n,
  ctimeNs: 1_767_225_600_000_000_456n,
  sha256: sha(path),
  path: Buffer.from(path),
  prefix: JSON.stringify({ path, size: Number(size) }).slice(0, -1),
  msTimes: true,
});
const names = (n: number) => Array.from({ length: n }, (_, i) => `d${String(Math.floor(i / 100)).padStart(3, '0')}/f${String(i).padStart(6, '0')}`);

function writeBase(file: string, records: RecordFields[]): void {
  const w = new LocalRecordWriter(file);
  for (const r of records) w.write(r);
  w.close();
}

function readIndex(base: string, delta?: string): { path: string; size: bigint }[] {
  const r = new LocalIndexReader(base, delta);
  const out: { path: string; size: bigint }[] = [];
  while (r.next()) {
    const f = decodeRecord(r.buf, r.at);
    out.push({ path: f.path.toString(), size: f.size });
  }
  r.close();
  return out;
}

/** The next index after changing the records at `changed` (size 2), dropping those at `deleted`, as the snapshot does it: unchanged records copied with their base offset. */
function nextIndex(base: string, out: string, changed: Set<number>, deleted: Set<number>): { delta: boolean } {
  const r = new LocalIndexReader(base);
  const w = new LocalIndexWriter(out, { file: base, ...baseIdentity(base)! });
  for (let i = 0; r.next(); i++) {
    const f = decodeRecord(r.buf, r.at);
    if (deleted.has(i)) continue;
    if (changed.has(i)) w.write({ ...f, size: f.size + 1n, prefix: JSON.stringify({ path: f.path.toString(), size: Number(f.size + 1n) }).slice(0, -1) });
    else w.copy(r.buf, r.at, r.at + recordLength(r.buf, r.at), r.baseOffset);
  }
  r.close();
  return w.close();
}

describe('local index: a base and a delta', () => {
  it('writes 1 % of changed records as a delta of about 1 % of the base, read back record for record as a whole index would be, the base untouched', () => {
    const dir = tmp();
    const base = join(dir, LOCAL_INDEX);
    const all = names(20_000);
    writeBase(base, all.map((p) => rec(p)));
    const before = readFileSync(base);
    const baseStat = statSync(base);
    const changed = new Set(all.map((_, i) => i).filter((i) => i % 100 === 7));
    const deleted = new Set([5, 19_999]);
    expect(nextIndex(base, join(dir, 'next'), changed, deleted)).toEqual({ delta: true });
    renameSync(join(dir, 'next'), deltaFileOf(base));
    const expected = all.flatMap((path, i) => (deleted.has(i) ? [] : [{ path, size: changed.has(i) ? 2n : 1n }]));
    expect(readIndex(base)).toEqual(expected);
    expect(statSync(deltaFileOf(base)).size).toBeLessThan(before.length * 0.03);
    expect(readFileSync(base).equals(before)).toBe(true);
    expect(statSync(base).mtimeMs).toBe(baseStat.mtimeMs);

    // The next delta carries the first one's own records as its own, and ranges of the base.
    const again = new Set([100 * 50 + 7, 3]);
    expect(nextIndex(base, join(dir, 'next'), again, new Set())).toEqual({ delta: true });
    renameSync(join(dir, 'next'), deltaFileOf(base));
    const sizes = expected.map((e, i) => ({ ...e, size: again.has(i) ? e.size + 1n : e.size }));
    expect(readIndex(base)).toEqual(sizes);
  });

  it(`folds into a whole new base when the delta's own records pass ${DELTA_MAX_SHARE * 100} % of the base`, () => {
    const dir = tmp();
    const base = join(dir, LOCAL_INDEX);
    const all = names(2_000);
    writeBase(base, all.map((p) => rec(p)));
    const changed = new Set(all.map((_, i) => i).filter((i) => i % 3 === 0));
    expect(nextIndex(base, join(dir, 'next'), changed, new Set())).toEqual({ delta: false });
    // A whole base reads the same with no delta beside it.
    expect(readIndex(join(dir, 'next'), join(dir, 'none'))).toEqual(all.map((path, i) => ({ path, size: changed.has(i) ? 2n : 1n })));
    expect(statSync(join(dir, 'next')).size).toBeGreaterThan(statSync(base).size * 0.9);
  });

  it('ignores a delta whose base was replaced (another inode or size): the base alone is the index', () => {
    const dir = tmp();
    const base = join(dir, LOCAL_INDEX);
    const all = names(500);
    writeBase(base, all.map((p) => rec(p)));
    expect(nextIndex(base, join(dir, 'next'), new Set([10]), new Set())).toEqual({ delta: true });
    renameSync(join(dir, 'next'), deltaFileOf(base));
    expect(readIndex(base)[10]!.size).toBe(2n);
    // A whole new base renamed into place, the process stopped before the delta was removed.
    writeBase(join(dir, 'whole'), all.map((p) => rec(p, 5n)));
    renameSync(join(dir, 'whole'), base);
    expect(existsSync(deltaFileOf(base))).toBe(true);
    expect(readIndex(base)).toEqual(all.map((path) => ({ path, size: 5n })));
  });
});
