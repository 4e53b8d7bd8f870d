import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { stateRestoredAlert } from '../../agent/heartbeat-alerts.ts';
import { shippedSince } from '../../agent/shipped-since.ts';
import { silentLogger } from '../../agent/log.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { artefactSourcePrefix } from '../../core/layout.ts';
import { TransientError } from '../../core/errors.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { artefactAgent, artefactSite, bytesOf, writeAt } from '../support/artefact-agent.ts';

// The agent's VM restored from last night's snapshot: its state directory goes back in time
// while the recorder's disk and the store went on. What shipped since the snapshot and was
// evicted since is offsite, not lost; the operator is told the directory went back.

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-state-rollback-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
  return { dir, root, config };
}

/** Last night's VM snapshot of the state directory (`dir/snapshot`). */
function takeSnapshot(s: { dir: string; config: AgentConfig }): void {
  cpSync(s.config.state, `${s.dir}/snapshot`, { recursive: true });
}

/** The VM restored: the state directory replaced by the snapshot. */
function putSnapshotBack(s: { dir: string; config: AgentConfig }): void {
  rmSync(s.config.state, { recursive: true });
  cpSync(`${s.dir}/snapshot`, s.config.state, { recursive: true });
}

/** One cron run: a fresh agent on the state directory, one pass, closed. */
async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

describe('a state directory put back to a VM snapshot', () => {
  it('does not record lost unseen the numbered batches shipped after the snapshot and evicted since', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 10, { now: clock.now().getTime() });
    expect((await cronPass(s.config, store, alerts, clock)).packs).toBe(2);
    takeSnapshot(s); // last night's VM snapshot
    clock.advance(10 * 60_000);
    writeTree(s.root, 2, 10, { firstBatch: 3, now: clock.now().getTime() });
    expect((await cronPass(s.config, store, alerts, clock)).packs).toBe(2);
    // The recorder evicts 000003 and 000004 (offsite) and starts 000005; the VM's disk fails and
    // the state directory comes back from the snapshot.
    rmSync(join(s.root, '000003'), { recursive: true });
    rmSync(join(s.root, '000004'), { recursive: true });
    writeTree(s.root, 1, 4, { firstBatch: 5, ageMs: 10_000, now: clock.now().getTime() });
    putSnapshotBack(s);
    clock.advance(10 * 60_000);
    const restored = await cronPass(s.config, store, alerts, clock);
    expect(restored.lost).toBe(0);
    expect(new LossLog(s.config.state, { readOnly: true }).all()).toEqual([]);
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.subject)).toEqual([]);
    expect(alerts.map((a) => a.key)).toContain('state-restored');
  });

  it('raises "another agent ships as site" for the heartbeats a copy writes after the restore, not for those the directory wrote before it went back', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10, { now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    takeSnapshot(s);
    clock.advance(10 * 60_000);
    writeTree(s.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    // The old VM is not gone: it goes on with the directory as it was, while the snapshot runs here.
    const copy = { ...s.config, state: `${s.dir}/copy` } as AgentConfig;
    cpSync(s.config.state, copy.state, { recursive: true });
    putSnapshotBack(s);
    clock.advance(10 * 60_000);
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'site-name-shared')).toEqual([]);
    clock.advance(10 * 60_000);
    writeTree(s.root, 1, 10, { firstBatch: 3, now: clock.now().getTime() });
    const copyAlerts: Alert[] = [];
    await cronPass(copy, store, copyAlerts, clock); // the copy ships a pass of its own
    // The copy, too, meets heartbeats under its id written after its own: the restored directory's.
    expect(copyAlerts.filter((a) => a.key === 'site-name-shared').map((a) => a.subject)).toEqual(['another agent ships as site site-a']);
    clock.advance(60_000);
    writeTree(s.root, 1, 10, { firstBatch: 4, now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    expect(alerts.filter((a) => a.key === 'site-name-shared').map((a) => a.subject)).toEqual(['another agent ships as site site-a']);
  });
});

describe('a binlog source whose state directory was put back to a VM snapshot', () => {
  const segment = (n: number) => `rtmbinlog.${String(n).padStart(6, '0')}`;
  const T0 = 1_790_000_000_000;

  it('counts the segments shipped after the snapshot as offsite: only the segments purged unshipped are a gap and lost', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}", basename: rtmbinlog, partialIntervalSeconds: 0 }`);
    const write = (n: number) => writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date(T0 + n * 60_000));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date(T0 + 3600_000));
    const pass = async () => {
      const h = artefactAgent(site.config, store, { clock });
      try {
        return { report: await h.agent.cycle(), alerts: h.alerts };
      } finally {
        h.agent.close();
      }
    };
    for (const n of [1, 2, 3]) write(n);
    await pass(); // 1 and 2 ship (3 is the active segment)
    takeSnapshot(site);
    clock.advance(10 * 60_000);
    for (const n of [4, 5]) write(n);
    await pass(); // 3 and 4 ship
    // The server writes 6 and 7 and purges everything below 6: 5 never went offsite.
    for (const n of [6, 7]) write(n);
    for (const n of [1, 2, 3, 4, 5]) rmSync(join(site.root, segment(n)));
    putSnapshotBack(site);
    clock.advance(10 * 60_000);
    const restored = await pass();
    expect(restored.alerts.filter((a) => a.key?.startsWith('binlog-gap:')).map((a) => a.subject)).toEqual(['binlog gap in rtm: segment 5 missing']);
    expect(new LossLog(site.config.state, { readOnly: true }).all().flatMap((l) => l.files.map((f) => f.name))).toEqual([segment(5)]);
    expect(restored.report.lost).toBe(1);
    clock.advance(10 * 60_000);
    expect((await pass()).alerts.filter((a) => a.key?.startsWith('binlog-gap:') && a.severity !== 'info')).toEqual([]);
  });

  it('pages a gap and its loss alerted before the snapshot was put back no second time: recorded again, the gap alert held open', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}", basename: rtmbinlog, partialIntervalSeconds: 0 }`);
    const write = (n: number) => writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date(T0 + n * 60_000));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date(T0 + 3600_000));
    const alerts: Alert[] = [];
    const pass = async () => {
      const h = artefactAgent(site.config, store, { clock });
      try {
        return await h.agent.cycle();
      } finally {
        alerts.push(...h.alerts);
        h.agent.close();
      }
    };
    for (const n of [1, 2, 3]) write(n);
    await pass();
    takeSnapshot(site);
    clock.advance(10 * 60_000);
    for (const n of [4, 5, 6]) write(n);
    for (const n of [1, 2, 3, 4]) rmSync(join(site.root, segment(n))); // 3 and 4 purged unshipped
    expect((await pass()).lost).toBe(2);
    const paged = alerts.filter((a) => a.severity === 'critical').map((a) => a.subject);
    expect(paged).toEqual(['binlog gap in rtm: segments 3 to 4 missing']);
    putSnapshotBack(site);
    clock.advance(10 * 60_000);
    expect((await pass()).lost).toBe(2); // recorded again in the loss log that went back
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.subject)).toEqual(paged);
    expect(new LossLog(site.config.state, { readOnly: true }).all().flatMap((l) => l.files.map((f) => f.name))).toEqual([segment(3), segment(4)]);
    clock.advance(25 * 3600_000); // past repeatHours: the open gap is repeated as the one raised before
    await pass();
    expect(alerts.at(-1)?.subject).toMatch(/^still open since .*: binlog gap in rtm: segments 3 to 4 missing$/);
  });
});

describe('a binlog source put back to a VM snapshot while the store cannot be reached', () => {
  const segment = (n: number) => `rtmbinlog.${String(n).padStart(6, '0')}`;
  const T0 = 1_790_000_000_000;

  it('does not record lost the segments in a gap it could not ask the store about: judged at the next pass, only the segment purged unshipped is lost', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}", basename: rtmbinlog, partialIntervalSeconds: 0 }`);
    const write = (n: number) => writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date(T0 + n * 60_000));
    const memory = new MemoryBlobStore();
    let down = false;
    const prefix = artefactSourcePrefix('site-a', 'binlog', 'rtm');
    const store = new Proxy(memory, {
      get: (target, key, receiver) =>
        key === 'list'
          ? (p: string) => (down && p.startsWith(prefix) ? failing() : target.list(p))
          : Reflect.get(target, key, receiver),
    });
    async function* failing(): AsyncIterable<never> {
      throw new TransientError('S3 list: Error: read ECONNRESET');
    }
    const clock = new ManualClock(new Date(T0 + 3600_000));
    const pass = async () => {
      const h = artefactAgent(site.config, store, { clock });
      try {
        return await h.agent.cycle();
      } finally {
        h.agent.close();
      }
    };
    const lostNames = () => new LossLog(site.config.state, { readOnly: true }).all().flatMap((l) => l.files.map((f) => f.name));
    for (const n of [1, 2, 3]) write(n);
    await pass();
    takeSnapshot(site);
    clock.advance(10 * 60_000);
    for (const n of [4, 5]) write(n);
    await pass(); // 3 and 4 ship
    for (const n of [6, 7]) write(n);
    for (const n of [1, 2, 3, 4, 5]) rmSync(join(site.root, segment(n)));
    putSnapshotBack(site);
    clock.advance(10 * 60_000);
    down = true;
    await pass();
    expect(lostNames()).toEqual([]);
    down = false;
    clock.advance(10 * 60_000);
    expect((await pass()).lost).toBe(1);
    expect(lostNames()).toEqual([segment(5)]);
  });
});

describe('a backup source whose state directory was put back to a VM snapshot', () => {
  it('does not call lost a dump the snapshot saw waiting that shipped after it and was rotated away since', async () => {
    const site = artefactSite(`  - { name: sql, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 120 }`);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date(1_790_000_000_000));
    const alerts: Alert[] = [];
    const pass = async () => {
      const h = artefactAgent(site.config, store, { clock });
      try {
        return await h.agent.cycle();
      } finally {
        alerts.push(...h.alerts);
        h.agent.close();
      }
    };
    writeAt(join(site.root, 'full-1.sql'), bytesOf(2000, 1), new Date(clock.now().getTime() - 600_000));
    expect((await pass()).artefacts).toBe(0); // waiting for its stability window
    takeSnapshot(site);
    clock.advance(5 * 60_000);
    expect((await pass()).artefacts).toBe(1);
    rmSync(join(site.root, 'full-1.sql')); // the backup job's retention removes it: it is offsite
    putSnapshotBack(site);
    clock.advance(5 * 60_000);
    expect((await pass()).lost).toBe(0);
    expect(new LossLog(site.config.state, { readOnly: true }).all()).toEqual([]);
    expect(alerts.filter((a) => a.severity === 'critical').map((a) => a.subject)).toEqual([]);
  });
});

describe('reading the store for a state directory put back to an older copy, past the most a pass reads', () => {
  it('says the read stopped, from which day nothing was read, and that recordings shipped in those packs may be recorded lost', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const since = clock.now();
    writeTree(s.root, 3, 10, { now: clock.now().getTime() });
    expect((await cronPass(s.config, store, [], clock)).packs).toBe(3);
    const read = await shippedSince(store, 'site-a', new Date(since.getTime() - 60_000), clock.now(), 2);
    expect(read).toMatchObject({ manifests: 2, complete: false });
    expect(read.unreadFrom).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect((await shippedSince(store, 'site-a', new Date(since.getTime() - 60_000), clock.now(), 3)).complete).toBe(true);
    const stale = { remembered: '2026-12-01T00:00:00.000Z', found: '2026-12-02T00:00:00.000Z' };
    const alert = stateRestoredAlert('site-a', s.config.state, stale, read);
    expect(alert.message).toContain(`Only the first 2 pack(s) the store lists since 2026-12-01T00:00:00.000Z were read (the most a pass reads): what they hold is not called lost, but packs filed from ${read.unreadFrom} on were not all read, so recordings shipped in them and evicted since may be recorded lost though they are offsite`);
    expect(alert.details).toMatchObject({ manifests: 2, complete: false, unreadFrom: read.unreadFrom });
    expect(stateRestoredAlert('site-a', s.config.state, stale, undefined).message).toContain("The store's manifests since 2026-12-01T00:00:00.000Z could not be read: recordings shipped since and evicted from the recorder may be recorded lost though they are offsite");
  });
});

describe('a cloned VM whose copy of the state directory runs beside the original, each hourly', () => {
  it('raises "another agent ships as site" though each run finds the directory older than the other\'s last heartbeat', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 1, 10, { now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    // The VM is cloned; the clone is started too, its cron half an hour off the original's.
    const clone = { ...s.config, state: `${s.dir}/clone` } as AgentConfig;
    cpSync(s.config.state, clone.state, { recursive: true });
    for (let hour = 0; hour < 4; hour++) {
      clock.advance(30 * 60_000);
      await cronPass(clone, store, alerts, clock);
      clock.advance(30 * 60_000);
      await cronPass(s.config, store, alerts, clock);
    }
    expect(alerts.filter((a) => a.key === 'site-name-shared' && a.severity === 'critical').map((a) => a.subject)).toContain('another agent ships as site site-a');
  });
});

describe('a backup slot overwritten with a version of the same size', () => {
  it('records lost the version removed before it could be judged, though the slot\'s earlier version of that size is offsite', async () => {
    const site = artefactSite(`  - { name: sql, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 120 }`);
    const clock = new ManualClock(new Date(1_790_000_000_000));
    const store = new MemoryBlobStore({ clock });
    const pass = async () => {
      const h = artefactAgent(site.config, store, { clock });
      try {
        return await h.agent.cycle();
      } finally {
        h.agent.close();
      }
    };
    const slot = join(site.root, 'full.sql');
    writeAt(slot, bytesOf(2000, 1), new Date(clock.now().getTime() - 600_000));
    await pass();
    clock.advance(5 * 60_000);
    expect((await pass()).artefacts).toBe(1); // last night's full is offsite
    clock.advance(3600_000);
    writeAt(slot, bytesOf(2000, 2), new Date(clock.now().getTime() - 600_000)); // tonight's: other bytes, the same size
    expect((await pass()).artefacts).toBe(0); // waiting for its stability window
    rmSync(slot); // removed before the next pass
    clock.advance(5 * 60_000);
    expect((await pass()).lost).toBe(1);
    expect(new LossLog(site.config.state, { readOnly: true }).all().map((l) => l.files.map((f) => f.mtimeMs))).toEqual([[clock.now().getTime() - 5 * 60_000 - 600_000]]);
  });
});

describe('a state directory put back to an older copy whose read of the store is refused', () => {
  it('records the batches evicted since lost unseen, saying in the reason that they may be offsite, and says so in its warning', async () => {
    const s = site();
    const memory = new MemoryBlobStore();
    let refuse = false;
    const store = new Proxy(memory, {
      get: (target, key, receiver) =>
        key === 'get' ? (k: string) => (refuse && k.startsWith('manifests/') ? Promise.reject(new Error('AccessDenied')) : target.get(k)) : Reflect.get(target, key, receiver),
    });
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 10, { now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    takeSnapshot(s);
    clock.advance(10 * 60_000);
    writeTree(s.root, 2, 10, { firstBatch: 3, now: clock.now().getTime() });
    await cronPass(s.config, store, alerts, clock);
    rmSync(join(s.root, '000003'), { recursive: true });
    rmSync(join(s.root, '000004'), { recursive: true });
    writeTree(s.root, 1, 4, { firstBatch: 5, ageMs: 10_000, now: clock.now().getTime() });
    putSnapshotBack(s);
    clock.advance(10 * 60_000);
    refuse = true;
    await cronPass(s.config, store, alerts, clock);
    const [loss] = new LossLog(s.config.state, { readOnly: true }).all();
    expect(loss?.reason).toMatch(/\(the state directory went back to an older copy and the store's manifests since were not all read: it may be offsite, look it up in the catalogue\)$/);
    expect(alerts.find((a) => a.key === 'state-restored')?.message).toContain("The store's manifests since");
  });
});
