// Restore drills (plan the latest point, fetch, verify every hash) and the monthly attestation,
// on the memory stores with real manifests as the agent publishes them.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { recordDrill, runDrill } from '../../cli/drill-commands.ts';
import { attestMonth, attestationDigest, checkAttestationMarkdown, renderAttestationCsv, renderAttestationMarkdown, storeAttestation } from '../../core/attest.ts';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { recordScrub, verifySite } from '../../core/verify.ts';
import { min, publishArtefact } from '../support/artefact-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

async function site() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full.sql', body: randomBytes(20_000), takenAt: min(0), extra: { position: { logFile: 'mysql-bin.000002', logPos: 4 } } });
  const segments = [];
  for (const seq of [2, 3]) {
    segments.push(await publishArtefact(blobs, { source: 'binlog', sourceType: 'binlog', role: 'segment', name: `mysql-bin.00000${seq}`, body: randomBytes(5_000), takenAt: min(seq * 10), extra: { sequence: seq, series: 'mysql-bin', span: { from: min(seq * 10 - 10), to: min(seq * 10) } } }));
  }
  await publish(blobs, buildPack('site-a', [0, 1].map((i) => ({ path: `b1/call-${i}.wav`, body: audio(i, 800) }))));
  await rebuildCatalogue({ blobs, catalogue });
  return { blobs, catalogue, segments };
}

const now = () => new Date('2026-03-01T12:00:00.000Z');

describe('restore drill', () => {
  it('plans the newest shipped point, fetches the full and every segment, verifies each hash, and the daily report shows the drill', async () => {
    const { blobs, catalogue } = await site();
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now });
    expect(result).toMatchObject({ ok: true, artefacts: 3, problems: [], target: '2026-03-01T00:30:00.000Z from full.sql + 2 segment(s) of binlog' });
    await recordDrill(blobs, result);
    const report = await dailyReport({ blobs, catalogue }, 'site-a', '2026-03-01', { now });
    expect(report.drills).toEqual([{ source: 'db', ok: true, target: result.target, problems: [] }]);
  });

  it('drills up to the newest shipped event, a partial snapshot of the active log included', async () => {
    const { blobs, catalogue } = await site();
    await publishArtefact(blobs, { source: 'binlog', sourceType: 'binlog', role: 'segment', name: 'mysql-bin.000004', body: randomBytes(2_000), takenAt: min(36), extra: { sequence: 4, series: 'mysql-bin', partial: true, span: { from: min(30), to: min(35) } } });
    await rebuildCatalogue({ blobs, catalogue });
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now });
    expect(result).toMatchObject({ ok: true, artefacts: 4, problems: [], target: '2026-03-01T00:35:00.000Z from full.sql + 3 segment(s) of binlog' });
  });

  it('drills the newest full when it completed after the last shipped event, in the same second, past a gap before it', async () => {
    const { blobs, catalogue } = await site();
    // mysql-bin.000004 never went offsite; a new full at 00:50:00.589 holds position 000005:4,
    // and 000005's partial snapshot has its events up to 00:50:00.
    const taken = new Date(Date.parse(min(50)) + 589).toISOString();
    await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'full-2.sql', body: randomBytes(20_000), takenAt: taken, extra: { position: { logFile: 'mysql-bin.000005', logPos: 4 } } });
    await publishArtefact(blobs, { source: 'binlog', sourceType: 'binlog', role: 'segment', name: 'mysql-bin.000005', body: randomBytes(2_000), takenAt: min(51), extra: { sequence: 5, series: 'mysql-bin', partial: true, span: { from: min(50), to: min(50) } } });
    await rebuildCatalogue({ blobs, catalogue });
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now });
    expect(result).toMatchObject({ ok: true, artefacts: 2, problems: [], target: `${min(50)} from full-2.sql + 1 segment(s) of binlog` });
  });

  it('fails when a stored segment no longer matches its SHA-256, naming it, and the daily report turns PARTIAL', async () => {
    const { blobs, catalogue, segments } = await site();
    await blobs.put(segments[1]!.key, randomBytes(5_000));
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'db', now });
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toContain('mysql-bin.000003');
    await recordDrill(blobs, result);
    const report = await dailyReport({ blobs, catalogue }, 'site-a', '2026-03-01', { now, expect: [{ name: 'binlog', type: 'binlog', rpoMinutes: 24 * 60 }] });
    expect(report.status).toBe('PARTIAL');
    expect(report.problems.filter((p) => p.startsWith('drill db: '))).toHaveLength(1);
  });

  it('fails with a clear reason for a source that has shipped nothing', async () => {
    const { blobs, catalogue } = await site();
    const result = await runDrill({ blobs, catalogue }, { site: 'site-a', source: 'nope', now });
    expect(result.ok).toBe(false);
    expect(result.problems[0]).toContain('has no source "nope"');
  });
});

describe('monthly attestation', () => {
  it('accounts for every pack and artefact of the month with key, storage class, retention and last scrub, and carries its own SHA-256', async () => {
    const { blobs } = await site();
    const scrub = await verifySite(blobs, { site: 'site-a', now });
    await recordScrub(blobs, scrub);
    const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now, retention: async (key) => (key.startsWith('backups/') ? { mode: 'COMPLIANCE', until: '2027-03-01T00:00:00.000Z' } : undefined) });
    expect(a.summary).toMatchObject({ items: 4, packs: 1, backups: 1, segments: 2, missing: 0, unlocked: 3, neverVerified: 0 });
    expect(a.items.find((i) => i.kind === 'full')).toMatchObject({ storageClass: 'STANDARD', retainUntil: '2027-03-01T00:00:00.000Z', retentionMode: 'COMPLIANCE', lastVerified: scrub.finishedAt, present: true });
    expect(a.sha256).toBe(attestationDigest(a));

    const md = renderAttestationMarkdown(a);
    expect(md).toContain('| 2026-03-01T09:00:00.000Z | pack | contactstore | batch-1 |');
    expect(checkAttestationMarkdown(md)).toBe(true);
    expect(checkAttestationMarkdown(md.replace('COMPLIANCE', 'GOVERNANCE'))).toBe(false);

    const keys = await storeAttestation(blobs, a);
    expect(keys).toEqual({ json: 'reports/site-a/attest/2026/03/20260301T120000000Z.json', markdown: 'reports/site-a/attest/2026/03/20260301T120000000Z.md', csv: 'reports/site-a/attest/2026/03/20260301T120000000Z.csv' });
    const empty = await attestMonth(blobs, { site: 'site-a', month: '2026-04', now });
    expect(empty.summary.items).toBe(0);
  });

  it('marks an object gone from the bucket as missing', async () => {
    const { blobs, segments } = await site();
    await blobs.delete(segments[0]!.key);
    const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now });
    expect(a.summary.missing).toBe(1);
    expect(renderAttestationMarkdown(a)).toContain('**MISSING**');
  });

  it('states a legal hold as what keeps an item immutable, past an ended retention date, counts it, and does not call it unlocked', async () => {
    const { blobs } = await site();
    const pack = (key: string) => key.startsWith('recordings/');
    const a = await attestMonth(blobs, { site: 'site-a', month: '2026-03', now, retention: async (key) => (pack(key) ? { mode: 'GOVERNANCE', until: '2026-04-01T00:00:00.000Z' } : undefined), legalHold: async (key) => pack(key) });
    expect(a.summary).toMatchObject({ items: 4, held: 1, unlocked: 3 });
    expect(a.items.find((i) => i.kind === 'pack')).toMatchObject({ legalHold: true, retainUntil: '2026-04-01T00:00:00.000Z' });
    const md = renderAttestationMarkdown(a);
    expect(md).toContain('- Under legal hold (immutable while held, whatever the date): 1');
    expect(md).toContain('| legal hold; retention 2026-04-01T00:00:00.000Z (GOVERNANCE) |');
    const csv = renderAttestationCsv(a).split('\r\n');
    expect(csv[0]!.split(',').at(-1)).toBe('legal_hold');
    expect(csv.filter((row) => row.endsWith(',true'))).toHaveLength(1);
  });

  it('refuses a month not written YYYY-MM', async () => {
    await expect(attestMonth(new MemoryBlobStore(), { site: 'site-a', month: '2026-13' })).rejects.toThrow('month "2026-13" must be written YYYY-MM (01-12)');
  });
});
