import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.ts';
import type { ArtefactEntry, ArtefactQuery, CatalogueStore } from '../../core/ports.ts';
import { makeArchive, makeFull, makeSegment, min } from '../support/artefact-fixtures.ts';
import { collectPages } from '../../core/paging.ts';

// The artefact half of the CatalogueStore contract: one behaviour for every store.

/** Every page of a query, and each page's size (a store must not loop: 1,000 pages at most). */
async function all(store: CatalogueStore, query: Omit<ArtefactQuery, 'cursor'>): Promise<{ items: ArtefactEntry[]; pages: number[] }> {
  const pages: number[] = [];
  const items = await collectPages((cursor) => store.listArtefacts({ ...query, cursor }), { maxPages: 1000, onPage: (p) => pages.push(p.items.length) });
  return { items, pages };
}

const ids = (items: ArtefactEntry[]) => items.map((a) => a.artefactId);

/** Two weekly fulls, twelve segments (7 with a partial before its final), two archives, and another site. */
function corpus() {
  const fulls = [makeFull(min(0), { position: { logFile: 'mysql-bin.000001', logPos: 328 } }), makeFull(min(60))];
  const segments = Array.from({ length: 12 }, (_, i) => makeSegment(i + 1, min(i * 10), min(i * 10 + 9)));
  const partial = makeSegment(7, min(60), min(64), { partial: true });
  const archives = [makeArchive(min(0), min(50)), makeArchive(min(50), min(100))];
  const other = [makeFull(min(5), { site: 'site-b' }), makeSegment(1, min(0), min(9), { site: 'site-b' })];
  return { fulls, segments, partial, archives, other };
}

export function artefactCatalogueContract(fresh: () => Promise<CatalogueStore>): void {
  describe('artefacts', () => {
    it('stores an entry as given (times normalized to UTC) and is idempotent', async () => {
      const store = await fresh();
      const full = makeFull('2026-03-01T09:00:00+01:00', { position: { logFile: 'mysql-bin.000009', logPos: 4 }, slot: 'rostrvm_5_1.rbk', profile: 'rostrvm' });
      await store.putArtefact(full);
      await store.putArtefact(full);
      const { items } = await store.listArtefacts({ site: 'site-a' });
      expect(items).toEqual([{ ...full, takenAt: '2026-03-01T08:00:00.000Z' }]);
      expect(await store.listArtefactSources('site-a')).toEqual([{ site: 'site-a', source: 'db', sourceType: 'rotated' }]);
      expect(await store.listArtefactSources('site-z')).toEqual([]);
    });

    it('forgets a purged artefact and keeps the others', async () => {
      const store = await fresh();
      const a = makeFull(min(1));
      const b = makeFull(min(2));
      await store.putArtefact(a);
      await store.putArtefact(b);
      await store.forgetArtefact(a);
      await store.forgetArtefact(a);
      expect((await store.listArtefacts({ site: 'site-a' })).items.map((x) => x.artefactId)).toEqual([b.artefactId]);
    });

    it('lists by site, source and role in a stable order: fulls by time, segments by sequence, partials beside finals', async () => {
      const store = await fresh();
      const c = corpus();
      for (const a of [...c.segments].reverse().concat(c.partial, ...c.fulls, ...c.archives, ...c.other)) await store.putArtefact(a);
      const site = await all(store, { site: 'site-a' });
      expect(site.items.map((a) => `${a.source}/${a.role}`)).toEqual([...Array(13).fill('binlog/segment'), 'db/full', 'db/full', 'voice/archive', 'voice/archive']);
      const segments = (await all(store, { site: 'site-a', source: 'binlog', role: 'segment' })).items;
      expect(segments.map((s) => s.sequence)).toEqual([1, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 11, 12]);
      expect(segments.filter((s) => s.sequence === 7).map((s) => s.partial ?? false).sort()).toEqual([false, true]);
      expect(ids((await all(store, { site: 'site-a', source: 'db' })).items)).toEqual(ids(c.fulls));
      expect(ids((await all(store, { site: 'site-a', role: 'archive' })).items)).toEqual(ids(c.archives));
      expect(ids((await all(store, { site: 'site-b' })).items).sort()).toEqual(ids(c.other).sort());
      expect((await store.listArtefactSources('site-a')).map((s) => [s.source, s.sourceType, s.series])).toEqual([
        ['binlog', 'binlog', 'mysql-bin'],
        ['db', 'rotated', undefined],
        ['voice', 'archive', undefined],
      ]);
    });

    it('bounds takenAt inclusively (fulls by key, segments by filter) and segments by sequence', async () => {
      const store = await fresh();
      const c = corpus();
      for (const a of [...c.fulls, ...c.segments, c.partial]) await store.putArtefact(a);
      expect(ids((await all(store, { site: 'site-a', source: 'db', role: 'full', to: min(59) })).items)).toEqual([c.fulls[0]!.artefactId]);
      expect(ids((await all(store, { site: 'site-a', source: 'db', role: 'full', from: min(60), to: min(60) })).items)).toEqual([c.fulls[1]!.artefactId]);
      expect(ids((await all(store, { site: 'site-a', source: 'db', role: 'full', from: '2026-03-01T01:00:00+01:00' })).items)).toEqual(ids(c.fulls));
      const ranged = await all(store, { site: 'site-a', source: 'binlog', role: 'segment', from: min(29), to: min(59) });
      expect(ranged.items.map((s) => s.sequence)).toEqual([3, 4, 5, 6]);
      const fromSeq = await all(store, { site: 'site-a', source: 'binlog', role: 'segment', fromSequence: 10 });
      expect(fromSeq.items.map((s) => s.sequence)).toEqual([10, 11, 12]);
      expect((await all(store, { site: 'site-a', source: 'binlog', role: 'segment', fromSequence: 13 })).items).toEqual([]);
    });

    it('paginates with no loss, no duplicate and no empty last page, filtered or not', async () => {
      const store = await fresh();
      const segments = Array.from({ length: 45 }, (_, i) => makeSegment(i + 1, min(i), min(i)));
      for (const s of segments) await store.putArtefact(s);
      await store.putArtefact(makeFull(min(3)));
      const plain = await all(store, { site: 'site-a', source: 'binlog', limit: 10 });
      expect(plain.pages).toEqual([10, 10, 10, 10, 5]);
      expect(ids(plain.items)).toEqual(ids(segments));
      const filtered = await all(store, { site: 'site-a', role: 'segment', from: min(5), to: min(31), limit: 4 });
      expect(filtered.items.map((s) => s.sequence)).toEqual(Array.from({ length: 27 }, (_, i) => i + 6));
      expect(filtered.pages.slice(0, -1).every((n) => n === 4)).toBe(true);
      const exact = await all(store, { site: 'site-a', source: 'binlog', role: 'segment', fromSequence: 6, limit: 5 });
      expect(exact.pages).toEqual([5, 5, 5, 5, 5, 5, 5, 5]);
    });

    it('rejects bad queries and entries with InvalidInputError', async () => {
      const store = await fresh();
      await store.putArtefact(makeFull(min(0)));
      await store.putArtefact(makeFull(min(1)));
      for (const query of [
        { site: 'Site A' },
        { site: 'site-a', source: 'Bad/Source' },
        { site: 'site-a', role: 'backup' as ArtefactEntry['role'] },
        { site: 'site-a', limit: 0 },
        { site: 'site-a', from: 'yesterday' },
        { site: 'site-a', from: min(2), to: min(1) },
        { site: 'site-a', fromSequence: 3 },
        { site: 'site-a', cursor: 'not a cursor' },
        { site: 'site-a', cursor: Buffer.from('{"v":1,"art":"x"}').toString('base64url') },
      ]) {
        await expect(store.listArtefacts(query), JSON.stringify(query)).rejects.toThrow(InvalidInputError);
      }
      await expect(store.putArtefact(makeSegment(1, min(0), min(1), { sequence: undefined }))).rejects.toThrow(/sequence/);
      // A well-formed cursor past the end of the range is an empty page, not an error.
      const late = Buffer.from(JSON.stringify({ v: 1, art: `zzz#full#${min(9)}#a${'f'.repeat(23)}` })).toString('base64url');
      expect(await store.listArtefacts({ site: 'site-a', source: 'db', cursor: late })).toEqual({ items: [] });
      const first = await store.listArtefacts({ site: 'site-a', limit: 1 });
      expect(first.cursor).toBeTypeOf('string');
      const second = await store.listArtefacts({ site: 'site-a', limit: 1, cursor: first.cursor });
      expect(second.items).toHaveLength(1);
      expect(second.cursor).toBeUndefined();
    });
  });
}
