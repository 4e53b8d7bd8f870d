// A backup or tree source whose manifests never reached the catalogue (its S3 event lost, its
// ingest failed past the dead-letter queue) is not invisible to the daily report: the day's
// manifests in the bucket are found, the source is judged on them (it is offsite) and the report
// is PARTIAL naming the fix; a source the agent's heartbeat says it shipped is expected too.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat } from '../../core/fleet.ts';
import { ingestChecked } from '../../core/ingest-checked.ts';
import { artefactManifestKey } from '../../core/layout.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';
import { publishSnapshot, publishTreePack } from '../support/tree-fixtures.ts';

const DAY = '2026-12-05';
const at = (hhmm: string, day = DAY) => `${day}T${hhmm}:00.000Z`;
const NOW = new Date(at('03:00', '2026-12-06'));

async function site() {
  const clock = new ManualClock(new Date(at('10:00')));
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  // `sql`: shipped and catalogued; `sql2` (backups) and `share` (tree): shipped, never catalogued.
  const sql = await publishArtefact(blobs, { source: 'sql', sourceType: 'rotated', role: 'full', name: 'ccx.bak', body: Buffer.from('one'), takenAt: at('10:00') });
  await ingestChecked({ blobs, catalogue }, artefactManifestKey('site-a', 'rotated', 'sql', sql.artefactId));
  const sql2 = await publishArtefact(blobs, { source: 'sql2', sourceType: 'rotated', role: 'full', name: 'ccx-full.bak', body: Buffer.from('two'), takenAt: at('10:05') });
  const pack = await publishTreePack(blobs, 'site-a', 'share', new Date(at('11:00')), ['file']);
  const snap = await publishSnapshot(blobs, { site: 'site-a', source: 'share', takenAt: at('11:00'), packs: [pack] });
  clock.set(NOW);
  return { blobs, catalogue, sql2, snap };
}

async function heartbeat(blobs: MemoryBlobStore, when: string, sources: Heartbeat['sources']) {
  const hb: Heartbeat = { format: HEARTBEAT_FORMAT, site: 'site-a', at: when, agentVersion: '0.1.0', sources, losses: 0, lastPass: { at: when, failed: 0, lost: 0 } };
  await blobs.put(heartbeatKey('site-a', new Date(when)), Buffer.from(JSON.stringify(hb)));
}

describe('daily report: backups and snapshots not in the catalogue', () => {
  it("is PARTIAL naming the day's backup and snapshot manifests the catalogue lacks and `catalogue rebuild`, and judges their sources as offsite", async () => {
    const { blobs, catalogue, sql2, snap } = await site();
    await heartbeat(blobs, at('00:05', '2026-12-06'), [
      { name: 'sql', type: 'rotated' },
      { name: 'sql2', type: 'rotated' },
      { name: 'share', type: 'tree' },
    ]);
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => NOW, signals: heartbeatSignals(blobs, () => NOW) });
    expect(report.status).toBe('PARTIAL');
    const line = (s: string) => report.sources.find((l) => l.source === s);
    expect(line('sql2')).toMatchObject({ ok: false, shipped: 'full backup ccx-full.bak taken 2026-12-05 10:05Z, 3 bytes' });
    expect(line('sql2')!.problems).toEqual([`1 copy(ies) shipped but not in the catalogue (its ingest failed): no restore plan or listing finds them; run \`ferry catalogue rebuild --site site-a\` (first: ${artefactManifestKey('site-a', 'rotated', 'sql2', sql2.artefactId)})`]);
    expect(line('share')!.problems).toEqual([`1 snapshot(s) shipped but not in the catalogue (its ingest failed): no restore plan or listing finds them; run \`ferry catalogue rebuild --site site-a\` (first: ${snap.manifestKey})`]);
    expect(line('sql')).toMatchObject({ ok: true });
    expect(report.problems.join('\n')).not.toMatch(/not offsite/);
  });

  it('expects a backup source its heartbeat says it shipped though the catalogue has no copy, and says so rather than "not offsite"', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    // Shipped long before the days the report reads; the catalogue never had it.
    await heartbeat(blobs, at('00:05', '2026-12-06'), [{ name: 'sql3', type: 'rotated', lastGood: { at: at('10:00', '2026-11-20'), key: 'manifests/site-a/backups/sql3/a0.json' } }]);
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => NOW, signals: heartbeatSignals(blobs, () => NOW) });
    const line = report.sources.find((l) => l.source === 'sql3');
    expect(line?.problems).toEqual(['its agent says manifests/site-a/backups/sql3/a0.json shipped at 2026-11-20 10:00Z, but the catalogue has no copy of this source (its ingest failed): no restore plan finds it; run `ferry catalogue rebuild --site site-a`']);
  });

  it('judges a backup shipped seconds before the day ended, still ingesting when the report runs at midnight, as offsite: FULL, not "not offsite" nor "its ingest failed"', async () => {
    const clock = new ManualClock(new Date(at('23:59')));
    const blobs = new MemoryBlobStore({ clock });
    const catalogue = new MemoryCatalogue();
    // Yesterday's copy is catalogued; the day's lands at 23:59:30 and its ingest has not run yet.
    const before = await publishArtefact(blobs, { source: 'sql', sourceType: 'rotated', role: 'full', name: 'ccx-1.bak', body: Buffer.from('one'), takenAt: at('23:50', '2026-12-04') });
    await ingestChecked({ blobs, catalogue }, artefactManifestKey('site-a', 'rotated', 'sql', before.artefactId));
    await publishArtefact(blobs, { source: 'sql', sourceType: 'rotated', role: 'full', name: 'ccx-2.bak', body: Buffer.from('two'), takenAt: at('23:59') });
    const now = new Date('2026-12-06T00:00:05.000Z');
    const report = await dailyReport({ blobs, catalogue }, 'site-a', DAY, { now: () => now });
    expect(report.status).toBe('FULL');
    expect(report.sources.find((l) => l.source === 'sql')).toMatchObject({ ok: true, shipped: 'full backup ccx-2.bak taken 2026-12-05 23:59Z, 3 bytes', problems: [] });
  });
});
