import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.ts';
import { collectPages } from '../../core/paging.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import type { SnapshotSummary } from '../../core/tree-manifest.ts';

// The tree snapshot half of the CatalogueStore contract: one behaviour for every store.

const DAY = 86_400_000;
const BASE = Date.parse('2026-03-01T22:00:00.000Z');

function summary(site: string, source: string, day: number, n = 0): SnapshotSummary {
  const takenAt = new Date(BASE + day * DAY + n * 60_000).toISOString();
  const snapshotId = `s${String(day * 10 + n).padStart(23, '0')}`;
  return { site, source, snapshotId, takenAt, manifestKey: `manifests/${site}/trees/${source}/${snapshotId}.json`, files: day, dirs: 1, symlinks: 0, problems: 0, bytesTotal: 1000 + day, bytesAdded: day, packs: 2 };
}

export function snapshotCatalogueContract(fresh: () => Promise<CatalogueStore>): void {
  describe('tree snapshots', () => {
    it('lists a source newest first, pages through every snapshot once, and `at` keeps those taken at or before it', async () => {
      const store = await fresh();
      const share = Array.from({ length: 7 }, (_, d) => summary('site-a', 'share', d));
      for (const s of [...share, summary('site-a', 'books', 3), summary('site-b', 'share', 9)]) await store.putSnapshot(s);
      await store.putSnapshot(share[2]!); // idempotent
      const pages: number[] = [];
      const all = await collectPages((cursor) => store.listSnapshots({ site: 'site-a', source: 'share', limit: 3, cursor }), { maxPages: 100, onPage: (p) => pages.push(p.items.length) });
      expect(pages).toEqual([3, 3, 1]);
      expect(all).toEqual([...share].reverse());
      const restorePoint = await store.listSnapshots({ site: 'site-a', source: 'share', at: new Date(BASE + 4 * DAY + 1).toISOString(), limit: 1 });
      expect(restorePoint.items.map((s) => s.snapshotId)).toEqual([share[4]!.snapshotId]);
      expect(restorePoint.cursor).toBeDefined();
      expect((await store.listSnapshots({ site: 'site-a', source: 'share', at: new Date(BASE - 1).toISOString() })).items).toEqual([]);
      const everySource = await collectPages((cursor) => store.listSnapshots({ site: 'site-a', at: new Date(BASE + 3 * DAY).toISOString(), limit: 2, cursor }), { maxPages: 100 });
      expect(everySource.map((s) => `${s.source}/${s.files}`)).toEqual(['share/3', 'share/2', 'share/1', 'share/0', 'books/3']);
    });

    it('keeps a snapshot\'s mass change (the figures the daily report names) and gives none to a snapshot without one', async () => {
      const store = await fresh();
      const changed = { ...summary('site-a', 'share', 2), massChange: { changed: 23, previousFiles: 23, parentTakenAt: '2026-03-02T22:00:00.000Z' } };
      await store.putSnapshot(summary('site-a', 'share', 1));
      await store.putSnapshot(changed);
      const { items } = await store.listSnapshots({ site: 'site-a', source: 'share' });
      expect(items).toStrictEqual([changed, summary('site-a', 'share', 1)]);
    });

    it('forgets one snapshot and nothing else', async () => {
      const store = await fresh();
      const [a, b] = [summary('site-a', 'share', 1), summary('site-a', 'share', 2)];
      await store.putSnapshot(a);
      await store.putSnapshot(b);
      await store.forgetSnapshot(a);
      await store.forgetSnapshot(a);
      expect((await store.listSnapshots({ site: 'site-a' })).items).toEqual([b]);
    });

    it('refuses a bad cursor, limit or time naming it', async () => {
      const store = await fresh();
      await expect(store.listSnapshots({ site: 'site-a', cursor: 'nope!' })).rejects.toThrow(InvalidInputError);
      await expect(store.listSnapshots({ site: 'site-a', limit: 0 })).rejects.toThrow(/limit must be/);
      await expect(store.listSnapshots({ site: 'site-a', at: 'yesterday' })).rejects.toThrow(/at must be an ISO 8601/);
      await expect(store.putSnapshot({ ...summary('site-a', 'share', 1), snapshotId: 'x' })).rejects.toThrow(/snapshot id "x" is malformed/);
    });
  });
}
