import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { planRestoreFromCatalogue } from '../../core/restore-source.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';

// Which binlogs go with which fulls at a mixed site: an OCS front end's SQL Server `.bak`s and
// LCSCmd export beside a MySQL database with its binlogs (the README's london-cc shape).

const min = (m: number) => new Date(Date.UTC(2026, 11, 5, 11, m)).toISOString();

async function mixedSite() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  for (const [name, m] of [['rtc_full.bak', 1], ['global-pool.xml', 2], ['rtcconfig_full.bak', 3]] as const) {
    await publishArtefact(blobs, { source: 'sql', sourceType: 'rotated', role: 'full', name, body: randomBytes(2000), takenAt: min(m), extra: { profile: 'generic' } });
  }
  await publishArtefact(blobs, { source: 'db', sourceType: 'rotated', role: 'full', name: 'shop.sql', body: randomBytes(2000), takenAt: min(0) });
  for (const seq of [1, 2]) {
    await publishArtefact(blobs, { source: 'binlogs', sourceType: 'binlog', role: 'segment', name: `mysql-bin.00000${seq}`, body: randomBytes(1000), takenAt: min(seq * 5), extra: { sequence: seq, series: 'mysql-bin', span: { from: min(seq * 5 - 5), to: min(seq * 5) } } });
  }
  await rebuildCatalogue({ blobs, catalogue });
  return catalogue;
}

describe('pairing fulls with the site\'s binlogs', () => {
  it('plans SQL Server and LCSCmd backups without logs at a site that also ships MySQL binlogs: every name, no replay, any time after them', async () => {
    const catalogue = await mixedSite();
    const plan = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'sql', at: min(50), now: new Date(min(60)) });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.files.map((f) => f.name).sort()).toEqual(['global-pool.xml', 'rtc_full.bak', 'rtcconfig_full.bak']);
    expect(plan.files.some((f) => f.name.startsWith('mysql-bin'))).toBe(false);
    expect(plan.logSource).toBeUndefined();
  });

  it('still pairs a MySQL dump with the only binlog source, and takes --log-source none for the fulls alone, saying so', async () => {
    const catalogue = await mixedSite();
    const paired = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', at: min(8), now: new Date(min(60)) });
    expect(paired).toMatchObject({ ok: true, logSource: 'binlogs' });
    const alone = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'db', logSource: 'none', at: min(50), now: new Date(min(60)) });
    expect(alone.ok).toBe(true);
    if (alone.ok) expect(alone.files.map((f) => f.name)).toEqual(['shop.sql']);
    if (alone.ok) expect(alone.notes.join('\n')).toMatch(/^the log segments are left out on request \(--log-source none\)/m);
  });

  it("plans an archive source (rostrvm's .sdb) as the archives whose span holds T, fetched as shipped; refuses a T no archive covers, naming the nearest covered time", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const archive = (name: string, from: number, to: number) =>
      publishArtefact(blobs, { source: 'archives', sourceType: 'archive', role: 'archive', name, body: randomBytes(1500), takenAt: min(to), extra: { span: { from: min(from), to: min(to) }, spanSource: 'name' } });
    await archive('Voice Recording a.sdb', 0, 20);
    await archive('Email Archive a.sdb', 10, 40);
    await archive('Voice Recording b.sdb', 21, 40);
    await rebuildCatalogue({ blobs, catalogue });
    const plan = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'archives', at: min(15), now: new Date(min(60)) });
    expect(plan.ok).toBe(true);
    if (!plan.ok) return;
    expect(plan.files.map((f) => [f.role, f.name])).toEqual([
      ['archive', 'Voice Recording a.sdb'],
      ['archive', 'Email Archive a.sdb'],
    ]);
    expect(plan.commands.filter((c) => c.startsWith('# rostrvm archive: copy ')).sort()).toEqual([
      expect.stringMatching(/^# rostrvm archive: copy Email Archive a\.sdb to where the rostrvm AuditLog viewer reads archives/),
      expect.stringMatching(/^# rostrvm archive: copy Voice Recording a\.sdb to where the rostrvm AuditLog viewer reads archives/),
    ]);
    expect(plan.notes.join('\n')).toMatch(/^the archive\(s\) covering T: Voice Recording a\.sdb \(.*\), Email Archive a\.sdb \(.*\); each is a closed archive/m);
    const none = await planRestoreFromCatalogue(catalogue, { site: 'site-a', source: 'archives', at: min(50), now: new Date(min(60)) });
    expect(none).toMatchObject({ ok: false, code: 'no-full', reason: expect.stringMatching(/^no archive of archives covers T/), nearestReachable: min(40) });
  });
});
