import { describe, expect, it } from 'vitest';
import { mapLimit } from '../../core/map-limit.ts';

describe('mapLimit', () => {
  it('runs at most `limit` at once, all of them in parallel up to it, and keeps the results in the items\' order', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimit([50, 10, 30, 20, 40, 5], 3, async (ms, i) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return `${i}:${ms}`;
    });
    expect(out).toEqual(['0:50', '1:10', '2:30', '3:20', '4:40', '5:5']);
    expect(most).toBe(3);
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
