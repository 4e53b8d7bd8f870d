import { describe, it, expect } from 'vitest';
import { mkdtempSync, appendFileSync, readFileSync, fdatasync } from 'node:fs';
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
  it('survives a reopen: shipped files, totals, in-flight packs and open uploads', async () => {
    const d = dir();
    const j = new Journal(d);
    await j.begin(pack);
    await j.uploadStarted('p1', 'u1');
    j.close();
    const k = new Journal(d);
    expect(k.inflightPacks()).toEqual([{ ...pack, uploads: ['u1'] }]);
    await k.uploadEnded('p1', 'u1');
    await k.published('p1', 2, 30);
    k.close();
    const l = new Journal(d);
    expect(l.inflightPacks()).toEqual([]);
    expect(l.isShipped('rec', '000001', files[0]!)).toBe(true);
    expect(l.isShipped('rec', '000001', { ...files[0]!, size: 11 })).toBe(false);
    expect(l.totals).toMatchObject({ packs: 1, recordings: 2, bytes: 30 });
  });

  it('ignores a torn last line (crash mid-append)', async () => {
    const d = dir();
    const j = new Journal(d);
    await j.begin(pack);
    await j.published('p1', 2, 30);
    j.close();
    appendFileSync(join(d, 'journal.jsonl'), '{"e":"lost","loss":{"sou');
    const k = new Journal(d);
    expect(k.totals.packs).toBe(1);
    expect(k.totals.lostBatches).toBe(0);
  });

  it('compacts to one snapshot and forgets evicted batches', async () => {
    const d = dir();
    const j = new Journal(d);
    await j.begin(pack);
    await j.published('p1', 2, 30);
    await j.begin({ ...pack, packId: 'p2', batch: '000002' });
    await j.published('p2', 2, 30);
    await j.lost({ source: 'rec', batch: '000003', files: ['x.wav'], reason: 'evicted', at: '2026-01-01T00:00:00.000Z' });
    await j.compact(new Set(['rec\t000002']));
    j.close();
    expect(readFileSync(join(d, 'journal.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    const k = new Journal(d);
    expect(k.isShipped('rec', '000001', files[0]!)).toBe(false);
    expect(k.isShipped('rec', '000002', files[0]!)).toBe(true);
    expect(k.totals).toMatchObject({ packs: 2, lostBatches: 1, lostRecordings: 1 });
    expect(k.recentLosses()[0]?.batch).toBe('000003');
  });

  it('keeps every shipped file exact: odd names, several packs per batch, across compaction and reopen', async () => {
    const d = dir();
    const odd = [
      { name: 'new\nline.wav', size: 1, mtimeMs: 5 },
      { name: 'tab\t7\t8.wav', size: 2, mtimeMs: 6 },
      { name: 'ça va 通话.wav', size: 3, mtimeMs: 7 },
    ];
    const j = new Journal(d);
    await j.begin({ ...pack, files: odd.slice(0, 2) });
    await j.published('p1', 2, 3);
    await j.begin({ ...pack, packId: 'p2', files: odd.slice(2) });
    await j.published('p2', 1, 3);
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
    await j.compact(new Set(['rec\t000001']));
    j.close();
    check(new Journal(d));
  });

  it('reads a snapshot written with per-file lists', async () => {
    const d = dir();
    const snapshot = { e: 'snapshot', shipped: { 'rec\t000001': ['b.wav\t20\t2000', 'a.wav\t10\t1000'] }, inflight: [], totals: { packs: 1, recordings: 2, bytes: 30 }, losses: [] };
    appendFileSync(join(d, 'journal.jsonl'), `${JSON.stringify(snapshot)}\n`);
    const j = new Journal(d);
    expect(j.shippedExactly('rec', '000001', files)).toBe(true);
    expect(j.isShipped('rec', '000001', files[1]!)).toBe(true);
  });

  it('read-only mode neither creates nor writes the journal', async () => {
    const d = join(dir(), 'absent');
    const j = new Journal(d, { readOnly: true });
    await expect(j.begin(pack)).rejects.toThrow(/closed/);
  });
});

describe('journal appends through the thread pool', () => {
  /** A sync that waits to be let go, one call at a time; counts calls. */
  function heldSync() {
    const held: (() => void)[] = [];
    let calls = 0;
    const sync = (fd: number) =>
      new Promise<void>((resolve) => {
        calls++;
        held.push(() => fdatasync(fd, () => resolve()));
      });
    const release = async () => {
      while (held.length === 0) await new Promise((r) => setTimeout(r, 1));
      held.shift()!();
    };
    return { sync, release, calls: () => calls };
  }

  it('resolves a line only after its sync; lines appended meanwhile go out after it, in order, under one more sync', async () => {
    const d = dir();
    const h = heldSync();
    const j = new Journal(d, { sync: h.sync });
    const durable: string[] = [];
    const a = j.begin(pack).then(() => durable.push('begin'));
    await new Promise((r) => setTimeout(r, 20));
    const b = j.published('p1', 2, 30).then(() => durable.push('published'));
    const c = j.begin({ ...pack, packId: 'p2', batch: '000002' }).then(() => durable.push('begin p2'));
    expect(durable).toEqual([]);
    await h.release();
    await a;
    await new Promise((r) => setTimeout(r, 20));
    expect(durable).toEqual(['begin']);
    await h.release();
    await Promise.all([b, c]);
    expect(durable).toEqual(['begin', 'published', 'begin p2']);
    expect(h.calls()).toBe(2);
    const lines = readFileSync(join(d, 'journal.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { e: string; packId?: string });
    expect(lines.map((l) => l.e)).toEqual(['begin', 'published', 'begin']);
    j.close();
    expect(new Journal(d).inflightPacks().map((p) => p.packId)).toEqual(['p2']);
  });

  it('rejects the lines of a failed sync and writes the next ones', async () => {
    const d = dir();
    let fail = true;
    const j = new Journal(d, { sync: async () => (fail ? Promise.reject(new Error('EIO')) : undefined) });
    await expect(j.begin(pack)).rejects.toThrow(/EIO/);
    fail = false;
    await j.published('p1', 2, 30);
    j.close();
    expect(new Journal(d).totals.packs).toBe(1);
  });

  it('starts a new line after a torn tail, so the first line appended after a crash is kept', async () => {
    const d = dir();
    const j = new Journal(d);
    await j.begin(pack);
    j.close();
    appendFileSync(join(d, 'journal.jsonl'), '{"e":"lost","loss":{"sou');
    const k = new Journal(d);
    await k.published('p1', 2, 30);
    k.close();
    const l = new Journal(d);
    expect(l.totals.packs).toBe(1);
    expect(l.inflightPacks()).toEqual([]);
  });

  it('closes the file only once the lines appended before close are written', async () => {
    const d = dir();
    const h = heldSync();
    const j = new Journal(d, { sync: h.sync });
    const written = j.begin(pack);
    j.close();
    await expect(j.published('p1', 2, 30)).rejects.toThrow(/closed/);
    await h.release();
    await written;
    expect(new Journal(d).inflightPacks().map((p) => p.packId)).toEqual(['p1']);
  });

  it('knows a pack begun and not published, through a reopen and after it was abandoned; forgets it once published', async () => {
    const d = dir();
    const j = new Journal(d);
    expect(j.begunBefore('p1')).toBe(false);
    await j.begin(pack);
    expect(j.begunBefore('p1')).toBe(true);
    await j.abandoned('p1', 'torn');
    j.close();
    const k = new Journal(d);
    expect(k.begunBefore('p1')).toBe(true);
    expect(k.begunBefore('p2')).toBe(false);
    await k.begin(pack);
    await k.published('p1', 2, 30);
    expect(k.begunBefore('p1')).toBe(false);
    k.close();
    expect(new Journal(d).begunBefore('p1')).toBe(false);
  });
});
