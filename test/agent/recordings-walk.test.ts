import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, renameSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingsWalk } from '../../agent/recordings-walk.ts';
import { listBatches } from '../../agent/sources/scan.ts';
import { Journal, type FileStamp } from '../../agent/journal.ts';
import { PendingViewReader, PendingViewWriter, type PendingEntry } from '../../agent/state/pending-view.ts';
import { recordingsSourceSchema } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { createMetadataExtractor } from '../../core/metadata.ts';
import type { BatchWork } from '../../agent/sources/recordings.ts';
import { writeTree } from '../support/recorder-tree.ts';

function setup(previous: PendingEntry[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-walk-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const source = recordingsSourceSchema.parse({ name: 'cs', type: 'recordings', path: root, closeAfterFiles: 10, settleSeconds: 1 });
  const view = join(dir, 'cs.jsonl');
  const journal = new Journal(join(dir, 'state'));
  const lost: { batch: string; files: string[]; when: string }[] = [];
  const walkOf = async (lookahead = 2) => {
    const next = new PendingViewWriter(view);
    const walk = new RecordingsWalk(
      {
        source,
        clock: new ManualClock(new Date()),
        journal,
        resolver: createMetadataExtractor(source.metadata),
        previous: PendingViewReader.of(previous),
        next,
        warn: () => undefined,
        lost: async (batch, files, when) => (lost.push({ batch, files: files.map((f) => f.name), when }), files.length),
        lookahead,
        left: (batch, f) => journal.isShipped('cs', batch, f),
      },
      await listBatches(root, 1),
    );
    return { walk, next };
  };
  return { root, view, walkOf, lost, journal };
}

/** Takes every batch the walk hands out, one worker, while the walk runs. */
async function drain(walk: RecordingsWalk): Promise<BatchWork[]> {
  const out: BatchWork[] = [];
  const walking = walk.walk();
  for (let w = await walk.next(); w; w = await walk.next()) out.push(w);
  await walking;
  return out;
}

const stamp = (name: string): FileStamp => ({ name, size: 1, mtimeMs: 1 });

describe('the streaming walk of a recordings root', () => {
  it('on numbered batches hands out the lowest number first, holding the records of at most `lookahead` batches', async () => {
    const s = setup();
    writeTree(s.root, 30, 10);
    const { walk, next } = await s.walkOf(2);
    const works = await drain(walk);
    next.close();
    expect(walk.ordered).toBe(true);
    expect(works.map((w) => w.batch)).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1).padStart(6, '0')));
    expect(works.every((w) => w.recordings.length === 10 && w.sidecars.size === 10)).toBe(true);
    expect(walk.maxHeld).toBeLessThanOrEqual(2);
  });

  it('on batch names that are not numbers walks the whole root first and hands out the batch with the oldest recording first', async () => {
    const s = setup();
    writeTree(s.root, 3, 10);
    const now = Date.now() / 1000;
    // gamma ← 000001 (2 h old), alpha ← 000002 (1 h), beta ← 000003 (3 h)
    for (const [from, to, age] of [['000001', 'gamma', 7200], ['000002', 'alpha', 3600], ['000003', 'beta', 10800]] as const) {
      renameSync(join(s.root, from), join(s.root, to));
      for (let i = 0; i < 10; i++) for (const ext of ['wav', 'json']) utimesSync(join(s.root, to, `c${from}-${i}.${ext}`), now - age, now - age);
    }
    const { walk, next } = await s.walkOf(2);
    const works = await drain(walk);
    next.close();
    expect(walk.ordered).toBe(false);
    expect(works.map((w) => w.batch)).toEqual(['beta', 'gamma', 'alpha']);
  });

  it('reports what the previous view held and is gone now, batch by batch (a whole batch, and one file of another)', async () => {
    const prev = (b: string, n: number) => ({ batch: b, files: Array.from({ length: n }, (_, i) => ({ name: `c${b}-${i}.wav`, size: 2000 + i * 7, mtimeMs: 0 })) });
    const s = setup([prev('000001', 2), prev('000002', 3), prev('000003', 2), prev('000009', 1)]);
    writeTree(s.root, 3, 10);
    rmSync(join(s.root, '000002'), { recursive: true });
    rmSync(join(s.root, '000003', 'c000003-1.wav'));
    const { walk, next } = await s.walkOf();
    await drain(walk);
    next.commit();
    next.close();
    expect(s.lost).toEqual([
      { batch: '000002', files: ['c000002-0.wav', 'c000002-1.wav', 'c000002-2.wav'], when: 'between passes' },
      { batch: '000003', files: ['c000003-1.wav'], when: 'between passes' },
      { batch: '000009', files: ['c000009-0.wav'], when: 'between passes' },
    ]);
    expect(walk.lost).toBe(5);
    // The next view holds what is on disk and pending now, nothing of the gone batches.
    const view: string[] = [];
    const r = PendingViewReader.open(s.view);
    for (let e = r.take(); e; e = r.take()) view.push(`${e.batch}:${e.files.length}`);
    expect(view).toEqual(['000001:10', '000003:9']);
  });

  it('reports the pending files of a batch queued by name that vanished before a worker took it, as lost while shipping', async () => {
    const s = setup();
    writeTree(s.root, 4, 10);
    const { walk, next } = await s.walkOf(1);
    await walk.walk(); // the whole root walked before any worker: batch 1 queued with its records, 2–4 by name
    rmSync(join(s.root, '000003'), { recursive: true });
    const works: string[] = [];
    for (let w = await walk.next(); w; w = await walk.next()) works.push(w.batch);
    next.close();
    expect(works).toEqual(['000001', '000002', '000004']);
    expect(s.lost).toEqual([{ batch: '000003', files: Array.from({ length: 10 }, (_, i) => `c000003-${i}.wav`), when: 'while shipping' }]);
  });

  it('stopped early, carries the rest of the previous view over unexamined and reports nothing lost there', async () => {
    const s = setup([{ batch: '000005', files: [stamp('x.wav')] }, { batch: '000007', files: [stamp('y.wav')] }]);
    writeTree(s.root, 3, 10);
    const { walk, next } = await s.walkOf();
    walk.stop();
    await walk.walk();
    next.commit();
    next.close();
    const view: string[] = [];
    const r = PendingViewReader.open(s.view);
    for (let e = r.take(); e; e = r.take()) view.push(e.batch);
    expect(view).toEqual(['000005', '000007']);
    expect(s.lost).toEqual([]);
    expect(walk.backlog()).toMatchObject({ batches: 2, recordings: 2 });
  });

  it('stopped early, leaves out of what it carries over the files its journal shipped after the previous view was written', async () => {
    const s = setup([{ batch: '000005', files: [stamp('x.wav'), stamp('z.wav')] }, { batch: '000007', files: [stamp('y.wav')] }]);
    await s.journal.begin({ packId: 'p5', source: 'cs', batch: '000005', packKey: 'k5', manifestKey: 'm5', files: [stamp('x.wav')] });
    await s.journal.published('p5', 1, 1);
    await s.journal.begin({ packId: 'p7', source: 'cs', batch: '000007', packKey: 'k7', manifestKey: 'm7', files: [stamp('y.wav')] });
    await s.journal.published('p7', 1, 1);
    const { walk, next } = await s.walkOf();
    walk.stop();
    await walk.walk();
    next.commit();
    next.close();
    const view: [string, string[]][] = [];
    const r = PendingViewReader.open(s.view);
    for (let e = r.take(); e; e = r.take()) view.push([e.batch, e.files.map((f) => f.name)]);
    expect(view).toEqual([['000005', ['z.wav']]]);
    expect(walk.backlog()).toMatchObject({ batches: 1, recordings: 1 });
  });
});
