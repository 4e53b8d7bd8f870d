import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport, renderDailyReport, reportSubject } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// The first report an administrator reads is yesterday's, the day before the site was installed:
// a source is expected from its first shipped copy on, not before.

describe('the daily report of the days before a source shipped anything', () => {
  it('does not fail the day before a binlog source first shipped, and expects it from that day on', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const at = (m: number) => new Date(Date.UTC(2026, 11, 5, 11, m)).toISOString();
    for (const seq of [1, 2, 3]) {
      await publishArtefact(blobs, { source: 'binlogs', sourceType: 'binlog', role: 'segment', name: `mysql-bin.00000${seq}`, body: randomBytes(500), takenAt: at(seq * 5), extra: { sequence: seq, series: 'mysql-bin', span: { from: at(seq * 5 - 5), to: at(seq * 5) }, createdAt: at(seq * 5 + 1) } });
    }
    await rebuildCatalogue({ blobs, catalogue });
    const now = () => new Date(at(50));
    const before = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-04', { now });
    expect(before.sources.map((s) => s.source)).not.toContain('binlogs');
    expect(before.problems.join('\n')).not.toMatch(/binlog/);
    const first = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-05', { now });
    expect(first.sources.map((s) => s.source)).toContain('binlogs');
  });
});

// The soak of a flaky cron site: its agent first ran 2026-12-06 at 14:02Z, and the report of the
// 5th (yesterday's, the default) said FAILED "no batch shipped in the day while batches waited
// (the oldest, 000001, since 2026-12-06 14:02Z …)": a day judged by the backlog of the next one.
describe("the daily report of the days before a site's first heartbeat", () => {
  const at = (day: string, hhmm: string) => `${day}T${hhmm}:00.000Z`;
  const beat = (iso: string, extra: Partial<Heartbeat> = {}): Heartbeat => ({ format: HEARTBEAT_FORMAT, site: 'site-a', at: iso, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: iso, failed: 0, lost: 0 }, ...extra });
  const put = (blobs: MemoryBlobStore, hb: Heartbeat, dataClass?: 'heartbeats-daily') => blobs.put(heartbeatKey(hb.site, new Date(hb.at), dataClass ? { dataClass } : {}), Buffer.from(JSON.stringify(hb)));
  /** Batches waiting since a minute before the heartbeat: the agent's first look at the recorder. */
  const waiting = (since: number) => [{ name: 'contactstore', type: 'recordings', pendingBatches: 5, oldestPendingSeconds: since, oldestPendingBatch: '000001' }];

  async function firstDay() {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const pack = buildPack('site-a', [{ path: '000001/c1.wav', body: audio(1, 600) }], { day: '2026-12-06T14:01:00Z', seed: 'first' });
    pack.manifest.createdAt = at('2026-12-06', '14:03');
    pack.manifestBytes = serializeManifest(pack.manifest);
    await publish(blobs, pack);
    await ingestManifest({ blobs, catalogue }, pack.manifestKey);
    return { blobs, catalogue };
  }

  it('says NOT-STARTED, naming the first heartbeat, of a day before it (nothing arrived, nothing owed), and exits as a clean day; the first day is judged as any other', async () => {
    const { blobs, catalogue } = await firstDay();
    await put(blobs, beat(at('2026-12-06', '14:02'), { sources: waiting(60) }));
    await put(blobs, beat(at('2026-12-06', '14:10')));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const before = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(blobs, now) });
    expect(before).toMatchObject({ status: 'NOT-STARTED', problems: [], sources: [], notStarted: { firstHeartbeatAt: at('2026-12-06', '14:02') } });
    expect(renderDailyReport(before)).toContain("not reporting yet: site-a's first heartbeat was written at 2026-12-06 14:02Z, after this day.");
    expect(reportSubject(before)).toBe('[Ferry] NOT-STARTED site-a 2026-12-05: not reporting yet (first heartbeat 2026-12-06 14:02Z)');
    const first = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-06', { now, signals: heartbeatSignals(blobs, now) });
    expect(first.status).toBe('FULL');
  });

  it("does not judge a day by batches its next heartbeat says wait only since after the day ended, and does not call a day before a returning site's first recent heartbeat NOT-STARTED when a daily heartbeat is older", async () => {
    const { blobs, catalogue } = await firstDay();
    // Silent for over a month: its recent heartbeats expired, its daily one of November is kept.
    await put(blobs, beat(at('2026-11-01', '09:00')), 'heartbeats-daily');
    await put(blobs, beat(at('2026-12-06', '14:02'), { sources: waiting(60) }));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const before = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(blobs, now) });
    expect(before.status).toBe('FAILED');
    expect(before.problems).toEqual(['nothing arrived from the site in the day']);
    // Waiting since within the day, said by the heartbeat after it: the day is judged by it, as before.
    const other = await firstDay();
    await put(other.blobs, beat(at('2026-11-01', '09:00')), 'heartbeats-daily');
    await put(other.blobs, beat(at('2026-12-06', '14:02'), { sources: waiting(20 * 3600) }));
    const judged = await dailyReport(other, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(other.blobs, now) });
    expect(judged.status).toBe('FAILED');
    expect(judged.problems).toContain("contactstore: no batch shipped in the day while batches waited (the oldest, 000001, since 2026-12-05 18:02Z, as the agent's heartbeat at 2026-12-06 14:02Z said)");
  });

  it('says NOT-STARTED of a day before the first heartbeat even when that heartbeat says a source cannot be read: the next day is judged by it, not the day before', async () => {
    const { blobs, catalogue } = await firstDay();
    await put(blobs, beat(at('2026-12-06', '14:02'), { sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0, problem: 'EACCES: permission denied, scandir /rec' }] }));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const before = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(blobs, now) });
    expect(before).toMatchObject({ status: 'NOT-STARTED', problems: [], notStarted: { firstHeartbeatAt: at('2026-12-06', '14:02') } });
    const first = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-06', { now, signals: heartbeatSignals(blobs, now) });
    expect(first.problems.join('\n')).toContain('the agent could not read it at its heartbeat of 2026-12-06 14:02Z: EACCES');
  });

  it('names the batches the first heartbeat found already waiting since the day (the recorder ran before the agent) in a NOT-STARTED report, not as a failure to ship them', async () => {
    const { blobs, catalogue } = await firstDay();
    await put(blobs, beat(at('2026-12-06', '14:02'), { sources: waiting(20 * 3600) }));
    const now = () => new Date('2026-12-07T07:00:00Z');
    const before = await dailyReport({ blobs, catalogue }, 'site-a', '2026-12-05', { now, signals: heartbeatSignals(blobs, now) });
    expect(before.status).toBe('NOT-STARTED');
    expect(renderDailyReport(before)).toContain('contactstore: its first heartbeat found batches already waiting on the recorder (the oldest, 000001, since 2026-12-05 18:02Z), written before the agent ran.');
  });
});

describe('docs/operations.md on a NOT-STARTED report', () => {
  it('says ferry report daily exits 0 for it and the report function publishes it with severity info, as the code does', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/operations.md'), 'utf8').replace(/\s+/g, ' ');
    expect(doc).toContain('The command exits 0 for FULL, RETIRED and NOT-STARTED and 1 otherwise');
    expect(doc).toContain('`severity`, the report\'s worst finding: by its status (`info` FULL, RETIRED and NOT-STARTED, `warning` PARTIAL, `critical` FAILED)');
    expect(doc).toContain('`NOT-STARTED … not reporting yet (first heartbeat 2026-12-06 14:02Z)`');
  });
});
