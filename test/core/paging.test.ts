import { describe, it, expect } from 'vitest';
import { collectPages, openCursor, sealCursor, SEALED_CURSOR_PATTERN } from '../../core/paging.ts';

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

describe('sealed cursors', () => {
  const key = 'k'.repeat(32);
  const scope = { listing: 'recordings', site: 'site-a', query: { agent: 'ann', limit: 25 } };

  it('opens what it sealed, in the same scope, whatever the page size', () => {
    const sealed = sealCursor('store-cursor', scope, key);
    expect(sealed).toMatch(SEALED_CURSOR_PATTERN);
    expect(openCursor(sealed, { ...scope, query: { agent: 'ann', limit: 100 } }, key)).toBe('store-cursor');
  });

  it('refuses, naming cursor, another site, listing, query or key, and any altered character', () => {
    const sealed = sealCursor('store-cursor', scope, key);
    const refused = [
      () => openCursor(sealed, { ...scope, site: 'site-b' }, key),
      () => openCursor(sealed, { ...scope, listing: 'artefacts' }, key),
      () => openCursor(sealed, { ...scope, query: { agent: 'bob' } }, key),
      () => openCursor(sealed, { ...scope, query: {} }, key),
      () => openCursor(sealed, scope, 'x'.repeat(32)),
      () => openCursor('short', scope, key),
    ];
    for (let i = 0; i < sealed.length; i++) {
      const altered = `${sealed.slice(0, i)}${sealed[i] === 'A' ? 'B' : 'A'}${sealed.slice(i + 1)}`;
      refused.push(() => openCursor(altered, scope, key));
    }
    for (const open of refused) expect(open).toThrow(/^cursor does not belong to this listing/);
  });
});
