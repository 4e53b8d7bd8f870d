// The scheduled report function: every site's daily report kept in the bucket and published to
// the report topic (the publisher is the SNS edge), and on the 1st the month's attestations.
import { describe, expect, it } from 'vitest';
import { createHandler, loadReportDeps, type ReportRun } from '../../functions/report/handler.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { Alert } from '../../core/ports.ts';
import { ArchivedError, NotDeliveredError } from '../../core/errors.ts';
import { verifySite } from '../../core/verify.ts';
import { dailyReport, renderDailyReport } from '../../core/report.ts';
import { makeFull } from '../support/artefact-fixtures.ts';
import { MemoryErasureStore } from '../../core/erasure-items.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

function rig(now: string, scrubSample?: number, retired?: Record<string, string>) {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const published: Alert[] = [];
  const handler = createHandler({
    blobs,
    catalogue,
    notifier: { notify: async (alert) => void published.push(alert) },
    sites: ['site-a', 'site-b'],
    clock: { now: () => new Date(now) },
    log: () => undefined,
    ...(scrubSample ? { scrubSample } : {}),
    ...(retired ? { retired } : {}),
  });
  return { blobs, catalogue, published, handler };
}

describe('scheduled report function', () => {
  it("keeps and publishes yesterday's report of every site, FULL or FAILED as the catalogue says", async () => {
    const { catalogue, published, handler } = rig('2026-03-02T06:00:00.000Z');
    await catalogue.putArtefact(makeFull('2026-03-01T03:05:00.000Z', { site: 'site-a', source: 'db' }));
    await catalogue.putArtefact(makeFull('2026-02-28T03:05:00.000Z', { site: 'site-b', source: 'db' }));
    const run = (await handler({})) as ReportRun;
    expect(run.day).toBe('2026-03-01');
    expect(run.reports.map((r) => [r.site, r.status, r.key?.startsWith(`reports/${r.site}/daily/2026/03/01/`)])).toEqual([
      ['site-a', 'FULL', true],
      ['site-b', 'FAILED', true],
    ]);
    expect(run.attestations).toEqual([]);
    expect(published.map((p) => [p.subject, p.severity])).toEqual([
      ['[Ferry] FULL site-a 2026-03-01: every source shipped', 'info'],
      ['[Ferry] FAILED site-b 2026-03-01: 2 problem(s)', 'critical'],
    ]);
    expect(published[1]!.message).toContain('db (rotated): no full backup in the last 24 h');
  });

  it("mails each report at its worst finding: an erasure request pending 26 days makes the PARTIAL report critical, one pending 8 days the FULL report a warning", async () => {
    const now = '2026-03-02T06:00:00.000Z';
    const catalogue = new MemoryCatalogue();
    const erasures = new MemoryErasureStore();
    const published: Alert[] = [];
    for (const site of ['site-a', 'site-b']) await catalogue.putArtefact(makeFull('2026-03-01T03:05:00.000Z', { site, source: 'db' }));
    const pending = (site: string, rid: string, requestedAt: string) => erasures.createErasure({ site, rid, reason: 'data subject request', requestedBy: 'dpo@example.com', requestedAt, packKey: `recordings/${site}/p.tar`, manifestKey: `manifests/${site}/p.json`, call: `callId=${rid.toUpperCase()}`, status: 'pending' });
    await pending('site-a', 'r-old', '2026-02-03T12:00:00.000Z');
    await pending('site-b', 'r-week', '2026-02-21T12:00:00.000Z');
    const handler = createHandler({ blobs: new MemoryBlobStore(), catalogue, erasures, notifier: { notify: async (alert) => void published.push(alert) }, sites: ['site-a', 'site-b'], clock: { now: () => new Date(now) }, log: () => undefined });
    const run = (await handler({})) as ReportRun;
    expect(run.reports.map((r) => [r.site, r.status])).toEqual([['site-a', 'PARTIAL'], ['site-b', 'FULL']]);
    expect(published.map((p) => [p.subject, p.severity])).toEqual([
      ['[Ferry] PARTIAL site-a 2026-03-01: 1 problem(s)', 'critical'],
      ['[Ferry] FULL site-b 2026-03-01: every source shipped', 'warning'],
    ]);
    expect(published[0]!.message).toMatch(/CRITICAL: erasure request for call r-old .*pending for 26 days/);
  });

  it('publishes a retired site as RETIRED (info, naming the day), not FAILED, and takes the retired sites from RETIRED_SITES', async () => {
    const { catalogue, published, handler } = rig('2026-06-02T06:00:00.000Z', undefined, { 'site-b': '2026-03-01' });
    await catalogue.putArtefact(makeFull('2026-06-01T03:05:00.000Z', { site: 'site-a', source: 'db' }));
    await catalogue.putArtefact(makeFull('2026-02-28T03:05:00.000Z', { site: 'site-b', source: 'db' }));
    const run = (await handler({})) as ReportRun;
    expect(run.reports.map((r) => [r.site, r.status])).toEqual([['site-a', 'FULL'], ['site-b', 'RETIRED']]);
    expect(published.map((p) => [p.subject, p.severity])).toEqual([
      ['[Ferry] FULL site-a 2026-06-01: every source shipped', 'info'],
      ['[Ferry] RETIRED site-b 2026-06-01: retired 2026-03-01, nothing expected', 'info'],
    ]);
    const env = { AWS_REGION: 'eu-west-1', BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t', SITES: 'site-a,site-b' };
    expect(loadReportDeps({ ...env, RETIRED_SITES: '{"site-b":"2026-03-01"}' }).retired).toEqual({ 'site-b': '2026-03-01' });
    expect(loadReportDeps(env).retired).toEqual({});
    expect(() => loadReportDeps({ ...env, RETIRED_SITES: '["site-b"]' })).toThrow(/RETIRED_SITES: must be a JSON object of site: "YYYY-MM-DD"/);
  });

  it('the monthly run keeps the attestation of the month before for every site as JSON, Markdown and CSV, and no daily report', async () => {
    const { blobs, published, handler } = rig('2026-04-01T06:30:00.000Z');
    const run = (await handler({ run: 'monthly' })) as ReportRun;
    expect(run.attestations.map((a) => [a.site, a.month, [a.json, a.markdown, a.csv].every((k) => k?.startsWith(`reports/${a.site}/attest/2026/03/`))])).toEqual([
      ['site-a', '2026-03', true],
      ['site-b', '2026-03', true],
    ]);
    expect(run.reports).toEqual([]);
    expect(published).toHaveLength(0);
    expect((await blobs.head(run.attestations[0]!.csv!))?.size).toBeGreaterThan(0);
  });

  it('the daily run on the 1st makes no attestation (the monthly schedule does)', async () => {
    const { handler } = rig('2026-04-01T06:00:00.000Z');
    expect(((await handler({ run: 'daily' })) as ReportRun).attestations).toEqual([]);
  });

  it('publishes every site even when one publish fails, then fails the run naming the site, so the retry and dead-letter queue see it', async () => {
    const blobs = new MemoryBlobStore();
    const sent: string[] = [];
    const handler = createHandler({
      blobs,
      catalogue: new MemoryCatalogue(),
      notifier: {
        notify: async (alert) => {
          if (alert.site === 'site-a') throw new NotDeliveredError('SNS said no');
          sent.push(alert.site);
        },
      },
      sites: ['site-a', 'site-b'],
      clock: { now: () => new Date('2026-03-02T06:00:00.000Z') },
      log: () => undefined,
    });
    const error = await handler({}).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.name).toBe('NotDeliveredError');
    expect(error?.message).toMatch(/1 message\(s\) not published: site-a: SNS said no/);
    expect(sent).toEqual(['site-b']);
    // Both reports were kept before the publish: nothing is lost for the retry.
    const kept: string[] = [];
    for await (const info of blobs.list('reports/site-b/daily/')) kept.push(info.key);
    expect(kept).toHaveLength(1);
  });

  it('refuses a site that is not in the deployment, naming it', async () => {
    const { handler } = rig('2026-03-02T06:00:00.000Z');
    await expect(handler({ sites: ['site-z'] })).rejects.toThrow('sites not in this deployment: site-z');
  });

  it("scrubs a sample of each site's objects every run, and the day's report lists the damage found", async () => {
    const { blobs, handler } = rig('2026-03-02T06:00:00.000Z', 1);
    const pack = buildPack('site-a', [0, 1].map((i) => ({ path: `b1/call-${i}.wav`, body: audio(i, 900) })));
    await publish(blobs, pack);
    const damaged = Buffer.from(pack.pack);
    damaged.writeUInt8(damaged.readUInt8(pack.manifest.members[0]!.offset) ^ 1, pack.manifest.members[0]!.offset);
    await blobs.put(pack.packKey, damaged);
    const run = (await handler({})) as ReportRun;
    expect(run.scrubs.map((s) => [s.site, s.objects, s.problems])).toEqual([
      ['site-a', 1, 2],
      ['site-b', 0, 0],
    ]);
    const nextDay: Alert[] = [];
    const reportRun = (await createHandlerWith(blobs, nextDay)({})) as ReportRun;
    expect(reportRun.reports.find((r) => r.site === 'site-a')?.status).not.toBe('FULL');
    expect(nextDay.find((p) => p.site === 'site-a')?.message).toContain(`${pack.packKey} member b1/call-0.wav: member SHA-256`);
  });
});

describe('the daily run under a deadline', () => {
  /** Two sites with three packs each of 2026-03-01; a GET of one of site-a's packs takes `slowMs` of the Lambda's time. */
  async function deadlineRig(slowMs: number, leftMs = 600_000) {
    const blobs = new MemoryBlobStore();
    const puts: string[] = [];
    let left = leftMs;
    for (const site of ['site-a', 'site-b']) {
      for (const n of [0, 1, 2]) await publish(blobs, buildPack(site, [{ path: `b${n}/call.wav`, body: audio(n, 300) }]));
    }
    const store = Object.assign(Object.create(blobs) as MemoryBlobStore, {
      put: (key: string, body: Uint8Array, options?: object) => (puts.push(key), blobs.put(key, body, options)),
      get: async (key: string) => {
        if (key.startsWith('recordings/site-a/')) left -= slowMs;
        return blobs.get(key);
      },
    });
    const handler = createHandler({ blobs: store, catalogue: new MemoryCatalogue(), notifier: { notify: async () => undefined }, sites: ['site-a', 'site-b'], clock: { now: () => new Date('2026-03-02T06:00:00.000Z') }, log: () => undefined, scrubSample: 1 });
    const context = { getRemainingTimeInMillis: () => left };
    return { blobs, puts, run: async () => (await handler({}, context)) as ReportRun };
  }

  it('keeps every daily report before any scrub starts, and a scrub with no time left says it was cut short', async () => {
    const { puts, run } = await deadlineRig(0);
    const result = await run();
    const firstScrub = puts.findIndex((k) => k.includes('/scrub/'));
    expect(puts.slice(0, firstScrub).filter((k) => k.includes('/daily/'))).toHaveLength(2);
    expect(result.scrubs.map((s) => [s.site, s.objects, s.cutShort ?? null])).toEqual([
      ['site-a', 3, null],
      ['site-b', 3, null],
    ]);
    const starved = await (await deadlineRig(0, 1_000)).run();
    expect(starved.reports.map((r) => r.key?.startsWith(`reports/${r.site}/daily/`))).toEqual([true, true]);
    expect(starved.scrubs.map((s) => [s.site, s.objects, s.cutShort])).toEqual([
      ['site-a', 0, "the run's time was up after 0 of 3 picked object(s)"],
      ['site-b', 0, "the run's time was up after 0 of 3 picked object(s)"],
    ]);
  });

  it("cuts a slow site's scrub short at its share of the time left, saying so, and the next site still gets its own", async () => {
    const { blobs, run } = await deadlineRig(300_000);
    const result = await run();
    const next = await dailyReport({ blobs, catalogue: new MemoryCatalogue() }, 'site-a', '2026-03-02', { now: () => new Date('2026-03-03T06:00:00.000Z') });
    expect(next.scrub).toMatchObject({ runs: 1, objects: 1, cutShort: 1 });
    expect(renderDailyReport(next)).toContain('scrub: 1 run(s), 1 object(s) read, 0 damaged; 1 run(s) cut short when their time was up (an incomplete check)');
    expect(result.reports.map((r) => r.site)).toEqual(['site-a', 'site-b']);
    expect(result.scrubs.map((s) => [s.site, s.objects, s.cutShort ?? null])).toEqual([
      ['site-a', 1, "the run's time was up after 1 of 3 picked object(s)"],
      ['site-b', 3, null],
    ]);
  });
});

describe('scrub of archived objects', () => {
  it('counts an object in an archive tier as not read, not as damaged', async () => {
    const blobs = new MemoryBlobStore();
    const pack = buildPack('site-a', [{ path: 'b1/call.wav', body: audio(1, 500) }]);
    await publish(blobs, pack);
    const store = {
      list: (prefix: string) => blobs.list(prefix),
      get: async (key: string) => {
        if (key === pack.packKey) throw new ArchivedError(`${key} is in the archive tier`, 'DEEP_ARCHIVE');
        return blobs.get(key);
      },
    };
    const result = await verifySite(store, { site: 'site-a' });
    expect([result.problems, result.archived]).toEqual([[], [pack.packKey]]);
  });
});

function createHandlerWith(blobs: MemoryBlobStore, published: Alert[]) {
  return createHandler({
    blobs,
    catalogue: new MemoryCatalogue(),
    notifier: { notify: async (alert) => void published.push(alert) },
    sites: ['site-a', 'site-b'],
    clock: { now: () => new Date('2026-03-03T06:00:00.000Z') },
    log: () => undefined,
  });
}
