import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { HEARTBEAT_MIN_SECONDS } from '../../agent/heartbeat.ts';
import { heartbeatMemoryFile, type HeartbeatMemory } from '../../agent/heartbeat-memory.ts';
import { siteTakenOverAlert } from '../../agent/site-takeover.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { heartbeatListing, latestHeartbeat } from '../../core/heartbeat-read.ts';
import { readRefusedAgent, REFUSED_AGENT_FORMAT, refusedAgentKey, refusedAgentPrefix } from '../../core/refused-agent.ts';

// A site failed over to a secondary host and ran there for days; the primary's host is repaired
// and its cron starts the agent with the state directory it had before the failover, before anyone
// removed the cron line. That agent must not publish its old share as the site's newest snapshot,
// nor its recorder's batches and its old server's files beside the secondary's.

/** A host of site-a: a recorder tree and a share, its own state directory. */
function host(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `ferry-takeover-${name}-`));
  const root = join(dir, 'rec');
  const share = join(dir, 'share');
  mkdirSync(root);
  mkdirSync(share);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
  - { name: share, type: tree, path: ${share}, everySeconds: 0 }
`);
  return { root, share, config };
}

async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), status: agent.statusSnapshot() };
  } finally {
    agent.close();
  }
}

const keysUnder = async (store: MemoryBlobStore, prefix: string) => {
  const keys: string[] = [];
  for await (const o of store.list(prefix)) keys.push(o.key);
  return keys;
};

describe('the old primary started by its cron with its state directory from before a failover', () => {
  it('ships nothing (no share snapshot, no pack) and raises a critical alert naming the host that ships the site and what to do, after a failover or after an agent started as the site by mistake', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const [primary, secondary] = [host('primary'), host('secondary')];
    writeTree(primary.root, 2, 10, { now: clock.now().getTime() });
    writeFileSync(join(primary.share, 'book.txt'), 'address book, before the failover');
    const alerts: Alert[] = [];
    expect((await cronPass(primary.config, store, alerts, clock)).report.packs).toBe(2);
    // The primary's host is lost; two hours later the secondary ships the site, for days.
    clock.advance(2 * 3600_000);
    writeFileSync(join(secondary.share, 'book.txt'), 'address book, edited during the failover week');
    for (let day = 0; day < 3; day++) {
      writeTree(secondary.root, 1, 10, { firstBatch: 1 + day, now: clock.now().getTime() });
      await cronPass(secondary.config, store, [], clock);
      clock.advance(24 * 3600_000);
    }
    const before = await keysUnder(store, 'manifests/site-a/');
    expect(before.filter((k) => k.includes('/trees/')).length).toBe(4);
    // The primary is repaired: its recorder numbers on from where it left off, its cron runs the agent.
    writeTree(primary.root, 2, 10, { firstBatch: 3, now: clock.now().getTime() });
    const back = await cronPass(primary.config, store, alerts, clock);
    expect(back.report).toMatchObject({ packs: 0, artefacts: 0, failed: 1 });
    expect(await keysUnder(store, 'manifests/site-a/')).toEqual(before);
    const taken = alerts.filter((a) => a.key === 'site-taken-over');
    expect(taken).toEqual([expect.objectContaining({ severity: 'critical' })]);
    // Both hosts of this test are this machine: the alert names the other agent by its id, on a host of the same name, not "the agent on" this host.
    const otherId = (JSON.parse(readFileSync(heartbeatMemoryFile(secondary.config.state), 'utf8')) as HeartbeatMemory).agentId!;
    expect(taken[0]!.subject).toBe(`site site-a is shipped by another agent (id ${otherId}) on a host also named ${hostname()} since ${taken[0]!.details!.since as string}: this agent shipped nothing`);
    expect(taken[0]!.message).toContain(`It ran on a host named ${hostname()}, as this one is named, but it is not this agent`);
    expect(taken[0]!.message).toContain('stop that agent first, restore the database and the share from the cloud, then start this agent with a new, empty state directory');
    expect(taken[0]!.message).toContain('If that agent should never have shipped as site site-a (a test host, a copied configuration) and this host\'s database and share are the site\'s, restore nothing');
    expect(back.status.openAlerts.map((a) => [a.key, a.severity])).toContainEqual(['site-taken-over', 'critical']);
  });

  it('still ships nothing once the other agent stopped and the bucket expired its heartbeats: the state directory stays refused', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const [primary, secondary] = [host('primary'), host('secondary')];
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    const alerts: Alert[] = [];
    await cronPass(primary.config, store, alerts, clock);
    clock.advance(2 * 3600_000);
    writeTree(secondary.root, 1, 10, { firstBatch: 1, now: clock.now().getTime() });
    await cronPass(secondary.config, store, [], clock);
    clock.advance(24 * 3600_000);
    expect((await cronPass(primary.config, store, alerts, clock)).report).toMatchObject({ packs: 0, failed: 1 });
    // The secondary is stopped; 40 days on, the lifecycle rules have expired every heartbeat it wrote.
    clock.advance(40 * 24 * 3600_000);
    for (const prefix of ['heartbeats/', 'heartbeats-daily/']) for (const key of await keysUnder(store, prefix)) await store.delete(key);
    const before = await keysUnder(store, 'manifests/site-a/');
    writeTree(primary.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    const later = await cronPass(primary.config, store, alerts, clock);
    expect(later.report).toMatchObject({ packs: 0, artefacts: 0, failed: 1 });
    expect(await keysUnder(store, 'manifests/site-a/')).toEqual(before);
    expect(later.status.openAlerts.map((a) => [a.key, a.severity])).toContainEqual(['site-taken-over', 'critical']);
  });

  it('ships nothing either when its state directory was put back from a VM snapshot taken before its last passes (heartbeats under its own id after the snapshot, then the other agent\'s)', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const [primary, secondary] = [host('primary'), host('secondary')];
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    writeFileSync(join(primary.share, 'book.txt'), 'address book, before the failover');
    const alerts: Alert[] = [];
    await cronPass(primary.config, store, alerts, clock);
    const snapshot = `${primary.config.state}-snapshot`;
    cpSync(primary.config.state, snapshot, { recursive: true });
    // The primary ships for another day after the VM snapshot, then its host is lost; the secondary ships the site.
    clock.advance(24 * 3600_000);
    writeTree(primary.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    await cronPass(primary.config, store, alerts, clock);
    clock.advance(2 * 3600_000);
    writeFileSync(join(secondary.share, 'book.txt'), 'address book, edited during the failover week');
    for (let day = 0; day < 2; day++) {
      writeTree(secondary.root, 1, 10, { firstBatch: 1 + day, now: clock.now().getTime() });
      await cronPass(secondary.config, store, [], clock);
      clock.advance(24 * 3600_000);
    }
    // The primary's VM is brought back from its snapshot, and its cron runs the agent.
    rmSync(primary.config.state, { recursive: true });
    cpSync(snapshot, primary.config.state, { recursive: true });
    const before = await keysUnder(store, 'manifests/site-a/');
    writeTree(primary.root, 1, 10, { firstBatch: 3, now: clock.now().getTime() });
    const back = await cronPass(primary.config, store, alerts, clock);
    expect(back.report).toMatchObject({ packs: 0, artefacts: 0, failed: 1 });
    expect(await keysUnder(store, 'manifests/site-a/')).toEqual(before);
    expect(alerts.filter((a) => a.key === 'site-taken-over')).toEqual([expect.objectContaining({ severity: 'critical' })]);
  });

  it('records each refused hour once under heartbeats/{site}/refused/ (host, agent id, its last heartbeat, when refused, the agent that ships the site) and still ships nothing, the site\'s newest heartbeat staying the secondary\'s', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-01T08:10:00Z'));
    const [primary, secondary] = [host('primary'), host('secondary')];
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    await cronPass(primary.config, store, [], clock);
    const primaryId = (JSON.parse(readFileSync(heartbeatMemoryFile(primary.config.state), 'utf8')) as HeartbeatMemory).agentId!;
    const lastOwn = (JSON.parse(readFileSync(heartbeatMemoryFile(primary.config.state), 'utf8')) as HeartbeatMemory).lastWritten!;
    clock.advance(2 * 3600_000);
    writeTree(secondary.root, 1, 10, { firstBatch: 1, now: clock.now().getTime() });
    await cronPass(secondary.config, store, [], clock);
    const secondaryId = (JSON.parse(readFileSync(heartbeatMemoryFile(secondary.config.state), 'utf8')) as HeartbeatMemory).agentId!;
    clock.advance(24 * 3600_000);
    const heartbeatsBefore = (await keysUnder(store, 'heartbeats/site-a/')).filter((k) => !k.includes('/refused/'));
    const manifestsBefore = await keysUnder(store, 'manifests/site-a/');
    writeTree(primary.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    const refusedAt = clock.now().toISOString();
    expect((await cronPass(primary.config, store, [], clock)).report).toMatchObject({ packs: 0, artefacts: 0, failed: 1 });
    // Its cron runs it again 5 minutes later, in the same hour: nothing more is written.
    clock.advance(5 * 60_000);
    expect((await cronPass(primary.config, store, [], clock)).report).toMatchObject({ packs: 0, failed: 1 });
    const records = await keysUnder(store, refusedAgentPrefix('site-a'));
    expect(records).toEqual([refusedAgentKey('site-a', primaryId, new Date(refusedAt))]);
    const record = await readRefusedAgent(store, records[0]!);
    expect(record).toEqual({
      format: REFUSED_AGENT_FORMAT,
      site: 'site-a',
      at: refusedAt,
      refusedSince: refusedAt,
      agent: { id: primaryId, host: hostname(), state: primary.config.state },
      lastHeartbeat: lastOwn,
      shippedBy: { id: secondaryId, host: hostname(), since: expect.any(String) },
    });
    // No heartbeat, no manifest: the site's newest heartbeat is still the secondary's.
    expect((await keysUnder(store, 'heartbeats/site-a/')).filter((k) => !k.includes('/refused/'))).toEqual(heartbeatsBefore);
    expect(await keysUnder(store, 'manifests/site-a/')).toEqual(manifestsBefore);
    expect((await latestHeartbeat(heartbeatListing(store, 'site-a'), clock.now().getTime())).heartbeat?.agent?.id).toBe(secondaryId);
    // An hour later (the cron still running it), a record of that hour, first refusal kept.
    clock.advance(3600_000);
    await cronPass(primary.config, store, [], clock);
    const later = await keysUnder(store, refusedAgentPrefix('site-a'));
    expect(later).toHaveLength(2);
    expect(await readRefusedAgent(store, later[0]!)).toMatchObject({ at: clock.now().toISOString(), refusedSince: refusedAt });
  });

  it('has the agent that ships the site warn its own hook that the old primary came back and was refused, naming its host and id, until it has not been refused for 48 h', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-01T08:10:00Z'));
    const [primary, secondary] = [host('primary'), host('secondary')];
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    await cronPass(primary.config, store, [], clock);
    const primaryId = (JSON.parse(readFileSync(heartbeatMemoryFile(primary.config.state), 'utf8')) as HeartbeatMemory).agentId!;
    clock.advance(2 * 3600_000);
    writeTree(secondary.root, 1, 10, { firstBatch: 1, now: clock.now().getTime() });
    await cronPass(secondary.config, store, [], clock);
    clock.advance(24 * 3600_000);
    await cronPass(primary.config, store, [], clock);
    // The secondary's next heartbeat (5 min on) finds the record, and tells its hook.
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    const told: Alert[] = [];
    const next = await cronPass(secondary.config, store, told, clock);
    expect(told.filter((a) => a.key === 'site-refused-agent')).toEqual([
      expect.objectContaining({ severity: 'warning', subject: `the agent on ${hostname()} came back as site site-a with a state directory of before the failover and was refused` }),
    ]);
    expect(told.find((a) => a.key === 'site-refused-agent')!.message).toContain(`the agent on ${hostname()} (id ${primaryId}) came back with the state directory it had before `);
    expect(next.status.openAlerts.map((a) => [a.key, a.severity])).toContainEqual(['site-refused-agent', 'warning']);
    // The old host's cron line is removed: 48 h after its last refusal the warning resolves.
    clock.advance(49 * 3600_000);
    const later: Alert[] = [];
    const after = await cronPass(secondary.config, store, later, clock);
    expect(later.filter((a) => a.key === 'site-refused-agent').map((a) => a.severity)).toEqual(['info']);
    expect(after.status.openAlerts.map((a) => a.key)).not.toContain('site-refused-agent');
  });

  it('does not have the agent that fails the site back to the old host (a new state directory there) warn its hook about that host\'s own refused directory of before', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-01T08:10:00Z'));
    const [primary, secondary, failback] = [host('primary'), host('secondary'), host('failback')];
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    await cronPass(primary.config, store, [], clock);
    clock.advance(2 * 3600_000);
    writeTree(secondary.root, 1, 10, { firstBatch: 1, now: clock.now().getTime() });
    await cronPass(secondary.config, store, [], clock);
    clock.advance(24 * 3600_000);
    await cronPass(primary.config, store, [], clock);
    expect(await keysUnder(store, refusedAgentPrefix('site-a'))).toHaveLength(1);
    // Failed back within the hour: the secondary stopped, the old host ships with a new, empty state directory (its old cron line gone).
    clock.advance(3600_000);
    writeTree(failback.root, 1, 10, { firstBatch: 20, now: clock.now().getTime() });
    const told: Alert[] = [];
    const back = await cronPass(failback.config, store, told, clock);
    expect(back.report).toMatchObject({ packs: 1, failed: 0 });
    expect(told.filter((a) => a.key === 'site-refused-agent')).toEqual([]);
    expect(back.status.openAlerts.map((a) => a.key)).not.toContain('site-refused-agent');
  });

  it('goes on shipping when the other agent began within the hour of its own last pass (two agents side by side: "another agent ships as site")', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const [one, two] = [host('one'), host('two')];
    writeTree(one.root, 1, 10, { now: clock.now().getTime() });
    writeTree(two.root, 1, 10, { firstBatch: 5, now: clock.now().getTime() });
    const alerts: Alert[] = [];
    await cronPass(one.config, store, alerts, clock);
    clock.advance(60_000);
    await cronPass(two.config, store, alerts, clock);
    clock.advance(HEARTBEAT_MIN_SECONDS * 1000);
    writeTree(one.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    const again = await cronPass(one.config, store, alerts, clock);
    expect(again.report.packs).toBe(1);
    expect(alerts.map((a) => a.key)).not.toContain('site-taken-over');
  });

  it('goes on shipping when the other agent had shipped as the site before its own last pass, though not in the hour before it (both hosts off for a weekend, one stopped hours before the other)', async () => {
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-04T09:00:00Z'));
    const [one, two] = [host('one'), host('two')];
    const alerts: Alert[] = [];
    // Friday: both ship as site-a side by side; two's host is switched off at 15:00, one's at 18:00.
    writeTree(one.root, 1, 10, { now: clock.now().getTime() });
    writeTree(two.root, 1, 10, { firstBatch: 50, now: clock.now().getTime() });
    await cronPass(one.config, store, alerts, clock);
    await cronPass(two.config, store, alerts, clock);
    clock.advance(6 * 3600_000);
    await cronPass(two.config, store, alerts, clock);
    clock.advance(3 * 3600_000);
    await cronPass(one.config, store, alerts, clock);
    // Monday: two's host comes up first, then one's.
    clock.advance(62 * 3600_000);
    await cronPass(two.config, store, alerts, clock);
    clock.advance(10 * 60_000);
    writeTree(one.root, 1, 10, { firstBatch: 2, now: clock.now().getTime() });
    const monday = await cronPass(one.config, store, alerts, clock);
    expect(monday.report).toMatchObject({ packs: 1, failed: 0 });
    expect(alerts.map((a) => a.key)).not.toContain('site-taken-over');
  });
});

describe('the takeover alert and the other agent\'s host name', () => {
  const taken = { id: 'agent-b7', host: 'pbx-1', since: '2026-03-02T08:00:00.000Z', newest: '2026-03-05T08:00:00.000Z', lastOwn: '2026-03-01T20:00:00.000Z' };

  it('names the other host when it is not this machine\'s name', () => {
    const alert = siteTakenOverAlert('site-a', '/var/lib/ferry', taken, 'pbx-2');
    expect(alert.subject).toBe('site site-a is shipped by the agent on pbx-1 since 2026-03-02T08:00:00.000Z: this agent shipped nothing');
    expect(alert.message).toContain('since 2026-03-02T08:00:00.000Z the agent on pbx-1 (id agent-b7) ships the site');
    expect(alert.details).not.toHaveProperty('otherHostSameName');
  });

  it('says another agent (its id) on a host of the same name when the other host carries this machine\'s name, in any case', () => {
    const alert = siteTakenOverAlert('site-a', '/var/lib/ferry', taken, 'PBX-1');
    expect(alert.subject).toBe('site site-a is shipped by another agent (id agent-b7) on a host also named pbx-1 since 2026-03-02T08:00:00.000Z: this agent shipped nothing');
    expect(alert.message).toContain('since 2026-03-02T08:00:00.000Z another agent (id agent-b7, not this state directory\'s) ships the site');
    expect(alert.message).toContain('It ran on a host named pbx-1, as this one is named, but it is not this agent');
    expect(alert.message).not.toContain('the agent on pbx-1');
    expect(alert.details).toMatchObject({ otherAgent: 'agent-b7', otherHost: 'pbx-1', otherHostSameName: true });
  });
});

