import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { caseMirrorKey, copyHoldsToBucket, MirroredHoldStore, restoreHoldsFromBucket } from '../../core/hold-mirror.ts';
import { createCase, listHolds, placeHold, releaseHold, showCase, type HoldDeps } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { readSmallObject } from '../../core/read-small.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// Legal holds and cases survive the loss of the catalogue table: every record is written to the
// bucket too (write-once objects; a hold before the table, a case version once the table took
// it), and a rebuild puts them back. Without that, a table restored
// to a point before a hold forgets it, and the purge deletes the held call.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');

describe('hold and case records kept in the bucket', () => {
  it('are put back into an empty table as they stood: active holds, a released one, a held case with its members', async () => {
    const clock = new ManualClock(NOW);
    const blobs = new MemoryBlobStore({ clock });
    const catalogue = new MemoryCatalogue();
    const table = new MemoryHoldStore();
    const deps: HoldDeps = { holds: new MirroredHoldStore(table, blobs), catalogue, blobs, holder: new MemoryObjectHolder(), clock };
    const pack = await publishPack({ blobs, catalogue }, SITE, NOW, 'p', [10, 20, 30]);
    const [a, b, c] = pack.manifest.members.map((m) => m.rid);
    await placeHold(deps, { site: SITE, rid: a!, reason: 'litigation A', reference: 'MAT-1', principal: 'alice' });
    await placeHold(deps, { site: SITE, rid: b!, reason: 'complaint', principal: 'alice' });
    clock.advance(1000);
    await releaseHold(deps, { site: SITE, rid: b!, reason: 'closed', principal: 'bob' });
    await createCase(deps, { site: SITE, caseId: 'CASE-7', name: 'Complaint 7', reason: 'complaint', principal: 'alice', rids: [c!] });
    await placeHold(deps, { site: SITE, caseId: 'CASE-7', reason: 'case hold', principal: 'alice' });
    const before = await listHolds({ holds: table }, SITE, { history: true });

    const lost = new MemoryHoldStore(); // the table, lost (or restored to before all of it)
    const restored = await restoreHoldsFromBucket(blobs, lost, SITE);
    expect(restored).toEqual({ holds: 3, cases: 1, failed: [] });
    expect(await listHolds({ holds: lost }, SITE, { history: true })).toEqual(before);
    expect((await showCase({ holds: lost }, SITE, 'CASE-7')).held).toMatchObject({ reason: 'case hold' });
    expect((await lost.getCase(SITE, 'CASE-7'))?.members).toEqual([c]);
    // Into a table that still has some of them (restored to a point in between): the same answer, nothing doubled.
    expect(await restoreHoldsFromBucket(blobs, lost, SITE)).toEqual({ holds: 3, cases: 1, failed: [] });
    expect(await listHolds({ holds: lost }, SITE, { history: true })).toEqual(before);
  });

  it('copies to the bucket the holds and cases placed before they were kept there (an upgrade), once, so that a later table loss keeps them', async () => {
    const clock = new ManualClock(NOW);
    const blobs = new MemoryBlobStore({ clock });
    const catalogue = new MemoryCatalogue();
    const table = new MemoryHoldStore();
    const before: HoldDeps = { holds: table, catalogue, blobs, holder: new MemoryObjectHolder(), clock }; // no bucket copies, as an older release
    const pack = await publishPack({ blobs, catalogue }, SITE, NOW, 'p', [10, 20]);
    const [a, b] = pack.manifest.members.map((m) => m.rid);
    await placeHold(before, { site: SITE, rid: a!, reason: 'litigation A', principal: 'alice' });
    await createCase(before, { site: SITE, caseId: 'OLD-1', name: 'old', reason: 'r', principal: 'alice', rids: [b!] });
    await placeHold(before, { site: SITE, caseId: 'OLD-1', reason: 'case hold', principal: 'alice' });
    expect(await copyHoldsToBucket(table, blobs, SITE)).toEqual({ holds: 2, cases: 1 });
    expect(await copyHoldsToBucket(table, blobs, SITE)).toEqual({ holds: 0, cases: 0 });
    const lost = new MemoryHoldStore();
    expect(await restoreHoldsFromBucket(blobs, lost, SITE)).toEqual({ holds: 2, cases: 1, failed: [] });
    expect(await listHolds({ holds: lost }, SITE)).toEqual(await listHolds({ holds: table }, SITE));
  });

  it("sorts a case's versions in the order written, even within one millisecond (the newest is the one a rebuild takes)", () => {
    const at = new Date('2026-06-01T00:00:00.000Z');
    const keys = Array.from({ length: 50 }, () => caseMirrorKey({ site: SITE, caseId: 'C-9' }, at));
    expect([...keys].sort()).toEqual(keys);
    expect(new Set(keys).size).toBe(50);
  });

  it('leave nothing in the bucket for a case the table refuses (its id taken), and accept a retried write of the same change', async () => {
    const clock = new ManualClock(NOW);
    const blobs = new MemoryBlobStore({ clock });
    const table = new MemoryHoldStore();
    const mirrored = new MirroredHoldStore(table, blobs);
    const record = { site: SITE, caseId: 'C-1', name: 'x', reason: 'y', createdBy: 'alice', createdAt: NOW.toISOString(), members: [] };
    await mirrored.createCase(record);
    await expect(mirrored.createCase(record)).rejects.toThrow();
    const keys: string[] = [];
    for await (const o of blobs.list('cases/')) keys.push(o.key);
    expect(keys).toHaveLength(1);
    const hold = { site: SITE, rid: 'r0123456789abcdef0123456', scope: { kind: 'call' as const }, reason: 'r', placedBy: 'alice', placedAt: NOW.toISOString() };
    await mirrored.putHold(hold);
    await mirrored.putHold(hold);
    const holds: string[] = [];
    for await (const o of blobs.list('holds/')) holds.push(o.key);
    expect(holds).toEqual([`holds/${SITE}/r0123456789abcdef0123456/${NOW.toISOString()}_call/placed.json`]);
  });

  it('keep no version of a case the table refused (written from a stale read), and a rebuild over a table restored to an older version puts the newest back', async () => {
    const clock = new ManualClock(NOW);
    const blobs = new MemoryBlobStore({ clock });
    const mirrored = new MirroredHoldStore(new MemoryHoldStore(), blobs);
    const record = { site: SITE, caseId: 'C-2', name: 'x', reason: 'y', createdBy: 'alice', createdAt: NOW.toISOString(), members: ['r1'] };
    await mirrored.createCase(record);
    const read = (await mirrored.getCase(SITE, 'C-2'))!;
    expect(await mirrored.updateCase({ ...read, members: ['r1', 'r2'] })).toMatchObject({ version: 1 });
    await expect(mirrored.updateCase({ ...read, members: ['r1', 'r3'] })).rejects.toMatchObject({ name: 'CaseChangedError' });
    const kept: string[] = [];
    for await (const o of blobs.list('cases/')) kept.push(JSON.parse((await readSmallObject(blobs, o.key, 1 << 20, 'case')).toString('utf8')).members.join(','));
    expect(kept).toEqual(['r1', 'r1,r2']);
    const older = new MemoryHoldStore(); // the table restored to a point before the change
    await older.createCase(record);
    expect(await restoreHoldsFromBucket(blobs, older, SITE)).toEqual({ holds: 0, cases: 1, failed: [] });
    expect(await older.getCase(SITE, 'C-2')).toMatchObject({ members: ['r1', 'r2'] });
  });
});
