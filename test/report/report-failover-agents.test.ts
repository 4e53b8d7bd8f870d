// The daily report of the day a site failed over: the primary's agent shipped until 01:00 and its
// host was lost; the secondary's agent, with its own state directory, ships the site from 03:00.
// The report says that two agents shipped the site in the day, which and when; a day shipped by
// one agent says nothing of it.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.ts';
import { heartbeatMemoryFile, type HeartbeatMemory } from '../../agent/heartbeat-memory.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { renderDailyReport } from '../../core/report-render.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';

describe('daily report of the day a site failed over to another host', () => {
  it('names both agents that shipped the site in the day, oldest first, with their first and last heartbeat of the day; the next day, shipped by one, names none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-report-failover-'));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-04T00:30:00Z'));
    const host = (name: string) => {
      const root = join(dir, name, 'rec');
      mkdirSync(root, { recursive: true });
      const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, name, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, settleSeconds: 1 }\n`);
      const pass = async () => {
        const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => {} }, verify: 'read-back', retryDelayMs: () => 1 });
        try {
          return await agent.cycle();
        } finally {
          agent.close();
        }
      };
      const id = () => (JSON.parse(readFileSync(heartbeatMemoryFile(config.state), 'utf8')) as HeartbeatMemory).agentId;
      return { root, pass, id };
    };
    const primary = host('primary');
    const secondary = host('secondary');
    writeTree(primary.root, 1, 10, { now: clock.now().getTime() });
    clock.set(new Date('2026-12-04T01:00:00Z'));
    expect(await primary.pass()).toMatchObject({ packs: 1 });
    // The primary's host is lost; at 03:00 the secondary ships the site, its recorder numbering from 000001 again.
    clock.set(new Date('2026-12-04T03:00:00Z'));
    writeTree(secondary.root, 1, 10, { now: clock.now().getTime(), size: 3001 });
    expect(await secondary.pass()).toMatchObject({ packs: 1 });
    clock.set(new Date('2026-12-04T20:00:00Z'));
    await secondary.pass();
    clock.set(new Date('2026-12-05T20:00:00Z'));
    await secondary.pass();
    clock.set(new Date('2026-12-06T00:30:00Z'));
    await secondary.pass();
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) await ingestManifest({ blobs: store, catalogue }, o.key);

    const now = () => clock.now();
    const report = await dailyReport({ blobs: store, catalogue }, 'site-a', '2026-12-04', { now, signals: heartbeatSignals(store, now) });
    expect(report.agents).toEqual([
      { host: hostname(), id: primary.id(), first: '2026-12-04T01:00:00.000Z', last: '2026-12-04T01:00:00.000Z' },
      { host: hostname(), id: secondary.id(), first: '2026-12-04T03:00:00.000Z', last: '2026-12-04T20:00:00.000Z' },
    ]);
    expect(renderDailyReport(report)).toContain(
      `\n  shipped by 2 agents in the day (a failover or a host rebuilt): ${hostname()} (id ${primary.id()}, heartbeats 2026-12-04 01:00Z to 2026-12-04 01:00Z), then ${hostname()} (id ${secondary.id()}, heartbeats 2026-12-04 03:00Z to 2026-12-04 20:00Z)\n`,
    );
    const next = await dailyReport({ blobs: store, catalogue }, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(store, now) });
    expect(next.agents).toBeUndefined();
    expect(renderDailyReport(next)).not.toContain('agents in the day');
  });

  const agentsOf = { a: { id: 'aaaa-1', host: 'pbx-1' }, b: { id: 'bbbb-2', host: 'pbx-2' } };
  const writeAs = async (store: MemoryBlobStore, agent: { id: string; host: string }, at: string) => {
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at, agentVersion: '0.1.0', sources: [{ name: 'cs', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at, failed: 0, lost: 0 }, agent };
    await store.put(heartbeatKey('site-a', new Date(at), { agent: agent.id }), Buffer.from(JSON.stringify(hb)));
  };

  it('says two agents that wrote as the site side by side all day did so, not that the site failed over', async () => {
    const store = new MemoryBlobStore();
    const agents = agentsOf;
    // Both wrote the day before too, and every three hours of the day, half an hour apart.
    for (const day of ['2026-12-03T22', ...[1, 4, 7, 10, 13, 16, 19, 22].map((h) => `2026-12-04T${String(h).padStart(2, '0')}`)]) {
      for (const [agent, minute] of [[agents.a, '05'], [agents.b, '35']] as const) {
        await writeAs(store, agent, `${day}:${minute}:00.000Z`);
      }
    }
    const now = () => new Date('2026-12-05T06:00:00Z');
    const report = await dailyReport({ blobs: store, catalogue: new MemoryCatalogue() }, 'site-a', '2026-12-04', { now, signals: heartbeatSignals(store, now) });
    expect(report.agents?.map((a) => a.id)).toEqual(['aaaa-1', 'bbbb-2']);
    const text = renderDailyReport(report);
    expect(text).toContain('\n  2 agents wrote as the site side by side in the day: pbx-1 (id aaaa-1, heartbeats 2026-12-04 01:05Z to 2026-12-04 22:05Z), pbx-2 (id bbbb-2, heartbeats 2026-12-04 01:35Z to 2026-12-04 22:35Z)\n');
    expect(text).not.toContain('a failover');
  });

  it("names a switchover of minutes whose old host's clock ran ahead a failover, not two agents side by side", async () => {
    const store = new MemoryBlobStore();
    // pbx-1 (its clock 10 minutes ahead) stopped at 03:00; pbx-2 started at 03:02.
    for (const at of ['2026-12-03T22:10', '2026-12-04T01:10', '2026-12-04T03:10']) await writeAs(store, agentsOf.a, `${at}:00.000Z`);
    for (const at of ['2026-12-04T03:02', '2026-12-04T12:00', '2026-12-04T22:00']) await writeAs(store, agentsOf.b, `${at}:00.000Z`);
    const now = () => new Date('2026-12-05T06:00:00Z');
    const report = await dailyReport({ blobs: store, catalogue: new MemoryCatalogue() }, 'site-a', '2026-12-04', { now, signals: heartbeatSignals(store, now) });
    expect(renderDailyReport(report)).toContain('\n  shipped by 2 agents in the day (a failover or a host rebuilt): pbx-1 (id aaaa-1, heartbeats 2026-12-04 01:10Z to 2026-12-04 03:10Z), then pbx-2 (id bbbb-2, heartbeats 2026-12-04 03:02Z to 2026-12-04 22:00Z)\n');
  });
});
