import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../agent/journal.ts';
import { ShippedIndex } from '../../agent/state/shipped-index.ts';

const dir = () => mkdtempSync(join(tmpdir(), 'ferry-shipped-'));
const stamps = (batch: number, n: number) => Array.from({ length: n }, (_, i) => ({ name: `c${batch}-${i}.wav`, size: 2048, mtimeMs: 1_733_000_000_000 + i }));
const batchName = (b: number) => String(b).padStart(6, '0');

/** Publishes `count` batches of `files` recordings each, one pack a batch. */
async function publishBatches(j: Journal, count: number, files = 3, from = 1) {
  for (let b = from; b < from + count; b++) {
    await j.begin({ packId: `p${b}`, source: 'rec', batch: batchName(b), packKey: `k${b}`, manifestKey: `m${b}`, files: stamps(b, files) });
    await j.published(`p${b}`, files, files * 2048);
  }
}

describe('the journal holds a bounded number of shipped batches in memory', () => {
  it('holds at most its limit of batches however many were published, and answers every batch from disk, before and after a reopen', async () => {
    const d = dir();
    const j = new Journal(d, { shippedHeld: 16 });
    await publishBatches(j, 200);
    expect(j.shippedHeld).toBeLessThanOrEqual(16);
    for (let b = 1; b <= 200; b++) {
      expect(j.isShipped('rec', batchName(b), stamps(b, 3)[2]!)).toBe(true);
      expect(j.shippedExactly('rec', batchName(b), stamps(b, 3))).toBe(true);
    }
    expect(j.isShipped('rec', batchName(201), stamps(201, 1)[0]!)).toBe(false);
    expect(j.isShipped('rec', batchName(7), { ...stamps(7, 1)[0]!, size: 1 })).toBe(false);
    j.close();
    // The reopen replays 400 lines of the journal: the limit holds while it does.
    const k = new Journal(d, { shippedHeld: 16 });
    expect(k.shippedHeld).toBeLessThanOrEqual(16);
    expect(k.totals.packs).toBe(200);
    for (let b = 1; b <= 200; b++) expect(k.shippedExactly('rec', batchName(b), stamps(b, 3))).toBe(true);
    k.close();
  });

  it('compacts to a snapshot whose size does not grow with what was shipped, and forgets evicted batches in the index', async () => {
    const sizes: number[] = [];
    for (const count of [10, 300]) {
      const d = dir();
      const j = new Journal(d, { shippedHeld: 32 });
      await publishBatches(j, count, 100);
      await j.compact(new Set(Array.from({ length: count - 1 }, (_, i) => `rec\t${batchName(i + 2)}`)));
      expect(j.shippedHeld).toBe(0);
      j.close();
      sizes.push(statSync(join(d, 'journal.jsonl')).size);
      const k = new Journal(d, { shippedHeld: 32 });
      expect(k.shippedHeld).toBe(0);
      expect(k.isShipped('rec', batchName(1), stamps(1, 1)[0]!)).toBe(false);
      expect(k.shippedExactly('rec', batchName(count), stamps(count, 100))).toBe(true);
      expect(k.totals.packs).toBe(count);
      k.close();
    }
    // 30 times the recordings: only the totals' digits differ (a snapshot listing them would hold ~1 MB).
    expect(sizes[1]).toBeLessThanOrEqual(sizes[0]! + 16);
    expect(sizes[1]).toBeLessThan(1024);
  });

  it('moves the listings of an older journal’s snapshot into the index on load', async () => {
    const d = dir();
    const shipped = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`rec\t${batchName(i + 1)}`, stamps(i + 1, 2).map((f) => `${f.name}\t${f.size}\t${f.mtimeMs}`)]));
    writeFileSync(join(d, 'journal.jsonl'), `${JSON.stringify({ e: 'snapshot', shipped, inflight: [], totals: { packs: 50, recordings: 100, bytes: 1 }, losses: [] })}\n`);
    const j = new Journal(d, { shippedHeld: 8 });
    expect(j.shippedHeld).toBeLessThanOrEqual(8);
    for (let b = 1; b <= 50; b++) expect(j.shippedExactly('rec', batchName(b), stamps(b, 2))).toBe(true);
    await j.compact();
    j.close();
    expect(readFileSync(join(d, 'journal.jsonl'), 'utf8')).not.toContain('c1-0.wav');
    expect(new Journal(d).shippedExactly('rec', batchName(50), stamps(50, 2))).toBe(true);
  });
});

describe('shipped index on disk', () => {
  it('finds every batch by binary search among thousands, odd names and lines longer than a read chunk included, and no batch that is absent', () => {
    const d = dir();
    const index = new ShippedIndex(join(d, 'shipped.jsonl'), { overlayLimit: 100 });
    const keys: string[] = [];
    for (let i = 0; i < 3000; i++) keys.push(`src${i % 3}\t${(i * 7919) % 100_003}`);
    keys.push('rec\tnew\nline', 'rec\t"quoted"\\dir', 'rec\t通话/ça', 'rec\tbig');
    for (const k of keys) index.add(k, k === 'rec\tbig' ? Array.from({ length: 3000 }, (_, i) => `${'long-name-'.repeat(4)}${i}.wav\t2048\t1`) : [`${k}.wav\t1\t2`, 'x\ty\tz']);
    index.merge();
    expect(index.held).toBe(0);
    expect(statSync(join(d, 'shipped.jsonl')).size).toBeGreaterThan(64 * 1024);
    for (const k of keys) {
      const got = index.get(k);
      if (k === 'rec\tbig') expect(got.size).toBe(3000);
      else expect([...got].sort()).toEqual([`${k}.wav\t1\t2`, 'x\ty\tz'].sort());
    }
    for (const absent of ['', 'rec', 'src0\t-1', 'src9\t5', 'zzz', 'rec\tnew']) expect(index.get(absent).size).toBe(0);
    // In sorted order (the walk's way: the lines after the last one read are tried first), with absent batches between.
    const fresh = new ShippedIndex(join(d, 'shipped.jsonl'));
    for (const k of [...keys].sort()) {
      expect(fresh.get(`${k}\t`).size).toBe(0);
      expect(fresh.get(k).size).toBe(k === 'rec\tbig' ? 3000 : 2);
    }
  });

  it('says whether any batch below a directory shipped (a day of batchDepth 2), from the base on disk by seek, for every day present and none absent, in any order', () => {
    const d = dir();
    const file = join(d, 'shipped.jsonl');
    const index = new ShippedIndex(file);
    const days = Array.from({ length: 400 }, (_, i) => `2024${String(1000 + i * 2)}`);
    for (const day of days) for (let b = 1; b <= 3; b++) index.add(`rec\t${day}/00000${b}`, [`c${b}.wav\t1\t2`]);
    index.add('rec\t20240999', ['flat.wav\t1\t2']); // a batch named like a day, no batch below it
    index.merge();
    const absent = ['rec\t20240999/', 'rec\t20241001/', 'rec\t19990101/', 'rec\t29990101/', 'other\t20241000/', 'rec\t2024/'];
    for (const order of [days, [...days].reverse()]) {
      const fresh = new ShippedIndex(file);
      for (const day of order) {
        expect(fresh.anyUnder(`rec\t${day}/`), day).toBe(true);
        expect(fresh.anyUnder(`rec\t${day}x/`), `${day}x`).toBe(false);
      }
      for (const prefix of absent) expect(new ShippedIndex(file).anyUnder(prefix), prefix).toBe(false);
    }
    // Held in memory only (not yet merged into the base).
    index.add('rec\t20250101/000001', ['n.wav\t1\t2']);
    expect(index.anyUnder('rec\t20250101/')).toBe(true);
  });

  it('unites a batch published in several packs across merges, and a merge interrupted before its rename leaves the old base', () => {
    const d = dir();
    const file = join(d, 'shipped.jsonl');
    const index = new ShippedIndex(file);
    index.add('rec\t000001', ['a\t1\t1']);
    index.merge();
    index.add('rec\t000001', ['b\t1\t1']);
    expect([...index.get('rec\t000001')].sort()).toEqual(['a\t1\t1', 'b\t1\t1']);
    index.merge();
    writeFileSync(`${file}.tmp`, 'torn'); // a merge killed mid-write
    const again = new ShippedIndex(file);
    expect([...again.get('rec\t000001')].sort()).toEqual(['a\t1\t1', 'b\t1\t1']);
    again.add('rec\t000002', ['c\t1\t1']);
    again.merge(new Set(['rec\t000002']));
    expect(again.get('rec\t000001').size).toBe(0);
    expect(again.get('rec\t000002').size).toBe(1);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('merges by copying the base\'s lines byte for byte, a line longer than the 1 MiB read buffer and a last line without its newline included', () => {
    const d = dir();
    const file = join(d, 'shipped.jsonl');
    const index = new ShippedIndex(file);
    index.add('rec\thuge', Array.from({ length: 30_000 }, (_, i) => `${'a-long-recording-name-'.repeat(2)}${i}.wav\t2048\t1733000000000`));
    for (const k of ['rec\t000001', 'rec\t通话/ça', 'rec\t"q"\\x', 'src\t9']) index.add(k, [`${k}.wav\t1\t2`]);
    index.merge();
    const before = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    expect(before.some((l) => l.length > 1024 * 1024)).toBe(true);
    index.add('rec\t000002', ['n.wav\t1\t2']);
    index.merge();
    const after = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    expect(after.filter((l) => !l.startsWith('["rec\\t000002"'))).toEqual(before);
    expect(after.map((l) => JSON.parse(l)[0] as string)).toEqual([...after.map((l) => JSON.parse(l)[0] as string)].sort());
    expect(new ShippedIndex(file).get('rec\thuge').size).toBe(30_000);
    // A base whose last line lost its newline (written by hand, or by another tool) is read whole.
    writeFileSync(file, before.join('\n'));
    const again = new ShippedIndex(file);
    again.add('rec\t000003', ['m.wav\t1\t2']);
    again.merge();
    const keys = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)[0] as string);
    expect(keys).toEqual(['rec\t"q"\\x', 'rec\t000001', 'rec\t000003', 'rec\thuge', 'rec\t通话/ça', 'src\t9']);
  });

  it('names the damaged file when a merge cannot read the base, and leaves the base as it was', () => {
    const d = dir();
    const file = join(d, 'shipped.jsonl');
    writeFileSync(file, '["rec\\t1",["a\\t1\\t1"]]\nnot json\n');
    const index = new ShippedIndex(file);
    index.add('rec\t2', ['b\t1\t1']);
    expect(() => index.merge()).toThrow(/shipped\.jsonl is damaged/);
    expect(readFileSync(file, 'utf8')).toBe('["rec\\t1",["a\\t1\\t1"]]\nnot json\n');
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('names the damaged file when the base cannot be read', () => {
    const d = dir();
    const file = join(d, 'shipped.jsonl');
    writeFileSync(file, 'not json\n');
    expect(() => new ShippedIndex(file).get('rec\t1')).toThrow(/shipped\.jsonl is damaged/);
  });
});
