import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { rebuildCatalogue } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { publishArtefact } from '../support/artefact-fixtures.ts';

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
