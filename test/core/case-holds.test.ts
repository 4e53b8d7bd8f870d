import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { CASE_MAX_MEMBERS, isActive, type CaseRecord } from '../../core/hold-items.ts';
import { CASES_PREFIX, MirroredHoldStore } from '../../core/hold-mirror.ts';
import { addCaseCalls, CASE_HOLD_BATCH, listHolds, membersDigest, placeHold, showCase, type HoldDeps } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// A case's hold at the size officers build cases to: a bounded part of it a request, each member
// held whole (its pack and manifest under legal hold, then its record) before the next, so a
// request cut short by the function's time limit loses nothing and the next one goes on.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const WHO = { reason: 'tribunal order 2024/117', principal: 'alice' };

/** Calls scattered over packs of their own: two objects a call, as a litigation case usually is. */
const scattered = (i: number): CatalogueEntry => makeEntry(SITE, i, { packKey: `recordings/${SITE}/2026/03/01/pack-${i}.tar`, manifestKey: `manifests/${SITE}/recordings/2026/03/01/pack-${i}.json` });

async function world(calls: number, caseBatch?: number) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const entries = Array.from({ length: calls }, (_, i) => scattered(i));
  await catalogue.putRecordings(entries);
  const table = new MemoryHoldStore();
  const holds = new MirroredHoldStore(table, blobs);
  const holder = new MemoryObjectHolder();
  const locked: string[] = [];
  const setLegalHold = holder.setLegalHold.bind(holder);
  let failOn: string | undefined;
  holder.setLegalHold = async (key, on) => {
    if (key === failOn) throw new Error('Task timed out after 25.00 seconds');
    locked.push(key);
    return setLegalHold(key, on);
  };
  const deps: HoldDeps = { holds, catalogue, blobs, holder, clock, ...(caseBatch ? { caseBatch } : {}) };
  const rids = entries.map((e) => e.rid);
  return { deps, blobs, table, holds, holder, entries, rids, locked, failAt: (key: string | undefined) => void (failOn = key) };
}

const caseHeldRids = async (deps: HoldDeps, caseId: string) => new Set((await listHolds(deps, SITE)).active.filter((h) => h.scope.kind === 'case' && h.scope.caseId === caseId).map((h) => h.rid));

describe('a case hold a part at a time', () => {
  it('holds at most caseBatch members a request, each with its pack and manifest under legal hold; the case says held only when every member is', async () => {
    const w = await world(5, 2);
    await w.holds.createCase({ site: SITE, caseId: 'C-1', name: 'big', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: w.rids });
    const first = await placeHold(w.deps, { site: SITE, caseId: 'C-1', ...WHO });
    expect(first).toMatchObject({ held: false, remaining: 3, members: 5, holds: [{ rid: w.rids[0] }, { rid: w.rids[1] }] });
    expect(first.objects.sort()).toEqual([w.entries[0]!, w.entries[1]!].flatMap((e) => [e.packKey, e.manifestKey]).sort());
    expect(w.entries.map((e) => w.holder.isHeld(e.packKey) && w.holder.isHeld(e.manifestKey))).toEqual([true, true, false, false, false]);
    expect((await showCase(w.deps, SITE, 'C-1')).held).toBeUndefined();
    expect(await placeHold(w.deps, { site: SITE, caseId: 'C-1', ...WHO })).toMatchObject({ held: false, remaining: 1 });
    const last = await placeHold(w.deps, { site: SITE, caseId: 'C-1', ...WHO });
    expect(last).toMatchObject({ held: true, holds: [{ rid: w.rids[4] }] });
    expect(last.remaining).toBeUndefined();
    expect(last.existing).toBeUndefined();
    expect((await showCase(w.deps, SITE, 'C-1')).held).toMatchObject({ by: 'alice', reason: WHO.reason });
    expect(await caseHeldRids(w.deps, 'C-1')).toEqual(new Set(w.rids));
    expect(w.entries.every((e) => w.holder.isHeld(e.packKey) && w.holder.isHeld(e.manifestKey))).toBe(true);
    expect(await placeHold(w.deps, { site: SITE, caseId: 'C-1', ...WHO })).toMatchObject({ held: true, existing: true, holds: [], objects: [] });
  });

  it('a request cut short mid-way is continued by the next: members held before it are skipped with no legal-hold request, the rest are held', async () => {
    const w = await world(6, 100);
    await w.holds.createCase({ site: SITE, caseId: 'C-2', name: 'x', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: w.rids });
    w.failAt(w.entries[3]!.packKey);
    await expect(placeHold(w.deps, { site: SITE, caseId: 'C-2', ...WHO })).rejects.toThrow('Task timed out');
    const before = await caseHeldRids(w.deps, 'C-2');
    expect(before.has(w.rids[3]!)).toBe(false);
    // Every member the failed request recorded has its pack and manifest under legal hold already.
    for (const e of w.entries.filter((x) => before.has(x.rid))) expect(w.holder.isHeld(e.packKey) && w.holder.isHeld(e.manifestKey)).toBe(true);
    w.failAt(undefined);
    w.locked.length = 0;
    const again = await placeHold(w.deps, { site: SITE, caseId: 'C-2', ...WHO });
    expect(again.held).toBe(true);
    expect(again.holds.map((h) => h.rid).sort()).toEqual(w.rids.filter((r) => !before.has(r)).sort());
    expect(w.locked.sort()).toEqual(w.entries.filter((e) => !before.has(e.rid)).flatMap((e) => [e.packKey, e.manifestKey]).sort());
    expect(await caseHeldRids(w.deps, 'C-2')).toEqual(new Set(w.rids));
  });

  it('placing the hold again until the answer says held takes members ÷ caseBatch requests and holds every member', async () => {
    const w = await world(40, 16);
    await w.holds.createCase({ site: SITE, caseId: 'C-6', name: 'x', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: w.rids });
    let out;
    let requests = 0;
    do {
      out = await placeHold(w.deps, { site: SITE, caseId: 'C-6', ...WHO });
      requests++;
    } while (!out.held && requests < 10);
    expect(requests).toBe(3);
    expect((await listHolds(w.deps, SITE)).active.filter(isActive)).toHaveLength(40);
  });

  it('names the members by count and a SHA-256 of their sorted list, the digest `sort -u | sha256sum` gives', () => {
    const rids = ['r' + 'b'.repeat(23), 'r' + 'a'.repeat(23), 'r' + 'b'.repeat(23)];
    expect(membersDigest(rids)).toBe(createHash('sha256').update(`r${'a'.repeat(23)}\nr${'b'.repeat(23)}\n`).digest('hex'));
  });
});

describe('adding calls to a held case', () => {
  it('a request cut short holds the calls before the case lists them: the same request sent again adds and holds every one', async () => {
    const w = await world(8);
    const [first, ...more] = w.rids;
    await w.holds.createCase({ site: SITE, caseId: 'C-3', name: 'x', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [first!] });
    await placeHold(w.deps, { site: SITE, caseId: 'C-3', ...WHO });
    w.failAt(w.entries[5]!.manifestKey);
    await expect(addCaseCalls(w.deps, { site: SITE, caseId: 'C-3', rids: more, principal: 'bob' })).rejects.toThrow('Task timed out');
    expect((await w.holds.getCase(SITE, 'C-3'))!.members).toEqual([first]);
    w.failAt(undefined);
    const retry = await addCaseCalls(w.deps, { site: SITE, caseId: 'C-3', rids: more, principal: 'bob' });
    expect(retry.added).toEqual(more);
    expect(retry.remaining).toBeUndefined();
    expect((await w.holds.getCase(SITE, 'C-3'))!.members).toEqual(w.rids);
    expect(await caseHeldRids(w.deps, 'C-3')).toEqual(new Set(w.rids));
    expect(w.entries.every((e) => w.holder.isHeld(e.packKey) && w.holder.isHeld(e.manifestKey))).toBe(true);
  });

  it('holds members of the held case an earlier request left without a hold, even when every call sent is a member already', async () => {
    const w = await world(3);
    await w.holds.createCase({ site: SITE, caseId: 'C-4', name: 'x', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [w.rids[0]!] });
    await placeHold(w.deps, { site: SITE, caseId: 'C-4', ...WHO });
    // What the add before this change left after a timeout: the members saved, two of them never held.
    const record = (await w.holds.getCase(SITE, 'C-4'))!;
    await w.holds.updateCase({ ...record, members: w.rids });
    const retry = await addCaseCalls(w.deps, { site: SITE, caseId: 'C-4', rids: [w.rids[1]!], principal: 'bob' });
    expect(retry.added).toEqual([]);
    expect(retry.holds.map((h) => h.rid).sort()).toEqual([w.rids[1], w.rids[2]].sort());
    expect(await caseHeldRids(w.deps, 'C-4')).toEqual(new Set(w.rids));
  });

  it(`refuses more new calls than a request holds (default ${CASE_HOLD_BATCH}) with an InvalidInputError naming rids and the limit, and changes nothing`, async () => {
    const w = await world(4, 2);
    await w.holds.createCase({ site: SITE, caseId: 'C-5', name: 'x', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: [w.rids[0]!] });
    await placeHold(w.deps, { site: SITE, caseId: 'C-5', ...WHO });
    const refused = addCaseCalls(w.deps, { site: SITE, caseId: 'C-5', rids: w.rids.slice(1), principal: 'bob' });
    await expect(refused).rejects.toBeInstanceOf(InvalidInputError);
    await expect(refused).rejects.toMatchObject({ field: 'rids', message: expect.stringContaining('a held case takes at most 2 new calls a request') });
    expect((await w.holds.getCase(SITE, 'C-5'))!.members).toEqual([w.rids[0]]);
    expect((await listHolds(w.deps, SITE)).active).toHaveLength(1);
  });
});

describe('the size of a case', () => {
  it(`refuses an add past ${CASE_MAX_MEMBERS} calls naming the limit, before the bucket or the table takes a version of the case`, async () => {
    const w = await world(2);
    const members = Array.from({ length: CASE_MAX_MEMBERS - 1 }, (_, i) => `r${i.toString(16).padStart(23, '0')}`);
    const record: CaseRecord = { site: SITE, caseId: 'BIG', name: 'big', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members };
    await w.holds.createCase(record);
    const versions = async () => {
      let n = 0;
      for await (const _ of w.blobs.list(`${CASES_PREFIX}${SITE}/BIG/`)) n++;
      return n;
    };
    expect(await versions()).toBe(1);
    const refused = addCaseCalls(w.deps, { site: SITE, caseId: 'BIG', rids: w.rids, principal: 'bob' });
    await expect(refused).rejects.toMatchObject({ name: 'InvalidInputError', field: 'rids', message: `rids: case BIG has ${CASE_MAX_MEMBERS - 1} calls and this request adds 2: a case holds at most ${CASE_MAX_MEMBERS} calls (its member list is one catalogue item); start another case for the rest` });
    // The store refuses such a version too, whoever writes it: the bucket's newest version is never one the table lacks.
    await expect(w.holds.updateCase({ ...record, members: [...members, ...w.rids] })).rejects.toBeInstanceOf(InvalidInputError);
    expect(await versions()).toBe(1);
    expect((await w.table.getCase(SITE, 'BIG'))!.members).toHaveLength(CASE_MAX_MEMBERS - 1);
    expect((await addCaseCalls(w.deps, { site: SITE, caseId: 'BIG', rids: [w.rids[0]!], principal: 'bob' })).case.members).toHaveLength(CASE_MAX_MEMBERS);
  });
});
