import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanBatches } from '../../agent/sources/scan.ts';
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
});
