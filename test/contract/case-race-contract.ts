import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { isActive, type CaseRecord, type HoldStore } from '../../core/hold-items.ts';
import { MirroredHoldStore } from '../../core/hold-mirror.ts';
import { addCaseCalls, placeHold, releaseHold, type HoldDeps } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { pausedAtCaseWrite, PausingHoldStore } from '../support/pausing-hold-store.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// Two requests on one case at once, on every HoldStore (memory, DynamoDB): one is held between
// its read of the case and its write (PausingHoldStore) while the other runs whole, as two
// officers, the console beside the CLI, or a retry beside a request still running make them.
// Whatever the order, nothing one of them did may be lost, and the case must not say one thing
// (held, released, its members) while its hold records say another.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const HOLD = { reason: 'tribunal order 2024/117', principal: 'alice' };
const RELEASE = { reason: 'order lifted', principal: 'bob' };

async function world(table: HoldStore, caseBatch: number) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new PausingHoldStore(new MirroredHoldStore(table, blobs));
  const holder = new MemoryObjectHolder();
  const deps: HoldDeps = { holds, catalogue, blobs, holder, clock, caseBatch };
  let packs = 0;
  /** Calls in packs of their own (a real pack and manifest each). */
  const calls = async (n: number): Promise<CatalogueEntry[]> => {
    const out: CatalogueEntry[] = [];
    for (let i = 0; i < n; i++, packs++) {
      const pack = await publishPack({ blobs, catalogue }, SITE, NOW, `p${packs}`, [10]);
      out.push((await catalogue.getRecording(SITE, pack.manifest.members[0]!.rid))!);
    }
    return out;
  };
  const newCase = (members: CatalogueEntry[]) => holds.createCase({ site: SITE, caseId: 'C-1', name: 'C-1', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: members.map((e) => e.rid) });
  const place = () => placeHold(deps, { site: SITE, caseId: 'C-1', ...HOLD });
  const release = () => releaseHold(deps, { site: SITE, caseId: 'C-1', ...RELEASE });
  const add = (entries: CatalogueEntry[], principal = 'carol') => addCaseCalls(deps, { site: SITE, caseId: 'C-1', rids: entries.map((e) => e.rid), principal });
  const untilDone = async (step: () => Promise<{ remaining?: number }>) => {
    for (let i = 0; i < 20 && (await step()).remaining; i++);
  };
  const theCase = async (): Promise<CaseRecord> => (await holds.getCase(SITE, 'C-1'))!;
  /** Calls with an active hold record of the case. */
  const heldByCase = async () => new Set((await holds.listHolds(SITE)).filter((h) => isActive(h) && h.scope.kind === 'case' && h.scope.caseId === 'C-1').map((h) => h.rid));
  const locked = (e: CatalogueEntry) => holder.isHeld(e.packKey) && holder.isHeld(e.manifestKey);
  return { deps, holds, calls, newCase, place, release, add, untilDone, theCase, heldByCase, locked };
}

type World = Awaited<ReturnType<typeof world>>;

/** The case says what its records say: held, every member held by it; released, none held by it (listed or not). */
async function consistent(w: World): Promise<void> {
  const record = await w.theCase();
  const held = await w.heldByCase();
  if (record.held && !record.releasing) expect([...held].sort()).toEqual([...record.members].sort());
  if (!record.held) expect([...held]).toEqual([]);
}

export function caseRaceContract(fresh: () => Promise<HoldStore>): void {
  describe('two requests on one case at once', () => {
    it('calls added while a release part runs stay listed (the part goes again from a fresh read), and the release then releases them too', async () => {
      const w = await world(await fresh(), 2);
      const members = await w.calls(3);
      await w.newCase(members);
      await w.untilDone(w.place);
      const part = await pausedAtCaseWrite(w.holds, w.release);
      const added = await w.calls(2);
      expect(await w.add(added)).toMatchObject({ added: added.map((e) => e.rid) });
      part.resume();
      expect(await part.request).toMatchObject({ held: true, remaining: 3, members: 5 });
      expect(await w.theCase()).toMatchObject({ members: [...members, ...added].map((e) => e.rid), held: { by: 'alice' }, releasing: { by: 'bob', done: 2 } });
      await w.untilDone(w.release);
      expect((await w.theCase()).held).toBeUndefined();
      expect([...(await w.heldByCase())]).toEqual([]);
      expect([...members, ...added].map(w.locked)).toEqual([false, false, false, false, false]);
    });

    it('a call added to a case whose hold is placed meanwhile is held by it: the add goes again from a fresh read, and the case stays held', async () => {
      const w = await world(await fresh(), 10);
      const members = await w.calls(2);
      const [call] = await w.calls(1);
      await w.newCase(members);
      const adding = await pausedAtCaseWrite(w.holds, () => w.add([call!]));
      expect(await w.place()).toMatchObject({ held: true });
      adding.resume();
      expect(await adding.request).toMatchObject({ added: [call!.rid], holds: [{ rid: call!.rid }] });
      expect(await w.theCase()).toMatchObject({ members: [...members, call!].map((e) => e.rid), held: { by: 'alice' } });
      expect(await w.heldByCase()).toEqual(new Set([...members, call!].map((e) => e.rid)));
      expect(w.locked(call!)).toBe(true);
    });

    it('a member held again while the last release part runs: the case does not end released with that member still held by it', async () => {
      const w = await world(await fresh(), 10);
      const members = await w.calls(2);
      await w.newCase(members);
      await w.untilDone(w.place);
      const last = await pausedAtCaseWrite(w.holds, w.release);
      expect(await w.place()).toMatchObject({ held: true });
      last.resume();
      expect(await last.request).toMatchObject({ held: false });
      await consistent(w);
      expect((await w.theCase()).held).toBeUndefined();
      expect(members.map(w.locked)).toEqual([false, false]);
    });

    it('calls added while a release starts are refused (409 CaseReleasingError), their hold withdrawn, and the release keeps its progress', async () => {
      const w = await world(await fresh(), 2);
      const members = await w.calls(3);
      const [call] = await w.calls(1);
      await w.newCase(members);
      await w.untilDone(w.place);
      const adding = await pausedAtCaseWrite(w.holds, () => w.add([call!]));
      expect(await w.release()).toMatchObject({ held: true, remaining: 1 });
      adding.resume();
      await expect(adding.request).rejects.toMatchObject({ name: 'CaseReleasingError', message: expect.stringContaining('case C-1 in site site-a is being released (started by bob') });
      expect(await w.theCase()).toMatchObject({ members: members.map((e) => e.rid), releasing: { by: 'bob', done: 2 } });
      expect((await w.heldByCase()).has(call!.rid)).toBe(false);
      expect(w.locked(call!)).toBe(false);
      await w.untilDone(w.release);
      await consistent(w);
      await expect(w.add([call!])).resolves.toMatchObject({ added: [call!.rid], holds: [] });
    });

    it('two adds at once: both lists of calls are in the case, each held once, when the case is held', async () => {
      const w = await world(await fresh(), 10);
      const members = await w.calls(1);
      const [a, b] = await w.calls(2);
      await w.newCase(members);
      await w.untilDone(w.place);
      const first = await pausedAtCaseWrite(w.holds, () => w.add([a!], 'carol'));
      expect(await w.add([b!], 'dave')).toMatchObject({ added: [b!.rid] });
      first.resume();
      expect(await first.request).toMatchObject({ added: [a!.rid], holds: [{ rid: a!.rid, placedBy: 'carol' }] });
      expect((await w.theCase()).members.sort()).toEqual([members[0]!, a!, b!].map((e) => e.rid).sort());
      await consistent(w);
      expect((await w.holds.listHolds(SITE)).filter((h) => h.rid === a!.rid)).toHaveLength(1);
    });

    it('two adds at once to a case not held: both lists of calls are in the case', async () => {
      const w = await world(await fresh(), 10);
      const [a, b] = await w.calls(2);
      await w.newCase([]);
      const first = await pausedAtCaseWrite(w.holds, () => w.add([a!]));
      await w.add([b!]);
      first.resume();
      await first.request;
      expect((await w.theCase()).members.sort()).toEqual([a!.rid, b!.rid].sort());
    });

    it('a case written before versions were kept (no version) is changed once from a read of it; a second write from the same read is refused (CaseChangedError), nothing written', async () => {
      const table = await fresh();
      await table.createCase({ site: SITE, caseId: 'C-old', name: 'old', reason: 'r', createdBy: 'alice', createdAt: NOW.toISOString(), members: ['r1'] });
      const read = (await table.getCase(SITE, 'C-old'))!;
      expect(read.version).toBeUndefined();
      await table.updateCase({ ...read, members: ['r1', 'r2'] });
      await expect(table.updateCase({ ...read, members: ['r1', 'r3'] })).rejects.toMatchObject({ name: 'CaseChangedError', message: expect.stringContaining('case C-old in site site-a was changed by another request since this one read it') });
      expect(await table.getCase(SITE, 'C-old')).toMatchObject({ members: ['r1', 'r2'], version: 1 });
      await expect(table.updateCase({ ...read, caseId: 'C-none' })).rejects.toMatchObject({ name: 'NotFoundError' });
    });
  });
}
