import { describe, expect, it } from 'vitest';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import type { ShippedTotals } from '../../core/fleet-shipped.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';

// What shipped in a day whatever the recordings' dates, from each agent's heartbeats: its last of
// the day less its last before the day (core/report-shipped.ts).

const totals = (packs: number): ShippedTotals => ({ packs, recordings: packs * 100, bytes: packs * 1_000_000, artefacts: packs > 0 ? 1 : 0, artefactBytes: 500 });
const beat = (at: string, agent: string, shipped?: ShippedTotals): Heartbeat => ({ format: HEARTBEAT_FORMAT, site: 'site-a', at, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at, failed: 0, lost: 0 }, agent: { id: agent, host: 'h' }, ...(shipped ? { shipped } : {}) });

async function put(blobs: MemoryBlobStore, hb: Heartbeat, dataClass?: 'heartbeats-daily') {
  await blobs.put(heartbeatKey(hb.site, new Date(hb.at), { agent: hb.agent!.id, ...(dataClass ? { dataClass } : {}) }), Buffer.from(JSON.stringify(hb)));
}

describe("the daily report's shipped-in-the-day figures", () => {
  it("count each agent's last heartbeat of the day less its last before it (not what shipped after the day, nor before it), a daily heartbeat standing in for expired ones", async () => {
    const blobs = new MemoryBlobStore();
    // Agent a: 10 packs before the day, 25 at its last heartbeat of the day, 30 the next morning.
    await put(blobs, beat('2026-12-04T10:00:00.000Z', 'a', totals(4)));
    await put(blobs, beat('2026-12-05T23:10:00.000Z', 'a', totals(10)));
    await put(blobs, beat('2026-12-06T09:00:00.000Z', 'a', totals(20)));
    await put(blobs, beat('2026-12-06T23:50:00.000Z', 'a', totals(25)));
    await put(blobs, beat('2026-12-07T06:00:00.000Z', 'a', totals(30)));
    // Agent b: silent for over a month before the day (its recent heartbeats expired), its daily one kept.
    await put(blobs, beat('2026-10-20T08:00:00.000Z', 'b', totals(7)), 'heartbeats-daily');
    await put(blobs, beat('2026-12-06T12:00:00.000Z', 'b', totals(9)));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const r = await dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-a', '2026-12-06', { now, signals: heartbeatSignals(blobs, now) });
    expect(r.shipped).toEqual({ packs: 17, recordings: 1700, bytes: 17_000_000, artefacts: 0, artefactBytes: 0, agents: 2, olderPacks: 17, olderThan: '2026-12-04' });
    // Packs arrived, though none is dated in the report's days: not "nothing arrived".
    expect(r.status).not.toBe('FAILED');
    expect(renderDailyReport(r)).toContain('  shipped in the day: 17 pack(s), 1700 recording(s), 17.0 MB (whatever the recordings\' dates, from the agent\'s heartbeats)\n    of which 17 pack(s) of recordings dated before 2026-12-04');
  });

  it("count a first install's agent from zero, and leave out (naming how many) an agent whose heartbeats carry no totals or was upgraded in the day", async () => {
    const blobs = new MemoryBlobStore();
    await put(blobs, beat('2026-12-06T14:00:00.000Z', 'new', totals(1000)));
    await put(blobs, beat('2026-12-06T10:00:00.000Z', 'old'));
    await put(blobs, beat('2026-12-05T10:00:00.000Z', 'upgraded'));
    await put(blobs, beat('2026-12-06T10:00:00.000Z', 'upgraded', totals(50)));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const r = await dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-a', '2026-12-06', { now, signals: heartbeatSignals(blobs, now) });
    expect(r.shipped).toMatchObject({ packs: 1000, recordings: 100_000, artefacts: 1, artefactBytes: 500, agents: 1, notCounted: 2 });
    expect(renderDailyReport(r)).toContain('    not counted: what 2 agent(s) shipped whose heartbeats carry no totals (an agent before they were sent, or upgraded in the day)');
  });
});

describe("the daily report's shipped-in-the-day figures at a site with more agents than are read", () => {
  it('name how many agents past the most read were left out of the figures, rather than leaving them out silently', async () => {
    const blobs = new MemoryBlobStore();
    // Eleven agents (state directories rebuilt, hosts replaced) each shipped one pack in the day.
    for (let i = 0; i < 11; i++) await put(blobs, beat(`2026-12-06T${String(10 + i).padStart(2, '0')}:00:00.000Z`, `agent-${i}`, totals(1)));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const r = await dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-a', '2026-12-06', { now, signals: heartbeatSignals(blobs, now) });
    expect(r.shipped).toMatchObject({ packs: 9, agents: 9, notRead: 2 });
    expect(renderDailyReport(r)).toContain("    not counted: what 2 more agent(s) shipped (at most 9 agents' heartbeats are read for a site, those that wrote last)");
  });
});
