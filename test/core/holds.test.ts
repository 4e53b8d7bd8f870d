import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { addCaseCalls, createCase, listHolds, placeHold, releaseHold, showCase, type HoldDeps } from '../../core/holds.ts';
import type { HoldRecord } from '../../core/hold-items.ts';
import { ingestManifest, rebuildCatalogue } from '../../core/ingest.ts';
import { parseManifest } from '../../core/manifest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { BlobStoreDeleter, deletePurgeBatch, planPurge } from '../../core/purge.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryRecallStatusStore } from '../../core/recall-status.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// Legal hold in the domain: hold records that ingest and rebuild never touch, Object Lock legal
// hold set and cleared with them, cases, and the purge's copy-out of held calls.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const SETTINGS = { retentionDays: 365, keepFullCycles: 2 };

function world() {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const holder = new MemoryObjectHolder();
  const deps: HoldDeps = { holds, catalogue, blobs, holder, clock };
  // The purge's deleter refuses a legal-held object, as S3 does (even with governance bypass).
  const deleter = new BlobStoreDeleter(blobs, (key) => (holder.isHeld(key) ? 'its legal hold is released' : undefined));
  return { clock, blobs, catalogue, holds, holder, deps, deleter };
}

type World = ReturnType<typeof world>;

async function purge(w: World) {
  const plan = await planPurge({ blobs: w.blobs, holds: w.holds, catalogue: new MemoryCatalogue() }, { site: SITE, settings: SETTINGS, now: w.clock.now(), maxTargets: 100, batchObjects: 50 });
  const locks = new SiteLocks(new MemoryLockTable(), w.clock);
  const { token } = await locks.acquire({ site: SITE, holder: 'test', operation: 'purge' });
  const copyOut = { blobs: w.blobs, catalogue: w.catalogue, holder: w.holder, clock: w.clock };
  const results = [];
  for (const batch of plan.batches) results.push(await deletePurgeBatch({ deleter: w.deleter, locks, blobs: w.blobs, catalogue: w.catalogue, copyOut }, SITE, token, batch));
  return { plan, results };
}

const exists = async (w: World, key: string) => (await w.blobs.head(key)) !== undefined;

async function bytes(w: World, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const { body } = await w.blobs.get(key, range);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

describe('legal hold records', () => {
  it('placing a hold on a call writes a record and sets legal hold ON on its pack and manifest', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [10, 20]);
    const rid = pack.manifest.members[0]!.rid;
    const out = await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', reference: 'LIT-7', principal: 'alice' });
    expect(out.objects).toEqual([pack.packKey, pack.manifestKey]);
    expect(w.holder.isHeld(pack.packKey) && w.holder.isHeld(pack.manifestKey)).toBe(true);
    expect((await listHolds(w.deps, SITE)).active).toMatchObject([{ rid, reason: 'litigation', reference: 'LIT-7', placedBy: 'alice', placedAt: NOW.toISOString(), scope: { kind: 'call' } }]);
    // Placing it again without a reference (or with the same one) is idempotent: still one active hold.
    await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', principal: 'bob' });
    expect((await listHolds(w.deps, SITE)).active).toHaveLength(1);
  });

  it('ingest and catalogue rebuild never clear a hold, and the purge still honours it afterwards', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [400]);
    const rid = pack.manifest.members[0]!.rid;
    await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', principal: 'alice' });
    await ingestManifest(w, pack.manifestKey);
    await rebuildCatalogue(w, { site: SITE });
    expect((await listHolds(w.deps, SITE)).active.map((h) => h.rid)).toEqual([rid]);
    const { plan } = await purge(w);
    expect(plan.summary).toMatchObject({ targets: 0, keptPacksHeld: 1 });
    expect(await exists(w, pack.packKey)).toBe(true);
  });

  it('release needs a reason (InvalidInputError naming the field) and keeps the history: who placed, who released, why', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [10]);
    const rid = pack.manifest.members[0]!.rid;
    await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', principal: 'alice' });
    await expect(releaseHold(w.deps, { site: SITE, rid, reason: '  ', principal: 'bob' })).rejects.toThrow(new InvalidInputError('reason: is required'));
    w.clock.advance(DAY);
    await releaseHold(w.deps, { site: SITE, rid, reason: 'case settled', principal: 'bob' });
    const listing = await listHolds(w.deps, SITE, { history: true });
    expect(listing.active).toEqual([]);
    expect(listing.released).toMatchObject([{ rid, placedBy: 'alice', reason: 'litigation', releasedBy: 'bob', releaseReason: 'case settled', releasedAt: new Date(NOW.getTime() + DAY).toISOString() }]);
    expect(w.holder.isHeld(pack.packKey)).toBe(false);
    await expect(releaseHold(w.deps, { site: SITE, rid, reason: 'again', principal: 'bob' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('releasing one call keeps legal hold ON while another call of the same pack is still held; the last release sets it OFF', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [10, 20]);
    const [a, b] = pack.manifest.members.map((m) => m.rid);
    await placeHold(w.deps, { site: SITE, rid: a!, reason: 'r', principal: 'alice' });
    await placeHold(w.deps, { site: SITE, rid: b!, reason: 'r', principal: 'alice' });
    expect((await releaseHold(w.deps, { site: SITE, rid: a!, reason: 'done', principal: 'bob' })).objects).toEqual([]);
    expect(w.holder.isHeld(pack.packKey)).toBe(true);
    expect((await releaseHold(w.deps, { site: SITE, rid: b!, reason: 'done', principal: 'bob' })).objects).toEqual([pack.packKey, pack.manifestKey]);
    expect(w.holder.isHeld(pack.packKey) || w.holder.isHeld(pack.manifestKey)).toBe(false);
  });

  it("a case read names each member's start, site, call id and agent from its catalogue entry, its tier where the reader has the packs' tiers, and keeps its other fields as they were", async () => {
    const w = world();
    const p1 = await publishPack(w, SITE, NOW, 'p1', [10, 3]);
    const [r1, r2] = p1.manifest.members.map((m) => m.rid);
    await createCase(w.deps, { site: SITE, caseId: 'CASE-2', name: 'Jones', reason: 'regulator', principal: 'alice', rids: [r2!, r1!] });
    const plain = await showCase(w.deps, SITE, 'CASE-2');
    expect(plain).toMatchObject({ caseId: 'CASE-2', members: [r2, r1], memberHolds: { [r1!]: [], [r2!]: [] } });
    expect(plain.memberCalls).toEqual({
      [r2!]: { start: new Date(NOW.getTime() - 3 * DAY).toISOString(), site: SITE, callId: 'p1-1' },
      [r1!]: { start: new Date(NOW.getTime() - 10 * DAY).toISOString(), site: SITE, callId: 'p1-0' },
    });
    const tiers = { packs: w.catalogue, recalls: new MemoryRecallStatusStore(), tiers: [{ storageClass: 'DEEP_ARCHIVE', afterDays: 1 }], clock: w.clock };
    const tiered = await showCase({ ...w.deps, tiers }, SITE, 'CASE-2');
    // A pack under 128 KiB is never moved by S3's lifecycle: online, as the recording route says.
    expect(tiered.memberCalls?.[r1!]?.archive).toEqual({ state: 'online', storageClass: 'STANDARD' });
  });

  it('a held case holds its members, and a call added later is held at once; releasing the case releases them', async () => {
    const w = world();
    const p1 = await publishPack(w, SITE, NOW, 'p1', [10]);
    const p2 = await publishPack(w, SITE, NOW, 'p2', [10]);
    const [r1, r2] = [p1.manifest.members[0]!.rid, p2.manifest.members[0]!.rid];
    const c = await createCase(w.deps, { site: SITE, caseId: 'CASE-1', name: 'Smith v Acme', reason: 'subpoena', reference: 'SUB-42', principal: 'alice', rids: [r1] });
    expect(c).toMatchObject({ caseId: 'CASE-1', members: [r1], createdBy: 'alice' });
    await expect(createCase(w.deps, { site: SITE, caseId: 'CASE-1', name: 'x', reason: 'y', principal: 'alice' })).rejects.toThrow('already exists');
    await placeHold(w.deps, { site: SITE, caseId: 'CASE-1', reason: 'subpoena', principal: 'alice' });
    expect(w.holder.isHeld(p1.packKey)).toBe(true);
    const added = await addCaseCalls(w.deps, { site: SITE, caseId: 'CASE-1', rids: [r2, r1], principal: 'alice' });
    expect(added.added).toEqual([r2]);
    expect(w.holder.isHeld(p2.packKey)).toBe(true);
    const view = await showCase(w.deps, SITE, 'CASE-1');
    expect(view.held).toMatchObject({ by: 'alice', reason: 'subpoena' });
    expect(Object.values(view.memberHolds).map((h) => h.map((x) => x.scope))).toEqual([[{ kind: 'case', caseId: 'CASE-1' }], [{ kind: 'case', caseId: 'CASE-1' }]]);
    // A case member cannot be released alone: the case holds it.
    await expect(releaseHold(w.deps, { site: SITE, rid: r1, reason: 'x', principal: 'bob' })).rejects.toThrow('release the case');
    await releaseHold(w.deps, { site: SITE, caseId: 'CASE-1', reason: 'case closed', principal: 'bob' });
    expect((await listHolds(w.deps, SITE)).active).toEqual([]);
    expect(w.holder.isHeld(p1.packKey) || w.holder.isHeld(p2.packKey)).toBe(false);
    expect((await showCase(w.deps, SITE, 'CASE-1')).held).toBeUndefined();
  });

  it('holding a case one of whose calls retention already deleted holds every other member, names the deleted one, and the purge keeps them', async () => {
    const w = world();
    const old = await publishPack(w, SITE, NOW, 'old', [400]);
    const young = await publishPack(w, SITE, NOW, 'young', [300]);
    const [gone, kept] = [old.manifest.members[0]!.rid, young.manifest.members[0]!.rid];
    await createCase(w.deps, { site: SITE, caseId: 'M-1', name: 'follow-up', reason: 'regulator', principal: 'alice', rids: [gone, kept] });
    await purge(w); // the case is not held yet: the 400-day call goes
    expect(await exists(w, old.packKey)).toBe(false);
    const out = await placeHold(w.deps, { site: SITE, caseId: 'M-1', reason: 'hold the follow-up', principal: 'alice' });
    expect(out).toMatchObject({ holds: [expect.objectContaining({ rid: kept })], gone: [gone], objects: [young.packKey, young.manifestKey] });
    expect(out.existing).toBeUndefined();
    expect((await showCase(w.deps, SITE, 'M-1')).held).toMatchObject({ reason: 'hold the follow-up' });
    // The case's view says which of its members are no longer in the archive.
    expect((await showCase(w.deps, SITE, 'M-1')).gone).toEqual([gone]);
    w.clock.advance(100 * DAY); // the other call is due too: it is held
    expect((await purge(w)).plan.summary).toMatchObject({ targets: 0, keptPacksHeld: 1 });
    expect(await exists(w, young.packKey)).toBe(true);
  });

  it('a case hold cut short leaves the case unmarked and placing it again holds the rest; a release cut short leaves it held and releasing again finishes', async () => {
    const w = world();
    const packs = [await publishPack(w, SITE, NOW, 'a', [10]), await publishPack(w, SITE, NOW, 'b', [10])];
    const rids = packs.map((p) => p.manifest.members[0]!.rid);
    await createCase(w.deps, { site: SITE, caseId: 'M-2', name: 'x', reason: 'y', principal: 'alice', rids });
    const setLegalHold = w.holder.setLegalHold.bind(w.holder);
    let failOn: string | undefined = packs[1]!.packKey;
    w.holder.setLegalHold = async (key, on) => {
      if (key === failOn) throw new Error('Task timed out');
      return setLegalHold(key, on);
    };
    await expect(placeHold(w.deps, { site: SITE, caseId: 'M-2', reason: 'r', principal: 'alice' })).rejects.toThrow('Task timed out');
    expect((await showCase(w.deps, SITE, 'M-2')).held).toBeUndefined();
    failOn = undefined;
    const again = await placeHold(w.deps, { site: SITE, caseId: 'M-2', reason: 'r', principal: 'alice' });
    expect(again.existing).toBeUndefined();
    expect(packs.every((p) => w.holder.isHeld(p.packKey))).toBe(true);
    expect((await showCase(w.deps, SITE, 'M-2')).held).toBeDefined();
    failOn = packs[1]!.manifestKey;
    await expect(releaseHold(w.deps, { site: SITE, caseId: 'M-2', reason: 'closed', principal: 'bob' })).rejects.toThrow('Task timed out');
    expect((await showCase(w.deps, SITE, 'M-2')).held).toBeDefined();
    failOn = undefined;
    await releaseHold(w.deps, { site: SITE, caseId: 'M-2', reason: 'closed', principal: 'bob' });
    expect((await showCase(w.deps, SITE, 'M-2')).held).toBeUndefined();
    expect(packs.some((p) => w.holder.isHeld(p.packKey) || w.holder.isHeld(p.manifestKey))).toBe(false);
  });

  it("lists a site's holds a page at a time (a history of thousands stays under Lambda's 6 MB), every record once across pages, and refuses a cursor it did not give", async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [10, 10, 10]);
    const rids = pack.manifest.members.map((m) => m.rid);
    for (let round = 0; round < 3; round++) {
      for (const rid of rids) await placeHold(w.deps, { site: SITE, rid, reason: `matter ${round}`, principal: 'alice' });
      w.clock.advance(1000);
      if (round < 2) for (const rid of rids) await releaseHold(w.deps, { site: SITE, rid, reason: 'settled', principal: 'bob' });
      w.clock.advance(1000);
    }
    const seen: HoldRecord[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await listHolds(w.deps, SITE, { history: true, limit: 4, ...(cursor ? { cursor } : {}) });
      expect(page.active.length + page.released!.length).toBeLessThanOrEqual(4);
      seen.push(...page.active, ...page.released!);
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(9);
    expect(new Set(seen.map((h) => `${h.rid}#${h.placedAt}`)).size).toBe(9);
    expect(seen.filter((h) => !h.releasedAt)).toHaveLength(3);
    expect((await listHolds(w.deps, SITE)).cursor).toBeUndefined();
    await expect(listHolds(w.deps, SITE, { cursor: 'not-a-cursor!' })).rejects.toThrow('cursor: not a cursor this listing gave');
    await expect(listHolds(w.deps, SITE, { limit: 1001 })).rejects.toThrow('limit: must be a whole number from 1 to 1000');
  });

  it('refuses a hold on an unknown call or case, and one naming both or neither', async () => {
    const w = world();
    await expect(placeHold(w.deps, { site: SITE, rid: 'r0123456789abcdef0123456', reason: 'r', principal: 'a' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(placeHold(w.deps, { site: SITE, caseId: 'nope', reason: 'r', principal: 'a' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(placeHold(w.deps, { site: SITE, reason: 'r', principal: 'a' })).rejects.toThrow('rid, caseId: give exactly one');
    await expect(placeHold(w.deps, { site: SITE, rid: 'x', caseId: 'y', reason: 'r', principal: 'a' })).rejects.toThrow('rid, caseId: give exactly one');
  });
});

describe('purge with legal holds', () => {
  it('retention expires and the hold still holds: the held pack survives every purge until released, then goes', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'p', [300]);
    await placeHold(w.deps, { site: SITE, rid: pack.manifest.members[0]!.rid, reason: 'litigation', principal: 'alice' });
    w.clock.advance(400 * DAY); // far past the 365-day retention
    const first = await purge(w);
    expect(first.plan.summary).toMatchObject({ targets: 0, keptPacksHeld: 1 });
    expect(await exists(w, pack.packKey)).toBe(true);
    // Even a delete the plan did not ask for is refused while the legal hold is ON (Object Lock).
    expect((await w.deleter.deleteObjects([pack.packKey])).retained.map((r) => r.key)).toEqual([pack.packKey]);
    await releaseHold(w.deps, { site: SITE, rid: pack.manifest.members[0]!.rid, reason: 'settled', principal: 'bob' });
    const second = await purge(w);
    expect(second.plan.summary).toMatchObject({ targets: 1, packs: 1 });
    expect(await exists(w, pack.packKey)).toBe(false);
    expect(await exists(w, pack.manifestKey)).toBe(false);
  });

  it('copy-out keeps exactly the held calls, byte-identical, in a held pack real tar opens; the rest of the pack is purged', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'mixed', [400, 410, 420, 430]);
    const members = pack.manifest.members;
    const held = [members[1]!.rid, members[3]!.rid];
    for (const rid of held) await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', principal: 'alice' });
    expect(w.holder.isHeld(pack.packKey)).toBe(true);

    const { plan, results } = await purge(w);
    expect(plan.summary).toMatchObject({ packs: 1, copiedOut: 1 });
    expect(results.reduce((n, r) => n + r.failedCount + r.retainedCount, 0)).toBe(0);
    expect(await exists(w, pack.packKey)).toBe(false);
    expect(await exists(w, pack.manifestKey)).toBe(false);

    const moved = await Promise.all(held.map((rid) => w.catalogue.getRecording(SITE, rid)));
    const newPack = moved[0]!.packKey;
    expect(moved.map((e) => e?.packKey)).toEqual([newPack, newPack]);
    expect(newPack).not.toBe(pack.packKey);
    expect(w.holder.isHeld(newPack) && w.holder.isHeld(moved[0]!.manifestKey)).toBe(true);
    const copy = parseManifest(await bytes(w, moved[0]!.manifestKey));
    expect(copy.members.map((m) => m.rid)).toEqual(held);
    for (const [i, e] of moved.entries()) {
      const original = members.find((m) => m.rid === held[i])!;
      const read = await bytes(w, e!.packKey, { start: e!.offset, end: e!.offset + e!.length - 1 });
      const before = pack.pack.subarray(original.offset, original.offset + original.length);
      expect(read.equals(before)).toBe(true);
      expect(e!.sha256).toBe(original.sha256);
    }
    for (const rid of [members[0]!.rid, members[2]!.rid]) expect(await w.catalogue.getRecording(SITE, rid)).toBeUndefined();

    // The copy is a plain POSIX tar: the ordinary tool lists and extracts exactly the held calls.
    const dir = mkdtempSync(join(tmpdir(), 'ferry-copyout-'));
    try {
      writeFileSync(join(dir, 'held.tar'), await bytes(w, newPack));
      expect(execFileSync('tar', ['-tf', join(dir, 'held.tar')], { encoding: 'utf8' }).trim().split('\n')).toEqual(copy.members.map((m) => m.name));
      execFileSync('tar', ['-xf', join(dir, 'held.tar'), '-C', dir]);
      const first = members.find((m) => m.rid === held[0])!;
      expect(readFileSync(join(dir, first.name)).equals(pack.pack.subarray(first.offset, first.offset + first.length))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // The copy itself is kept by every later purge while held, and a rebuild finds the held calls in it.
    const again = await purge(w);
    expect(again.plan.summary).toMatchObject({ targets: 0, keptPacksHeld: 1 });
    await rebuildCatalogue(w, { site: SITE });
    expect((await w.catalogue.getRecording(SITE, held[0]!))?.packKey).toBe(newPack);
  });

  it('copy-out keeps the host and agent that shipped the held calls: the copy\'s manifest and the calls\' entries still name it, after a rebuild too', async () => {
    const w = world();
    const shippedBy = { host: 'rec-primary.example', agentId: '6f1c2a3b-1111-4aaa-8bbb-000000000001' };
    const pack = await publishPack(w, SITE, NOW, 'mixed', [400, 410], { shippedBy });
    const rid = pack.manifest.members[1]!.rid;
    await placeHold(w.deps, { site: SITE, rid, reason: 'litigation', principal: 'alice' });
    expect((await purge(w)).plan.summary).toMatchObject({ copiedOut: 1 });
    const moved = await w.catalogue.getRecording(SITE, rid);
    expect(moved?.packKey).not.toBe(pack.packKey);
    expect(moved?.shippedBy).toEqual(shippedBy);
    expect(parseManifest(await bytes(w, moved!.manifestKey)).shippedBy).toEqual(shippedBy);
    await rebuildCatalogue(w, { site: SITE });
    expect((await w.catalogue.getRecording(SITE, rid))?.shippedBy).toEqual(shippedBy);
  });

  it('a copy-out that cannot read its calls exactly keeps the pack and reports it failed', async () => {
    const w = world();
    const pack = await publishPack(w, SITE, NOW, 'torn', [400, 410]);
    await placeHold(w.deps, { site: SITE, rid: pack.manifest.members[1]!.rid, reason: 'r', principal: 'alice' });
    const torn = Buffer.from(pack.pack);
    torn[pack.manifest.members[1]!.offset]! ^= 0xff;
    await w.blobs.put(pack.packKey, torn);
    const { results } = await purge(w);
    expect(results[0]!.failed[0]!.reason).toContain('not copied out');
    expect(await exists(w, pack.packKey)).toBe(true);
    expect(w.holder.isHeld(pack.packKey)).toBe(true);
    expect((await w.catalogue.getRecording(SITE, pack.manifest.members[1]!.rid))?.packKey).toBe(pack.packKey);
  });
});
