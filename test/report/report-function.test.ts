// The scheduled report function: every site's daily report kept in the bucket and published to
// the report topic (the publisher is the SNS edge), and on the 1st the month's attestations.
import { describe, expect, it } from 'vitest';
import { createHandler, type ReportRun } from '../../functions/report/handler.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { Alert } from '../../core/ports.ts';
import { makeFull } from '../support/artefact-fixtures.ts';

function rig(now: string) {
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

  it('on the 1st also keeps the attestation of the month before for every site', async () => {
    const { published, handler } = rig('2026-04-01T06:00:00.000Z');
    const run = (await handler({})) as ReportRun;
    expect(run.attestations.map((a) => [a.site, a.month, a.markdown?.startsWith(`reports/${a.site}/attest/2026/03/`)])).toEqual([
      ['site-a', '2026-03', true],
      ['site-b', '2026-03', true],
    ]);
    expect(published).toHaveLength(2);
  });

  it('refuses a site that is not in the deployment, naming it', async () => {
    const { handler } = rig('2026-03-02T06:00:00.000Z');
    await expect(handler({ sites: ['site-z'] })).rejects.toThrow('sites not in this deployment: site-z');
  });
});
