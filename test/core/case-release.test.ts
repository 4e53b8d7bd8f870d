import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { isActive } from '../../core/hold-items.ts';
import { MirroredHoldStore } from '../../core/hold-mirror.ts';
import { CASE_HOLD_BATCH, createCase, listHolds, placeHold, releaseHold, showCase, type HoldDeps } from '../../core/holds.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { CountingBlobStore } from '../support/counting-blob-store.ts';
import { CountingCatalogue } from '../support/counting-catalogue.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// A case's release at the size officers build cases to: a bounded part of it a request (records
// of the case released, then legal hold OFF where no held call shares the pack), the case held
// until the last part, so a request cut short by the function's time limit loses nothing, and
// the next goes on without redoing the parts before it.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const HOLD = { reason: 'tribunal order 2024/117', principal: 'alice' };
const RELEASE = { reason: 'order lifted', principal: 'bob' };

async function world(opts: { caseBatch?: number } = {}) {
  const clock = new ManualClock(NOW);
  const blobs = new CountingBlobStore({ clock });
  const catalogue = new CountingCatalogue();
  const holds = new MirroredHoldStore(new MemoryHoldStore(), blobs);
  const holder = new MemoryObjectHolder();
  /** Legal-hold requests, `key ON|OFF`, in order. */
  const requests: string[] = [];
  let failOn: string | undefined;
  const set = holder.setLegalHold.bind(holder);
  holder.setLegalHold = async (key, on) => {
    if (key === failOn && !on) throw new Error('Task timed out after 25.00 seconds');
    requests.push(`${key} ${on ? 'ON' : 'OFF'}`);
    return set(key, on);
  };
  const deps: HoldDeps = { holds, catalogue, blobs, holder, clock, ...opts };
  /** Calls scattered over packs of their own (a real pack and manifest each), as a litigation case usually is. */
  const scattered = async (n: number, from = 0): Promise<CatalogueEntry[]> => {
    const out: CatalogueEntry[] = [];
    for (let i = from; i < from + n; i++) {
      const pack = await publishPack({ blobs, catalogue }, SITE, NOW, `s${i}`, [10]);
      out.push((await catalogue.getRecording(SITE, pack.manifest.members[0]!.rid))!);
    }
    return out;
  };
  const heldCase = async (caseId: string, rids: string[]) => {
    await holds.createCase({ site: SITE, caseId, name: caseId, reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: rids });
    for (let i = 0; i < 100 && !(await placeHold(deps, { site: SITE, caseId, ...HOLD })).held; i++);
    blobs.reset();
    catalogue.reset();
    requests.length = 0;
  };
  const caseHolds = async (caseId: string) => (await listHolds(deps, SITE)).active.filter((h) => h.scope.kind === 'case' && h.scope.caseId === caseId).map((h) => h.rid);
  const isOff = (e: CatalogueEntry) => holder.status.get(e.packKey) === 'OFF' && holder.status.get(e.manifestKey) === 'OFF';
  return { deps, blobs, catalogue, holds, holder, requests, scattered, heldCase, caseHolds, isOff, failAt: (key: string | undefined) => void (failOn = key) };
}

const release = (deps: HoldDeps, caseId: string) => releaseHold(deps, { site: SITE, caseId, ...RELEASE });

describe('a case release a part at a time', () => {
  it('releases at most caseBatch members a request; the case says held, with what remains, until the last part, and then every pack and manifest is OFF', async () => {
    const w = await world({ caseBatch: 2 });
    const entries = await w.scattered(5);
    await w.heldCase('C-1', entries.map((e) => e.rid));
    const first = await release(w.deps, 'C-1');
    expect(first).toMatchObject({ held: true, remaining: 3, members: 5 });
    expect(first.holds.map((h) => [h.rid, h.releasedBy, h.releaseReason]).sort()).toEqual([entries[0]!, entries[1]!].map((e) => [e.rid, 'bob', 'order lifted']).sort());
    expect(entries.map(w.isOff)).toEqual([true, true, false, false, false]);
    expect((await showCase(w.deps, SITE, 'C-1')).held).toMatchObject({ by: 'alice' });
    expect((await showCase(w.deps, SITE, 'C-1')).releasing).toMatchObject({ by: 'bob', reason: 'order lifted', done: 2 });
    expect(await release(w.deps, 'C-1')).toMatchObject({ held: true, remaining: 1 });
    const last = await release(w.deps, 'C-1');
    expect(last).toMatchObject({ held: false, holds: [{ rid: entries[4]!.rid }] });
    expect(last.remaining).toBeUndefined();
    const after = await showCase(w.deps, SITE, 'C-1');
    expect([after.held, after.releasing]).toEqual([undefined, undefined]);
    expect(await w.caseHolds('C-1')).toEqual([]);
    expect(entries.every(w.isOff)).toBe(true);
    await expect(release(w.deps, 'C-1')).rejects.toThrow('case C-1 in site site-a is not on hold');
  });

  it(`reads a part's ${CASE_HOLD_BATCH} members in BatchGetItems of 100 (no GetItem), each pack's manifest once, and skips the manifests once no call of the site is held`, async () => {
    const w = await world();
    const entries = await w.scattered(CASE_HOLD_BATCH + 100);
    await w.heldCase('C-2', entries.map((e) => e.rid));
    expect(await release(w.deps, 'C-2')).toMatchObject({ held: true, remaining: 100 });
    expect([w.catalogue.getItems.length, w.catalogue.batchGets, w.catalogue.batchGetItemRequests()]).toEqual([0, [CASE_HOLD_BATCH], 5]);
    expect(w.blobs.getsUnder('manifests/').sort()).toEqual(entries.slice(0, CASE_HOLD_BATCH).map((e) => e.manifestKey).sort());
    expect(w.requests).toHaveLength(2 * CASE_HOLD_BATCH);
    w.blobs.reset();
    w.catalogue.reset();
    w.requests.length = 0;
    expect(await release(w.deps, 'C-2')).toMatchObject({ held: false });
    // The last part released the last held calls of the site: no pack can be shared with a held one.
    expect([w.catalogue.getItems.length, w.catalogue.batchGets, w.blobs.getsUnder('manifests/')]).toEqual([0, [100], []]);
    expect(w.requests.sort()).toEqual(entries.slice(CASE_HOLD_BATCH).flatMap((e) => [`${e.packKey} OFF`, `${e.manifestKey} OFF`]).sort());
    expect(entries.every(w.isOff)).toBe(true);
  });

  it('a release cut short after some members and sent again finishes: the cut-short part is done again, the parts before it are not, every object ends OFF and the case released', async () => {
    const w = await world({ caseBatch: 2 });
    const entries = await w.scattered(6);
    await w.heldCase('C-3', entries.map((e) => e.rid));
    await release(w.deps, 'C-3');
    w.failAt(entries[3]!.packKey);
    await expect(release(w.deps, 'C-3')).rejects.toThrow('Task timed out');
    // Cut short: member 3's record is released but its pack still ON, and the case still says held.
    expect(await w.caseHolds('C-3')).toEqual(expect.not.arrayContaining([entries[3]!.rid]));
    expect(w.holder.isHeld(entries[3]!.packKey)).toBe(true);
    expect((await showCase(w.deps, SITE, 'C-3')).held).toBeDefined();
    w.failAt(undefined);
    w.requests.length = 0;
    const retry = await release(w.deps, 'C-3');
    expect(retry).toMatchObject({ held: true, remaining: 2, holds: [] });
    expect(w.requests.sort()).toEqual(entries.slice(2, 4).flatMap((e) => [`${e.packKey} OFF`, `${e.manifestKey} OFF`]).sort());
    expect(await release(w.deps, 'C-3')).toMatchObject({ held: false });
    expect(entries.every(w.isOff)).toBe(true);
    expect(await w.caseHolds('C-3')).toEqual([]);
    expect((await showCase(w.deps, SITE, 'C-3')).held).toBeUndefined();
  });

  it('unlocks the objects of a case whose records an earlier release wrote before it was cut short (every record released, objects still ON)', async () => {
    const w = await world({ caseBatch: 2 });
    const entries = await w.scattered(4);
    await w.heldCase('C-4', entries.map((e) => e.rid));
    // What the release before this change left after a time-out: records released, no object unlocked, the case held.
    for (const h of (await listHolds(w.deps, SITE)).active) await w.holds.putHold({ ...h, releasedBy: 'bob', releasedAt: NOW.toISOString(), releaseReason: 'order lifted' });
    expect(await release(w.deps, 'C-4')).toMatchObject({ held: true, remaining: 2, holds: [] });
    expect(await release(w.deps, 'C-4')).toMatchObject({ held: false, holds: [] });
    expect(entries.every(w.isOff)).toBe(true);
  });

  it("keeps a pack under legal hold while a call of it is still held, by another hold or by the case's next part", async () => {
    const w = await world({ caseBatch: 1 });
    const pack = await publishPack({ blobs: w.blobs, catalogue: w.catalogue }, SITE, NOW, 'shared', [10, 20, 30]);
    const [a, b, c] = pack.manifest.members.map((m) => m.rid);
    await w.heldCase('C-5', [a!, b!]);
    await placeHold(w.deps, { site: SITE, rid: c!, ...HOLD });
    expect(await release(w.deps, 'C-5')).toMatchObject({ held: true, remaining: 1, objects: [] });
    expect(await release(w.deps, 'C-5')).toMatchObject({ held: false, objects: [] });
    expect(w.holder.isHeld(pack.packKey)).toBe(true);
    expect((await releaseHold(w.deps, { site: SITE, rid: c!, ...RELEASE })).objects.sort()).toEqual([pack.packKey, pack.manifestKey].sort());
    expect(w.holder.isHeld(pack.packKey)).toBe(false);
  });

  it('a case held again while its release went on is not left looking released: the release goes over its members again until none is held by it', async () => {
    const w = await world({ caseBatch: 2 });
    const entries = await w.scattered(4);
    await w.heldCase('C-6', entries.map((e) => e.rid));
    await release(w.deps, 'C-6');
    // The first two members, released, are held again by the case's hold placed anew.
    const again = await placeHold(w.deps, { site: SITE, caseId: 'C-6', ...HOLD });
    expect([again.held, again.holds.map((h) => h.rid).sort()]).toEqual([true, [entries[0]!.rid, entries[1]!.rid].sort()]);
    expect(await release(w.deps, 'C-6')).toMatchObject({ held: true, remaining: 4 });
    let out;
    for (let i = 0; i < 5 && (out = await release(w.deps, 'C-6')).held; i++);
    expect(out).toMatchObject({ held: false });
    expect(await w.caseHolds('C-6')).toEqual([]);
    expect(entries.every(w.isOff)).toBe(true);
    expect((await listHolds(w.deps, SITE)).active.filter(isActive)).toEqual([]);
  });
});

describe('creating a case', () => {
  it('checks its calls in BatchGetItems of 100, no GetItem each, and names an unknown one as before', async () => {
    const w = await world();
    const entries = await w.scattered(250);
    w.catalogue.reset();
    const made = await createCase(w.deps, { site: SITE, caseId: 'C-7', name: 'x', reason: 'r', principal: 'alice', rids: entries.map((e) => e.rid) });
    expect(made.members).toHaveLength(250);
    expect([w.catalogue.getItems.length, w.catalogue.batchGetItemRequests()]).toEqual([0, 3]);
    const unknown = `r${'0'.repeat(23)}`;
    await expect(createCase(w.deps, { site: SITE, caseId: 'C-8', name: 'x', reason: 'r', principal: 'alice', rids: [entries[0]!.rid, unknown] })).rejects.toMatchObject({ name: 'NotFoundError', message: `no recording ${unknown} in site ${SITE}` });
    expect(await w.holds.getCase(SITE, 'C-8')).toBeUndefined();
  });
});
