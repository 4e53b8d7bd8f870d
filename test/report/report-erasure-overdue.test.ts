// A data subject's erasure request left pending (a DR bucket refusing, a pack under Object Lock,
// the purge not running) is named where operators and officers look: the daily report (a warning
// past 7 days, a problem past 25, with the call, since when and what it waits for) and the
// fleet row, not only in `ferry erasures list`.
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { serializeManifest } from '../../core/manifest.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { readFleet } from '../../core/fleet-read.ts';
import { MemoryErasureStore, type ErasureRecord } from '../../core/erasure-items.ts';
import { ERASURE_CRITICAL_DAYS, ERASURE_WARN_DAYS, overdueErasures } from '../../core/erasure-overdue.ts';
import { MemoryRunStore } from '../../core/window.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const DAY = '2026-03-02';
const at = (day: string, hhmm: string) => `${day}T${hhmm}:00.000Z`;
const NOW = () => new Date('2026-03-03T07:00:00Z');
/** The report judges the day at its end. */
const JUDGED = Date.parse('2026-03-03T00:00:00Z');
const daysBefore = (ms: number, days: number, hours = 0) => new Date(ms - days * 86_400_000 - hours * 3_600_000).toISOString();

const request = (rid: string, requestedAt: string, more: Partial<ErasureRecord> = {}): ErasureRecord => ({
  site: 'site-a',
  rid,
  reason: 'data subject request',
  requestedBy: 'dpo@example.com',
  requestedAt,
  packKey: 'recordings/site-a/p.tar',
  manifestKey: 'manifests/site-a/p.json',
  call: `callId=${rid.toUpperCase()} start=2026-01-05T10:00:00Z 0441→0442`,
  status: 'pending',
  ...more,
});

/** A site whose recordings all shipped in the day, so the report judges the erasure requests alone. */
async function shippedDay() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const fixture = buildPack('site-a', [0, 1].map((i) => ({ path: `${DAY}/b0/call-${i}.wav`, body: audio(i, 600) })), { day: `${DAY}T00:00:00Z`, seed: `${DAY}/0` });
  fixture.manifest.createdAt = at(DAY, '01:30');
  fixture.manifestBytes = serializeManifest(fixture.manifest);
  await publish(blobs, fixture);
  await ingestManifest({ blobs, catalogue }, fixture.manifestKey);
  for (const time of [at(DAY, '08:00'), at('2026-03-03', '00:05')]) {
    const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: time, agentVersion: '0.1.0', sources: [{ name: 'contactstore', type: 'recordings', pendingBatches: 0 }], losses: 0, lastPass: { at: time, failed: 0, lost: 0 } };
    await blobs.put(heartbeatKey('site-a', new Date(time)), Buffer.from(JSON.stringify(hb)));
  }
  return { blobs, catalogue };
}

describe('overdue erasure requests', () => {
  it(`names a pending request from ${ERASURE_WARN_DAYS} days on (a warning) and from ${ERASURE_CRITICAL_DAYS} (critical), never a done one, critical first`, () => {
    const now = JUDGED;
    const found = overdueErasures(
      [
        request('r-6d', daysBefore(now, ERASURE_WARN_DAYS, -1)),
        request('r-7d', daysBefore(now, ERASURE_WARN_DAYS)),
        request('r-24d', daysBefore(now, ERASURE_CRITICAL_DAYS - 1)),
        request('r-25d', daysBefore(now, ERASURE_CRITICAL_DAYS)),
        request('r-done', daysBefore(now, 40), { status: 'done', doneAt: daysBefore(now, 30) }),
      ],
      now,
    );
    expect(found.map((e) => [e.rid, e.severity, e.days])).toEqual([
      ['r-25d', 'critical', 25],
      ['r-24d', 'warning', 24],
      ['r-7d', 'warning', 7],
    ]);
  });

  it('makes the daily report PARTIAL for one pending over 25 days, naming the call, since when and what it waits for, and lists one pending 8 days as a warning', async () => {
    const deps = await shippedDay();
    const erasures = new MemoryErasureStore();
    await erasures.createErasure(request('r-old', daysBefore(JUDGED, 26), { reference: 'DSAR-17', waiting: 'its copy in the DR bucket ferry-dr could not be deleted: AccessDenied', waitingAt: daysBefore(JUDGED, 1) }));
    await erasures.createErasure(request('r-week', daysBefore(JUDGED, 8)));
    await erasures.createErasure(request('r-new', daysBefore(JUDGED, 2)));
    const report = await dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW), erasures });

    expect(report.status).toBe('PARTIAL');
    expect(report.problems).toHaveLength(1);
    expect(report.problems[0]).toMatch(/^erasure: erasure request for call r-old \(callId=R-OLD .*\), reference DSAR-17 pending for 26 days, since 2026-02-05: it waits for: its copy in the DR bucket ferry-dr could not be deleted: AccessDenied/);
    expect(report.erasures?.overdue.map((e) => [e.rid, e.severity])).toEqual([
      ['r-old', 'critical'],
      ['r-week', 'warning'],
    ]);
    const text = renderDailyReport(report);
    expect(text).toContain("data subjects' erasure requests pending for over a week");
    expect(text).toMatch(/- CRITICAL: erasure request for call r-old .*within a month/);
    expect(text).toMatch(/- warning: erasure request for call r-week .*pending for 8 days, since 2026-02-23: no purge has said what it waits for \(is the site's purge running\? `ferry purge plan --site site-a`\)/);
    // Said once: not again among the site's problems at the end.
    expect(text.split('erasure request for call r-old').length - 1).toBe(1);
  });

  it('leaves the report FULL and without an erasure section when no request is pending past a week', async () => {
    const deps = await shippedDay();
    const erasures = new MemoryErasureStore();
    await erasures.createErasure(request('r-new', daysBefore(JUDGED, 6)));
    await erasures.createErasure(request('r-done', daysBefore(JUDGED, 40), { status: 'done', doneAt: daysBefore(JUDGED, 30) }));
    const report = await dailyReport(deps, 'site-a', DAY, { now: NOW, signals: heartbeatSignals(deps.blobs, NOW), erasures });
    expect(report.status).toBe('FULL');
    expect(report.erasures).toBeUndefined();
    expect(renderDailyReport(report)).not.toContain('erasure');
  });

  it("puts each overdue request on the site's fleet row (WARN), the critical one marked critical, and says when the requests cannot be read", async () => {
    const now = new Date('2026-03-03T07:00:00Z');
    const blobs = new MemoryBlobStore();
    const hbAt = new Date(now.getTime() - 60_000).toISOString();
    await blobs.put(heartbeatKey('site-a', new Date(hbAt)), Buffer.from(JSON.stringify({ format: HEARTBEAT_FORMAT, site: 'site-a', at: hbAt, agentVersion: '0.1.0', sources: [], losses: 0, lastPass: { at: hbAt, failed: 0, lost: 0 } })));
    const erasures = new MemoryErasureStore();
    await erasures.createErasure(request('r-old', daysBefore(now.getTime(), 30)));
    await erasures.createErasure(request('r-week', daysBefore(now.getTime(), 10), { waiting: 'the pack is in the archive tier: its restore was asked for', waitingAt: daysBefore(now.getTime(), 1) }));
    const [row] = await readFleet({ blobs, runs: new MemoryRunStore(), erasures }, [{ name: 'site-a' }], now);
    expect(row!.state).toBe('WARN');
    expect(row!.reasons).toHaveLength(2);
    expect(row!.reasons[0]).toMatch(/^critical: erasure request for call r-old .*pending for 30 days, since 2026-02-01/);
    expect(row!.reasons[1]).toMatch(/^erasure request for call r-week .*pending for 10 days, since 2026-02-21: it waits for: the pack is in the archive tier/);
    expect(row!.overdueErasures?.map((e) => e.rid)).toEqual(['r-old', 'r-week']);

    const unreadable = { listErasures: async () => Promise.reject(new Error('AccessDeniedException: not authorized')) };
    const [unread] = await readFleet({ blobs, runs: new MemoryRunStore(), erasures: unreadable }, [{ name: 'site-a' }], now);
    expect(unread!.state).toBe('WARN');
    expect(unread!.reasons).toEqual([expect.stringMatching(/^cannot read the site's erasure requests .*AccessDeniedException/)]);
  });
});
