import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchDepthProblem, listBatches, scanBatch, scanBatches, type ScanHooks } from '../../agent/sources/scan.ts';
import { batchDone } from '../../agent/sources/recordings.ts';
import { Journal, type FileStamp } from '../../agent/journal.ts';
import { recordingsSourceSchema } from '../../core/config.ts';

const source = recordingsSourceSchema.parse({ name: 'cs', type: 'recordings', path: '/r' });

function tree(): string {
  const root = mkdtempSync(join(tmpdir(), 'ferry-scan-'));
  for (const b of ['000001', '000002']) {
    mkdirSync(join(root, b));
    for (const n of ['a.wav', 'a.xml', 'b.wav']) writeFileSync(join(root, b, n), `${b}/${n}`);
  }
  symlinkSync('/etc', join(root, '000002', 'escape'));
  return root;
}

describe('scan', () => {
  it('lists every batch and its regular files, never following a symbolic link', async () => {
    const warnings: string[] = [];
    const scanned = await scanBatches(tree(), { depth: 1, onWarning: (m, p) => warnings.push(`${m}: ${p}`) });
    expect(scanned.map((b) => [b.batch, [...b.files.keys()].sort(), b.done])).toEqual([
      ['000001', ['a.wav', 'a.xml', 'b.wav'], undefined],
      ['000002', ['a.wav', 'a.xml', 'b.wav'], undefined],
    ]);
    expect(warnings).toEqual(['symbolic link not followed: 000002/escape']);
  });

  it('drops the file records of a batch with nothing left to ship', async () => {
    const root = tree();
    const journal = new Journal(mkdtempSync(join(tmpdir(), 'ferry-scan-state-')));
    const first = await scanBatches(root, { depth: 1 });
    const files = [...(first[0]?.files.values() ?? [])];
    await journal.begin({ packId: 'p1', source: 'cs', batch: '000001', packKey: 'k', manifestKey: 'm', files });
    await journal.published('p1', 2, 1);
    const scanned = await scanBatches(root, { depth: 1, isDone: batchDone(journal, source) });
    expect(scanned.map((b) => [b.batch, b.files.size, b.done])).toEqual([
      ['000001', 0, true],
      ['000002', 3, undefined],
    ]);
  });

  it('calls a batch done when every recording shipped, even beside a file that never ships', () => {
    const stamp = (name: string, size = 1): FileStamp => ({ name, size, mtimeMs: 1 });
    const shipped = new Set(['a.wav', 'b.wav']);
    const index = { shippedExactly: () => false, isShipped: (_s: string, _b: string, f: FileStamp) => shipped.has(f.name) && f.size === 1 };
    const done = batchDone(index, source);
    const files = (...s: FileStamp[]) => new Map(s.map((f) => [f.name, f]));
    expect(done('x', files(stamp('a.wav'), stamp('b.wav'), stamp('notes.txt')))).toBe(true);
    expect(done('x', files(stamp('a.wav'), stamp('b.wav', 2)))).toBe(false);
    expect(done('x', files(stamp('a.wav'), stamp('c.wav')))).toBe(false);
  });

  describe('recordings where the agent never looks', () => {
    const isRecording = (n: string) => n.endsWith('.wav');
    /** A recorder root: day/batch/recordings, a stray recording beside the days and a folder of recordings inside one batch. */
    function layered(): string {
      const root = mkdtempSync(join(tmpdir(), 'ferry-scan-depth-'));
      for (const b of ['20240101/000001', '20240101/000002', '20240102/000003']) {
        mkdirSync(join(root, b), { recursive: true });
        writeFileSync(join(root, b, 'a.wav'), b);
      }
      writeFileSync(join(root, 'stray.wav'), 'x');
      writeFileSync(join(root, 'README.txt'), 'x');
      mkdirSync(join(root, '20240101/000002/old/deeper'), { recursive: true });
      writeFileSync(join(root, '20240101/000002/old/deeper/b.wav'), 'x');
      mkdirSync(join(root, '20240101/000002/notes'));
      writeFileSync(join(root, '20240101/000002/notes/n.txt'), 'x');
      return root;
    }
    const collect = () => {
      const found: [string, string][] = [];
      const hooks: ScanHooks = { isRecording, misplaced: (path, example) => found.push([path, example]) };
      return { found, hooks };
    };

    it('names a recording above the batch directories and a folder of recordings inside a batch, with the first recording found, and not a folder without any', async () => {
      const root = layered();
      const { found, hooks } = collect();
      const batches = await listBatches(root, 2, hooks);
      expect(batches).toEqual(['20240101/000001', '20240101/000002', '20240102/000003']);
      for (const b of batches) await scanBatch(root, b, hooks);
      expect(found).toEqual([
        ['stray.wav', 'stray.wav'],
        ['20240101/000002/old', '20240101/000002/old/deeper/b.wav'],
      ]);
    });

    it('with a batchDepth one too shallow, names each batch directory as a folder of recordings', async () => {
      const root = layered();
      const { found, hooks } = collect();
      const batches = await listBatches(root, 1, hooks);
      expect(batches).toEqual(['20240101', '20240102']);
      for (const b of batches) expect([...((await scanBatch(root, b, hooks))?.files.keys() ?? [])]).toEqual([]);
      expect(found.map(([p]) => p)).toEqual(['stray.wav', '20240101/000001', '20240101/000002', '20240102/000003']);
    });

    it('agent check: a batchDepth that finds no recordings is a problem naming one and the depth that finds it; the right depth, or an empty root, is none', async () => {
      const root = layered();
      expect(await batchDepthProblem(root, 1, isRecording)).toBe(
        "batchDepth 1 finds no recordings (the newest batch directories hold none), but 20240101/000001/a.wav is one: set batchDepth: 2 if the recorder's batch directories are 2 levels below the root",
      );
      const clean = mkdtempSync(join(tmpdir(), 'ferry-scan-depth-'));
      mkdirSync(join(clean, '2024/01/000001'), { recursive: true });
      writeFileSync(join(clean, '2024/01/000001/a.wav'), 'x');
      expect(await batchDepthProblem(clean, 1, isRecording)).toBe(
        "batchDepth 1 finds no recordings (the newest batch directories hold none), but 2024/01/000001/a.wav is one: set batchDepth: 3 if the recorder's batch directories are 3 levels below the root",
      );
      expect(await batchDepthProblem(clean, 4, isRecording)).toBe('batchDepth 4 finds no recordings (no batch directory is 4 levels below it), but 2024/01/000001/a.wav is one: set batchDepth: 3 if the recorder\'s batch directories are 3 levels below the root');
      expect(await batchDepthProblem(clean, 3, isRecording)).toBeUndefined();
      // A stray call in the month directory, beside the batch directories in it: they are 3 levels down, not 2.
      writeFileSync(join(clean, '2024/01/stray.wav'), 'x');
      expect(await batchDepthProblem(clean, 1, isRecording)).toBe(
        "batchDepth 1 finds no recordings (the newest batch directories hold none), but 2024/01/stray.wav is one: set batchDepth: 3 if the recorder's batch directories are 3 levels below the root",
      );
      expect(await batchDepthProblem(root, 2, isRecording)).toBeUndefined();
      expect(await batchDepthProblem(mkdtempSync(join(tmpdir(), 'ferry-scan-depth-')), 1, isRecording)).toBeUndefined();
    });
  });
});
