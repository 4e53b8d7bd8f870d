import { describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import { MemoryErasureStore, type ErasureRecord, type ErasureStore } from '../../core/erasure-items.ts';
import { NotFoundError } from '../../core/errors.ts';
import { ERASED_LISTED, erasureGate } from '../../core/erasures.ts';
import type { CatalogueEntry, RecordingPage } from '../../core/ports.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';

// The erasure requests a search page consults, on DynamoDB (dynalite): while a site has few, one
// small Query beside the page; past ERASED_LISTED, the page's own calls in a BatchGetItem after
// it, so a page never reads a list that grows with every request the site ever had.

const dynamo = localDynamoForSuite();

const request = (site: string, rid: string): ErasureRecord => ({
  ...{ site, rid, reason: 'data subject request', requestedBy: 'officer-1', requestedAt: '2026-06-01T00:00:00.000Z' },
  ...{ packKey: `packs/${site}/p.tar`, manifestKey: `manifests/${site}/p.json`, call: `callId=${rid}`, status: 'pending' },
});
const rid = (i: number) => `e${String(i).padStart(4, '0')}`;

/** The store on a fresh table, every command it sends named in `sent`. */
async function store(table: string) {
  await createCatalogueTable(dynamo.client, table);
  const sent: string[] = [];
  const doc = { send: ((command: { constructor: { name: string } }) => (sent.push(command.constructor.name), dynamo.doc.send(command as never))) as typeof dynamo.doc.send };
  return { erasures: new DynamoErasureStore(doc, table), sent };
}

/** A catalogue whose every search answers the page given. */
function pageOf(rids: string[]) {
  return { getRecording: () => Promise.resolve(undefined), searchRecordings: (query: { site: string }): Promise<RecordingPage> => Promise.resolve({ items: rids.map((r) => ({ site: query.site, rid: r }) as CatalogueEntry) }) };
}

describe('erasure requests a search page consults (DynamoDB)', () => {
  it(`reads the first ${ERASED_LISTED} rids in one Query and says whether more follow; tells which of any number of calls have a request, a hundred keys a BatchGetItem`, async () => {
    const { erasures, sent } = await store('erasures-1');
    for (let i = 0; i <= ERASED_LISTED; i++) await erasures.createErasure(request('site-a', rid(i)));
    await erasures.createErasure(request('site-b', rid(1)));
    sent.length = 0;
    expect(await erasures.firstErasedRids('site-a', ERASED_LISTED)).toEqual({ rids: Array.from({ length: ERASED_LISTED }, (_, i) => rid(i)), more: true });
    expect(await erasures.firstErasedRids('site-b', ERASED_LISTED)).toEqual({ rids: [rid(1)], more: false });
    expect(sent).toEqual(['QueryCommand', 'QueryCommand']);
    sent.length = 0;
    const asked = [...Array.from({ length: 240 }, (_, i) => `other-${i}`), rid(5), rid(ERASED_LISTED), rid(5)];
    expect([...(await erasures.erasedAmong('site-a', asked))].sort()).toEqual([rid(5), rid(ERASED_LISTED)]);
    expect(sent).toEqual(['BatchGetCommand', 'BatchGetCommand', 'BatchGetCommand']);
    expect(await erasures.erasedAmong('site-b', [rid(5)])).toEqual(new Set());
  });

  it(`a site with more than ${ERASED_LISTED} requests: the page leaves out its erased calls, found by one BatchGetItem of its own calls, not by listing them all`, async () => {
    const { erasures, sent } = await store('erasures-2');
    for (let i = 0; i <= ERASED_LISTED + 50; i++) await erasures.createErasure(request('site-a', rid(i)));
    sent.length = 0;
    const page = await erasureGate(pageOf(['kept-1', rid(3), 'kept-2', rid(ERASED_LISTED + 50)]), erasures).searchRecordings!({ site: 'site-a' });
    expect(page.items.map((e) => e.rid)).toEqual(['kept-1', 'kept-2']);
    expect(sent).toEqual(['QueryCommand', 'BatchGetCommand']);
  });

  it('a site with few requests: the page leaves out its erased calls from the one Query read beside it, with no BatchGetItem', async () => {
    const { erasures, sent } = await store('erasures-3');
    await erasures.createErasure(request('site-a', rid(3)));
    sent.length = 0;
    const page = await erasureGate(pageOf(['kept-1', rid(3), 'kept-2']), erasures).searchRecordings!({ site: 'site-a' });
    expect(page.items.map((e) => e.rid)).toEqual(['kept-1', 'kept-2']);
    expect(sent).toEqual(['QueryCommand']);
  });
});

// What a pending request waits for (a pack's restore from the archive tier), written by the purge:
// the same on the table as in memory, and never over a request another purge marked done.
describe.each([
  ['DynamoDB (dynalite)', async () => (await store('erasures-wait')).erasures],
  ['memory', async () => new MemoryErasureStore()],
] as [string, () => Promise<ErasureStore>][])('noteWaiting on %s', (_name, make) => {
  it('writes the wait on a pending request, refuses one that is absent or done (NotFoundError), and a done request keeps its done state', async () => {
    const erasures = await make();
    const pending = request('site-a', rid(1));
    await erasures.createErasure(pending);
    const waiting = { ...pending, waiting: 'the pack is in the archive tier (DEEP_ARCHIVE): a restore was requested', waitingAt: '2026-06-02T00:00:00.000Z' };
    await erasures.noteWaiting(waiting);
    expect(await erasures.getErasure('site-a', rid(1))).toEqual(waiting);
    await expect(erasures.noteWaiting(request('site-a', rid(2)))).rejects.toBeInstanceOf(NotFoundError);
    const done = { ...pending, status: 'done' as const, doneAt: '2026-06-03T00:00:00.000Z', doneNote: 'pack deleted' };
    await erasures.markDone(done);
    await expect(erasures.noteWaiting(waiting)).rejects.toThrow(new NotFoundError(`no pending erasure request for recording ${rid(1)} in site site-a`));
    expect(await erasures.getErasure('site-a', rid(1))).toEqual(done);
  });
});

// The site's list a page at a time, newest first (core/erasure-pages.ts): the same on the table as
// in memory. On the table a page reads the partition's keys only and the page's records whole.
describe.each([
  ['DynamoDB (dynalite)', async () => store('erasures-pages')],
  ['memory', async () => ({ erasures: new MemoryErasureStore(), sent: undefined })],
] as [string, () => Promise<{ erasures: ErasureStore; sent?: string[] }>][])('erasurePage on %s', (_name, make) => {
  /** Request i asked for i minutes after midnight; every third one done. */
  const asked = (i: number): ErasureRecord => ({ ...request('site-a', rid(i)), requestedAt: new Date(Date.UTC(2026, 5, 1, 0, i)).toISOString(), ...(i % 3 === 0 ? { status: 'done' as const, doneAt: '2026-07-01T00:00:00.000Z' } : {}) });

  it('hands out every request once over several pages, newest first, and with a status only that status; another site is not read', async () => {
    const { erasures, sent } = await make();
    // Written in an order that is neither the rids' nor the times'.
    const order = [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 4, 6];
    for (const i of order) await erasures.createErasure(asked(i));
    await erasures.createErasure({ ...request('site-b', rid(99)), requestedAt: '2026-06-02T00:00:00.000Z' });
    const pages: string[][] = [];
    let after: string | undefined;
    if (sent) sent.length = 0;
    do {
      const page = await erasures.erasurePage('site-a', { limit: 5, ...(after !== undefined ? { after } : {}) });
      pages.push(page.items.map((e) => e.rid));
      after = page.after;
    } while (after !== undefined);
    const newestFirst = Array.from({ length: 12 }, (_, i) => rid(11 - i));
    expect(pages).toEqual([newestFirst.slice(0, 5), newestFirst.slice(5, 10), newestFirst.slice(10)]);
    // Each page: one Query of the keys, one BatchGetItem of its records.
    if (sent) expect(sent).toEqual(Array.from({ length: 3 }, () => ['QueryCommand', 'BatchGetCommand']).flat());
    const first = await erasures.erasurePage('site-a', { limit: 3, status: 'done' });
    expect(first.items.map((e) => [e.rid, e.status])).toEqual([[rid(9), 'done'], [rid(6), 'done'], [rid(3), 'done']]);
    expect(first.items[0]).toEqual(asked(9));
    const rest = await erasures.erasurePage('site-a', { limit: 3, status: 'done', after: first.after! });
    expect(rest).toEqual({ items: [asked(0)] });
    expect((await erasures.erasurePage('site-a', { limit: 100, status: 'pending' })).items.map((e) => e.rid)).toEqual(newestFirst.filter((r) => Number(r.slice(1)) % 3 !== 0));
    expect(await erasures.erasurePage('site-c', { limit: 5 })).toEqual({ items: [] });
  });
});
