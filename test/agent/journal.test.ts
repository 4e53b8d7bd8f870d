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

  it('read-only mode neither creates nor writes the journal', () => {
    const d = join(dir(), 'absent');
    const j = new Journal(d, { readOnly: true });
    expect(() => j.begin(pack)).toThrow(/closed/);
  });
});
