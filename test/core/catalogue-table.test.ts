import { describe, expect, it } from 'vitest';
import { CATALOGUE_INDEXES, TIME_SHARDS, entryToItem, planSearch, timeShardOf } from '../../core/catalogue-table.ts';
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
