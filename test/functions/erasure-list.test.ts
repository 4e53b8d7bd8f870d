import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryErasureStore, type ErasureRecord } from '../../core/erasure-items.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHoldsHandler } from '../../functions/holds/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { httpEvent } from '../support/http-event.ts';

// GET /sites/{site}/erasures a page at a time (the holds function; the console runs the same
// code): newest first, `cursor` in the answer while more follow, passed back unchanged for the
// next page; a bad limit or cursor is a 400 naming it, never a 5xx.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const COUNT = 250;

const rid = (i: number) => `r${i.toString(16).padStart(23, '0')}`;
/** Request i asked for i minutes after the start of 2026 (so rid order and time order differ only in direction); every fourth one done. */
function asked(i: number): ErasureRecord {
  return {
    ...{ site: SITE, rid: rid(i), reason: 'Art. 17', requestedBy: 'alice', requestedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString() },
    ...{ packKey: 'recordings/site-a/p.tar', manifestKey: 'manifests/site-a/p.json', call: `callId=c${i}`, status: i % 4 === 0 ? 'done' : 'pending' },
  };
}

async function setup() {
  const erasures = new MemoryErasureStore();
  for (let i = 0; i < COUNT; i++) await erasures.createErasure(asked(i));
  const clock = new ManualClock(NOW);
  const handler = createHoldsHandler({ holds: new MemoryHoldStore(), erasures, catalogue: new MemoryCatalogue(), blobs: new MemoryBlobStore({ clock }), holder: new MemoryObjectHolder(), clock, audit: () => undefined, log: () => undefined });
  return (query?: Record<string, string>) => handler(httpEvent('GET', `/sites/${SITE}/erasures`, { pathParameters: { site: SITE }, query, principal: 'alice' }));
}

const parse = (r: HttpResult) => JSON.parse(r.body as string) as { items: ErasureRecord[]; cursor?: string; issues?: { field: string }[]; message?: string };

describe('GET /sites/{site}/erasures, paged', () => {
  it(`hands out all ${COUNT} requests over pages of 100, newest first, each once, the cursor of each page taking the next; the last page has none`, async () => {
    const list = await setup();
    const pages: string[][] = [];
    let cursor: string | undefined;
    do {
      const r = await list({ limit: '100', ...(cursor ? { cursor } : {}) });
      expect(r.statusCode).toBe(200);
      const body = parse(r);
      pages.push(body.items.map((e) => e.rid));
      cursor = body.cursor;
    } while (cursor);
    expect(pages.map((p) => p.length)).toEqual([100, 100, 50]);
    expect(pages.flat()).toEqual(Array.from({ length: COUNT }, (_, i) => rid(COUNT - 1 - i)));
    // No limit: a page of 100 all the same, not the whole list.
    expect(parse(await list()).items).toHaveLength(100);
  });

  it('with status=done lists only done requests, newest first, and its cursor goes on among them', async () => {
    const list = await setup();
    const first = parse(await list({ status: 'done', limit: '40' }));
    expect(first.items.every((e) => e.status === 'done')).toBe(true);
    const rest = parse(await list({ status: 'done', limit: '40', cursor: first.cursor! }));
    expect(rest.cursor).toBeUndefined();
    const done = Array.from({ length: COUNT }, (_, i) => COUNT - 1 - i).filter((i) => i % 4 === 0).map(rid);
    expect([...first.items, ...rest.items].map((e) => e.rid)).toEqual(done);
  });

  it.each([
    ['a cursor that is not base64url', { cursor: '!!!' }, 'cursor'],
    ['a cursor of another shape', { cursor: Buffer.from('{"pk":"ERASE#site-a"}').toString('base64url') }, 'cursor'],
    ['an empty cursor', { cursor: '' }, 'cursor'],
    ['limit 0', { limit: '0' }, 'limit'],
    ['limit 1001', { limit: '1001' }, 'limit'],
    ['a limit that is not a number', { limit: 'ten' }, 'limit'],
    ['a status that is not one', { status: 'open' }, 'status'],
    ['an unknown parameter', { page: '2' }, 'page'],
  ])('answers 400 naming the parameter for %s', async (_what, query, field) => {
    const list = await setup();
    const r = await list(query);
    expect(r.statusCode).toBe(400);
    expect(parse(r).issues?.map((i) => i.field)).toEqual([field]);
    expect(parse(r).message).toContain(field);
  });
});
