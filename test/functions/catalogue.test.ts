import { describe, expect, it } from 'vitest';
import { encodeCursor } from '../../core/catalogue-table.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

async function setup(catalogue: CatalogueStore = new MemoryCatalogue()) {
  const entries = Array.from({ length: 12 }, (_, i) => makeEntry('site-a', i));
  await catalogue.putRecordings(entries);
  // site-b: the same start times and agents as site-a, so a cursor from one would resume the other.
  await catalogue.putRecordings(Array.from({ length: 12 }, (_, i) => makeEntry('site-b', i)));
  const trail = auditTrail();
  const logged: unknown[] = [];
  const handler = createHandler({ catalogue, audit: trail.audit, clock: trail.clock, cursorKey: CURSOR_KEY, log: (...args) => void logged.push(args) });
  const search = (query?: Record<string, string>, site = 'site-a') =>
    handler(httpEvent('GET', `/sites/${site}/recordings`, { pathParameters: { site }, query, principal: 'officer@example.com' }));
  return { entries, trail, handler, search, logged, catalogue };
}

const CURSOR_KEY = 'k'.repeat(32);

const body = (res: HttpResult) => JSON.parse(res.body as string) as Record<string, unknown>;

describe('catalogue handler', () => {
  it('searches with filters and pages with a cursor, auditing each search', async () => {
    const { search, entries, trail } = await setup();
    const first = await search({ agent: 'agent-1', limit: '2' });
    expect(first.statusCode).toBe(200);
    expect(first.headers['Content-Type']).toMatch(/application\/json/);
    const page1 = body(first) as { items: { rid: string }[]; cursor: string };
    expect(page1.items.map((e) => e.rid)).toEqual([entries[1]!.rid, entries[6]!.rid]);
    const page2 = body(await search({ agent: 'agent-1', limit: '2', cursor: page1.cursor })) as { items: { rid: string }[]; cursor: string | null };
    expect(page2.items.map((e) => e.rid)).toEqual([entries[11]!.rid]);
    expect(page2.cursor).toBeNull();
    expect(trail.events[0]).toEqual({ at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { agent: 'agent-1', limit: 2 }, principal: 'officer@example.com' });
    expect(trail.events).toHaveLength(2);
  });

  it('filters by direction and duration and sorts by -duration, paging with a cursor that only that sort accepts (400 naming cursor otherwise)', async () => {
    const catalogue = new MemoryCatalogue();
    const { search, entries } = await setup(catalogue);
    const timed = entries.map((e, i) => ({ ...e, meta: { ...e.meta, direction: i % 2 ? ('outbound' as const) : ('inbound' as const), durationSec: 10 + i } }));
    await catalogue.putRecordings(timed);
    const query = { direction: 'inbound', minDuration: '12', maxDuration: '20', sort: '-duration', limit: '2' };
    const first = await search(query);
    expect(first.statusCode).toBe(200);
    const page1 = body(first) as { items: { rid: string; meta: { durationSec: number } }[]; cursor: string };
    expect(page1.items.map((e) => e.meta.durationSec)).toEqual([20, 18]);
    const page2 = body(await search({ ...query, cursor: page1.cursor })) as { items: { meta: { durationSec: number } }[]; cursor: string };
    expect(page2.items.map((e) => e.meta.durationSec)).toEqual([16, 14]);
    const page3 = body(await search({ ...query, cursor: page2.cursor })) as { items: { meta: { durationSec: number } }[]; cursor: string | null };
    expect(page3.items.map((e) => e.meta.durationSec)).toEqual([12]);
    expect(page3.cursor).toBeNull();
    const otherSort = await search({ ...query, sort: 'duration', cursor: page1.cursor });
    expect(otherSort.statusCode).toBe(400);
    expect(body(otherSort)).toMatchObject({ error: 'InvalidInputError', issues: [{ field: 'cursor', message: expect.stringMatching(/another sort/) }] });
    const noSort = await search({ limit: '2' });
    const startCursor = (body(noSort) as { cursor: string }).cursor;
    expect((await search({ limit: '2', sort: 'start', cursor: startCursor })).statusCode).toBe(200);
    expect((await search({ limit: '2', sort: '-start', cursor: startCursor })).statusCode).toBe(400);
  });

  it.each([
    ['300 KB calls', 'x'.repeat(300_000)],
    // The body is escaped again in the function's answer: each quote and backslash of the page's JSON counts twice.
    ['calls whose texts are quotes and backslashes', `agent "${'\\"'.repeat(100_000)}" is not a name`],
  ])('answers limit=1000 over %s in answers under 6 MB as the function returns them, whose cursors reach every call once', async (_what, issue) => {
    const catalogue = new MemoryCatalogue();
    const big = Array.from({ length: 40 }, (_, i) => makeEntry('site-c', i, { issues: [issue] }));
    await catalogue.putRecordings(big);
    const { search } = await setup(catalogue);
    const seen: string[] = [];
    let cursor: string | null | undefined;
    do {
      const res = await search({ limit: '1000', ...(cursor ? { cursor } : {}) }, 'site-c');
      expect([res.statusCode, Buffer.byteLength(JSON.stringify(res)) < 6_000_000]).toEqual([200, true]);
      const page = body(res) as { items: { rid: string }[]; cursor: string | null };
      seen.push(...page.items.map((e) => e.rid));
      cursor = page.cursor;
    } while (cursor);
    expect(seen).toEqual(big.map((e) => e.rid));
  });

  it('returns one entry, or 404 for an unknown one', async () => {
    const { handler, entries, trail } = await setup();
    const rid = entries[3]!.rid;
    const ok = await handler(httpEvent('GET', `/sites/site-a/recordings/${rid}`, { pathParameters: { site: 'site-a', rid } }));
    expect(ok.statusCode).toBe(200);
    expect(body(ok)).toMatchObject({ rid, site: 'site-a' });
    expect(trail.events[0]).toMatchObject({ action: 'search', rid });
    const missing = await handler(httpEvent('GET', '/sites/site-a/recordings/r00000000000000000000000', { pathParameters: { site: 'site-a', rid: 'r00000000000000000000000' } }));
    expect(missing.statusCode).toBe(404);
    expect(body(missing)).toEqual({ error: 'NotFoundError', message: expect.stringMatching(/no recording/) });
  });

  it("refuses with 400 naming cursor a cursor from another site's listing (instead of skipping that site's first items)", async () => {
    const { search } = await setup();
    const fromA = body(await search({ limit: '2' }, 'site-a')) as { cursor: string };
    const onB = await search({ limit: '2', cursor: fromA.cursor }, 'site-b');
    expect(onB.statusCode).toBe(400);
    expect(body(onB)).toMatchObject({ error: 'InvalidInputError', message: expect.stringMatching(/^cursor/) });
  });

  it('refuses with 400 naming cursor a cursor used with other search parameters, but not with another page size', async () => {
    const { search } = await setup();
    const byAgent = body(await search({ agent: 'agent-1', limit: '1' })) as { cursor: string };
    const otherAgent = await search({ agent: 'agent-2', limit: '1', cursor: byAgent.cursor });
    expect(otherAgent.statusCode).toBe(400);
    expect(body(otherAgent).message).toMatch(/^cursor/);
    const biggerPages = await search({ agent: 'agent-1', limit: '5', cursor: byAgent.cursor });
    expect(biggerPages.statusCode).toBe(200);
  });

  it('refuses with 400 naming cursor a forged cursor: a bare store cursor, an altered one, one sealed with another key', async () => {
    const { search, entries, catalogue } = await setup();
    const bare = encodeCursor(`${entries[5]!.start}#${entries[5]!.rid}`);
    const sealed = (body(await search({ limit: '2' })) as { cursor: string }).cursor;
    const altered = `${sealed.slice(0, 5)}${sealed[5] === 'A' ? 'B' : 'A'}${sealed.slice(6)}`;
    const otherDeployment = createHandler({ catalogue, audit: () => undefined, clock: { now: () => new Date(0) }, cursorKey: 'x'.repeat(32) });
    const event = httpEvent('GET', '/sites/site-a/recordings', { pathParameters: { site: 'site-a' }, query: { limit: '2' } });
    const foreignKey = (body(await otherDeployment(event)) as { cursor: string }).cursor;
    for (const cursor of [bare, altered, foreignKey]) {
      const res = await search({ limit: '2', cursor });
      expect(res.statusCode, cursor).toBe(400);
      expect(body(res).message).toMatch(/cursor/);
    }
  });

  it.each([
    [{ from: 'yesterday' }, /from: must be an ISO 8601 date-time/],
    [{ to: '2026-03-01' }, /to: must be an ISO 8601 date-time/],
    [{ from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }, /from: must not be after to/],
    [{ from: '0000-06-01T00:00:00Z' }, /from: must be a time between the years 1 and 9999 \(UTC\)/],
    [{ limit: '0' }, /limit: must be an integer from 1 to 1000/],
    [{ limit: '1001' }, /limit: must be an integer from 1 to 1000/],
    [{ limit: 'ten' }, /limit: must be an integer/],
    [{ cursor: 'not a cursor!' }, /cursor: is malformed/],
    [{ cursor: 'abc' }, /cursor/],
    [{ agent: '' }, /agent: must not be empty/],
    [{ agnet: 'typo' }, /agnet: unknown parameter/],
    [{ direction: 'sideways' }, /direction: must be one of inbound, outbound, internal/],
    [{ minDuration: '1.5' }, /minDuration: must be a whole number of seconds/],
    [{ maxDuration: '-3' }, /maxDuration: must be a whole number of seconds/],
    [{ minDuration: '60', maxDuration: '30' }, /minDuration: must not be more than maxDuration/],
    [{ sort: 'agent' }, /sort: must be one of start, -start, duration, -duration/],
  ])('answers 400 naming the parameter for %o', async (query, message) => {
    const { search, trail } = await setup();
    const res = await search(query);
    expect(res.statusCode).toBe(400);
    expect(body(res)).toMatchObject({ error: 'InvalidInputError', message: expect.stringMatching(message), issues: [expect.objectContaining({ field: expect.any(String) })] });
    expect(trail.events).toEqual([]);
  });

  it('answers 400 for a bad site or rid, never 500', async () => {
    const { handler } = await setup();
    const badSite = await handler(httpEvent('GET', '/sites/Site_A/recordings', { pathParameters: { site: 'Site_A' } }));
    expect(badSite.statusCode).toBe(400);
    expect(body(badSite).message).toMatch(/site: must be a site name/);
    const badRid = await handler(httpEvent('GET', '/sites/site-a/recordings/xyz', { pathParameters: { site: 'site-a', rid: 'xyz' } }));
    expect(badRid.statusCode).toBe(400);
    expect(body(badRid).message).toMatch(/rid: must be a recording id/);
    const noSite = await handler(httpEvent('GET', '/sites//recordings'));
    expect(noSite.statusCode).toBe(400);
    expect(body(noSite).message).toMatch(/site: is required/);
    // A recording read with a parameter it does not take: refused, naming it (it was answered 200).
    const extra = await handler(httpEvent('GET', `/sites/site-a/recordings/r${'0'.repeat(23)}`, { pathParameters: { site: 'site-a', rid: `r${'0'.repeat(23)}` }, query: { foo: '1' } }));
    expect(extra.statusCode).toBe(400);
    expect(body(extra).message).toBe('invalid request: foo: unknown parameter (this route takes none)');
  });

  it('hides the detail of unexpected failures behind a 500 and logs it; transient ones are 503', async () => {
    const broken: CatalogueStore = {
      putRecordings: async () => undefined,
      putPack: async () => undefined,
      putCopies: async () => undefined,
      copiesOf: async () => new Map(),
      getPack: async () => undefined,
      forgetPack: async () => undefined,
      forgetArtefact: async () => undefined,
      putArtefact: async () => undefined,
      listArtefacts: async () => ({ items: [] }),
      listArtefactSources: async () => [],
      putSnapshot: async () => undefined,
      listSnapshots: async () => ({ items: [] }),
      forgetSnapshot: async () => undefined,
      getRecording: async () => {
        throw new Error('secret table arn:aws:dynamodb:eu-west-1:123:table/x');
      },
      getRecordings: async () => new Map(),
      packKeysOf: async () => new Map(),
      searchRecordings: async () => {
        const { TransientError } = await import('../../core/errors.ts');
        throw new TransientError('throttled');
      },
    };
    const { handler, logged, search } = await setup(broken);
    const res = await handler(httpEvent('GET', '/sites/site-a/recordings/r00000000000000000000000', { pathParameters: { site: 'site-a', rid: 'r00000000000000000000000' } }));
    expect(res.statusCode).toBe(500);
    expect(body(res)).toEqual({ error: 'InternalError', message: 'internal error' });
    expect(JSON.stringify(logged)).toContain('secret table');
    const slow = await search();
    expect(slow.statusCode).toBe(503);
    expect(slow.headers['Retry-After']).toBe('1');
  });
});
