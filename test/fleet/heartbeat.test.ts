import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ArtefactRecord } from '../../agent/artefact-ledger.ts';
import { HEARTBEAT_MIN_SECONDS, HeartbeatWriter, staleState, type PassView } from '../../agent/heartbeat.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { heartbeatKey, heartbeatPrefix, heartbeatSchema } from '../../core/fleet.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { readAll } from '../../agent/recover.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { MemoryRunStore } from '../../core/window.ts';
import type { LossEntry } from '../../agent/state/loss-log.ts';

const MiB = 1024 * 1024;

function setup(records: ArtefactRecord[] = [], losses: LossEntry[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-'));
  mkdirSync(join(dir, 'state'));
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
sources:
  - { name: cs, type: recordings, path: ${dir} }
  - { name: db, type: binlog, path: ${dir} }
`);
  const store = new MemoryBlobStore();
  const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
  let free = 100 * MiB;
  // A new writer per pass, as a cron-driven agent makes one per process.
  const writer = () => new HeartbeatWriter({ config, store, clock, log: silentLogger, agentVersion: '1.2.3', artefacts: { records: (s) => records.filter((r) => r.source === s) }, losses: { all: () => losses }, freeBytes: async () => free });
  return { config, store, clock, writer, setFree: (b: number) => (free = b) };
}

const pass = (shippedBytes: number, backlogBytes: number, batches: number, oldestMs?: number): PassView => ({
  totals: { bytes: shippedBytes, lostBatches: 1, lostArtefacts: 2 },
  sources: [{ name: 'cs', type: 'recordings', backlog: { batches, bytes: backlogBytes, ...(oldestMs === undefined ? {} : { oldest: { sinceMs: oldestMs } }) } }],
  lastCycle: { failed: 0, lost: 0 },
  manifests: ['manifests/site-a/recordings/2026/12/03/p0123456789abcdef0123456.json'],
});

async function heartbeats(store: MemoryBlobStore) {
  const out = [];
  for await (const o of store.list(heartbeatPrefix('site-a'))) out.push(heartbeatSchema.parse(JSON.parse((await readAll(store, o.key)).toString('utf8'))));
  return out;
}

describe('the agent heartbeat', () => {
  it('estimates time to loss from the free space and the write rate observed between passes', async () => {
    const h = setup();
    await h.writer().write(pass(0, 10 * MiB, 3, h.clock.now().getTime() - 3600_000));
    // 10 minutes later: 30 MiB shipped and the backlog grew by 30 MiB: 60 MiB in 600 s = 0.1 MiB/s.
    h.clock.advance(600_000);
    h.setFree(36 * MiB);
    await h.writer().write(pass(30 * MiB, 40 * MiB, 5, h.clock.now().getTime() - 4200_000));
    const [newest, first] = await heartbeats(h.store);
    expect(first!.sources[0]!.timeToLossSeconds).toBeUndefined();
    expect(newest!.sources[0]).toMatchObject({ name: 'cs', pendingBatches: 5, oldestPendingSeconds: 4200, timeToLossSeconds: 360 });
    expect(newest!.sources[0]!.lastGood).toEqual({ at: '2026-12-03T10:10:00.000Z', key: 'manifests/site-a/recordings/2026/12/03/p0123456789abcdef0123456.json' });
    expect(newest).toMatchObject({ site: 'site-a', agentVersion: '1.2.3', losses: 3 });
  });

  it('reports the binlog RPO as the age of the newest shipped position, partial or final', async () => {
    const rec = (name: string, at: string, partial: boolean): ArtefactRecord => ({ source: 'db', name, size: 1, mtimeMs: 0, sha256: 'x', artefactId: `a${name}`, key: `logs/site-a/db/${name}`, partial, at });
    const h = setup([rec('rtmbinlog.000001', '2026-12-03T09:00:00Z', false), rec('rtmbinlog.000002', '2026-12-03T09:55:00Z', true)]);
    await h.writer().write(pass(0, 0, 0));
    const [hb] = await heartbeats(h.store);
    expect(hb!.sources[1]).toEqual({ name: 'db', type: 'binlog', rpoSeconds: 300, lastGood: { at: '2026-12-03T09:00:00Z', key: 'logs/site-a/db/rtmbinlog.000001' } });
  });

  it('reports no RPO, but a problem, when the newest binlog copy is dated ahead of the clock (shipped while it ran fast)', async () => {
    const rec = (name: string, at: string, partial: boolean): ArtefactRecord => ({ source: 'db', name, size: 1, mtimeMs: 0, sha256: 'x', artefactId: `a${name}`, key: `logs/site-a/db/${name}`, partial, at });
    const h = setup([rec('rtmbinlog.000001', '2026-12-03T09:00:00Z', false), rec('rtmbinlog.000002', '2026-12-04T09:55:00Z', true)]);
    await h.writer().write(pass(0, 0, 0));
    const [hb] = await heartbeats(h.store);
    expect(hb!.sources[1]!.rpoSeconds).toBeUndefined();
    expect(hb!.sources[1]!.problem).toBe("newest shipped binlog copy is dated 2026-12-04T09:55:00Z, ahead of this machine's clock (it ran fast): the RPO is unknown until the next copy ships");
  });

  it(`writes at most one heartbeat every ${HEARTBEAT_MIN_SECONDS} s for passes that shipped nothing, each a new object; a pass that shipped goes out at once`, async () => {
    const h = setup();
    const idle = { ...pass(0, 0, 0), manifests: [] };
    await h.writer().write(idle);
    h.clock.advance(60_000);
    expect(await h.writer().write(idle)).toBeUndefined();
    h.clock.advance(1000);
    // Shipped: a copy of the state directory taken before it is then found older (staleState).
    expect(await h.writer().write(pass(0, 0, 0))).toMatch(/^heartbeats\/site-a\/(\d{13})-[0-9a-f-]{36}\/\1\.json$/);
    h.clock.advance(60_000);
    expect(await h.writer().write(idle)).toBeUndefined();
    h.clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    expect(await h.writer().write(idle)).toMatch(/^heartbeats\/site-a\/(\d{13})-[0-9a-f-]{36}\/\1\.json$/);
    expect(await heartbeats(h.store)).toHaveLength(3);
  });

  it('never fails the pass when the store refuses the heartbeat', async () => {
    const h = setup();
    const failing = new HeartbeatWriter({ config: h.config, store: { put: async () => Promise.reject(new Error('AccessDenied')) }, clock: h.clock, log: silentLogger, agentVersion: 'x', artefacts: { records: () => [] } });
    await expect(failing.write(pass(0, 0, 0))).resolves.toBeUndefined();
  });

  it('sends at once a pass that lost something or whose losses the last heartbeat did not carry, with the losses of the last 72 h named; a quiet pass waits its turn', async () => {
    const losses: LossEntry[] = [];
    const h = setup([], losses);
    const quiet = (lost = 0, lostBatches = 0) => ({ ...pass(0, 0, 0), manifests: [], totals: { bytes: 0, lostBatches, lostArtefacts: 0 }, lastCycle: { failed: 0, lost } });
    expect(await h.writer().write(quiet())).toBeDefined();
    h.clock.advance(10_000);
    const file = (i: number) => ({ name: `r${i}.wav`, size: 1, mtimeMs: 0, path: `/rec/000028/r${i}.wav` });
    losses.push({ id: 'old', source: 'cs', batch: '000001', kind: 'recordings', files: [file(0)], reason: 'deleted by the recorder before it was shipped', at: '2026-11-29T10:00:00.000Z' });
    losses.push({ id: 'l1', source: 'cs', batch: '000028', kind: 'recordings', files: Array.from({ length: 25 }, (_, i) => file(i)), reason: 'deleted by the recorder before it was shipped', at: h.clock.now().toISOString() });
    const key = await h.writer().write(quiet(25, 2));
    expect(key).toBeDefined();
    const [hb] = await heartbeats(h.store);
    expect(hb!.recentLosses).toEqual([{ id: 'l1', source: 'cs', batch: '000028', kind: 'recordings', at: '2026-12-03T10:00:10.000Z', reason: 'deleted by the recorder before it was shipped', files: 25, paths: Array.from({ length: 20 }, (_, i) => `/rec/000028/r${i}.wav`) }]);
    // The next pass, with nothing new, waits its turn; the one after the interval carries the losses still.
    h.clock.advance(10_000);
    expect(await h.writer().write(quiet(0, 2))).toBeUndefined();
    h.clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    expect(await h.writer().write(quiet(0, 2))).toBeDefined();
    expect((await heartbeats(h.store))[0]!.recentLosses?.map((l) => l.id)).toEqual(['l1']);
  });

  it('carries the alerts the agent holds open, critical first, and goes out at once when one is raised or resolved; a quiet pass with the same alerts waits its turn', async () => {
    const h = setup();
    const quiet = (openAlerts: PassView['openAlerts'] = []) => ({ ...pass(0, 0, 0), manifests: [], totals: { bytes: 0, lostBatches: 0, lostArtefacts: 0 }, openAlerts });
    expect(await h.writer().write(quiet())).toBeDefined();
    h.clock.advance(10_000);
    const restart = { key: 'binlog-restart:db', subject: 'binlog numbering of db restarted', severity: 'critical' as const, raisedAt: '2026-12-03T10:00:10.000Z' };
    const moved = { key: 'source-moved:cs', subject: 'source cs moved', severity: 'warning' as const, raisedAt: '2026-12-03T09:00:00.000Z' };
    expect(await h.writer().write(quiet([moved, restart]))).toBeDefined();
    expect((await heartbeats(h.store))[0]!.alerts).toEqual([
      { key: 'binlog-restart:db', severity: 'critical', subject: 'binlog numbering of db restarted', since: '2026-12-03T10:00:10.000Z' },
      { key: 'source-moved:cs', severity: 'warning', subject: 'source cs moved', since: '2026-12-03T09:00:00.000Z' },
    ]);
    h.clock.advance(10_000);
    expect(await h.writer().write(quiet([restart, moved]))).toBeUndefined();
    h.clock.advance(10_000);
    expect(await h.writer().write(quiet([restart]))).toBeDefined();
    expect((await heartbeats(h.store))[0]!.alerts?.map((a) => a.key)).toEqual(['binlog-restart:db']);
    h.clock.advance(10_000);
    expect(await h.writer().write(quiet())).toBeDefined();
    expect((await heartbeats(h.store))[0]!.alerts).toBeUndefined();
  });

  it('writes again when its memory of the last heartbeat is from the future (a clock set back)', async () => {
    const h = setup();
    h.clock.set(new Date('2026-12-03T12:00:00Z'));
    await h.writer().write(pass(0, 0, 0));
    h.clock.set(new Date('2026-12-03T10:00:00Z'));
    expect(await h.writer().write(pass(0, 0, 0))).toBeDefined();
  });

  it('never takes its own heartbeats for another agent when it ships every few seconds (more heartbeats in the hour than it keeps by count)', async () => {
    const a = setup();
    for (let i = 0; i < 200; i++) {
      const w = a.writer();
      await w.write(pass(i, 0, 0));
      expect(w.otherAgent, `heartbeat ${i}`).toBeUndefined();
      a.clock.advance(10_000);
    }
  });

  it('finds another agent writing as the same site within the hour (each heartbeat names its agent), not itself, and not an older one', async () => {
    const a = setup();
    const other = () => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-other-'));
      const config = parseAgentConfig(`site: site-a\nstate: ${dir}\nsources:\n  - { name: cs, type: recordings, path: ${dir} }\n`);
      return new HeartbeatWriter({ config, store: a.store, clock: a.clock, log: silentLogger, agentVersion: '1.2.3', artefacts: { records: () => [] }, freeBytes: async () => undefined });
    };
    const first = a.writer();
    await first.write(pass(0, 0, 0));
    expect(first.otherAgent).toBeUndefined();
    const [mine] = await heartbeats(a.store);
    expect(mine!.agent).toEqual({ id: expect.any(String), host: expect.any(String), state: a.config.state });
    a.clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    const again = a.writer();
    await again.write(pass(0, 0, 0));
    expect(again.otherAgent).toBeUndefined(); // the same state directory: the same agent
    a.clock.advance(60_000);
    const second = other();
    await second.write(pass(0, 0, 0));
    expect(second.otherAgent).toEqual({ id: mine!.agent!.id, host: mine!.agent!.host, at: '2026-12-03T10:05:00.000Z' });
    a.clock.advance(2 * 3600_000);
    const late = other();
    await late.write(pass(0, 0, 0));
    expect(late.otherAgent).toBeUndefined(); // the newest heartbeat is over an hour old
  });

  it("does not believe a heartbeat planted under a key far in the future, or filed under another time than its own: no other agent, and its own state is not called stale", async () => {
    const h = setup();
    const w = h.writer();
    await w.write(pass(0, 0, 0));
    const [mine] = await heartbeats(h.store);
    // Another site's key holder copies this agent's heartbeat (its id) under `0000000000000.json`, and one under a key a minute on.
    const copy = (at: string) => Buffer.from(JSON.stringify({ ...mine!, at, agent: { ...mine!.agent!, host: 'elsewhere', state: '/elsewhere' } }));
    await h.store.put(`${heartbeatPrefix('site-a')}0000000000000.json`, copy(h.clock.now().toISOString()));
    await h.store.put(heartbeatKey('site-a', new Date(h.clock.now().getTime() + 60_000)), copy('2026-12-01T00:00:00.000Z'));
    expect(await staleState({ config: h.config, store: h.store, clock: h.clock })).toBeUndefined();
    h.clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    const next = h.writer();
    expect(await next.write(pass(0, 0, 0))).toBeDefined();
    expect(next.otherAgent).toBeUndefined();
  });

  it('finds its state directory older than its last run (restored from a backup) after a pass under a clock that ran fast: the fast heartbeat does not hide the later one', async () => {
    const h = setup();
    const real = h.clock.now();
    h.clock.set(new Date(real.getTime() + 50 * 60_000)); // the clock runs 50 minutes fast
    expect(await h.writer().write(pass(0, 0, 0))).toBeDefined();
    const backup = readFileSync(join(h.config.state, 'heartbeat.json'));
    h.clock.set(new Date(real.getTime() + 60_000)); // NTP sets it right; a pass ships and writes a heartbeat
    expect(await h.writer().write(pass(10, 0, 0))).toBeDefined();
    const [latest] = (await heartbeats(h.store)).filter((b) => b.at === h.clock.now().toISOString());
    expect(latest).toBeDefined();
    writeFileSync(join(h.config.state, 'heartbeat.json'), backup); // the state directory restored from the backup
    h.clock.advance(60_000);
    expect(await staleState({ config: h.config, store: h.store, clock: h.clock })).toMatchObject({ remembered: new Date(real.getTime() + 50 * 60_000).toISOString(), found: latest!.at });
  });

  it("gives every source its own lastGood: each recordings source its own last pack at a site with two, a tree source its last snapshot", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-many-'));
    mkdirSync(join(dir, 'state'));
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs1, type: recordings, path: ${join(dir, 'a')} }\n  - { name: cs2, type: recordings, path: ${join(dir, 'b')} }\n  - { name: meetings, type: tree, path: ${dir} }\n`);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-03T10:00:00Z'));
    const writer = new HeartbeatWriter({ config, store, clock, log: silentLogger, agentVersion: '1.2.3', artefacts: { records: () => [] }, freeBytes: async () => undefined });
    const backlog = { batches: 0, bytes: 0 };
    await writer.write({
      totals: { bytes: 10, lostBatches: 0, lostArtefacts: 0 },
      sources: [
        { name: 'cs1', type: 'recordings', backlog, lastManifest: 'manifests/site-a/recordings/2026/12/03/p1.json' },
        { name: 'cs2', type: 'recordings', backlog, lastManifest: 'manifests/site-a/recordings/2026/12/03/p2.json' },
        { name: 'meetings', type: 'tree', lastSnapshot: { takenAt: '2026-12-03T09:59:00.000Z', manifestKey: 'manifests/site-a/trees/meetings/s1.json' } },
      ],
      manifests: ['manifests/site-a/recordings/2026/12/03/p1.json', 'manifests/site-a/recordings/2026/12/03/p2.json'],
    });
    const [hb] = await heartbeats(store);
    expect(Object.fromEntries(hb!.sources.map((x) => [x.name, x.lastGood]))).toEqual({
      cs1: { at: '2026-12-03T10:00:00.000Z', key: 'manifests/site-a/recordings/2026/12/03/p1.json' },
      cs2: { at: '2026-12-03T10:00:00.000Z', key: 'manifests/site-a/recordings/2026/12/03/p2.json' },
      meetings: { at: '2026-12-03T09:59:00.000Z', key: 'manifests/site-a/trees/meetings/s1.json' },
    });
  });

  it('keeps a loss one agent recorded on the fleet row and in the day\'s signals after another agent of the site (a failover host, another state directory) writes heartbeats', async () => {
    const lost: LossEntry = { id: 'loss-1', source: 'cs', batch: '000009', kind: 'recordings', files: [{ name: 'c1.wav', size: 1, mtimeMs: 0, path: '/rec/000009/c1.wav' }], reason: 'deleted by the recorder before it was shipped', at: '2026-12-03T10:00:00.000Z' };
    const a = setup([], [lost]);
    await a.writer().write(pass(0, 0, 0));
    const standby = () => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-hb-standby-'));
      const config = parseAgentConfig(`site: site-a\nstate: ${dir}\nsources:\n  - { name: cs, type: recordings, path: ${dir} }\n`);
      return new HeartbeatWriter({ config, store: a.store, clock: a.clock, log: silentLogger, agentVersion: '1.2.3', artefacts: { records: () => [] }, freeBytes: async () => undefined });
    };
    // The standby takes over and writes a heartbeat every 5 minutes for two hours.
    const b = standby();
    for (let i = 0; i < 24; i++) {
      a.clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
      await b.write(pass(0, 0, 0));
    }
    const now = a.clock.now();
    let gets = 0;
    const blobs = { list: a.store.list.bind(a.store), get: (key: string, range?: { start: number; end: number }) => (gets++, a.store.get(key, range)) };
    const [row] = await readFleet({ blobs, runs: new MemoryRunStore() }, [{ name: 'site-a' }], now);
    expect(row).toMatchObject({ site: 'site-a', state: 'WARN', losses: 6 }); // each agent's count since it was installed
    expect(row!.reasons).toContain('1 file(s) lost in the last 24 h (cs: 000009)');
    expect(gets).toBe(2); // the newest heartbeat, and the other agent's newest
    const signals = await heartbeatSignals(a.store, () => now)('site-a', '2026-12-03');
    expect(signals!.lost).toEqual([{ source: 'cs', path: '/rec/000009/c1.wav', at: lost.at, reason: lost.reason }]);
  });

  it('counts every loss of the last 72 h on the fleet row and in the day\'s signals when more batches were lost than the heartbeat names (the newest 50 named, the rest counted)', async () => {
    // A recorder that evicted 56 unshipped batches of 100 calls while its agent was down (a first install on a full disk).
    const losses: LossEntry[] = Array.from({ length: 56 }, (_, b) => ({
      id: `loss-${b}`, source: 'cs', batch: String(100 + b).padStart(6, '0'), kind: 'recordings' as const,
      files: Array.from({ length: 100 }, (_, i) => ({ name: `c${i}.wav`, size: 1, mtimeMs: 0, path: `/rec/${String(100 + b).padStart(6, '0')}/c${i}.wav` })),
      reason: 'deleted by the recorder before it was shipped', at: new Date(Date.parse('2026-12-03T09:00:00Z') + b * 1000).toISOString(),
    }));
    const h = setup([], losses);
    await h.writer().write(pass(0, 0, 0));
    const [hb] = await heartbeats(h.store);
    expect(hb!.recentLosses).toHaveLength(50);
    const now = h.clock.now();
    const [row] = await readFleet({ blobs: h.store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], now);
    expect(row!.reasons.find((r) => r.includes('lost in the last'))).toMatch(/^5600 file\(s\) lost in the last 24 h/);
    const signals = await heartbeatSignals(h.store, () => now)('site-a', '2026-12-03');
    expect(signals!.lost.reduce((n, l) => n + (l.files ?? 1), 0)).toBe(5600);
  });

  it('writes the first heartbeat of each UTC day to heartbeats-daily/ too (without the lost paths), so a site silent past the 31 days recent heartbeats are kept is silent since its last day, its recordings source still owed', async () => {
    const lost: LossEntry = { id: 'loss-1', source: 'cs', batch: '000009', kind: 'recordings', files: [{ name: 'c1.wav', size: 1, mtimeMs: 0, path: '/rec/000009/07700900123.wav' }], reason: 'deleted by the recorder before it was shipped', at: '2026-12-03T10:00:00.000Z' };
    const h = setup([], [lost]);
    // Two days of passes every 10 minutes (each heartbeat goes out: the pass shipped).
    for (let i = 0; i < 2 * 144; i++) {
      await h.writer().write(pass(i, 0, 0));
      h.clock.advance(600_000);
    }
    const daily: string[] = [];
    for await (const o of h.store.list(heartbeatPrefix('site-a', 'heartbeats-daily'))) daily.push(o.key);
    const dailyBeats = await Promise.all(daily.map(async (k) => heartbeatSchema.parse(JSON.parse((await readAll(h.store, k)).toString('utf8')))));
    // 10:00 on the 3rd, then the first pass of the 4th and of the 5th.
    expect(dailyBeats.map((b) => b.at).reverse()).toEqual(['2026-12-03T10:00:00.000Z', '2026-12-04T00:00:00.000Z', '2026-12-05T00:00:00.000Z']);
    expect(dailyBeats.at(-1)!.recentLosses).toEqual([expect.objectContaining({ id: 'loss-1', batch: '000009', files: 1, paths: [] })]);
    const last = dailyBeats[0]!.at;
    // The agent stops; 40 days on, the lifecycle rule has expired every recent heartbeat.
    for await (const o of h.store.list(heartbeatPrefix('site-a'))) await h.store.delete(o.key);
    const now = new Date(h.clock.now().getTime() + 40 * 86400_000);
    const [row] = await readFleet({ blobs: h.store, runs: new MemoryRunStore() }, [{ name: 'site-a' }], now);
    expect(row).toMatchObject({ state: 'SILENT', lastHeartbeat: last, lastHeartbeatDaily: true });
    expect(row!.reasons[0]).toMatch(new RegExp(`^silent since ${last}, 40 days`));
    const signals = await heartbeatSignals(h.store, () => now)('site-a', now.toISOString().slice(0, 10));
    expect(signals).toMatchObject({ heartbeatAt: last, recordingSources: ['cs'] });
  });
});
