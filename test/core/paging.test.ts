import { describe, it, expect } from 'vitest';
import { collectPages } from '../../core/paging.ts';

describe('collectPages', () => {
  it('follows each cursor to the last page, whether it ends with an absent or a null cursor', async () => {
    const seen: (string | undefined)[] = [];
    const pages = { a: { items: [3, 4], cursor: 'b' }, b: { items: [5], cursor: null } } as const;
    const items = await collectPages<number>(async (cursor) => {
      seen.push(cursor);
      return cursor === undefined ? { items: [1, 2], cursor: 'a' } : { items: [...pages[cursor as 'a' | 'b'].items], cursor: pages[cursor as 'a' | 'b'].cursor };
    });
    expect(items).toEqual([1, 2, 3, 4, 5]);
    expect(seen).toEqual([undefined, 'a', 'b']);
  });

  it('stops a listing that never ends', async () => {
    await expect(collectPages(async () => ({ items: [1], cursor: 'again' }), { maxPages: 3 })).rejects.toThrow(/does not end after 3 pages/);
  });
});
