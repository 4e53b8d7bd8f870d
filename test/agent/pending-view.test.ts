import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBatches, numberedBatches } from '../../agent/sources/batch-order.ts';
import { firstSeenOf, PendingViewReader, PendingViewWriter, type PendingEntry } from '../../agent/state/pending-view.ts';
import { Observations } from '../../agent/state/observations.ts';
import type { FileStamp } from '../../agent/journal.ts';

const stamp = (name: string, size = 2048, mtimeMs = 1_700_000_000_000): FileStamp => ({ name, size, mtimeMs });

function readAll(reader: PendingViewReader): PendingEntry[] {
  const out: PendingEntry[] = [];
  for (let e = reader.take(); e; e = reader.take()) out.push(e);
  return out;
}

describe('batch order', () => {
  it('orders numbered batch paths by number whatever their width, component by component', () => {
    const paths = ['10', '9', '000011', 'x', '2/10', '2/9', '1/100'];
    expect([...paths].sort(compareBatches)).toEqual(['1/100', '2/9', '2/10', '9', '10', '000011', 'x']);
  });

  it('takes the recorder numbering (one number between a common prefix and suffix at each depth) as age order, and nothing else', () => {
    expect(numberedBatches(['000001', '000002', '000010'])).toBe(true);
    expect(numberedBatches(['batch-1', 'batch-2'])).toBe(true);
    expect(numberedBatches(['2024/000001', '2025/000007'])).toBe(true);
    expect(numberedBatches(['000001', 'batch-2'])).toBe(false);
    expect(numberedBatches(['monday', 'tuesday'])).toBe(false);
    expect(numberedBatches(['2024-01-01', '2024-01-02'])).toBe(false);
  });
});

describe('pending view file', () => {
  it('streams back what was written, batch by batch, in batch order, names with tabs and newlines intact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-view-'));
    const file = join(dir, 'cs.jsonl');
    const w = new PendingViewWriter(file);
    w.add('000009', [stamp('a\tb.wav'), stamp('c\nd.wav', 7, 5)], new Map([['a\tb.wav', 1_733_212_400_000]]));
    expect(w.add('000010', [])).toBeUndefined(); // nothing pending: no line
    const line = w.add('000011', [stamp('é.wav')]);
    expect(w.readAt(line!)).toEqual([stamp('é.wav')]);
    expect(existsSync(file)).toBe(false); // not in place before the commit
    w.commit();
    w.close();
    expect(readAll(PendingViewReader.open(file))).toEqual([
      { batch: '000009', files: [stamp('a\tb.wav'), stamp('c\nd.wav', 7, 5)], firstSeen: new Map([['a\tb.wav', 1_733_212_400_000]]) },
      { batch: '000011', files: [stamp('é.wav')], firstSeen: new Map() },
    ]);
    expect(readFileSync(file, 'utf8').split('\n')[0]).toBe('{"ferry":"pending-view","format":1,"order":"numeric-path-1","firstSeen":true}');
  });

  it('refuses to write batches out of order (the next pass compares the view with the walk in this order)', () => {
    const w = new PendingViewWriter(join(mkdtempSync(join(tmpdir(), 'ferry-view-')), 'cs.jsonl'));
    w.add('000010', [stamp('a.wav')]);
    expect(() => w.add('000009', [stamp('a.wav')])).toThrow(/out of order: 000009 after 000010/);
    w.close();
  });

  it('leaves the old view in place when a pass ends without committing (a crash mid-walk)', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-view-')), 'cs.jsonl');
    const first = new PendingViewWriter(file);
    first.add('000001', [stamp('a.wav')]);
    first.commit();
    first.close();
    const second = new PendingViewWriter(file);
    second.add('000002', [stamp('b.wav')]);
    second.close();
    expect(readAll(PendingViewReader.open(file)).map((e) => e.batch)).toEqual(['000001']);
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('reads a view of more than one read buffer (1 MiB) without losing or splitting a line', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ferry-view-')), 'cs.jsonl');
    const w = new PendingViewWriter(file);
    const batches = Array.from({ length: 400 }, (_, b) => String(b + 1).padStart(6, '0'));
    for (const b of batches) w.add(b, Array.from({ length: 100 }, (_, i) => stamp(`c${b}-${i}-ü.wav`, i, b.length + i)));
    w.commit();
    w.close();
    const entries = readAll(PendingViewReader.open(file));
    expect(entries.map((e) => e.batch)).toEqual(batches);
    expect(entries.every((e) => e.files.length === 100)).toBe(true);
  });

  it('migrates the pending listing agents kept in observations.json, sorted in batch order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-view-'));
    const legacy = { format: 1, sources: { cs: { pending: { '10': 'b.wav\t5\t100', '9': 'a.wav\t3\t99\0c.wav\t4\t98' }, batchesSeen: 2, lastScan: '2026-01-01T00:00:00.000Z' } } };
    writeFileSync(join(dir, 'observations.json'), JSON.stringify(legacy));
    const obs = new Observations(dir);
    expect(obs.lastPass('cs')).toEqual({ batchesSeen: 2, lastScan: '2026-01-01T00:00:00.000Z' });
    expect(readAll(obs.previousPending('cs'))).toEqual([
      { batch: '9', files: [stamp('a.wav', 3, 99), stamp('c.wav', 4, 98)] },
      { batch: '10', files: [stamp('b.wav', 5, 100)] },
    ]);
    const w = obs.pendingWriter('cs');
    w.add('10', [stamp('b.wav', 5, 100)]);
    w.commit();
    w.close();
    obs.pendingCommitted('cs', 1, new Date('2026-01-02T00:00:00Z'));
    const saved = JSON.parse(readFileSync(join(dir, 'observations.json'), 'utf8')) as { sources: { cs: Record<string, unknown> } };
    expect(saved.sources.cs.pending).toBeUndefined();
    expect(new Observations(dir).pending('cs')).toEqual({ batches: new Map([['10', [stamp('b.wav', 5, 100)]]]), batchesSeen: 1, lastScan: '2026-01-02T00:00:00.000Z' });
  });

  it('reads the listing an older release wrote in observations.json after a rollback, not the view file this release wrote before it (what the older release shipped is no longer pending)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-view-rollback-'));
    // This release's pass: batch 000001 pending.
    const obs = new Observations(dir);
    const w = obs.pendingWriter('cs');
    w.add('000001', [stamp('c1.wav', 10, 100), stamp('c2.wav', 10, 100)]);
    w.commit();
    w.close();
    obs.pendingCommitted('cs', 1, new Date('2026-01-01T00:00:00Z'));
    // Rolled back: the older release's pass shipped 000001 (its files touched since) and keeps 000002 pending, in observations.json, as it always did.
    const file = join(dir, 'observations.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { sources: { cs: Record<string, unknown> } };
    saved.sources.cs = { ...saved.sources.cs, pending: { '000002': 'd1.wav\t10\t300' }, batchesSeen: 2, lastScan: '2026-01-02T00:00:00.000Z' };
    writeFileSync(file, JSON.stringify(saved));
    // Forward again: the backlog is the older release's view.
    expect(new Observations(dir).pending('cs')?.batches).toEqual(new Map([['000002', [stamp('d1.wav', 10, 300)]]]));
  });
});

describe('first-seen times of a pending view', () => {
  it('carries a file\'s first-seen time while its stamp stays, restarts it when the file changed, and reads a file a view of an older agent holds as seen at that pass', () => {
    const now = 1_800_000_000_000;
    const kept: PendingEntry = { batch: '000001', files: [stamp('a.wav'), stamp('b.wav'), stamp('c.wav')], firstSeen: new Map([['a.wav', now - 30_000]]) };
    const seen = firstSeenOf(kept, [stamp('a.wav'), stamp('b.wav'), stamp('c.wav', 4096), stamp('d.wav')], now, now - 20_000);
    // b.wav is in a view that keeps first-seen times without one: seen longer ago than the wait.
    expect(seen).toEqual(new Map([['a.wav', now - 30_000], ['b.wav', -Infinity], ['c.wav', now], ['d.wav', now]]));
    const older: PendingEntry = { batch: '000001', files: [stamp('a.wav')] };
    expect(firstSeenOf(older, [stamp('a.wav')], now, now - 20_000)).toEqual(new Map([['a.wav', now - 20_000]]));
  });
});
