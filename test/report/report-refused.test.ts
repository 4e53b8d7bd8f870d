// The daily report names an old primary that came back after a failover and was refused: it writes
// no heartbeat (the site's stay the standby's), only its record under heartbeats/{site}/refused/,
// which the report reads as a critical alert of the site held that day.
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { REFUSED_AGENT_FORMAT, refusedAgentKey, type RefusedAgent } from '../../core/refused-agent.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const DAY = '2026-03-02';
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00.000Z`;
const NOW = () => new Date('2026-03-03T07:00:00Z');

/** A site whose recordings all shipped in the day from the standby, which wrote its heartbeats. */
async function shippedDay(alerts: Heartbeat['alerts'] = []) {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const fixture = buildPack('site-a', [0, 1].map((i) => ({ path: `${DAY}/b0/call-${i}.wav`, body: audio(i, 600) })), { day: `${DAY}T00:00:00Z`, seed: `${DAY}/0` });
  fixture.manifest.createdAt = at(DAY, '01:30');
  fixture.manifestBytes = serializeManifest(fixture.manifest);
  await publish(blobs, fixture);
  await ingestManifest({ blobs, catalogue }, fixture.manifestKey);
  for (const time of [at(DAY, '08:00'), at('2026-03-03', '00:05')]) {
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: time, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: time, failed: 0, lost: 0 }, agent: { id: 'standby', host: 'pbx-2' }, alerts };
    await blobs.put(heartbeatKey('site-a', new Date(time), { agent: 'standby' }), Buffer.from(JSON.stringify(hb)));
  }
  return { blobs, catalogue };
}

const refusal = (time: string): RefusedAgent => ({
  format: REFUSED_AGENT_FORMAT,
  site: 'site-a',
  at: time,
  refusedSince: at('2026-03-01', '22:10'),
  agent: { id: 'old-dir', host: 'pbx-1', state: '/var/lib/ferry' },
  lastHeartbeat: at('2026-02-27', '17:55'),
  shippedBy: { id: 'standby', host: 'pbx-2', since: at('2026-02-27', '20:05') },
});

const putRefusal = (blobs: MemoryBlobStore, r: RefusedAgent) => blobs.put(refusedAgentKey('site-a', r.agent.id, new Date(r.at)), Buffer.from(JSON.stringify(r)));
const report = (deps: Awaited<ReturnType<typeof shippedDay>>) => dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });

describe('daily report: an old primary refused after a failover', () => {
  it('is PARTIAL, naming the refused host, its id, its last heartbeat, the agent that ships the site and the way back, for a day it was refused in (its newest record of the day)', async () => {
    // The standby warned its own hook too (site-refused-agent): the report names the refusal once, from the record.
    const deps = await shippedDay([{ key: 'site-refused-agent', severity: 'warning', subject: 'the agent on pbx-1 came back as site site-a with a state directory of before the failover and was refused', since: at(DAY, '03:15') }]);
    for (const time of [at(DAY, '03:10'), at(DAY, '17:10'), at('2026-03-03', '05:10')]) await putRefusal(deps.blobs, refusal(time));
    const r = await report(deps);
    expect(r.status).toBe('PARTIAL');
    const line =
      'the agent held a critical alert open since 2026-03-01 22:10Z: the agent on pbx-1 (id old-dir) came back with the state directory it had before 2026-02-27T17:55:00.000Z ' +
      'and was refused (last at 2026-03-02T17:10:00.000Z, refused since 2026-03-01T22:10:00.000Z): it ships nothing while the agent on pbx-2 (id standby) ships the site since 2026-02-27T20:05:00.000Z. ' +
      'Stop the old one (its cron line or service), or fail back (docs/restore.md, "Failing over, and back")';
    expect(r.problems).toEqual([line]);
    expect(renderDailyReport(r)).toContain(`\n  - ${line}\n`);
    expect(r.alerts?.map((a) => a.key)).toEqual(['site-taken-over']);
  });

  it('stays FULL for a day it was not refused in (its records before and after the day)', async () => {
    const deps = await shippedDay();
    for (const time of [at('2026-03-01', '22:10'), at('2026-03-03', '05:10')]) await putRefusal(deps.blobs, refusal(time));
    const r = await report(deps);
    expect(r.status).toBe('FULL');
    expect(r.problems).toEqual([]);
  });
});
