import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.ts';
import type { CatalogueEntry, CatalogueStore, RecordingPage, RecordingQuery } from '../../core/ports.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// A search page's read budget (core/catalogue-budget.ts), one behaviour for every store: a
// filter few calls match stops once the page has read its budget, answers what it found with a
// cursor that goes on, and the pages, walked to the end, hold every match once, in order.

const SIZE = 240;
/** One call in 40 is inbound: a rare filter. */
const rare = (i: number) => i % 40 === 7;

function entries(): CatalogueEntry[] {
  return Array.from({ length: SIZE }, (_, i) => makeEntry('site-a', i, { meta: { ...makeEntry('site-a', i).meta, direction: rare(i) ? 'inbound' : 'outbound', durationSec: i % 13 } }));
}

async function walk(store: CatalogueStore, query: Omit<RecordingQuery, 'cursor'>): Promise<{ rids: string[]; pages: RecordingPage[] }> {
  const pages: RecordingPage[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.searchRecordings({ ...query, ...(cursor ? { cursor } : {}) });
    pages.push(page);
    cursor = page.cursor;
    expect(pages.length, 'pages walked').toBeLessThan(200);
  } while (cursor);
  return { rids: pages.flatMap((p) => p.items.map((e) => e.rid)), pages };
}

export function catalogueBudgetContract(fresh: () => Promise<CatalogueStore>): void {
  describe('read budget', () => {
    it('a rare filter stops each page at its budget (read no more than it), says so, and the cursors go on to every match once, in order', async () => {
      const store = await fresh();
      const all = entries();
      await store.putRecordings(all);
      for (const sort of ['start', '-start'] as const) {
        const want = all.filter((_, i) => rare(i)).map((e) => e.rid);
        if (sort === '-start') want.reverse();
        const { rids, pages } = await walk(store, { site: 'site-a', direction: 'inbound', sort, limit: 5, budget: { items: 40 } });
        expect(rids, sort).toEqual(want);
        expect(pages.some((p) => p.stopped), `${sort}: some page stopped`).toBe(true);
        for (const p of pages) {
          expect(p.read, sort).toBeLessThanOrEqual(40);
          expect(p.read, sort).toBeGreaterThan(0);
          // A stopped page holds at most its limit (exactly, when it ran out looking for the one more that proves more follow).
          if (p.stopped) expect(p.items.length, `${sort}: a stopped page holds at most its limit`).toBeLessThanOrEqual(5);
          if (p.stopped) expect(p.cursor, `${sort}: a stopped page goes on`).toBeTypeOf('string');
        }
        // Unbounded, the same search reads the whole site in one page.
        const whole = await store.searchRecordings({ site: 'site-a', direction: 'inbound', sort, limit: 10 });
        expect(whole.items.map((e) => e.rid)).toEqual(want);
        expect(whole.stopped).toBeUndefined();
      }
    });

    it('a page whose matches fill it before the budget is spent is a plain page (not stopped), over two merged indexes too', async () => {
      const store = await fresh();
      await store.putRecordings(entries());
      const page = await store.searchRecordings({ site: 'site-a', direction: 'outbound', limit: 5, budget: { items: 200 } });
      expect(page.items).toHaveLength(5);
      expect(page.stopped).toBeUndefined();
      expect(page.cursor).toBeTypeOf('string');
      const number = makeEntry('site-a', 3).meta.caller!;
      const want = entries().filter((e) => e.meta.caller === number || e.meta.called === number).map((e) => e.rid);
      const { rids } = await walk(store, { site: 'site-a', number, limit: 4, budget: { items: 9 } });
      expect(rids).toEqual(want);
    });

    it('refuses a duration sort whose budget runs out before its last match, naming sort and the time range', async () => {
      const store = await fresh();
      await store.putRecordings(entries());
      const refused = store.searchRecordings({ site: 'site-a', direction: 'inbound', sort: 'duration', budget: { items: 50 } });
      await expect(refused).rejects.toThrow(InvalidInputError);
      await expect(store.searchRecordings({ site: 'site-a', direction: 'inbound', sort: 'duration', budget: { items: 50 } })).rejects.toThrow(/sort: .*narrow the time range/);
      const fits = await store.searchRecordings({ site: 'site-a', direction: 'inbound', sort: '-duration', budget: { items: 1000 } });
      expect(fits.items.map((e) => e.meta.durationSec)).toEqual(entries().filter((_, i) => rare(i)).map((e) => e.meta.durationSec).sort((a, b) => b! - a!));
    });

    it('a page over the merged time shards, unfiltered or with a filter most calls pass, reads about its limit, not its limit (or 1 MB) on every shard, so a count counts to its bound', async () => {
      const store = await fresh();
      await store.putRecordings(entries());
      const page = await store.searchRecordings({ site: 'site-a', limit: 40, budget: { items: 10_000 } });
      expect(page.items).toHaveLength(40);
      // The shards are uneven: some are read a second time, none to its end (240 here).
      expect(page.read).toBeLessThanOrEqual(2 * 40 + 8);
      const { rids } = await walk(store, { site: 'site-a', limit: 40, budget: { items: 100 } });
      expect(rids).toEqual(entries().map((e) => e.rid));
      // A filter most calls pass (39 in 40) reads a few times its page at most (the shards' pages
      // doubling), not every shard to its end (240 here).
      const filtered = await store.searchRecordings({ site: 'site-a', direction: 'outbound', limit: 40, budget: { items: 10_000 } });
      expect(filtered.items).toHaveLength(40);
      expect(filtered.read).toBeLessThanOrEqual(3 * 40);
    });

    it('refuses a budget of no items with InvalidInputError naming it', async () => {
      const store = await fresh();
      await expect(store.searchRecordings({ site: 'site-a', budget: { items: 0 } })).rejects.toThrow(/budget.items/);
    });
  });
}
