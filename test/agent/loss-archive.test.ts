import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { ARCHIVE_AFTER_DAYS, COMPACT_ABOVE_BYTES, KEEP_NEWEST } from '../../agent/state/loss-archive.ts';
import { LossLog, type LossEntry } from '../../agent/state/loss-log.ts';
import { collectStatus } from '../../cli/agent-commands.ts';
import { loadConfig } from '../../cli/build-agent.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';

// A recorder that evicts a batch a day before it ships, for years: the losses of long ago move
// out of the file every pass reads into losses-archive.jsonl, and are still counted and listed.

const BIN = join(import.meta.dirname, '../../bin/ferry.mjs');
const NOW = Date.UTC(2026, 11, 7, 8, 0, 0);
const DAY = 86_400_000;

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-loss-archive-'));
  const root = join(dir, 'rec');
  const state = join(dir, 'state');
  mkdirSync(root);
  mkdirSync(state);
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${root} }\n`);
  return { dir, root, state, config };
}

/** One lost batch of 40 recordings a day, `days` days up to yesterday, each alerted. */
function lostDaily(state: string, root: string, days: number): void {
  const log = new LossLog(state);
  for (let d = days; d >= 1; d--) {
    const batch = String(days - d + 1).padStart(6, '0');
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `call-${batch}-${i}.wav`, size: 480_000 + i, mtimeMs: NOW - d * DAY - 3600_000, path: join(root, batch, `call-${batch}-${i}.wav`) }));
    const entry = log.record({ source: 'rec', batch, kind: 'recordings', files, reason: 'deleted by the recorder before it was shipped', at: new Date(NOW - d * DAY).toISOString() })!;
    log.markAlerted(entry.id);
  }
  log.close();
}

/** What a pass does once it has alerted what was not alerted yet. */
function archiveOld(state: string, now: number): void {
  const log = new LossLog(state);
  expect(log.archiveOld(new Date(now))).toBeUndefined();
  log.close();
}

function ferry(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FERRY_HOME: mkdtempSync(join(tmpdir(), 'ferry-home-')) }, timeout: 60_000, maxBuffer: 64 << 20 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the loss log of a site that has lost a batch a day for a year', () => {
  it('after a pass, losses.jsonl holds only the losses of the last 45 days, and status, totals and --losses still count and list all 365', async () => {
    const s = site();
    lostDaily(s.state, s.root, 365);
    const before = statSync(join(s.state, 'losses.jsonl')).size;
    expect(before).toBeGreaterThan(COMPACT_ABOVE_BYTES);
    const agent = new Agent({ config: loadConfig(s.config), store: new MemoryBlobStore(), clock: new ManualClock(new Date(NOW)), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    try {
      await agent.cycle();
    } finally {
      agent.close();
    }
    const after = statSync(join(s.state, 'losses.jsonl')).size;
    // The 45 losses of the last 45 days stay (one a day, the newest yesterday): an eighth of the file.
    const tail = new LossLog(s.state, { readOnly: true });
    expect(tail.all().map((l) => l.batch)).toEqual(Array.from({ length: ARCHIVE_AFTER_DAYS }, (_, i) => String(365 - ARCHIVE_AFTER_DAYS + 1 + i).padStart(6, '0')));
    expect(after).toBeLessThan(before / 7);
    expect(tail.totals()).toEqual({ lostBatches: 365, lostRecordings: 365 * 40, lostArtefacts: 0 });
    expect(tail.records()).toBe(365);
    const status = await collectStatus(s.config);
    expect(status.totals).toMatchObject({ lostBatches: 365, lostRecordings: 365 * 40 });
    expect(status.lossRecords).toBe(365);
    expect(status.lastLossAt).toBe(new Date(NOW - DAY).toISOString());
    const statusFile = JSON.parse(readFileSync(join(s.state, 'status.json'), 'utf8')) as { lossRecords: number; totals: { lostBatches: number } };
    expect(statusFile.lossRecords).toBe(365);
    expect(statusFile.totals.lostBatches).toBe(365);
    const every = ferry(['agent', 'status', '--config', s.config, '--losses']);
    expect(every.code).toBe(0);
    const { site: name, losses } = JSON.parse(every.stdout) as { site: string; losses: LossEntry[] };
    expect(name).toBe('s');
    expect(losses.map((l) => l.batch)).toEqual(Array.from({ length: 365 }, (_, i) => String(i + 1).padStart(6, '0')));
    expect(losses[0]!.files).toHaveLength(40);
    expect(losses[0]!.files[0]!.path).toBe(join(s.root, '000001', 'call-000001-0.wav'));
  });

  it('keeps in losses.jsonl the losses not alerted yet, the artefact losses and the newest ten, whatever their age', () => {
    const s = site();
    const log = new LossLog(s.state);
    const old = new Date(NOW - 400 * DAY).toISOString();
    const files = (batch: string) => Array.from({ length: 40 }, (_, i) => ({ name: `call-${batch}-${i}.wav`, size: 1000 + i, mtimeMs: 1, path: join(s.root, batch, `call-${batch}-${i}.wav`) }));
    const unalerted = log.record({ source: 'rec', batch: '000001', kind: 'recordings', files: files('000001'), reason: 'deleted', at: old })!;
    const artefact = log.record({ source: 'db', batch: 'full-1.sql', kind: 'artefact', files: [{ name: 'full-1.sql', size: 9, mtimeMs: 1, path: '/backups/full-1.sql' }], reason: 'removed', at: old })!;
    log.markAlerted(artefact.id);
    const ids: string[] = [];
    for (let b = 2; b <= 40; b++) {
      const batch = String(b).padStart(6, '0');
      const entry = log.record({ source: 'rec', batch, kind: 'recordings', files: files(batch), reason: 'deleted', at: old })!;
      log.markAlerted(entry.id);
      ids.push(entry.id);
    }
    log.close();
    archiveOld(s.state, NOW);
    const kept = new LossLog(s.state, { readOnly: true });
    expect(kept.all().map((l) => l.id)).toEqual([unalerted.id, artefact.id, ...ids.slice(-KEEP_NEWEST)]);
    // The one not alerted yet is still alerted by the next pass.
    expect(kept.unalerted().map((l) => l.id)).toEqual([unalerted.id]);
    expect(kept.records()).toBe(41);
    expect(kept.totals()).toEqual({ lostBatches: 40, lostRecordings: 40 * 40, lostArtefacts: 1 });
    expect([...kept.everything()].map((l) => l.id).sort()).toEqual([unalerted.id, artefact.id, ...ids].sort());
  });

  it('a loss recorded by the same process after the move is in losses.jsonl, and a long-running agent moves the old losses at a later pass', async () => {
    const s = site();
    lostDaily(s.state, s.root, 40);
    const clock = new ManualClock(new Date(NOW));
    const agent = new Agent({ config: loadConfig(s.config), store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    try {
      await agent.cycle();
      expect(existsSync(join(s.state, 'losses-archive.jsonl'))).toBe(false);
      // Sixty days on, the same process: the losses of 45 days ago and more move.
      clock.advance(60 * DAY);
      await agent.cycle();
      expect(existsSync(join(s.state, 'losses-archive.jsonl'))).toBe(true);
      const late = agent.lossLog.record({ source: 'rec', batch: '000099', kind: 'recordings', files: [{ name: 'late.wav', size: 1, mtimeMs: 1, path: join(s.root, '000099', 'late.wav') }], reason: 'deleted', at: clock.now().toISOString() })!;
      const read = new LossLog(s.state, { readOnly: true });
      expect(read.all().map((l) => l.id)).toContain(late.id);
      expect(read.records()).toBe(41);
      expect([...read.everything()]).toHaveLength(41);
    } finally {
      agent.close();
    }
  });

  it('writes losses.jsonl in lines an agent of an older release reads (a rollback): each a lost record with its files or an alerted id', () => {
    const s = site();
    lostDaily(s.state, s.root, 100);
    archiveOld(s.state, NOW);
    expect(existsSync(join(s.state, 'losses-archive.jsonl'))).toBe(true);
    const lines = readFileSync(join(s.state, 'losses.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { e: string; id?: unknown; loss?: { files?: unknown } });
    // The loss log of before the archive: `alerted` adds its id to a set, anything else is a loss whose files it reads.
    for (const line of lines) {
      if (line.e === 'alerted') expect(typeof line.id).toBe('string');
      else expect(Array.isArray(line.loss?.files)).toBe(true);
    }
    expect(lines[0]).toMatchObject({ e: 'alerted', id: 'archive', archived: { records: 100 - ARCHIVE_AFTER_DAYS } });
  });

  it('lists each loss once after a crash between appending to the archive and replacing losses.jsonl, and the next compaction cuts what that one appended', () => {
    const s = site();
    lostDaily(s.state, s.root, 100);
    const archive = join(s.state, 'losses-archive.jsonl');
    archiveOld(s.state, NOW);
    const archived = statSync(archive).size;
    // A compaction cut short: records appended to the archive, losses.jsonl not replaced.
    const stray = readFileSync(archive, 'utf8').split('\n')[0]!;
    appendFileSync(archive, `${stray}\n{"e":"lost","loss":{"id":"ltorn`);
    const read = new LossLog(s.state, { readOnly: true });
    expect([...read.everything()]).toHaveLength(100);
    expect(read.records()).toBe(100);
    // A day later one more loss is old enough to move: the stray bytes go first.
    archiveOld(s.state, NOW + DAY);
    const next = new LossLog(s.state, { readOnly: true });
    const ids = [...next.everything()].map((l) => l.id);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect(statSync(archive).size).toBeGreaterThan(archived);
    expect(readFileSync(archive, 'utf8')).not.toContain('ltorn');
    expect(next.records()).toBe(100);
    expect(existsSync(join(s.state, 'losses.jsonl.tmp'))).toBe(false);
  });

  it('moves nothing while the archive losses.jsonl counts is gone (deleted during a rollback): the losses stay in losses.jsonl and --losses still names the missing file', () => {
    const s = site();
    lostDaily(s.state, s.root, 100);
    const archive = join(s.state, 'losses-archive.jsonl');
    archiveOld(s.state, NOW);
    rmSync(archive);
    const before = readFileSync(join(s.state, 'losses.jsonl'), 'utf8');
    // Twenty days on, twenty more losses are old enough to move.
    const log = new LossLog(s.state);
    expect(log.archiveOld(new Date(NOW + 20 * DAY))).toMatch(/losses-archive\.jsonl is missing, but losses\.jsonl counts \d+ bytes of loss records in it \(55 records\)/);
    log.close();
    expect(readFileSync(join(s.state, 'losses.jsonl'), 'utf8')).toBe(before);
    expect(existsSync(archive)).toBe(false);
    const read = new LossLog(s.state, { readOnly: true });
    expect(read.records()).toBe(100);
    expect(read.all()).toHaveLength(ARCHIVE_AFTER_DAYS);
    expect(() => [...read.everything()]).toThrow(/losses-archive\.jsonl is missing/);
  });
});

describe('status.json, rewritten by every pass', () => {
  it('carries each of the last ten losses with its first 20 paths and how many files it has in all, not every path', async () => {
    const s = site();
    const log = new LossLog(s.state);
    for (let b = 1; b <= 12; b++) {
      const batch = String(b).padStart(6, '0');
      const files = Array.from({ length: 100 }, (_, i) => ({ name: `call-${batch}-${i}.wav`, size: 480_000 + i, mtimeMs: NOW - DAY, path: join(s.root, batch, `call-${batch}-${i}.wav`) }));
      log.markAlerted(log.record({ source: 'rec', batch, kind: 'recordings', files, reason: 'deleted by the recorder before it was shipped', at: new Date(NOW - DAY).toISOString() })!.id);
    }
    log.close();
    const agent = new Agent({ config: loadConfig(s.config), store: new MemoryBlobStore(), clock: new ManualClock(new Date(NOW)), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    try {
      await agent.cycle();
    } finally {
      agent.close();
    }
    const text = readFileSync(join(s.state, 'status.json'), 'utf8');
    const status = JSON.parse(text) as { recentLosses: (LossEntry & { filesInAll?: number })[]; lossRecords: number };
    expect(status.recentLosses.map((l) => l.batch)).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 3).padStart(6, '0')));
    for (const l of status.recentLosses) {
      expect(l.files.map((f) => f.name)).toEqual(Array.from({ length: 20 }, (_, i) => `call-${l.batch}-${i}.wav`));
      expect(l.filesInAll).toBe(100);
    }
    expect(status.lossRecords).toBe(12);
    // With every path it was over 200 KB (a thousand paths).
    expect(text.length).toBeLessThan(60_000);
  });
});
