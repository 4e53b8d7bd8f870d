import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTree } from '../support/recorder-tree.ts';
import { viewOfTree, writePendingView } from '../support/pending-view.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { Journal } from '../../agent/journal.ts';
import { renderBar, terminalProgress } from '../../cli/progress.ts';

// The `ferry` command as an administrator meets it: real process, real files.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');

function ferry(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')), ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('ferry CLI', () => {
  it('refuses a bad config with every problem and its path, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, 'site: Bad Site\nstate: ./s\nshipping: { partSizeMiB: 2 }\nsources:\n  - { name: rec, type: recordings, path: "" }\n  - { name: rec, type: recordings, path: /x, quietSeconds: -1 }\n');
    const r = ferry(['agent', 'run', '--config', file, '--once']);
    expect(r.code).toBe(2);
    for (const p of ['site:', 'shipping.partSizeMiB:', 'sources[0].path: path is required', 'sources[1].quietSeconds:', 'sources[1].name: duplicate source name']) expect(r.stderr).toContain(p);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  });

  it('says clearly when no cloud is configured or running', () => {
    const r = ferry(['calls', 'search', '--site', 'demo']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no cloud configured and no local cloud running/);
    expect(r.stderr).toMatch(/ferry start/);
  });

  it('shows backlog, oldest unshipped batch, losses and totals', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
    const root = join(dir, 'rec');
    writeTree(root, 3, 4, { ageMs: 7200_000 });
    const state = join(dir, 'state');
    const j = new Journal(state);
    await j.begin({ packId: 'p1', source: 'rec', batch: '000001', packKey: 'k', manifestKey: 'm', files: [] });
    await j.published('p1', 40, 4_000_000);
    j.close();
    const losses = new LossLog(state);
    const lostFiles = ['a.wav', 'b.wav'].map((name) => ({ name, size: 10, mtimeMs: 1, path: join(root, '000000', name) }));
    losses.record({ source: 'rec', batch: '000000', kind: 'recordings', files: lostFiles, reason: 'deleted by the recorder before it was shipped', at: '2026-01-01T00:00:00.000Z' });
    losses.close();
    // What the agent's last pass left: every recording of the tree pending.
    writePendingView(state, 'rec', viewOfTree(root));
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${root} }\n`);
    const json = ferry(['agent', 'status', '--config', file, '--json']);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.stdout);
    expect(s.backlog).toMatchObject({ batches: 3, recordings: 12, oldestBatch: '000001' });
    expect(s.backlog.oldestAgeSec).toBeGreaterThan(7000);
    expect(s.totals).toMatchObject({ packs: 1, recordings: 40, lostBatches: 1, lostRecordings: 2 });
    writeFileSync(join(state, 'status.json'), JSON.stringify({ pid: 1, updatedAt: '2026-01-01T00:00:00.000Z', sources: [{ name: 'binlogs', type: 'binlog', backlog: { files: 1, bytes: 2048 }, lastShipped: { name: 'mysql-bin.000007', artefactId: 'a0', at: '2026-01-01T00:00:00.000Z', partial: true }, gaps: [{ from: 4, to: 5 }], lost: 0 }] }));
    const text = ferry(['agent', 'status', '--config', file]);
    expect(text.stdout).toMatch(/binlogs \(binlog\)\s+1 waiting \(2\.0 KB\), last shipped mysql-bin\.000007 \(partial\)/);
    expect(text.stdout).toMatch(/GAP in segments 4-5: point-in-time restore cannot cross it/);
    expect(text.stdout).toMatch(/backlog\s+3 batch\(es\), 12 recording\(s\)/);
    expect(text.stdout).toMatch(/oldest unshipped\s+000001 \(2\.0 h old\)/);
    expect(text.stdout).toMatch(/lost\s+1 batch\(es\), 2 recording\(s\)/);
  });

  it('renders a progress bar with the rate and the time left for the packs found', () => {
    expect(renderBar({ phase: 'ship', packsDone: 5, packsTotal: 10, recordings: 500, bytes: 15_000_000 }, 3, 10)).toBe('[#####-----] 5/10 packs  500 recordings  15.0 MB  5.0 MB/s  about 3s left');
    expect(renderBar({ phase: 'ship', packsDone: 10, packsTotal: 10, recordings: 1000, bytes: 30_000_000 }, 6, 10)).toBe('[##########] 10/10 packs  1000 recordings  30.0 MB  5.0 MB/s');
  });

  it("counts a --once run's bar over all its passes (each reports from zero) and its rate from the first pack, not from the command's start", () => {
    let t = 0;
    const out: string[] = [];
    const stream = { write: (text: string) => void out.push(text) } as unknown as NodeJS.WriteStream;
    const bar = terminalProgress(stream, () => t);
    t = 5000; // five seconds of start-up and walking before the first pack
    bar.update({ phase: 'ship', packsDone: 0, packsTotal: 4, recordings: 0, bytes: 0 });
    t = 7000;
    bar.update({ phase: 'ship', packsDone: 4, packsTotal: 4, recordings: 400, bytes: 2_000_000 });
    t = 7100; // the next pass starts from zero
    bar.update({ phase: 'ship', packsDone: 0, packsTotal: 4, recordings: 0, bytes: 0 });
    t = 9000;
    bar.update({ phase: 'ship', packsDone: 2, packsTotal: 4, recordings: 200, bytes: 1_000_000 });
    expect(out.at(-1)).toContain('] 6/8 packs  600 recordings  3.0 MB  750.0 KB/s  about 1s left');
  });

  it('prints help listing every command', () => {
    const r = ferry(['--help']);
    for (const c of ['start', 'agent', 'calls', 'catalogue']) expect(r.stdout).toContain(c);
  });
});
