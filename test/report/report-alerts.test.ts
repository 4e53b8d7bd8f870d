// The daily report reads the alerts the agent held open in the day from its heartbeats: a
// critical one (recordings already offsite changed on the recorder: the ransomware signal) makes
// the day PARTIAL and names it, even resolved before the day ended; a warning is listed and the
// day stays FULL; the stored JSON carries them; heartbeats without alerts read as before.
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { dailyReport, renderDailyReport, storeDailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { readSmallObject } from '../../core/read-small.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const DAY = '2026-03-02';
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00.000Z`;
const NOW = () => new Date('2026-03-03T07:00:00Z');
type Alert = NonNullable<Heartbeat['alerts']>[number];

const RESHIPPED: Alert = { key: `reshipped:contactstore:${at(DAY, '10:02')}`, severity: 'critical', subject: 'contactstore: 300 recordings already offsite changed on the recorder', since: at(DAY, '10:02') };
const AHEAD: Alert = { key: 'clock-ahead:contactstore', severity: 'warning', subject: "contactstore: recordings dated ahead of this machine's clock", since: at(DAY, '09:00') };

/** A site whose recordings all shipped in the day: two batches of two calls, no backup expected. */
async function shippedDay() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  for (let b = 0; b < 2; b++) {
    const fixture = buildPack('site-a', [0, 1].map((i) => ({ path: `${DAY}/b${b}/call-${i}.wav`, body: audio(b * 10 + i, 600) })), { day: `${DAY}T00:00:00Z`, seed: `${DAY}/${b}` });
    fixture.manifest.createdAt = at(DAY, `0${b + 1}:30`);
    fixture.manifestBytes = serializeManifest(fixture.manifest);
    await publish(blobs, fixture);
    await ingestManifest({ blobs, catalogue }, fixture.manifestKey);
  }
  return { blobs, catalogue };
}

/** The agent's heartbeats at these times, each carrying the alerts open then (`alerts` absent: an agent from before heartbeats carried them). */
async function beats(blobs: MemoryBlobStore, open: [time: string, alerts: Alert[] | undefined][]) {
  for (const [time, alerts] of open) {
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: time, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: time, failed: 0, lost: 0 }, ...(alerts ? { alerts } : {}) };
    await blobs.put(heartbeatKey('site-a', new Date(time)), Buffer.from(JSON.stringify(hb)));
  }
}

const report = (deps: Awaited<ReturnType<typeof shippedDay>>) => dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW) });

describe('daily report: the alerts the agent held open in the day', () => {
  it('is PARTIAL, naming the alert and since when, for a day whose recordings all shipped while the agent held "recordings already offsite changed" open past its end', async () => {
    const deps = await shippedDay();
    await beats(deps.blobs, [[at(DAY, '08:00'), []], [at(DAY, '10:02'), [RESHIPPED]], [at('2026-03-03', '00:05'), [RESHIPPED]]]);
    const r = await report(deps);
    expect(r.status).toBe('PARTIAL');
    expect(r.problems).toEqual(['contactstore: the agent held a critical alert open since 2026-03-02 10:02Z: 300 recordings already offsite changed on the recorder']);
    expect(r.sources.find((s) => s.source === 'contactstore')).toMatchObject({ ok: false, shipped: '2 batch(es), 4 recording(s) shipped' });
    expect(renderDailyReport(r)).toContain('PROBLEM contactstore (recordings): 2 batch(es), 4 recording(s) shipped\n          - the agent held a critical alert open since 2026-03-02 10:02Z: 300 recordings already offsite changed on the recorder\n');
  });

  it('names a critical alert the agent resolved within the day as open from T to T\' (none of the heartbeats after the day carries it)', async () => {
    const deps = await shippedDay();
    await beats(deps.blobs, [[at(DAY, '10:02'), [RESHIPPED]], [at(DAY, '12:00'), [RESHIPPED]], [at(DAY, '14:05'), []], [at('2026-03-03', '00:05'), []]]);
    const r = await report(deps);
    expect(r.status).toBe('PARTIAL');
    expect(r.problems).toEqual(['contactstore: the agent held a critical alert open from 2026-03-02 10:02Z to 2026-03-02 14:05Z: 300 recordings already offsite changed on the recorder']);
  });

  it('stays FULL on a day with only a warning open, and lists the warning in the text', async () => {
    const deps = await shippedDay();
    await beats(deps.blobs, [[at(DAY, '09:00'), [AHEAD]], [at(DAY, '11:30'), []], [at('2026-03-03', '00:05'), []]]);
    const r = await report(deps);
    expect(r.status).toBe('FULL');
    expect(r.problems).toEqual([]);
    expect(renderDailyReport(r)).toContain(
      "\n  warnings the agent held open in the day (listed; they do not change the day's status):\n          - open from 2026-03-02 09:00Z to 2026-03-02 11:30Z: contactstore: recordings dated ahead of this machine's clock\n",
    );
  });

  it("carries the day's alerts in the report's JSON (as stored in the bucket), critical first, each with its key, severity, subject and when it was open", async () => {
    const deps = await shippedDay();
    await beats(deps.blobs, [[at(DAY, '09:00'), [AHEAD]], [at(DAY, '10:02'), [RESHIPPED, AHEAD]], [at('2026-03-03', '00:05'), [RESHIPPED]]]);
    const r = await report(deps);
    const key = await storeDailyReport(deps.blobs, r);
    const stored = JSON.parse((await readSmallObject(deps.blobs, key, 1 << 20, 'report')).toString('utf8')) as { alerts?: unknown };
    expect(stored.alerts).toEqual([
      { key: RESHIPPED.key, severity: 'critical', subject: RESHIPPED.subject, since: RESHIPPED.since },
      { key: AHEAD.key, severity: 'warning', subject: AHEAD.subject, since: AHEAD.since, until: at('2026-03-03', '00:05') },
    ]);
  });

  it('reads heartbeats without alerts (agents before they carried them) as before: FULL, no alerts in the report', async () => {
    const deps = await shippedDay();
    await beats(deps.blobs, [[at(DAY, '10:00'), undefined], [at('2026-03-03', '00:05'), undefined]]);
    const r = await report(deps);
    expect(r.status).toBe('FULL');
    expect(r).not.toHaveProperty('alerts');
  });

  it('does not name twice what the report judges from its own facts: a loss alert beside the loss the heartbeat names', async () => {
    const deps = await shippedDay();
    const lost = { id: 'l1', source: 'contactstore', batch: '000028', kind: 'recordings' as const, at: at(DAY, '04:00'), reason: 'deleted by the recorder before it was shipped', files: 1, paths: ['/rec/000028/r0.wav'] };
    const alert: Alert = { key: 'loss:l1', severity: 'critical', subject: 'contactstore: 000028 lost before shipping', since: at(DAY, '04:00') };
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: at('2026-03-03', '00:05'), agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 1, lastPass: { at: at('2026-03-03', '00:05'), failed: 0, lost: 0 }, recentLosses: [lost], alerts: [alert] };
    await deps.blobs.put(heartbeatKey('site-a', new Date(hb.at)), Buffer.from(JSON.stringify(hb)));
    const r = await report(deps);
    expect(r.problems).toEqual(['contactstore: 1 recording(s) lost before they could be shipped: /rec/000028/r0.wav']);
  });
});
