import { describe, expect, it } from 'vitest';
import { CATALOGUE_INDEXES, DURATION_SORT_WINDOW, TIME_SHARDS, durationPageOf, entryToItem, planSearch, timeShardOf } from '../../core/catalogue-table.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// The time index is sharded: one partition per site would take every write of an agent that
// catches up on a backlog (a hot partition). The shard comes from the recording id, so an
// entry always lands on the same one, and a time search reads every shard of the site.

describe('time index shards', () => {
  it('puts each entry on partition {site}#{shard}, the shard a stable hash of its rid', () => {
    const entry = makeEntry('site-a', 7);
    const item = entryToItem(entry);
    expect(item.timePk).toBe(`site-a#${timeShardOf(entry.rid)}`);
    expect(entryToItem({ ...entry, start: '2030-01-01T00:00:00Z' }).timePk).toBe(item.timePk);
    expect(timeShardOf(entry.rid)).toBeGreaterThanOrEqual(0);
    expect(timeShardOf(entry.rid)).toBeLessThan(TIME_SHARDS);
  });

  it('spreads a backlog over every shard, none with more than twice its share', () => {
    const counts = new Map<unknown, number>();
    for (let i = 0; i < 2000; i++) {
      const pk = entryToItem(makeEntry('site-a', i)).timePk;
      counts.set(pk, (counts.get(pk) ?? 0) + 1);
    }
    expect(TIME_SHARDS).toBeGreaterThan(1);
    expect(counts.size).toBe(TIME_SHARDS);
    for (const n of counts.values()) expect(n).toBeLessThan((2 * 2000) / TIME_SHARDS);
  });

  it('plans a time search as one query per shard of the site, merged by the shared sort key', () => {
    const plan = planSearch({ site: 'site-b', from: '2026-03-01T00:00:00Z' });
    expect(plan.branches).toEqual(Array.from({ length: TIME_SHARDS }, (_, s) => ({ index: CATALOGUE_INDEXES.byTime, partitionValue: `site-b#${s}` })));
    expect(plan.after).toBe('2026-03-01T00:00:00.000Z#');
  });
});

describe('duration sort window', () => {
  it(`sorts up to ${DURATION_SORT_WINDOW} matches and refuses one more with InvalidInputError naming sort`, () => {
    const plan = planSearch({ site: 'site-a', sort: '-duration', limit: 3 });
    const items = Array.from({ length: DURATION_SORT_WINDOW }, (_, i) => entryToItem(makeEntry('site-a', i, { meta: { durationSec: i % 100 } })));
    expect(durationPageOf(items, plan).items.map((e) => e.meta.durationSec)).toEqual([99, 99, 99]);
    const over = [...items, entryToItem(makeEntry('site-a', DURATION_SORT_WINDOW))];
    let error: unknown;
    try {
      durationPageOf(over, plan);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error).toMatchObject({ field: 'sort', message: expect.stringMatching(/^sort: ordering by duration takes at most 10000/) });
  });
});
