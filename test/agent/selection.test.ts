import { describe, it, expect } from 'vitest';
import { selectWork, findLosses, pendingView, backlogOf } from '../../agent/sources/recordings.ts';
import { recordingsSourceSchema } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import type { ScannedBatch } from '../../agent/sources/scan.ts';
import type { FileStamp } from '../../agent/journal.ts';

const NOW = new Date('2026-03-01T12:00:00Z');
const source = recordingsSourceSchema.parse({ name: 'cs', type: 'recordings', path: '/r', closeAfterFiles: 3, quietSeconds: 600, settleSeconds: 5 });
const resolver = { sidecarNameFor: (name: string, siblings: ReadonlySet<string>) => (siblings.has(name.replace('.wav', '.xml')) ? name.replace('.wav', '.xml') : undefined) };

function batch(name: string, ages: number[], opts: { dirAge?: number; sidecars?: boolean } = {}): ScannedBatch {
  const files = new Map<string, FileStamp>();
  ages.forEach((age, i) => {
    files.set(`c${i}.wav`, { name: `c${i}.wav`, size: 100, mtimeMs: NOW.getTime() - age * 1000 });
    if (opts.sidecars) files.set(`c${i}.xml`, { name: `c${i}.xml`, size: 10, mtimeMs: NOW.getTime() - age * 1000 });
  });
  return { batch: name, dirMtimeMs: NOW.getTime() - (opts.dirAge ?? Math.min(...ages)) * 1000, files };
}

const none = () => false;

describe('batch selection', () => {
  it('ships closed batches oldest first, whatever their names', () => {
    const scanned = [batch('b', [900, 800, 700]), batch('a', [300, 290, 280]), batch('c', [5000, 4000, 3000])];
    const { ready } = selectWork(source, scanned, none, resolver, new ManualClock(NOW));
    expect(ready.map((w) => w.batch)).toEqual(['c', 'b', 'a']);
  });

  it('closes a batch by count, or by quiet time, and waits for files to settle', () => {
    const clock = new ManualClock(NOW);
    const full = batch('full', [260, 250, 240]); // 3 files = closeAfterFiles
    const partialQuiet = batch('quiet', [700, 650]); // 2 files, nothing changed for 650 s > 600
    const partialBusy = batch('busy', [100, 10]); // 2 files, changed 10 s ago
    const settling = batch('settling', [60, 50, 2]); // full, but one file written 2 s ago (< 5 s)
    const { ready, backlog } = selectWork(source, [full, partialQuiet, partialBusy, settling], none, resolver, clock);
    expect(ready.map((w) => w.batch).sort()).toEqual(['full', 'quiet']);
    expect(backlog).toMatchObject({ batches: 4, recordings: 10, bytes: 1000 });
    expect(backlog.oldest?.batch).toBe('quiet');
  });

  it('skips what is shipped and pairs recordings with their sidecars', () => {
    const b = batch('x', [300, 300, 300], { sidecars: true });
    const { ready } = selectWork(source, [b], (_batch, f) => f.name === 'c0.wav', resolver, new ManualClock(NOW));
    expect(ready[0]?.recordings.map((r) => r.name)).toEqual(['c1.wav', 'c2.wav']);
    expect([...(ready[0]?.sidecars.keys() ?? [])]).toEqual(['c1.wav', 'c2.wav']);
  });

  it("does not take the recorder's newest file for settled on the agent's clock alone (ahead of the recorder's by seconds): only once a look before saw it unchanged, or a later file of its batch is settleSeconds newer", () => {
    const clock = new ManualClock(NOW);
    // A full batch whose last call the recorder is still writing: by the agent's clock (10 s ahead) it is 12 s old.
    const writing = batch('writing', [200, 150, 12]);
    expect(selectWork(source, [writing], none, resolver, clock).ready).toEqual([]);
    // A pass before saw it with this very size and time: the recorder stopped writing it.
    const last = writing.files.get('c2.wav')!;
    const seen = (b: string, f: FileStamp) => b === 'writing' && f.name === last.name && f.size === last.size && f.mtimeMs === last.mtimeMs;
    expect(selectWork(source, [writing], none, resolver, clock, seen).ready.map((w) => w.batch)).toEqual(['writing']);
    // Seen before, but it grew since: still being written.
    const grown = batch('writing', [200, 150, 12]);
    grown.files.set('c2.wav', { ...last, size: last.size + 50 });
    expect(selectWork(source, [grown], none, resolver, clock, seen).ready).toEqual([]);
    // Older than settleSeconds plus the clock allowance by the agent's clock: settled.
    expect(selectWork(source, [batch('old', [400, 300, 130])], none, resolver, clock).ready.map((w) => w.batch)).toEqual(['old']);
    // settleSeconds 0 asks for no settling at all.
    expect(selectWork({ ...source, settleSeconds: 0 }, [writing], none, resolver, clock).ready.map((w) => w.batch)).toEqual(['writing']);
  });

  it('reports as lost what was pending and disappeared, not what was shipped meanwhile', () => {
    const prev = new Map<string, FileStamp[]>([
      ['gone', [{ name: 'a.wav', size: 1, mtimeMs: 1 }, { name: 'b.wav', size: 1, mtimeMs: 1 }]],
      ['shipped', [{ name: 'c.wav', size: 1, mtimeMs: 1 }]],
      ['still', [{ name: 'd.wav', size: 1, mtimeMs: 1 }]],
    ]);
    const now: ScannedBatch[] = [{ batch: 'still', dirMtimeMs: 0, files: new Map([['d.wav', { name: 'd.wav', size: 1, mtimeMs: 1 }]]) }];
    expect(findLosses(prev, now, (b) => b === 'shipped')).toEqual([{ batch: 'gone', files: [{ name: 'a.wav', size: 1, mtimeMs: 1 }, { name: 'b.wav', size: 1, mtimeMs: 1 }] }]);
  });

  it('reports the pending files of a batch that is now scanned as done (partly evicted, the rest shipped) as lost', () => {
    const prev = new Map<string, FileStamp[]>([['b1', [{ name: 'a.wav', size: 1, mtimeMs: 1 }]]]);
    const now: ScannedBatch[] = [{ batch: 'b1', dirMtimeMs: 0, files: new Map(), done: true }];
    expect(findLosses(prev, now, () => false)).toEqual([{ batch: 'b1', files: [{ name: 'a.wav', size: 1, mtimeMs: 1 }] }]);
  });

  it('derives the same backlog from the pending view as selectWork reports', () => {
    const scanned = [batch('b', [900, 800, 700]), batch('a', [100, 90]), batch('c', [5000, 4000, 3000], { sidecars: true })];
    const shipped = (_b: string, f: FileStamp) => f.name === 'c1.wav';
    const { backlog } = selectWork(source, scanned, shipped, resolver, new ManualClock(NOW));
    expect(backlogOf('cs', pendingView(scanned, shipped, source.extensions))).toEqual(backlog);
    expect(backlog).toMatchObject({ batches: 3, recordings: 5 }); // c1.wav is shipped in each of the three batches
  });
});
