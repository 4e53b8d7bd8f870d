import { mkdirSync, rmSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { Journal } from '../../agent/journal.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { writePendingView, type ViewEntry } from '../support/pending-view.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { RATE_WINDOW_MS, ShipRateWindow } from '../../agent/ship-rate.ts';
import { loadConfig } from '../../cli/build-agent.ts';
import { formatBytes } from '../../cli/progress.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';

// `ferry agent status` reads the agent's state directory, never the recordings root: the
// backlog is the pending view of the agent's last pass, streamed.

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-status-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const state = join(dir, 'state');
  // As `agent check`, `agent install` or the agent's first run leaves it.
  mkdirSync(state);
  const config = join(dir, 'agent.yaml');
  writeFileSync(config, `site: s\nstate: ${state}\nsources:\n  - { name: rec, type: recordings, path: ${root} }\n`);
  return { root, state, config };
}

/** `batches` batches of 100 recordings of 2 KB, generated a line at a time. */
function* bigView(batches: number, oldestMs: number): Generator<ViewEntry> {
  for (let b = 1; b <= batches; b++) {
    const batch = String(b).padStart(6, '0');
    yield { batch, files: Array.from({ length: 100 }, (_, i) => ({ name: `c${batch}-${i}.wav`, size: 2048, mtimeMs: oldestMs + b * 1000 + i })) };
  }
}

describe('agent status from the pending view', () => {
  it('reports the backlog of the view (250,000 recordings) over an empty root: the count comes from the state directory, not a walk', async () => {
    const s = site();
    const oldest = Date.now() - 3 * 3600_000;
    writePendingView(s.state, 'rec', bigView(2500, oldest), new Date('2026-03-01T10:00:00Z'));
    const status = await collectStatus(s.config);
    expect(status.backlog).toMatchObject({ batches: 2500, recordings: 250_000, bytes: 250_000 * 2048, oldestBatch: '000001' });
    expect(status.backlog.oldestAgeSec).toBeGreaterThan(3 * 3600 - 60);
    expect(status.sources).toEqual([{ name: 'rec', backlog: expect.objectContaining({ batches: 2500 }), lastScan: '2026-03-01T10:00:00.000Z' }]);
    expect(renderStatus(status)).toMatch(/^backlog\s+2500 batch\(es\), 250000 recording\(s\), 512\.0 MB$/m);
  });

  it('tells how long the backlog takes at the rate the agent shipped over the minutes up to its last pass (a first upload over a recorder\'s backlog)', async () => {
    const s = site();
    writeTree(s.root, 3, 10); // closed: quiet for an hour
    writeTree(s.root, 1, 5, { firstBatch: 4, ageMs: 0 }); // still being written: it waits
    const clock = new ManualClock(new Date());
    const agent = new Agent({ config: loadConfig(s.config), store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag' });
    clock.advance(60_000);
    try {
      await agent.cycle();
    } finally {
      agent.close();
    }
    const status = await collectStatus(s.config);
    expect(status.backlog.recordings).toBe(5);
    expect(status.totals.recordings).toBe(30);
    expect(status.shipRate).toMatchObject({ seconds: 60, bytes: status.totals.bytes });
    const perSecond = status.totals.bytes / 60;
    const eta = Math.round(status.backlog.bytes / perSecond);
    expect(renderStatus(status)).toContain(`\ndraining          ${formatBytes(perSecond * 60)}/min over the 60 s to ${status.shipRate!.until}: at that rate the backlog (${formatBytes(status.backlog.bytes)}) ships in about ${eta} s\n`);
    // Nothing shipped over the window while the backlog waited (a store refusing every pack, a limit of 0) is said as such.
    expect(renderStatus({ ...status, shipRate: { ...status.shipRate!, bytes: 0 } })).toMatch(/^draining\s+nothing shipped over the 60 s to \S+ while the backlog waited$/m);
  });

  it(`measures the rate over the last ${RATE_WINDOW_MS / 60_000} minutes, not since the agent started`, () => {
    const clock = new ManualClock(new Date('2026-12-06T10:00:00Z'));
    const rate = new ShipRateWindow(clock, 1_000);
    // Ten minutes at 1 MB a minute, then a bandwidth window at 100 KB a minute for fifteen.
    let shipped = 1_000;
    for (let m = 0; m < 10; m++) rate.sample((clock.advance(60_000), (shipped += 1_000_000)));
    let last;
    for (let m = 0; m < 15; m++) last = rate.sample((clock.advance(60_000), (shipped += 100_000)));
    expect(last).toEqual({ since: '2026-12-06T10:15:00.000Z', until: '2026-12-06T10:25:00.000Z', seconds: 600, bytes: 1_000_000 });
  });

  it('says whether an agent holds the state directory now, and that packs in flight were left by a run that stopped mid-pass when none does', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    expect(renderStatus(await collectStatus(s.config))).toMatch(/^running\s+no agent now$/m);
    // A live process of this host holds the lock (this test's own pid stands for the agent).
    writeFileSync(join(s.state, 'agent.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }));
    const held = await collectStatus(s.config);
    expect(held.running).toMatchObject({ pid: process.pid, sameHost: true });
    expect(renderStatus(held)).toMatch(new RegExp(`^running\\s+an agent since \\S+ \\(pid ${process.pid}\\): the figures below are its last finished pass's$`, 'm'));
    // The holder killed with -9: its lock names a pid that no longer runs.
    writeFileSync(join(s.state, 'agent.lock'), JSON.stringify({ pid: 2 ** 22 + 7, host: hostname(), since: new Date().toISOString() }));
    const dead = await collectStatus(s.config);
    expect(dead.running).toBeUndefined();
    expect(renderStatus({ ...dead, inflight: 4 })).toMatch(/^in flight\s+4 pack\(s\) \(left by a run that stopped mid-pass: shipped again by the next one\)$/m);
  });

  it('counts the backup and log files a run killed mid-upload left in flight (a 77 MB binlog), named, beside its packs', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const journal = new Journal(s.state);
    await journal.artefactBegin({ artefactId: 'a1', source: 'binlogs', name: 'mysql-bin.000017', size: 76_805_188, mtimeMs: 0, sha256: 'a'.repeat(64), key: 'logs/s/binlogs/a1-mysql-bin.000017', manifestKey: 'manifests/s/logs/binlogs/a1.json', partial: false, sequence: 17 });
    journal.close();
    const status = await collectStatus(s.config);
    expect(status.running).toBeUndefined();
    expect(renderStatus(status)).toMatch(/^in flight\s+0 pack\(s\), 1 backup\/log file\(s\) \(binlogs\/mysql-bin\.000017\) \(left by a run that stopped mid-pass: shipped again by the next one\)$/m);
  });

  it('says when the configuration file changed after the running agent started: it runs with what it read at its start, and the bandwidth shown is the file\'s', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const started = new Date(Date.now() - 10 * 60_000);
    writeFileSync(join(s.state, 'agent.lock'), JSON.stringify({ pid: process.pid, host: hostname(), since: started.toISOString() }));
    // Written before the agent started: nothing to say.
    utimesSync(s.config, new Date(started.getTime() - 60_000), new Date(started.getTime() - 60_000));
    expect((await collectStatus(s.config)).running?.configChangedAt).toBeUndefined();
    // The limit lifted in the file while a long pass (or a service) runs with the old one.
    const edited = new Date(started.getTime() + 5 * 60_000);
    utimesSync(s.config, edited, edited);
    const status = await collectStatus(s.config);
    expect(status.running?.configChangedAt).toBe(edited.toISOString());
    expect(renderStatus(status)).toContain(`; the configuration file changed at ${edited.toISOString()}, after it started: it runs with the configuration it read at its start (the bandwidth below is the file's) until it exits`);
  });

  it("says a backup source cannot be read on its own line, not only '0 waiting'", async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const status = await collectStatus(s.config);
    const text = renderStatus({ ...status, artefactSources: [{ name: 'cvp', type: 'rotated', backlog: { files: 0, bytes: 0 }, lost: 0, lastScan: '', problem: 'cannot scan /mnt/cvp: ENOENT' }] });
    expect(text).toMatch(/^cvp \(rotated\)\s+0 waiting \(0 B\), nothing shipped yet; CANNOT BE READ at the last pass \(cannot scan \/mnt\/cvp: ENOENT\): what waits there is not counted$/m);
  });

  it('says why backups wait that a pass found but did not ship yet: not yet judged complete, with the source\'s window', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const status = await collectStatus(s.config);
    const waiting = { name: 'db', type: 'rotated' as const, backlog: { files: 2, bytes: 2048 }, lost: 0, lastScan: '' };
    const text = renderStatus({ ...status, artefactSources: [{ ...waiting, settling: { files: 2, stableSeconds: 120, minAgeSeconds: 600 } }] });
    expect(text).toMatch(/^db \(rotated\)\s+2 waiting \(2\.0 KB; 2 not yet judged complete: a file ships once a later pass finds it unchanged for 120 s \(stableSeconds\) and at least 600 s old \(minAgeSeconds\)\), nothing shipped yet$/m);
    // Backups judged complete that wait for a failed upload's retry say nothing of the window.
    expect(renderStatus({ ...status, artefactSources: [waiting] })).toMatch(/^db \(rotated\)\s+2 waiting \(2\.0 KB\), nothing shipped yet$/m);
  });

  it('counts a loss unseen in batches never seen, not in files (its entries are batch directories)', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const status = await collectStatus(s.config);
    const files = ['000006', '000007'].map((name) => ({ name, size: 0, mtimeMs: 0, path: join(s.root, name) }));
    // Recorded a day ago: listed among the recent losses (those of the last 30 days).
    const at = new Date(Date.now() - 86_400_000).toISOString();
    const unseen = { id: 'l1', source: 'rec', batch: '000006–000007', kind: 'recordings' as const, files, reason: 'written and evicted by the recorder without any pass seeing them', at, unseen: true as const };
    expect(renderStatus({ ...status, recentLosses: [unseen] })).toContain(`  lost ${at} rec/000006–000007: 2 batch(es) never seen, written and evicted by the recorder without any pass seeing them`);
  });

  it('on a site that has run for years, lists as recent only the losses of the last 30 days, and says when the last one was when none is that recent', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const losses = new LossLog(s.state);
    // One now for the records and the day expected of them: a test run across midnight UTC says the same day.
    const now = Date.now();
    const lose = (batch: string, daysAgo: number) =>
      losses.record({ source: 'rec', batch, kind: 'recordings', files: [{ name: `c${batch}.wav`, size: 2048, mtimeMs: 0, path: join(s.root, batch, `c${batch}.wav`) }], reason: 'deleted by the recorder before it was shipped', at: new Date(now - daysAgo * 86_400_000).toISOString() });
    // Eighteen losses over three years, one every two months; the newest 62 days ago.
    for (let i = 0; i < 18; i++) lose(String(i + 1).padStart(6, '0'), 1080 - i * 60 + 2);
    const old = renderStatus(await collectStatus(s.config));
    expect(old).not.toMatch(/^recent losses/m);
    expect(old).not.toMatch(/^ {2}lost /m);
    const last = new Date(now - 62 * 86_400_000).toISOString().slice(0, 10);
    expect(old).toMatch(new RegExp(`^losses\\s+none in the last 30 days \\(the last recorded ${last}T\\S+; 18 loss records in all: \`ferry agent status --losses\` lists every one with its paths\\)$`, 'm'));
    lose('000100', 3);
    const recent = renderStatus(await collectStatus(s.config));
    expect(recent.split('\n').filter((l) => l.startsWith('  lost '))).toEqual([expect.stringMatching(/^ {2}lost \S+ rec\/000100: 1 file\(s\), deleted by the recorder before it was shipped$/)]);
    expect(recent).toMatch(/^recent losses \(last 30 days\)$/m);
    expect(recent).toMatch(/^ {2}\(19 loss records in all: `ferry agent status --losses` lists every one with its paths\)$/m);
    losses.close();
  });

  it('shows the open alerts right under the site, critical first then the oldest, before the backlog, the sources and the losses', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    const status = await collectStatus(s.config);
    const alert = (key: string, severity: 'critical' | 'warning', subject: string, raisedAt: string) => ({ key, subject, severity, raisedAt, lastSentAt: raisedAt, sent: 1 });
    const text = renderStatus({
      ...status,
      openAlerts: [alert('w', 'warning', 'report-7.sql could not be shipped', '2026-01-02T00:00:00.000Z'), alert('c2', 'critical', 'the heartbeat cannot be written to the store', '2026-03-01T00:00:00.000Z'), alert('c1', 'critical', 'cs: recordings outside the batch directories are not shipped', '2026-02-01T00:00:00.000Z')],
    }).split('\n');
    expect(text.slice(0, 5)).toEqual([
      'site s',
      'ALERT critical    cs: recordings outside the batch directories are not shipped (since 2026-02-01T00:00:00.000Z)',
      'ALERT critical    the heartbeat cannot be written to the store (since 2026-03-01T00:00:00.000Z)',
      'ALERT warning     report-7.sql could not be shipped (since 2026-01-02T00:00:00.000Z)',
      expect.stringMatching(/^backlog\s/),
    ]);
  });

  it('leaves out of the view what the journal shipped and the loss log recorded after the pass wrote it', async () => {
    const s = site();
    const [first, second] = [...bigView(2, Date.now() - 60_000)] as [ViewEntry, ViewEntry];
    writePendingView(s.state, 'rec', [first, second]);
    // After the walk wrote the view, its pass shipped the first batch whole and 30 of the
    // second, and the recorder evicted 10 more of the second before they shipped.
    const journal = new Journal(s.state);
    await journal.begin({ packId: 'p1', source: 'rec', batch: first.batch, packKey: 'k1', manifestKey: 'm1', files: first.files });
    await journal.published('p1', 100, 100 * 2048);
    await journal.begin({ packId: 'p2', source: 'rec', batch: second.batch, packKey: 'k2', manifestKey: 'm2', files: second.files.slice(0, 30) });
    await journal.published('p2', 30, 30 * 2048);
    journal.close();
    const losses = new LossLog(s.state);
    losses.record({ source: 'rec', batch: second.batch, kind: 'recordings', files: second.files.slice(30, 40).map((f) => ({ ...f, path: join(s.root, second.batch, f.name) })), reason: 'deleted', at: new Date().toISOString() });
    losses.close();
    const status = await collectStatus(s.config);
    expect(status.backlog).toMatchObject({ batches: 1, recordings: 60, bytes: 60 * 2048, oldestBatch: second.batch });
  });

  it('does not count recordings in the root that the last pass did not see', async () => {
    const s = site();
    writeTree(s.root, 3, 4);
    writePendingView(s.state, 'rec', bigView(1, Date.now() - 60_000));
    expect((await collectStatus(s.config)).backlog).toMatchObject({ batches: 1, recordings: 100 });
  });

  it('refuses a state directory that does not exist, and a status file it cannot parse, naming each, instead of an agent that never shipped', async () => {
    const s = site();
    rmSync(s.state, { recursive: true });
    await expect(collectStatus(s.config)).rejects.toThrow(`state: ${s.state} does not exist: the agent has not run with this configuration yet, or \`state:\` names another directory than the agent's`);
    mkdirSync(s.state);
    writeFileSync(join(s.state, 'status.json'), '{"site": "s", "sour');
    await expect(collectStatus(s.config)).rejects.toThrow(new RegExp(`^${join(s.state, 'status.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read \\(.*JSON.*\\): the agent writes it anew at the end of its next pass$`));
  });

  it('says the agent has made no pass of the source instead of scanning its root', async () => {
    const s = site();
    writeTree(s.root, 3, 4);
    const status = await collectStatus(s.config);
    expect(status.sources).toEqual([{ name: 'rec', backlog: { batches: 0, recordings: 0, bytes: 0 }, noPassYet: true }]);
    expect(renderStatus(status)).toMatch(/^SOURCE rec\s+no pass yet: its backlog is counted by the agent's passes/m);
  });

  it('reports the view and the problem when the root is gone', async () => {
    const s = site();
    writePendingView(s.state, 'rec', bigView(2, Date.now() - 60_000));
    const config = s.config.replace('agent.yaml', 'gone.yaml');
    writeFileSync(config, `site: s\nstate: ${s.state}\nsources:\n  - { name: rec, type: recordings, path: ${join(s.root, 'missing')} }\n`);
    const status = await collectStatus(config);
    expect(status.sources[0]).toMatchObject({ name: 'rec', backlog: { batches: 2, recordings: 200 }, problem: expect.any(String) });
  });
});
