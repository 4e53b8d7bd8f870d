// A site's daily report judges the site's own day: midnight to midnight in its zone (the
// deployment's `sites[].timeZone`), 23 or 25 hours when the clocks change, and says which zone.
// A Kolkata site's "1 November" is 31 Oct 18:30Z to 1 Nov 18:30Z, not the UTC day.
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport, gatherSiteDay, renderDailyReport } from '../../core/report.ts';
import { dayBounds, siteReportDay } from '../../core/report-keys.ts';
import { createHandler, loadReportDeps, type ReportRun } from '../../functions/report/handler.ts';
import { makeFull } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe("daily report: the site's own day", () => {
  it('bounds a day by midnight in the zone: 24 h in Kolkata, 23 h and 25 h in London and New York when the clocks change', () => {
    const hours = (b: { start: number; end: number }) => (b.end - b.start) / 3_600_000;
    const kolkata = dayBounds('2026-11-01', 'Asia/Kolkata');
    expect([iso(kolkata.start), iso(kolkata.end), hours(kolkata)]).toEqual(['2026-10-31T18:30:00.000Z', '2026-11-01T18:30:00.000Z', 24]);
    const spring = dayBounds('2026-03-29', 'Europe/London');
    expect([iso(spring.start), iso(spring.end), hours(spring)]).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T23:00:00.000Z', 23]);
    const autumn = dayBounds('2026-11-01', 'America/New_York');
    expect([iso(autumn.start), iso(autumn.end), hours(autumn)]).toEqual(['2026-11-01T04:00:00.000Z', '2026-11-02T05:00:00.000Z', 25]);
    expect(dayBounds('2026-11-01')).toEqual({ start: Date.parse('2026-11-01T00:00:00Z'), end: Date.parse('2026-11-02T00:00:00Z') });
  });

  it("judges a call recorded at 02:00 IST on 2 November in Kolkata's 2 November report, not in 1 November's", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    // 02:00 IST on 2 Nov is 20:30Z on 1 Nov: the pack's manifest is under the UTC day 2026/11/01.
    await publish(blobs, buildPack('kolkata-cc', [{ path: '000001/early.wav', body: audio(1), mtime: '2026-11-01T20:30:00.000Z' }], { day: '2026-11-01T20:30:00Z', createdAt: '2026-11-01T20:35:00.000Z' }));
    // 23:00 IST on 2 Nov is 17:30Z on 2 Nov: under the UTC day 2026/11/02, which Kolkata's 2 Nov starts before.
    await publish(blobs, buildPack('kolkata-cc', [{ path: '000002/late.wav', body: audio(2), mtime: '2026-11-02T17:30:00.000Z' }], { day: '2026-11-02T17:30:00Z', createdAt: '2026-11-02T17:35:00.000Z' }));
    const now = () => new Date('2026-11-03T06:00:00.000Z');
    const first = await gatherSiteDay({ blobs, catalogue }, 'kolkata-cc', '2026-11-01', { now, timeZone: 'Asia/Kolkata' });
    const second = await gatherSiteDay({ blobs, catalogue }, 'kolkata-cc', '2026-11-02', { now, timeZone: 'Asia/Kolkata' });
    expect(first.packs.map((p) => p.createdAt)).toEqual([]);
    expect(second.packs.map((p) => p.createdAt)).toEqual(['2026-11-01T20:35:00.000Z', '2026-11-02T17:35:00.000Z']);
    expect([first.judgedAt, second.judgedAt, second.timeZone]).toEqual(['2026-11-01T18:30:00.000Z', '2026-11-02T18:30:00.000Z', 'Asia/Kolkata']);
  });

  it("says which zone the day is in and its 25 hours on the day New York's clocks go back, judging a daily backup at 00:30 EDT, 24.5 h before that day's end, as on time", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    // 00:30 EDT on 1 Nov is 04:30Z: the UTC day's, but New York's day too.
    await catalogue.putArtefact(makeFull('2026-11-01T04:30:00.000Z', { site: 'ny-cc', source: 'db' }));
    const report = await dailyReport({ blobs, catalogue }, 'ny-cc', '2026-11-01', { now: () => new Date('2026-11-02T12:00:00.000Z'), timeZone: 'America/New_York' });
    expect(report.status).toBe('FULL');
    expect(report.timeZone).toBe('America/New_York');
    expect(report.judgedAt).toBe('2026-11-02T05:00:00.000Z');
    expect(renderDailyReport(report).split('\n').slice(0, 2)).toEqual([
      'FULL  ny-cc  2026-11-01  (judged at 2026-11-02 05:00Z)',
      "  the site's day in America/New_York: 2026-11-01 04:00Z to 2026-11-02 05:00Z, 25 h: the clocks changed",
    ]);
  });

  it("judges a backup every 48 h at 00:30 local as on time the day after New York's clocks went back, 48.5 h before that day's end", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    // 00:30 EDT on 1 Nov (04:30Z); the next is due at 00:30 EST on 3 Nov (05:30Z), the clocks having gone back between.
    await catalogue.putArtefact(makeFull('2026-11-01T04:30:00.000Z', { site: 'ny-cc', source: 'db' }));
    const report = await dailyReport({ blobs, catalogue }, 'ny-cc', '2026-11-02', { now: () => new Date('2026-11-03T12:00:00.000Z'), timeZone: 'America/New_York', expect: [{ name: 'db', type: 'rotated', everyHours: 48 }] });
    expect(report.judgedAt).toBe('2026-11-03T05:00:00.000Z');
    // Nothing else arrived in the day (said as such); the backup itself is on time.
    expect(report.problems.filter((p) => p.startsWith('db:'))).toEqual([]);
  });

  it("reports each site's yesterday in its own zone by default, and takes the zones from SITE_TIME_ZONES", async () => {
    // 00:30Z on 2 Nov: 06:00 on 2 Nov in Kolkata, 00:30 on 2 Nov in London, 20:30 on 1 Nov in New York.
    const now = new Date('2026-11-02T00:30:00.000Z');
    expect(siteReportDay(now, 'Asia/Kolkata')).toBe('2026-11-01');
    expect(siteReportDay(now, 'Europe/London')).toBe('2026-11-01');
    expect(siteReportDay(now, 'America/New_York')).toBe('2026-10-31');
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    await catalogue.putArtefact(makeFull('2026-10-31T22:00:00.000Z', { site: 'kolkata-cc', source: 'db' }));
    await catalogue.putArtefact(makeFull('2026-10-31T14:00:00.000Z', { site: 'ny-cc', source: 'db' }));
    const handler = createHandler({ blobs, catalogue, notifier: { notify: async () => undefined }, sites: ['kolkata-cc', 'ny-cc'], timeZones: { 'kolkata-cc': 'Asia/Kolkata', 'ny-cc': 'America/New_York' }, clock: { now: () => now }, log: () => undefined });
    const run = (await handler({})) as ReportRun;
    expect(run.reports.map((r) => [r.site, r.day, r.timeZone, r.status])).toEqual([
      ['kolkata-cc', '2026-11-01', 'Asia/Kolkata', 'FULL'],
      ['ny-cc', '2026-10-31', 'America/New_York', 'FULL'],
    ]);
    const env = { AWS_REGION: 'eu-west-1', BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t', SITES: 'kolkata-cc,ny-cc' };
    expect(loadReportDeps({ ...env, SITE_TIME_ZONES: '{"kolkata-cc":"Asia/Kolkata"}' }).timeZones).toEqual({ 'kolkata-cc': 'Asia/Kolkata' });
    expect(() => loadReportDeps({ ...env, SITE_TIME_ZONES: '{"kolkata-cc":"Asia/Kolkatta"}' })).toThrow(/SITE_TIME_ZONES/);
  });
});
