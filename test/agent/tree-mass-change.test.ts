import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { ingestTreeSnapshot } from '../../core/ingest-tree.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { NotDeliveredError } from '../../core/errors.ts';
import { isTreeSnapshotManifestKey } from '../../core/layout.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { onceExitCode } from '../../cli/agent-commands.ts';
import { renderSnapshots } from '../../cli/tree-commands.ts';
import { listSnapshots } from '../../agent/tree/offsite-snapshots.ts';
import { treeManifests } from './tree-support.ts';
import { planTreePurge } from '../../core/tree-purge.ts';
import { siteTreeRetentionSchema } from '../../core/tree-retention.ts';

// A snapshot that changed most of the files the one before held (ransomware encrypting a share,
// each file rewritten with as many random bytes): published, alerted (critical) once, the pass
// failed, the figures in its manifest, and the daily report names it. Each pass is a cron run: a
// new Agent on the same state directory.

function share(files: number, massChange = '') {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-mass-'));
  const root = join(dir, 'share');
  mkdirSync(join(root, 'meetings'), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(root, i % 2 ? 'meetings' : '', `doc-${i}.txt`), `document ${i}\n`.repeat(20 + i));
  const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: share, type: tree, path: ${root}, everySeconds: 0${massChange} }\n`);
  return { root, config };
}

/** Every file under `dir`, relative. */
function filesOf(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesOf(dir, join(rel, e.name)) : [join(rel, e.name)]));
}

/** What the ransomware does: each file's bytes replaced by as many random ones (`count` of them, from the `from`th on); `lock` renames it `*.locked` too. */
function encrypt(root: string, count: number, lock = false, from = 0): void {
  for (const rel of filesOf(root).sort().slice(from, from + count)) {
    const path = join(root, rel);
    writeFileSync(path, randomBytes(statSync(path).size));
    if (lock) renameSync(path, `${path}.locked`);
  }
}

async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock, notify?: (a: Alert) => Promise<void>) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: notify ?? (async (a) => void alerts.push(a)) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), status: agent.statusSnapshot() };
  } finally {
    agent.close();
  }
}

const massAlerts = (alerts: Alert[]) => alerts.filter((a) => a.key?.startsWith('tree-mass-change:'));

describe('a snapshot after ransomware rewrote most files of a share', () => {
  it('is published, raises one critical alert naming the counts and the restore command for the snapshot before, fails the pass (exit 1) and carries the figures in its manifest', async () => {
    const s = share(30);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    const first = await cronPass(s.config, store, alerts, clock);
    expect(onceExitCode(first.report)).toBe(0);
    encrypt(s.root, 27);
    clock.advance(60_000);
    const attacked = await cronPass(s.config, store, alerts, clock);

    expect(attacked.report.manifests).toHaveLength(1);
    expect(onceExitCode(attacked.report)).toBe(1);
    const manifest = (await treeManifests(store)).find((m) => m.parent !== undefined)!;
    expect(manifest.counts.files).toBe(30);
    expect(manifest.changes).toEqual({ previousFiles: 30, changed: 27, rewritten: 27, replaced: 0 });
    expect(manifest.massChange).toEqual({ percent: 50, minFiles: 20, parentTakenAt: '2026-12-05T21:44:05.000Z' });
    const raised = massAlerts(alerts);
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ key: `tree-mass-change:share:${manifest.snapshotId}`, severity: 'critical', subject: 'share: 27 of 30 files changed in one snapshot' });
    expect(raised[0]!.message).toContain('ransomware, or a mass rewrite?');
    expect(raised[0]!.message).toContain('`ferry restore tree --site site-a --source share --at 2026-12-05T21:44:05.000Z --to DIR`');
    expect(attacked.status.openAlerts.map((a) => a.key)).toContain(raised[0]!.key);
  });

  it('does not alert again at the next cron runs; closes the alert (resolved, once) one repeat period after it was sent', async () => {
    const s = share(30);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    encrypt(s.root, 30);
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    clock.advance(5 * 60_000);
    const next = await cronPass(s.config, store, alerts, clock);
    expect(onceExitCode(next.report)).toBe(0);
    expect(massAlerts(alerts).map((a) => a.severity)).toEqual(['critical']);
    expect(next.status.openAlerts.filter((a) => a.key?.startsWith('tree-mass-change:'))).toHaveLength(1);
    clock.advance(24 * 3_600_000);
    const later = await cronPass(s.config, store, alerts, clock);
    expect(massAlerts(alerts).map((a) => a.severity)).toEqual(['critical', 'info']);
    expect(later.status.openAlerts.filter((a) => a.key?.startsWith('tree-mass-change:'))).toEqual([]);
  });

  it('sends the alert again at the next run when no hook took it, and then only once', async () => {
    const s = share(30);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    encrypt(s.root, 30);
    clock.advance(60_000);
    const refused = async (a: Alert) => {
      if (a.key?.startsWith('tree-mass-change:')) throw new NotDeliveredError('webhook down');
      alerts.push(a);
    };
    const attacked = await cronPass(s.config, store, alerts, clock, refused);
    expect(attacked.status.openAlerts.find((a) => a.key?.startsWith('tree-mass-change:'))?.undelivered).toBe('webhook down');
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    expect(massAlerts(alerts).map((a) => a.subject)).toEqual(['share: 30 of 30 files changed in one snapshot']);
  });

  it('counts files renamed as they were encrypted (report.docx → report.docx.locked) as changed', async () => {
    const s = share(30);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    encrypt(s.root, 10);
    encrypt(join(s.root, 'meetings'), 15, true);
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    const manifest = (await treeManifests(store)).find((m) => m.parent !== undefined)!;
    expect(manifest.changes).toEqual({ previousFiles: 30, changed: 25, rewritten: 10, replaced: 15 });
    expect(massAlerts(alerts)[0]?.message).toContain('(10 rewritten in place, 15 gone and replaced by as many new names with new content)');
  });

  it('shows the source as a PROBLEM in the daily report, and marks the snapshot in `ferry snapshots list`, naming the snapshot before it', async () => {
    const s = share(30);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, [], clock);
    encrypt(s.root, 30);
    clock.advance(60_000);
    await cronPass(s.config, store, [], clock);
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) if (isTreeSnapshotManifestKey(o.key)) await ingestTreeSnapshot({ blobs: store, catalogue }, o.key);
    const report = await dailyReport({ blobs: store, catalogue }, 'site-a', '2026-12-05', { now: () => new Date('2026-12-06T00:30:00Z') });
    expect(report.status).toBe('PARTIAL');
    expect(report.sources.find((x) => x.source === 'share')!.problems).toEqual([
      '30 of 30 files changed in the snapshot taken 2026-12-05 21:45Z: ransomware or a mass rewrite? the snapshot before it, taken 2026-12-05 21:44Z, is the one to restore from (`ferry restore tree --site site-a --source share --at 2026-12-05T21:44:05.000Z --to DIR`)',
    ]);
    expect(renderDailyReport(report)).toContain('PROBLEM share (tree)');
    expect(renderSnapshots(await listSnapshots(store, 'site-a', 'share'))).toContain('MASS CHANGE 2026-12-05T21:45:05.000Z share: 30 of 30 files changed (ransomware or a mass rewrite?); the snapshot before it was taken 2026-12-05T21:44:05.000Z; `ferry snapshots diff --site site-a --source share --since 2026-12-05T21:44:05.000Z --at 2026-12-05T21:45:05.000Z` lists what changed\n');
  });
});

describe('a share encrypted over several passes, each snapshot changing only a part', () => {
  const slowAttack = async (steps: number[], spacingMs: number) => {
    const s = share(40);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    const exits: number[] = [];
    let done = 0;
    for (const n of steps) {
      // Each pass the ransomware gets further: the next files of the share.
      encrypt(s.root, n, false, done);
      done += n;
      clock.advance(spacingMs);
      exits.push(onceExitCode((await cronPass(s.config, store, alerts, clock)).report));
    }
    return { alerts: massAlerts(alerts), exits, store, clock };
  };

  it('is alerted once (critical) when the snapshots of a day together changed most files, naming the snapshot before the first of them to restore', async () => {
    const { alerts, exits } = await slowAttack([15, 15, 10], 5 * 60_000);
    expect(exits).toEqual([0, 1, 0]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', subject: 'share: 30 of 40 files changed over 2 snapshots' });
    expect(alerts[0]!.message).toContain('`ferry restore tree --site site-a --source share --at 2026-12-05T21:44:05.000Z --to DIR`');
    expect(alerts[0]!.message).toContain('`ferry snapshots diff --site site-a --source share --since 2026-12-05T21:44:05.000Z --at 2026-12-05T21:54:05.000Z` lists every path changed');
  });

  it('records the day\'s mass change in the manifest of the snapshot that crossed it, naming the snapshot before the first: the listing says so, and the purge keeps that snapshot where the daily rule alone would forget it', async () => {
    const { store, clock } = await slowAttack([15, 15, 10], 5 * 60_000);
    const manifests = (await treeManifests(store)).sort((a, b) => a.takenAt.localeCompare(b.takenAt));
    expect(manifests.map((m) => m.massChange)).toEqual([
      undefined,
      undefined,
      { percent: 50, minFiles: 20, parentTakenAt: '2026-12-05T21:44:05.000Z', overDay: { snapshots: 2, since: '2026-12-05T21:49:05.000Z', changed: 30, previousFiles: 40 } },
      undefined,
    ]);
    expect(renderSnapshots(await listSnapshots(store, 'site-a', 'share'))).toContain('MASS CHANGE 2026-12-05T21:54:05.000Z share: 30 of 40 files changed over 2 snapshots of a day (ransomware or a mass rewrite?); the snapshot before it was taken 2026-12-05T21:44:05.000Z');
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) if (isTreeSnapshotManifestKey(o.key)) await ingestTreeSnapshot({ blobs: store, catalogue }, o.key);
    const report = await dailyReport({ blobs: store, catalogue }, 'site-a', '2026-12-05', { now: () => new Date('2026-12-06T00:30:00Z') });
    expect(report.sources.find((x) => x.source === 'share')!.problems).toEqual([
      '30 of 40 files changed over 2 snapshots up to the one taken 2026-12-05 21:54Z: ransomware or a mass rewrite? the snapshot before the first of them, taken 2026-12-05 21:44Z, is the one to restore from (`ferry restore tree --site site-a --source share --at 2026-12-05T21:44:05.000Z --to DIR`)',
    ]);
    const later = new Date(clock.now().getTime() + 3 * 86_400_000);
    const plan = await planTreePurge({ blobs: store }, { site: 'site-a', now: later, policy: siteTreeRetentionSchema.parse({ keepDaily: 1, keepWeekly: 0, keepMonthly: 0 }), maxTargets: 100 });
    const forgotten = plan.targets.filter((t) => t.kind === 'snapshot').map((t) => t.key);
    expect(forgotten).toHaveLength(2);
    expect(forgotten.some((k) => k.includes(manifests[0]!.snapshotId))).toBe(false);
  });

  it('is not alerted when the same few files change at every snapshot of a day (logs appended all day): each file counts once', async () => {
    const s = share(40);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T06:00:00.000Z'));
    await cronPass(s.config, store, alerts, clock);
    const exits: number[] = [];
    // 11 passes five minutes apart, each rewriting the same 2 files: 22 changes (over the 20 files and 50 % of 40 a sum would judge), 2 files.
    for (let i = 0; i < 11; i++) {
      encrypt(s.root, 2);
      clock.advance(5 * 60_000);
      exits.push(onceExitCode((await cronPass(s.config, store, alerts, clock)).report));
    }
    expect(massAlerts(alerts)).toEqual([]);
    expect(exits.every((e) => e === 0)).toBe(true);
    expect((await treeManifests(store)).filter((m) => m.massChange)).toEqual([]);
  });

  it('judges a share being filled against the most files it held that day, not the few it started from', async () => {
    const s = share(4);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T06:00:00.000Z'));
    await cronPass(s.config, store, alerts, clock);
    // Each pass 10 new documents arrive and 3 of the last pass's are edited: 24 edited of 84 by the end.
    for (let pass = 0; pass < 9; pass++) {
      for (let i = 0; i < 10; i++) writeFileSync(join(s.root, 'meetings', `new-${pass}-${i}.txt`), `minutes ${pass} ${i}\n`.repeat(30));
      for (let i = 0; i < 3 && pass > 0; i++) writeFileSync(join(s.root, 'meetings', `new-${pass - 1}-${i}.txt`), randomBytes(400));
      clock.advance(5 * 60_000);
      await cronPass(s.config, store, alerts, clock);
    }
    expect(massAlerts(alerts)).toEqual([]);
  });

  it('is not alerted for the ordinary churn of a share, a few files a day', async () => {
    const { alerts, exits } = await slowAttack([2, 2, 2, 2, 2], 24 * 3600_000);
    expect(exits).toEqual([0, 0, 0, 0, 0]);
    expect(alerts).toEqual([]);
  });
});

describe('a snapshot that changed few files, or moved them', () => {
  it('raises nothing when 1 % of the files changed, and records the figures', async () => {
    const s = share(100, ', massChange: { percent: 1.5, minFiles: 1 }');
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    encrypt(s.root, 1);
    clock.advance(60_000);
    const pass = await cronPass(s.config, store, alerts, clock);
    expect(onceExitCode(pass.report)).toBe(0);
    expect(massAlerts(alerts)).toEqual([]);
    const manifest = (await treeManifests(store)).find((m) => m.parent !== undefined)!;
    expect(manifest.changes).toEqual({ previousFiles: 100, changed: 1, rewritten: 1, replaced: 0 });
    expect(manifest.massChange).toBeUndefined();
  });

  it('raises nothing when a folder was renamed (new paths, same content) or files were touched without a change', async () => {
    const s = share(40);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    renameSync(join(s.root, 'meetings'), join(s.root, 'meetings-2026'));
    for (const rel of filesOf(s.root).filter((f) => !f.startsWith('meetings'))) writeFileSync(join(s.root, rel), readFileSync(join(s.root, rel)));
    clock.advance(60_000);
    const pass = await cronPass(s.config, store, alerts, clock);
    expect(onceExitCode(pass.report)).toBe(0);
    expect(massAlerts(alerts)).toEqual([]);
    const manifest = (await treeManifests(store)).find((m) => m.parent !== undefined)!;
    expect(manifest.changes).toEqual({ previousFiles: 40, changed: 0, rewritten: 0, replaced: 0 });
  });

  it('raises nothing with massChange: false, whatever changed', async () => {
    const s = share(30, ', massChange: false');
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date('2026-12-05T21:44:05.000Z'));
    await cronPass(s.config, store, alerts, clock);
    encrypt(s.root, 30);
    clock.advance(60_000);
    const pass = await cronPass(s.config, store, alerts, clock);
    expect(onceExitCode(pass.report)).toBe(0);
    expect(massAlerts(alerts)).toEqual([]);
    expect((await treeManifests(store)).find((m) => m.parent !== undefined)!.changes?.changed).toBe(30);
  });
});

describe('a tree source\'s massChange setting', () => {
  const parse = (value: string) => parseAgentConfig(`site: site-a\nstate: /tmp/ferry-state\nsources:\n  - { name: share, type: tree, path: /srv/share, massChange: ${value} }\n`).sources[0];
  it('defaults to 50 % and at least 20 files; takes false, and either figure alone', () => {
    expect(parseAgentConfig('site: site-a\nstate: /tmp/ferry-state\nsources:\n  - { name: share, type: tree, path: /srv/share }\n').sources[0]).toMatchObject({ massChange: { percent: 50, minFiles: 20 } });
    expect(parse('false')).toMatchObject({ massChange: false });
    expect(parse('{ percent: 80 }')).toMatchObject({ massChange: { percent: 80, minFiles: 20 } });
  });

  it('refuses a percent outside (0, 100], a minFiles below 1 or not whole, an unknown key and anything but false or an object, naming each', () => {
    expect(() => parse('{ percent: 0, minFiles: 0.5 }')).toThrow(/sources\[0\]\.massChange\.percent: must be more than 0\n.*sources\[0\]\.massChange\.minFiles: must be a whole number/s);
    expect(() => parse('{ percent: 150 }')).toThrow('sources[0].massChange.percent: must be at most 100 (a percentage)');
    expect(() => parse('{ minFiles: 0 }')).toThrow('sources[0].massChange.minFiles: must be at least 1');
    expect(() => parse('{ percnt: 50 }')).toThrow('sources[0].massChange: unknown key(s) "percnt"');
    expect(() => parse('true')).toThrow('sources[0].massChange: must be false (no check) or { percent: more than 0 and at most 100, minFiles: a whole number of at least 1 }');
  });
});
