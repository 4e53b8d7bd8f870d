// The daily report run repairs the catalogue before it reports (functions/report/reconcile.ts):
// a pack whose ingest never happened is catalogued again, counted and logged, so the report that
// follows finds its calls and says FULL; with the reconciler off the same day is PARTIAL.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler, loadReportDeps, type ReportRun } from '../../functions/report/handler.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

const NOW = '2026-03-02T06:00:00.000Z';

async function rig(days?: number) {
  const clock = new ManualClock(new Date('2026-03-01T09:00:00.000Z'));
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  // Shipped on the 1st, never ingested (its S3 event was lost).
  const f = buildPack('site-a', [{ path: '000001/a.wav', body: audio(1, 600) }, { path: '000001/b.wav', body: audio(2, 600) }], { day: '2026-03-01T00:00:00Z', createdAt: '2026-03-01T09:00:00.000Z' });
  await publish(blobs, f);
  clock.set(new Date(NOW));
  const counts: [string, string | undefined, number | undefined][] = [];
  const logs: [string, string, Record<string, unknown> | undefined][] = [];
  const handler = createHandler({
    blobs,
    catalogue,
    notifier: { notify: async () => undefined },
    sites: ['site-a'],
    clock,
    log: (level, message, detail) => void logs.push([level, message, detail]),
    reconcile: { days: days ?? 3, count: (name, site, value) => void counts.push([name, site, value]) },
  });
  return { f, catalogue, handler, counts, logs };
}

describe('daily report run: the reconciler', () => {
  it('catalogues a pack its ingest never saw before the report, counts it in ManifestsReconciled and logs it; the report is FULL', async () => {
    const { f, catalogue, handler, counts, logs } = await rig();
    const run = (await handler({})) as ReportRun;
    expect(await catalogue.getPack('site-a', f.manifest.packId)).toBeDefined();
    expect(counts).toEqual([['ManifestsReconciled', 'site-a', 1]]);
    expect(logs.find((l) => l[1] === 'catalogue reconciled')).toEqual(['warn', 'catalogue reconciled', { site: 'site-a', from: '2026-02-28', to: '2026-03-02', packs: 1, artefacts: 0, snapshots: 0, failed: [] }]);
    expect(run.reports.map((r) => r.status)).toEqual(['FULL']);
  });

  it('with RECONCILE_DAYS=0 nothing is repaired and the report names the pack as not in the catalogue', async () => {
    const { handler, counts } = await rig(0);
    const run = (await handler({})) as ReportRun;
    expect(counts).toEqual([]);
    expect(run.reports.map((r) => r.status)).toEqual(['PARTIAL']);
    const env = { AWS_REGION: 'eu-west-1', BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', TOPIC_ARN: 'arn:aws:sns:eu-west-1:123456789012:t', SITES: 'site-a' };
    expect(loadReportDeps(env).reconcile?.days).toBe(3);
    expect(loadReportDeps({ ...env, RECONCILE_DAYS: '0' }).reconcile?.days).toBe(0);
  });
});
