import { describe, it, expect } from 'vitest';
import { PartPool } from '../../agent/part-pool.ts';

describe('part pool share', () => {
  it('lends at most its limit, serves its own waiter first, and gives a buffer it no longer needs back to the pool', async () => {
    const pool = new PartPool(1024, 4);
    const share = pool.share(2);
    const [a, b] = [await share.acquire(), await share.acquire()];
    let third: Buffer | undefined;
    void share.acquire().then((buffer) => (third = buffer));
    await Promise.resolve();
    expect(third).toBeUndefined();
    expect([share.inUse, pool.inUse]).toEqual([2, 2]);
    share.release(a);
    await Promise.resolve();
    expect(third).toBe(a);
    share.release(b);
    share.release(third!);
    expect([share.size, pool.size, pool.inUse]).toEqual([0, 2, 0]);
    // The pool's own bound holds for its shares together.
    const other = pool.share(4);
    const lent = await Promise.all([other.acquire(), other.acquire(), other.acquire(), other.acquire()]);
    expect(new Set(lent).size).toBe(4);
    expect(pool.size).toBe(4);
  });
});
