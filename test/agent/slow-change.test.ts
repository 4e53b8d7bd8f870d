import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { judgeSlowChange, rewrittenPathHash } from '../../agent/tree/slow-change.ts';

// The day's judgement of a source's snapshots (agent/tree/slow-change.ts), on its state file.

const threshold = { percent: 50, minFiles: 20 };
const changes = (rewritten: number, previousFiles: number, replaced = 0) => ({ previousFiles, changed: rewritten + replaced, rewritten, replaced });
const hashes = (names: string[]) => names.map((n) => rewrittenPathHash(Buffer.from(n)));
const at = (minute: number) => new Date(Date.UTC(2026, 11, 5, 8, minute)).toISOString();

describe('the changes of a day of snapshots, judged together', () => {
  it('counts a path rewritten in several snapshots once, and the files replaced by new names each', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-slow-'));
    const logs = hashes(['logs/a.log', 'logs/b.log']);
    for (let i = 1; i <= 12; i++) expect(judgeSlowChange(state, 'share', { takenAt: at(i), parentTakenAt: at(i - 1), changes: changes(2, 40), rewritten: logs, alone: false }, threshold)).toBeUndefined();
    // 18 files renamed as they were encrypted: 2 + 18 = 20 distinct files of 40, the threshold.
    const over = judgeSlowChange(state, 'share', { takenAt: at(13), parentTakenAt: at(12), changes: changes(0, 40, 18), rewritten: [], alone: false }, threshold);
    expect(over).toEqual({ changed: 20, previousFiles: 40, since: at(1), parentTakenAt: at(0), snapshots: 13 });
    // Said once: the window starts again.
    expect(JSON.parse(readFileSync(join(state, 'tree-changes-share.json'), 'utf8'))).toEqual([]);
  });

  it('counts an entry kept before paths were (no rewrittenPaths) whole, as it was counted then', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-slow-'));
    writeFileSync(join(state, 'tree-changes-share.json'), JSON.stringify([{ takenAt: at(1), parentTakenAt: at(0), changed: 15, previousFiles: 40 }]));
    const over = judgeSlowChange(state, 'share', { takenAt: at(2), parentTakenAt: at(1), changes: changes(5, 40), rewritten: hashes(['a', 'b', 'c', 'd', 'e']), alone: false }, threshold);
    expect(over).toMatchObject({ changed: 20, previousFiles: 40, snapshots: 2 });
  });

  it("keeps each snapshot's rewritten paths in the state file, 8 base64 characters a path", () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-slow-'));
    judgeSlowChange(state, 'share', { takenAt: at(1), parentTakenAt: at(0), changes: changes(3, 1000), rewritten: hashes(['x', 'y', 'z']), alone: false }, threshold);
    const [entry] = JSON.parse(readFileSync(join(state, 'tree-changes-share.json'), 'utf8')) as { rewrittenPaths: string; replaced: number }[];
    expect(entry!.rewrittenPaths).toHaveLength(24);
    expect(entry!.replaced).toBe(0);
  });

  it('keeps a path rewritten at every snapshot of the day once in the state file, and still counts it after the snapshot that first rewrote it leaves the window', () => {
    const state = mkdtempSync(join(tmpdir(), 'ferry-slow-'));
    const logs = hashes(Array.from({ length: 100 }, (_, i) => `logs/${i}.log`));
    const big = { percent: 50, minFiles: 20 };
    for (let i = 1; i <= 50; i++) judgeSlowChange(state, 'share', { takenAt: at(i), parentTakenAt: at(i - 1), changes: changes(100, 1000), rewritten: logs, alone: false }, big);
    const file = join(state, 'tree-changes-share.json');
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { rewrittenPaths: string }[];
    expect(kept).toHaveLength(50);
    // 100 paths, 8 base64 characters each, once in all: not 50 times over.
    expect(kept.reduce((n, e) => n + e.rewrittenPaths.length, 0)).toBe(800);
    // A day after the first snapshot it has left the window; the paths the later ones rewrote still count, once.
    const later = new Date(Date.parse(at(1)) + 24 * 3_600_000).toISOString();
    const over = judgeSlowChange(state, 'share', { takenAt: later, parentTakenAt: at(50), changes: changes(0, 1000, 400), rewritten: [], alone: false }, big);
    expect(over).toMatchObject({ changed: 500, previousFiles: 1000, since: at(2), snapshots: 50 });
  });
});
