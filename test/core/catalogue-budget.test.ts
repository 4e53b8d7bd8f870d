import { describe, expect, it } from 'vitest';
import { ReadMeter, SEARCH_TIME_MARGIN_MS, searchBudget, stoppedPageOf } from '../../core/catalogue-budget.ts';
import { entryToItem, sortKeyOf } from '../../core/catalogue-items.ts';
import { decodeCursor } from '../../core/catalogue-cursor.ts';
import { SORT_KEY_NAME } from '../../core/catalogue-schema.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// The read budget's meter (how much each Query may read) and a request's budget from its Lambda context.

describe('ReadMeter', () => {
  it("grants each branch at most its share, never more than is left, and a read that finds nothing left waits for the reads out to come back", async () => {
    const meter = new ReadMeter({ items: 100 }, 4);
    const firsts = await Promise.all([0, 1, 2, 3].map(() => meter.grant(undefined, true)));
    expect(firsts).toEqual([25, 25, 25, 25]);
    let second: number | undefined | 'pending' = 'pending';
    const asked = meter.grant(undefined, false).then((n) => (second = n));
    await Promise.resolve();
    expect(second).toBe('pending');
    meter.settle(25, 10); // read 10 of its 25: 15 free again
    await asked;
    expect(second).toBe(15);
    for (let i = 0; i < 3; i++) meter.settle(25, 25);
    meter.settle(15, 15);
    expect(meter.read).toBe(100);
    expect(await meter.grant(undefined, false)).toBe(0);
    // A branch's first read gets one even when the budget is spent: every page moves on.
    expect(await meter.grant(undefined, true)).toBe(1);
  });

  it('grants nothing past the deadline except a first read, and the plan\'s own limit without a budget', async () => {
    let now = 1000;
    const meter = new ReadMeter({ deadline: 2000 }, 1, { now: () => new Date(now) });
    expect(await meter.grant(41, false)).toBe(41);
    now = 2000;
    expect(await meter.grant(41, false)).toBe(0);
    expect(await meter.grant(undefined, true)).toBeUndefined();
    expect(await new ReadMeter(undefined, 8).grant(undefined, false)).toBeUndefined();
  });
});

describe('searchBudget', () => {
  it("sets the deadline the margin before the function's own, and none without a Lambda context", () => {
    expect(searchBudget(500, { getRemainingTimeInMillis: () => 25_000 }, { now: () => new Date(1_000_000) })).toEqual({ items: 500, deadline: 1_000_000 + 25_000 - SEARCH_TIME_MARGIN_MS });
    expect(searchBudget(500, {})).toEqual({ items: 500 });
    expect(searchBudget(500, undefined)).toEqual({ items: 500 });
  });
});

describe('stoppedPageOf', () => {
  it('cuts a stopped page past PAGE_BYTES before the call that would pass it, and goes on after its last call rather than after what was read', () => {
    const items = Array.from({ length: 20 }, (_, i) => entryToItem(makeEntry('site-a', i, { issues: ['x'.repeat(300_000)] })));
    const through = sortKeyOf(makeEntry('site-a', 30));
    const page = stoppedPageOf(items, through, 'start', 500);
    expect(page.items).toHaveLength(13);
    expect(page.stopped).toBeUndefined();
    expect(decodeCursor(page.cursor!)).toBe(items[12]![SORT_KEY_NAME]);
    const small = stoppedPageOf(items.slice(0, 2), through, 'start', 500);
    expect([small.items.length, small.stopped, decodeCursor(small.cursor!)]).toEqual([2, true, through]);
  });
});
