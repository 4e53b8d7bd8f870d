import { describe, it, expect } from 'vitest';
import { mkdtempSync, appendFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../agent/journal.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'ferry-journal-'));
const files = [
  { name: 'a.wav', size: 10, mtimeMs: 1000 },
  { name: 'b.wav', size: 20, mtimeMs: 2000 },
];
const pack = { packId: 'p1', source: 'rec', batch: '000001', packKey: 'k', manifestKey: 'm', files };

describe('journal', () => {
  it('survives a reopen: shipped files, totals, in-flight packs and open uploads', () => {
    const d = dir();
    const j = new Journal(d);
    j.begin(pack);
    j.uploadStarted('p1', 'u1');
    j.close();
    const k = new Journal(d);
    expect(k.inflightPacks()).toEqual([{ ...pack, uploads: ['u1'] }]);
    k.uploadEnded('p1', 'u1');
    k.published('p1', 2, 30);
    k.close();
    const l = new Journal(d);
    expect(l.inflightPacks()).toEqual([]);
    expect(l.isShipped('rec', '000001', files[0]!)).toBe(true);
    expect(l.isShipped('rec', '000001', { ...files[0]!, size: 11 })).toBe(false);
    expect(l.totals).toMatchObject({ packs: 1, recordings: 2, bytes: 30 });
  });

  it('ignores a torn last line (crash mid-append)', () => {
    const d = dir();
    const j = new Journal(d);
    j.begin(pack);
    j.published('p1', 2, 30);
    j.close();
    appendFileSync(join(d, 'journal.jsonl'), '{"e":"lost","loss":{"sou');
    const k = new Journal(d);
    expect(k.totals.packs).toBe(1);
    expect(k.totals.lostBatches).toBe(0);
  });

  it('compacts to one snapshot and forgets evicted batches', () => {
    const d = dir();
    const j = new Journal(d);
    j.begin(pack);
    j.published('p1', 2, 30);
    j.begin({ ...pack, packId: 'p2', batch: '000002' });
    j.published('p2', 2, 30);
    j.lost({ source: 'rec', batch: '000003', files: ['x.wav'], reason: 'evicted', at: '2026-01-01T00:00:00.000Z' });
    j.compact(new Set(['rec\t000002']));
    j.close();
    expect(readFileSync(join(d, 'journal.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    const k = new Journal(d);
    expect(k.isShipped('rec', '000001', files[0]!)).toBe(false);
    expect(k.isShipped('rec', '000002', files[0]!)).toBe(true);
    expect(k.totals).toMatchObject({ packs: 2, lostBatches: 1, lostRecordings: 1 });
    expect(k.recentLosses()[0]?.batch).toBe('000003');
  });

  it('keeps every shipped file exact: odd names, several packs per batch, across compaction and reopen', () => {
    const d = dir();
    const odd = [
      { name: 'new\nline.wav', size: 1, mtimeMs: 5 },
      { name: 'tab\t7\t8.wav', size: 2, mtimeMs: 6 },
      { name: 'ça va 通话.wav', size: 3, mtimeMs: 7 },
    ];
    const j = new Journal(d);
    j.begin({ ...pack, files: odd.slice(0, 2) });
    j.published('p1', 2, 3);
    j.begin({ ...pack, packId: 'p2', files: odd.slice(2) });
    j.published('p2', 1, 3);
    const check = (k: Journal) => {
      for (const f of odd) expect(k.isShipped('rec', '000001', f)).toBe(true);
      // A name made of another name's fields, or the same file changed, is not shipped.
      expect(k.isShipped('rec', '000001', { name: 'tab', size: 7, mtimeMs: 8 })).toBe(false);
      expect(k.isShipped('rec', '000001', { ...odd[0]!, mtimeMs: 9 })).toBe(false);
      expect(k.isShipped('rec', '000002', odd[0]!)).toBe(false);
      expect(k.shippedExactly('rec', '000001', [...odd].reverse())).toBe(true);
      expect(k.shippedExactly('rec', '000001', odd.slice(1))).toBe(false);
      expect(k.shippedExactly('rec', '000001', [...odd, { name: 'more.wav', size: 1, mtimeMs: 1 }])).toBe(false);
    };
    check(j);
    j.compact(new Set(['rec\t000001']));
    j.close();
    check(new Journal(d));
  });

  it('reads a snapshot written with per-file lists', () => {
    const d = dir();
    const snapshot = { e: 'snapshot', shipped: { 'rec\t000001': ['b.wav\t20\t2000', 'a.wav\t10\t1000'] }, inflight: [], totals: { packs: 1, recordings: 2, bytes: 30 }, losses: [] };
    appendFileSync(join(d, 'journal.jsonl'), `${JSON.stringify(snapshot)}\n`);
    const j = new Journal(d);
    expect(j.shippedExactly('rec', '000001', files)).toBe(true);
    expect(j.isShipped('rec', '000001', files[1]!)).toBe(true);
  });

  it('read-only mode neither creates nor writes the journal', () => {
    const d = join(dir(), 'absent');
    const j = new Journal(d, { readOnly: true });
    expect(() => j.begin(pack)).toThrow(/closed/);
  });
});
