import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../core/errors.ts';
import { recordingLookupKey, type CatalogueEntry, type CatalogueStore, type RecordingQuery } from '../../core/ports.ts';
import { BASE_TIME, makeEntry } from '../support/catalogue-fixtures.ts';
import { artefactCatalogueContract } from './artefact-catalogue-contract.ts';
import { snapshotCatalogueContract } from './snapshot-catalogue-contract.ts';
import { catalogueBudgetContract } from './catalogue-budget-contract.ts';
import { collectPages } from '../../core/paging.ts';
import { normalizeNumber } from '../../core/catalogue-items.ts';
import { PAGE_BYTES } from '../../core/catalogue-budget.ts';

// One behaviour for every CatalogueStore (memory, DynamoDB on dynalite, DynamoDB in AWS).
// `fresh()` returns an empty store for each test.

/** Every page of a query, and each page's size (a store must not loop: 1,000 pages at most). */
async function all(store: CatalogueStore, query: Omit<RecordingQuery, 'cursor'>): Promise<{ items: CatalogueEntry[]; pages: number[] }> {
  const pages: number[] = [];
  const items = await collectPages((cursor) => store.searchRecordings({ ...query, cursor }), { maxPages: 1000, onPage: (p) => pages.push(p.items.length) });
  return { items, pages };
}

const rids = (items: CatalogueEntry[]) => items.map((e) => e.rid);
const at = (i: number) => new Date(BASE_TIME + i * 60_000).toISOString();

export function catalogueContract(name: string, fresh: () => Promise<CatalogueStore>): void {
  describe(`CatalogueStore contract: ${name}`, () => {
    writesAndFinds(fresh);
    paginates(fresh);
    filtersAndSorts(fresh);
    catalogueBudgetContract(fresh);
    artefactCatalogueContract(fresh);
    snapshotCatalogueContract(fresh);
  });
}

function writesAndFinds(fresh: () => Promise<CatalogueStore>): void {
  describe('writes and finds', () => {
    it('getRecordings answers the entries found across sites in one map (more than 100 keys, a key twice), none for absent keys', async () => {
      const store = await fresh();
      const entries = [...Array.from({ length: 130 }, (_, i) => makeEntry('site-a', i)), makeEntry('site-b', 7)];
      await store.putRecordings(entries);
      const absent = makeEntry('site-a', 999);
      const keys = [...entries, entries[3]!, absent, { site: 'site-c', rid: entries[0]!.rid }].map(({ site, rid }) => ({ site, rid }));
      const found = await store.getRecordings(keys);
      expect(found.size).toBe(131);
      for (const e of entries) expect(found.get(recordingLookupKey(e.site, e.rid))).toEqual(e);
      expect(found.has(recordingLookupKey('site-a', absent.rid))).toBe(false);
      expect(found.has(recordingLookupKey('site-c', entries[0]!.rid))).toBe(false);
      expect((await store.getRecordings([])).size).toBe(0);
    });

    it('packKeysOf answers where each recording found is catalogued (its pack key), none for absent keys, across more than 100 keys', async () => {
      const store = await fresh();
      const entries = [...Array.from({ length: 130 }, (_, i) => makeEntry('site-a', i)), makeEntry('site-b', 7)];
      await store.putRecordings(entries);
      const absent = makeEntry('site-a', 999);
      const found = await store.packKeysOf([...entries, absent].map(({ site, rid }) => ({ site, rid })));
      expect(found.size).toBe(131);
      for (const e of entries) expect(found.get(recordingLookupKey(e.site, e.rid))).toBe(e.packKey);
      expect(found.has(recordingLookupKey('site-a', absent.rid))).toBe(false);
    });

    it('returns undefined for an absent recording and the entry once put', async () => {
      const store = await fresh();
      const e = makeEntry('site-a', 1);
      expect(await store.getRecording('site-a', e.rid)).toBeUndefined();
      await store.putRecordings([e]);
      expect(await store.getRecording('site-a', e.rid)).toEqual(e);
      expect(await store.getRecording('site-b', e.rid)).toBeUndefined();
    });

    it('forgets a purged pack: its recordings leave every search, other entries stay; forgetting again is harmless', async () => {
      const store = await fresh();
      const gone = [makeEntry('site-a', 1, { packId: 'p00000000000000000000001' }), makeEntry('site-a', 2, { packId: 'p00000000000000000000001' })];
      const kept = makeEntry('site-a', 3);
      await store.putRecordings([...gone, kept]);
      await store.forgetPack('site-a', 'p00000000000000000000001', gone.map((e) => e.rid));
      await store.forgetPack('site-a', 'p00000000000000000000001', gone.map((e) => e.rid));
      for (const e of gone) expect(await store.getRecording('site-a', e.rid)).toBeUndefined();
      expect((await store.searchRecordings({ site: 'site-a' })).items.map((e) => e.rid)).toEqual([kept.rid]);
      expect((await store.searchRecordings({ site: 'site-a', agent: gone[0]!.meta.agent! })).items.map((e) => e.rid)).not.toContain(gone[0]!.rid);
    });

    it("forgetPack leaves an entry that names another pack now (the same call catalogued there since): only the pack's own entries and its record go", async () => {
      const store = await fresh();
      const packId = 'p00000000000000000000001';
      const moved = makeEntry('site-a', 1, { packId: 'p00000000000000000000002', packKey: 'recordings/site-a/2026/03/02/p00000000000000000000002.tar', manifestKey: 'manifests/site-a/recordings/2026/03/02/p00000000000000000000002.json' });
      const own = makeEntry('site-a', 2, { packId });
      await store.putRecordings([moved, own]);
      await store.putPack({ site: 'site-a', packId, packKey: own.packKey, manifestKey: own.manifestKey, source: 's', members: 2, size: 9000, createdAt: at(0) });
      await store.forgetPack('site-a', packId, [moved.rid, own.rid]);
      expect(await store.getRecording('site-a', moved.rid)).toEqual(moved);
      expect(await store.getRecording('site-a', own.rid)).toBeUndefined();
      expect(await store.getPack('site-a', packId)).toBeUndefined();
      expect(rids((await store.searchRecordings({ site: 'site-a' })).items)).toEqual([moved.rid]);
    });

    it("records a call's other copies (idempotent), answers them by recording, never in a search; forgetPack takes that pack's copies only", async () => {
      const store = await fresh();
      const e = makeEntry('site-a', 1);
      const other = makeEntry('site-a', 2);
      const copyIn = (n: number) => ({ site: 'site-a', rid: e.rid, packId: `p0000000000000000000000${n}`, packKey: `recordings/site-a/2026/03/0${n}/p0000000000000000000000${n}.tar`, manifestKey: `manifests/site-a/recordings/2026/03/0${n}/p0000000000000000000000${n}.json` });
      await store.putRecordings([e, other]);
      await store.putCopies([copyIn(2), copyIn(3)]);
      await store.putCopies([copyIn(2)]);
      const copies = await store.copiesOf('site-a', [e.rid, other.rid, e.rid]);
      expect([...copies.keys()]).toEqual([recordingLookupKey('site-a', e.rid)]);
      expect(copies.get(recordingLookupKey('site-a', e.rid))).toEqual([copyIn(2), copyIn(3)]);
      expect((await store.copiesOf('site-b', [e.rid])).size).toBe(0);
      expect(rids((await store.searchRecordings({ site: 'site-a' })).items)).toEqual([e.rid, other.rid]);
      expect(await store.getRecording('site-a', e.rid)).toEqual(e);
      // The second copy's pack purged: its copy goes, the catalogued entry (another pack's) and the third copy stay.
      await store.forgetPack('site-a', copyIn(2).packId, [e.rid]);
      expect(await store.getRecording('site-a', e.rid)).toEqual(e);
      expect((await store.copiesOf('site-a', [e.rid])).get(recordingLookupKey('site-a', e.rid))).toEqual([copyIn(3)]);
    });

    it('is idempotent: the same entries twice give one result each, a changed entry replaces', async () => {
      const store = await fresh();
      const entries = [0, 1, 2].map((i) => makeEntry('site-a', i));
      await store.putRecordings(entries);
      await store.putRecordings(entries);
      await store.putPack({ site: 'site-a', packId: entries[0]!.packId, packKey: entries[0]!.packKey, manifestKey: entries[0]!.manifestKey, source: 's', members: 3, size: 9000, createdAt: at(0) });
      await store.putPack({ site: 'site-a', packId: entries[0]!.packId, packKey: entries[0]!.packKey, manifestKey: entries[0]!.manifestKey, source: 's', members: 3, size: 9000, createdAt: at(0) });
      expect(rids((await store.searchRecordings({ site: 'site-a' })).items)).toEqual(rids(entries));
      const changed = { ...entries[1]!, meta: { ...entries[1]!.meta, agent: 'agent-new' } };
      await store.putRecordings([changed]);
      expect((await store.getRecording('site-a', changed.rid))?.meta.agent).toBe('agent-new');
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: 'agent-new' })).items)).toEqual([changed.rid]);
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: entries[1]!.meta.agent })).items)).not.toContain(changed.rid);
    });

    it('returns the pack record ingest wrote (createdAt, size), undefined when absent or of another site', async () => {
      const store = await fresh();
      const e = makeEntry('site-a', 1);
      const pack = { site: 'site-a', packId: e.packId, packKey: e.packKey, manifestKey: e.manifestKey, source: 's', members: 1, size: 200_000, createdAt: at(0) };
      expect(await store.getPack('site-a', e.packId)).toBeUndefined();
      await store.putPack(pack);
      expect(await store.getPack('site-a', e.packId)).toEqual(pack);
      expect(await store.getPack('site-b', e.packId)).toBeUndefined();
    });

    it('keeps sites apart and orders by start, then rid', async () => {
      const store = await fresh();
      const sameStart = [10, 11].map((i) => makeEntry('site-a', i, { start: at(3) }));
      const entries = [makeEntry('site-a', 5), makeEntry('site-a', 1), ...sameStart, makeEntry('site-b', 2)];
      await store.putRecordings(entries);
      const { items } = await store.searchRecordings({ site: 'site-a' });
      const expected = entries.filter((e) => e.site === 'site-a').sort((a, b) => (a.start === b.start ? (a.rid < b.rid ? -1 : 1) : a.start < b.start ? -1 : 1));
      expect(rids(items)).toEqual(rids(expected));
      expect(rids((await store.searchRecordings({ site: 'site-b' })).items)).toEqual([entries[4]!.rid]);
      expect((await store.searchRecordings({ site: 'site-c' })).items).toEqual([]);
    });

    it('finds by agent and by call id (in composed Unicode, NFC, either way) and by number (caller or called, punctuation, tel: and a trunk (0) ignored as the agent ignores them)', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 30 }, (_, i) => makeEntry('site-a', i));
      const both = makeEntry('site-a', 40, { meta: { caller: '5550100', called: '555-0100' } });
      const calledOnly = makeEntry('site-a', 41, { meta: { caller: '999', called: '5550100' } });
      const noMeta = makeEntry('site-a', 42, { meta: {} });
      await store.putRecordings([...entries, both, calledOnly, noMeta]);
      const agent2 = entries.filter((e) => e.meta.agent === 'agent-2');
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: 'agent-2' })).items)).toEqual(rids(agent2));
      expect(rids((await store.searchRecordings({ site: 'site-a', callId: 'call-7' })).items)).toEqual([entries[7]!.rid]);
      const byCaller = entries.filter((e) => e.meta.caller === '+442079460003');
      expect(rids((await store.searchRecordings({ site: 'site-a', number: '+44 20 7946 0003' })).items)).toEqual(rids(byCaller));
      // Typed as a recorder or a letter writes it: a `tel:` scheme, the trunk `(0)` after the country code, slashes.
      for (const typed of ['+44 (0)20 7946 0003', 'tel:+44-20-7946-0003', '+44/20/7946/0003']) expect(rids((await store.searchRecordings({ site: 'site-a', number: typed })).items), typed).toEqual(rids(byCaller));
      const byCalled = entries.filter((e) => e.meta.called === '2004');
      expect(rids((await store.searchRecordings({ site: 'site-a', number: '2004' })).items)).toEqual(rids(byCalled));
      // Caller == called: listed once, not twice.
      expect(rids((await store.searchRecordings({ site: 'site-a', number: '555 0100' })).items)).toEqual([both.rid, calledOnly.rid]);
      expect((await store.searchRecordings({ site: 'site-a', agent: 'nobody' })).items).toEqual([]);
      // A name the recorder wrote decomposed (NFD) is found by the same name typed (NFC), and the other way round.
      const nfd = makeEntry('site-a', 43, { meta: { agent: 'Siobha\u0301n O\u0301 Briain', callId: 'Ré-1'.normalize('NFD') } });
      await store.putRecordings([nfd]);
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: 'Siobhán Ó Briain' })).items)).toEqual([nfd.rid]);
      expect(rids((await store.searchRecordings({ site: 'site-a', callId: 'Ré-1' })).items)).toEqual([nfd.rid]);
      expect(rids((await store.searchRecordings({ site: 'site-a', callId: 'Ré-1'.normalize('NFD'), agent: 'Siobha\u0301n O\u0301 Briain' })).items)).toEqual([nfd.rid]);
      expect(rids((await store.searchRecordings({ site: 'site-a' })).items)).toContain(noMeta.rid);
      // A name written with a typographic apostrophe is found by the one a keyboard types, and the other way round.
      const curly = makeEntry('site-a', 44, { meta: { agent: 'Siobhán O\u2019Neill' } });
      await store.putRecordings([curly]);
      for (const typed of ["Siobhán O'Neill", 'Siobhán O\u2019Neill', 'Siobhán O\u02bcNeill']) expect(rids((await store.searchRecordings({ site: 'site-a', agent: typed })).items), typed).toEqual([curly.rid]);
    });

    it('finds a number the recorder wrote with the international prefix 00 by + and the other way round; a short 00 extension stays itself', async () => {
      const store = await fresh();
      const dialled = makeEntry('site-a', 50, { meta: { caller: '0044 20 7946 0018', called: '2001' } });
      const plus = makeEntry('site-a', 51, { meta: { caller: '+44 20 7946 0018', called: '2001' } });
      const extension = makeEntry('site-a', 52, { meta: { caller: '0012', called: '2001' } });
      await store.putRecordings([dialled, plus, extension]);
      for (const typed of ['+44 20 7946 0018', '0044 20 7946 0018', '00 44 (0)20 7946 0018', '+44 (0)20 7946 0018']) {
        expect(rids((await store.searchRecordings({ site: 'site-a', number: typed })).items).sort(), typed).toEqual([dialled.rid, plus.rid].sort());
      }
      expect(rids((await store.searchRecordings({ site: 'site-a', number: '0012' })).items)).toEqual([extension.rid]);
      expect(normalizeNumber('0044 20 7946 0018')).toBe('+442079460018');
      expect(normalizeNumber('0012')).toBe('0012');
    });

    it('treats from/to as inclusive bounds on the call start', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 10 }, (_, i) => makeEntry('site-a', i));
      await store.putRecordings(entries);
      const page = await store.searchRecordings({ site: 'site-a', from: at(2), to: at(5) });
      expect(rids(page.items)).toEqual(rids(entries.slice(2, 6)));
      const justInside = await store.searchRecordings({ site: 'site-a', from: new Date(BASE_TIME + 2 * 60_000 - 1).toISOString(), to: new Date(BASE_TIME + 5 * 60_000 + 1).toISOString() });
      expect(rids(justInside.items)).toEqual(rids(entries.slice(2, 6)));
      const justOutside = await store.searchRecordings({ site: 'site-a', from: new Date(BASE_TIME + 2 * 60_000 + 1).toISOString(), to: new Date(BASE_TIME + 5 * 60_000 - 1).toISOString() });
      expect(rids(justOutside.items)).toEqual(rids(entries.slice(3, 5)));
      expect(rids((await store.searchRecordings({ site: 'site-a', from: at(8) })).items)).toEqual(rids(entries.slice(8)));
      expect(rids((await store.searchRecordings({ site: 'site-a', to: at(1) })).items)).toEqual(rids(entries.slice(0, 2)));
      // Offsets are the same instant as UTC.
      const offset = await store.searchRecordings({ site: 'site-a', from: '2026-03-01T09:02:00+01:00', to: '2026-03-01T09:02:00+01:00' });
      expect(rids(offset.items)).toEqual([entries[2]!.rid]);
    });

    it('combines criteria: the most selective picks the index, the others filter', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 60 }, (_, i) => makeEntry('site-a', i));
      await store.putRecordings(entries);
      const want = (f: (e: CatalogueEntry, i: number) => boolean) => rids(entries.filter(f));
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: 'agent-1', number: '+442079460001' })).items)).toEqual(want((e) => e.meta.agent === 'agent-1' && e.meta.caller === '+442079460001'));
      expect(rids((await store.searchRecordings({ site: 'site-a', agent: 'agent-1', number: '2003', from: at(10), to: at(50) })).items)).toEqual(
        want((e, i) => e.meta.agent === 'agent-1' && e.meta.called === '2003' && i >= 10 && i <= 50),
      );
      expect(rids((await store.searchRecordings({ site: 'site-a', callId: 'call-12', agent: 'agent-2' })).items)).toEqual([entries[12]!.rid]);
      expect((await store.searchRecordings({ site: 'site-a', callId: 'call-12', agent: 'agent-3' })).items).toEqual([]);
      expect((await store.searchRecordings({ site: 'site-a', callId: 'call-12', number: '0000' })).items).toEqual([]);
      expect((await store.searchRecordings({ site: 'site-a', callId: 'call-12', from: at(13) })).items).toEqual([]);
      expect(rids((await store.searchRecordings({ site: 'site-a', number: '2005', from: at(20), to: at(40) })).items)).toEqual(want((e, i) => e.meta.called === '2005' && i >= 20 && i <= 40));
    });

  });
}

function paginates(fresh: () => Promise<CatalogueStore>): void {
  describe('pages and cursors', () => {
    it('paginates 250 entries 40 at a time with no loss, no duplicate and no empty last page', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 250 }, (_, i) => makeEntry('site-a', i));
      await store.putRecordings(entries);
      const { items, pages } = await all(store, { site: 'site-a', limit: 40 });
      expect(pages).toEqual([40, 40, 40, 40, 40, 40, 10]);
      expect(rids(items)).toEqual(rids(entries));
      const exact = await all(store, { site: 'site-a', limit: 50 });
      expect(exact.pages).toEqual([50, 50, 50, 50, 50]);
    });

    it('cuts a page before it passes PAGE_BYTES of JSON (1,000 asked, 300 KB calls) and goes on after its last call: every call once, in order', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 20 }, (_, i) => makeEntry('site-a', i, { issues: [`${i}: ${'x'.repeat(300_000)}`] }));
      await store.putRecordings(entries);
      const { items, pages } = await all(store, { site: 'site-a', limit: 1000 });
      expect(pages).toEqual([13, 7]);
      expect(rids(items)).toEqual(rids(entries));
      const first = await store.searchRecordings({ site: 'site-a', limit: 1000 });
      expect(Buffer.byteLength(JSON.stringify(first.items))).toBeLessThanOrEqual(PAGE_BYTES);
    });

    it.each(['-start', 'duration', '-duration'] as const)('cuts a page of sort %s before it passes PAGE_BYTES and goes on after its last call: every call once, in the sort order', async (sort) => {
      const store = await fresh();
      // Durations all different (7 and 20 have no common factor), so the order is one.
      const entries = Array.from({ length: 20 }, (_, i) => makeEntry('site-a', i, { meta: { ...makeEntry('site-a', i).meta, durationSec: (i * 7) % 20 }, issues: [`${i}: ${'x'.repeat(300_000)}`] }));
      await store.putRecordings(entries);
      const { items, pages } = await all(store, { site: 'site-a', limit: 1000, sort });
      expect(pages.length).toBeGreaterThan(1);
      const key = (e: CatalogueEntry) => (sort === '-start' ? -Date.parse(e.start) : (sort === 'duration' ? 1 : -1) * e.meta.durationSec!);
      expect(rids(items)).toEqual(rids([...entries].sort((a, b) => key(a) - key(b))));
    });

    it('paginates filtered and merged searches without short pages that skip items', async () => {
      const store = await fresh();
      const entries = Array.from({ length: 250 }, (_, i) => makeEntry('site-a', i));
      await store.putRecordings(entries);
      const combined = await all(store, { site: 'site-a', agent: 'agent-3', number: '2001', limit: 2 });
      expect(rids(combined.items)).toEqual(rids(entries.filter((e) => e.meta.agent === 'agent-3' && e.meta.called === '2001')));
      expect(combined.pages.slice(0, -1).every((n) => n === 2)).toBe(true);
      // A number that is a caller on some entries and a called number on others: both indexes merged.
      const mixed = entries.map((e, i) => (i % 9 === 0 ? { ...e, meta: { ...e.meta, called: '+442079460004' } } : e));
      await store.putRecordings(mixed);
      const merged = await all(store, { site: 'site-a', number: '+442079460004', limit: 3 });
      const expected = mixed.filter((e) => e.meta.caller === '+442079460004' || e.meta.called === '+442079460004');
      expect(rids(merged.items)).toEqual(rids(expected));
      expect(merged.pages.slice(0, -1).every((n) => n === 3)).toBe(true);
      const ranged = await all(store, { site: 'site-a', from: at(33), to: at(99), limit: 7 });
      expect(rids(ranged.items)).toEqual(rids(entries.slice(33, 100)));
    });

    it('pages a time search in start-then-rid order across the time shards, entries with one start time included', async () => {
      const store = await fresh();
      // 60 calls in 12 instants: ties at one start are ordered by rid, whatever shard each rid is on.
      const entries = Array.from({ length: 60 }, (_, i) => makeEntry('site-a', i, { start: at(Math.floor(i / 5)) }));
      await store.putRecordings(entries);
      const expected = [...entries].sort((a, b) => (a.start === b.start ? (a.rid < b.rid ? -1 : 1) : a.start < b.start ? -1 : 1));
      for (const limit of [1, 4, 7, 60]) {
        const { items, pages } = await all(store, { site: 'site-a', limit });
        expect(rids(items), `limit ${limit}`).toEqual(rids(expected));
        expect(pages.slice(0, -1).every((n) => n === limit)).toBe(true);
      }
      const ranged = await all(store, { site: 'site-a', from: at(3), to: at(5), limit: 4 });
      expect(rids(ranged.items)).toEqual(rids(expected.filter((e) => e.start >= at(3) && e.start <= at(5))));
    });

    it('rejects a malformed cursor, a bad limit and from after to with InvalidInputError', async () => {
      const store = await fresh();
      await store.putRecordings([makeEntry('site-a', 0), makeEntry('site-a', 1)]);
      for (const cursor of ['not a cursor', 'eyJ2IjoxfQ', Buffer.from('{"v":1,"after":"x"}').toString('base64url'), '']) {
        await expect(store.searchRecordings({ site: 'site-a', cursor })).rejects.toThrow(InvalidInputError);
      }
      await expect(store.searchRecordings({ site: 'site-a', cursor: 'zz%%' })).rejects.toThrow(/cursor/);
      await expect(store.searchRecordings({ site: 'site-a', limit: 0 })).rejects.toThrow(/limit/);
      await expect(store.searchRecordings({ site: 'site-a', limit: 1001 })).rejects.toThrow(InvalidInputError);
      await expect(store.searchRecordings({ site: 'site-a', from: at(2), to: at(1) })).rejects.toThrow(/from/);
      await expect(store.searchRecordings({ site: 'site-a', from: 'yesterday' })).rejects.toThrow(InvalidInputError);
      const first = await store.searchRecordings({ site: 'site-a', limit: 1 });
      expect(first.cursor).toBeTypeOf('string');
      const second = await store.searchRecordings({ site: 'site-a', limit: 1, cursor: first.cursor });
      expect(second.items).toHaveLength(1);
      expect(second.cursor).toBeUndefined();
    });
  });
}

/** 40 calls: direction cycles inbound/outbound/internal/none, durations i*7 mod 50 seconds (ties), every 6th without one. */
function variedEntries(): CatalogueEntry[] {
  const directions = ['inbound', 'outbound', 'internal', undefined] as const;
  return Array.from({ length: 40 }, (_, i) => {
    const base = makeEntry('site-a', i);
    const meta = { ...base.meta, direction: directions[i % 4], durationSec: i % 6 === 5 ? undefined : ((i * 7) % 50) + (i % 3 === 0 ? 0.25 : 0) };
    return { ...base, meta: Object.fromEntries(Object.entries(meta).filter(([, v]) => v !== undefined)) as CatalogueEntry['meta'] };
  });
}

const byStart = (a: CatalogueEntry, b: CatalogueEntry) => (a.start === b.start ? (a.rid < b.rid ? -1 : 1) : a.start < b.start ? -1 : 1);
/** Longer/shorter by duration (ms, floored), ties by start then rid, calls without a duration last. */
function byDurationThenStart(descending: boolean) {
  return (a: CatalogueEntry, b: CatalogueEntry) => {
    const da = a.meta.durationSec === undefined ? undefined : Math.floor(a.meta.durationSec * 1000);
    const db = b.meta.durationSec === undefined ? undefined : Math.floor(b.meta.durationSec * 1000);
    if (da === undefined || db === undefined) return da === db ? byStart(a, b) : da === undefined ? 1 : -1;
    return da !== db ? (descending ? db - da : da - db) : byStart(a, b);
  };
}

function filtersAndSorts(fresh: () => Promise<CatalogueStore>): void {
  describe('direction and duration filters, sorts', () => {
    it('filters by direction and by inclusive whole-second duration bounds; an entry without a duration never matches a duration bound', async () => {
      const store = await fresh();
      const entries = variedEntries();
      await store.putRecordings(entries);
      const want = (f: (e: CatalogueEntry) => boolean) => rids(entries.filter(f));
      expect(rids((await all(store, { site: 'site-a', direction: 'outbound' })).items)).toEqual(want((e) => e.meta.direction === 'outbound'));
      const d = (e: CatalogueEntry) => e.meta.durationSec;
      expect(rids((await all(store, { site: 'site-a', minDuration: 21 })).items)).toEqual(want((e) => d(e) !== undefined && d(e)! >= 21));
      expect(rids((await all(store, { site: 'site-a', maxDuration: 14 })).items)).toEqual(want((e) => d(e) !== undefined && d(e)! <= 14));
      expect(rids((await all(store, { site: 'site-a', minDuration: 0 })).items)).toEqual(want((e) => d(e) !== undefined));
      const band = await all(store, { site: 'site-a', minDuration: 14, maxDuration: 21, direction: 'inbound', limit: 1 });
      expect(rids(band.items)).toEqual(want((e) => d(e) !== undefined && d(e)! >= 14 && d(e)! <= 21 && e.meta.direction === 'inbound'));
      expect(band.items.length).toBeGreaterThan(0);
      // Call 3 lasts 21.25 s: above maxDuration 21 (the bound is on the seconds, not a rounded value), within 22.
      expect(d(entries[3]!)).toBe(21.25);
      expect(rids((await all(store, { site: 'site-a', maxDuration: 21 })).items)).not.toContain(entries[3]!.rid);
      expect(rids((await all(store, { site: 'site-a', maxDuration: 22, agent: entries[3]!.meta.agent })).items)).toContain(entries[3]!.rid);
    });

    it('sorts by start descending and by duration either way (ties by start, calls without a duration last), every page full, nothing lost or repeated', async () => {
      const store = await fresh();
      const entries = variedEntries();
      await store.putRecordings(entries);
      const cases: [RecordingQuery['sort'], (a: CatalogueEntry, b: CatalogueEntry) => number][] = [
        ['start', byStart],
        ['-start', (a, b) => -byStart(a, b)],
        ['duration', byDurationThenStart(false)],
        ['-duration', byDurationThenStart(true)],
      ];
      for (const [sort, order] of cases) {
        for (const limit of [1, 7, 40]) {
          const { items, pages } = await all(store, { site: 'site-a', sort, limit });
          expect(rids(items), `${sort} limit ${limit}`).toEqual(rids([...entries].sort(order)));
          expect(pages.slice(0, -1).every((n) => n === limit), `${sort} limit ${limit}`).toBe(true);
        }
        const filtered = await all(store, { site: 'site-a', sort, direction: 'inbound', from: at(3), to: at(30), limit: 2 });
        expect(rids(filtered.items), `${sort} filtered`).toEqual(rids(entries.filter((e) => e.meta.direction === 'inbound' && e.start >= at(3) && e.start <= at(30)).sort(order)));
        const byNumber = await all(store, { site: 'site-a', sort, number: '2001', limit: 2 });
        expect(rids(byNumber.items), `${sort} by number`).toEqual(rids(entries.filter((e) => e.meta.called === '2001').sort(order)));
      }
    });

    it('refuses a cursor from a search with another sort, naming the cursor, and bad filter values naming the field', async () => {
      const store = await fresh();
      await store.putRecordings(variedEntries());
      const first = await store.searchRecordings({ site: 'site-a', sort: 'duration', limit: 3 });
      expect(first.cursor).toBeTypeOf('string');
      await expect(store.searchRecordings({ site: 'site-a', sort: '-duration', limit: 3, cursor: first.cursor })).rejects.toThrow(/cursor.*sorted by duration/);
      await expect(store.searchRecordings({ site: 'site-a', limit: 3, cursor: first.cursor })).rejects.toThrow(InvalidInputError);
      const plain = await store.searchRecordings({ site: 'site-a', limit: 3 });
      await expect(store.searchRecordings({ site: 'site-a', sort: '-start', cursor: plain.cursor })).rejects.toThrow(/cursor/);
      await expect(store.searchRecordings({ site: 'site-a', minDuration: 30, maxDuration: 10 })).rejects.toThrow(/minDuration/);
      await expect(store.searchRecordings({ site: 'site-a', minDuration: 1.5 })).rejects.toThrow(/minDuration/);
      await expect(store.searchRecordings({ site: 'site-a', direction: 'sideways' as never })).rejects.toThrow(/direction/);
      await expect(store.searchRecordings({ site: 'site-a', sort: 'agent' as never })).rejects.toThrow(/sort/);
    });
  });
}
