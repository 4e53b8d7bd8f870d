import { describe, expect, it } from 'vitest';
import { countRecordings } from '../../core/catalogue-count.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueStore, RecordingQuery } from '../../core/ports.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// The bounded count of a search's matches (the console's "calls 1–25 of N"), over the in-memory
// catalogue: exact up to the bound, "more" past it, with the search's filters, reading no more pages than the bound needs.

async function catalogueOf(n: number): Promise<MemoryCatalogue> {
  const catalogue = new MemoryCatalogue();
  await catalogue.putRecordings(Array.from({ length: n }, (_, i) => makeEntry('site-a', i, { meta: { callId: `call-${i}`, agent: `agent-${i % 5}`, caller: '+442079460001', called: '2001', direction: i % 2 ? 'inbound' : 'outbound' } })));
  await catalogue.putRecordings([makeEntry('site-b', 0)]);
  return catalogue;
}

/** The catalogue's search, with the pages it was asked for. */
function counting(catalogue: MemoryCatalogue): { store: Pick<CatalogueStore, 'searchRecordings'>; asked: RecordingQuery[] } {
  const asked: RecordingQuery[] = [];
  return { asked, store: { searchRecordings: (q) => (asked.push(q), catalogue.searchRecordings(q)) } };
}

describe('countRecordings', () => {
  it("counts every match of the search's filters exactly when they are no more than the bound", async () => {
    const catalogue = await catalogueOf(2500);
    expect(await countRecordings(catalogue, { site: 'site-a' })).toEqual({ count: 2500, more: false });
    expect(await countRecordings(catalogue, { site: 'site-a', agent: 'agent-1' })).toEqual({ count: 500, more: false });
    expect(await countRecordings(catalogue, { site: 'site-a', direction: 'inbound' })).toEqual({ count: 1250, more: false });
    expect(await countRecordings(catalogue, { site: 'site-a', from: makeEntry('site-a', 10).start, to: makeEntry('site-a', 19).start })).toEqual({ count: 10, more: false });
    expect(await countRecordings(catalogue, { site: 'site-z' })).toEqual({ count: 0, more: false });
  });

  it('says "more than the bound" past it, reading one call past the bound and no further', async () => {
    const { store, asked } = counting(await catalogueOf(2500));
    expect(await countRecordings(store, { site: 'site-a' }, 1200)).toEqual({ count: 1200, more: true });
    expect(asked.map((q) => q.limit)).toEqual([1000, 201]);
    const exact = counting(await catalogueOf(1200));
    expect(await countRecordings(exact.store, { site: 'site-a' }, 1200)).toEqual({ count: 1200, more: false });
  });

  it('leaves out what the catalogue it is given leaves out of a search (an erased call)', async () => {
    const catalogue = await catalogueOf(30);
    const erased = new Set([makeEntry('site-a', 3).rid, makeEntry('site-a', 17).rid]);
    const gated: Pick<CatalogueStore, 'searchRecordings'> = { searchRecordings: async (q) => { const page = await catalogue.searchRecordings(q); return { ...page, items: page.items.filter((e) => !erased.has(e.rid)) }; } };
    expect(await countRecordings(gated, { site: 'site-a' })).toEqual({ count: 28, more: false });
  });

  it('stops at its read budget, shared by its pages, and says "at least" with the calls it read; without one it reads on to the end', async () => {
    const catalogue = new MemoryCatalogue();
    // 3,000 calls, one in 300 inbound: a filter whose count, unbounded, reads the whole site.
    await catalogue.putRecordings(Array.from({ length: 3000 }, (_, i) => makeEntry('site-a', i, { meta: { direction: i % 300 === 0 ? 'inbound' : 'outbound' } })));
    const { store, asked } = counting(catalogue);
    expect(await countRecordings(store, { site: 'site-a', direction: 'inbound' }, 10_000, { items: 1000 })).toEqual({ count: 4, more: true, stopped: { read: 1000 } });
    expect(asked.map((q) => q.budget?.items)).toEqual([1000]);
    expect(await countRecordings(catalogue, { site: 'site-a', direction: 'inbound' })).toEqual({ count: 10, more: false });
    // A budget the whole read fits in counts exactly, across pages, each given what the others
    // left (a page of 1,000 reads 1,001: the one past it proves that more follow).
    const paged = counting(catalogue);
    expect(await countRecordings(paged.store, { site: 'site-a' }, 10_000, { items: 5000 })).toEqual({ count: 3000, more: false });
    expect(paged.asked.map((q) => q.budget?.items)).toEqual([5000, 3999, 2998]);
  });
});
