import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { ArchivedError, ErasedError } from '../../core/errors.ts';
import { MemoryErasureStore, MirroredErasureStore, type ErasureStore } from '../../core/erasure-items.ts';
import { erasureGate, requestErasure } from '../../core/erasures.ts';
import { placeHold } from '../../core/holds.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import { BlobStoreDeleter, deletePurgeBatch, planPurge } from '../../core/purge.ts';
import { purgeReport } from '../../core/purge-report.ts';
import { workflowConfig } from '../../core/workflow-config.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// The purge carries an erasure out: the erased call's pack is written again without it (the other
// calls copied byte for byte to a new pack, held ones still under legal hold, re-catalogued there),
// the old pack and manifest deleted once their Object Lock allows, and only then the request done.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const LOCK_DAYS = 30;
const SETTINGS = { retentionDays: 365, keepFullCycles: 2, objectLockDays: LOCK_DAYS };

class Crash extends Error {}

/** Counts the purge's writes and deletes; throws Crash instead of the `at`-th one (a process that stopped after the one before). */
class Stopper {
  count = 0;
  constructor(public at = Number.POSITIVE_INFINITY) {}
  step(): void {
    if (++this.count === this.at) throw new Crash(`stopped before write ${this.count}`);
  }
  wrap<T extends object>(target: T, methods: string[]): T {
    return new Proxy(target, {
      get: (t, prop) => {
        const value: unknown = Reflect.get(t, prop, t);
        if (typeof value !== 'function') return value;
        const fn = (value as (...a: unknown[]) => unknown).bind(t);
        return methods.includes(String(prop)) ? (...args: unknown[]) => (this.step(), fn(...args)) : fn;
      },
    });
  }
}

async function world(opts: { createdDaysAgo?: number; holdKept?: boolean } = {}) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const holder = new MemoryObjectHolder();
  const table = new MemoryErasureStore();
  const erasures = new MirroredErasureStore(table, blobs);
  const audit: AuditEvent[] = [];
  const createdAt = new Date(NOW.getTime() - (opts.createdDaysAgo ?? 40) * DAY);
  const f = await publishPack({ blobs, catalogue }, SITE, NOW, 'batch', [10, 10, 10, 10], { createdAt });
  const rids = f.manifest.members.map((m) => m.rid);
  const bodies = new Map(await Promise.all(f.manifest.members.map(async (m) => [m.rid, await bytes(blobs, f.packKey, { start: m.offset, end: m.offset + m.length - 1 })] as const)));
  const holdDeps = { holds, catalogue, blobs, holder, clock };
  if (opts.holdKept !== false) await placeHold(holdDeps, { site: SITE, rid: rids[1]!, reason: 'tribunal', reference: 'ET-1', principal: 'counsel' });
  await requestErasure({ catalogue, holds, erasures, clock }, { site: SITE, rid: rids[2]!, reason: 'data subject request', reference: 'DSAR-9', principal: 'officer-1' });
  return { clock, blobs, catalogue, holds, holder, table, erasures, audit, f, rids, bodies, createdAt, holdDeps, uploaded: new Map<string, Date>(), archived: new Set<string>(), restores: [] as string[] };
}

type World = Awaited<ReturnType<typeof world>>;

async function bytes(blobs: Pick<BlobStore, 'get'>, key: string, range?: { start: number; end: number }): Promise<Buffer> {
  const { body } = await blobs.get(key, range);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** One purge (plan, then every batch), its writes counted by `stop`. Object Lock: the bucket's default retention from each object's upload, and legal hold. */
async function purge(w: World, stop = new Stopper(), settings = SETTINGS) {
  const counted = stop.wrap(w.blobs, ['put', 'delete']);
  // Each object's Object Lock runs from its upload: what this purge writes is locked from now.
  const blobs: typeof counted = new Proxy(counted, {
    get: (t, prop) => (prop === 'put' ? (key: string, ...rest: unknown[]) => (w.uploaded.set(key, w.clock.now()), (t.put as (...a: unknown[]) => unknown)(key, ...rest)) : Reflect.get(t, prop, t)),
  });
  // A pack in Deep Archive answers a read with InvalidObjectState, as S3 does, until it is restored.
  const get = blobs.get.bind(blobs);
  blobs.get = (key, range) => (w.archived.has(key) ? Promise.reject(new ArchivedError(`${key} is in the archive tier (DEEP_ARCHIVE)`, 'DEEP_ARCHIVE')) : get(key, range));
  const archive = { requestRestore: async (key: string) => (w.restores.push(key), 'started' as const) };
  const catalogue = stop.wrap(w.catalogue as CatalogueStore, ['putRecordings', 'putPack', 'forgetPack']);
  const holder = stop.wrap(w.holder, ['setLegalHold']);
  const erasures = stop.wrap(w.erasures as ErasureStore, ['markDone']);
  const audit = (e: AuditEvent) => {
    stop.step();
    w.audit.push(e);
  };
  const lockedUntil = (key: string) => {
    if (w.holder.isHeld(key)) return 'its legal hold is released';
    const until = (w.uploaded.get(key) ?? w.createdAt).getTime() + LOCK_DAYS * DAY;
    return until > w.clock.now().getTime() ? new Date(until).toISOString() : undefined;
  };
  const deleter = new BlobStoreDeleter(blobs, lockedUntil);
  const plan = await planPurge({ blobs, holds: w.holds, catalogue, erasures, audit }, { site: SITE, settings, now: w.clock.now(), maxTargets: 100, batchObjects: 50 });
  const locks = new SiteLocks(new MemoryLockTable(), w.clock);
  const { token } = await locks.acquire({ site: SITE, holder: 'test', operation: 'purge' });
  const copyOut = { blobs, catalogue, holder, clock: w.clock };
  const deleted = [];
  for (const batch of plan.batches) deleted.push(await deletePurgeBatch({ deleter, locks, blobs, catalogue, copyOut, erasures, audit, archive, clock: w.clock }, SITE, token, batch));
  return { plan, deleted };
}

const exists = async (w: World, key: string) => (await w.blobs.head(key)) !== undefined;

/** Every call but the erased one plays byte for byte from where the catalogue says it is. */
async function keptCallsRestore(w: World): Promise<void> {
  for (const rid of w.rids.filter((r) => r !== w.rids[2])) {
    const entry = await w.catalogue.getRecording(SITE, rid);
    expect(entry, `catalogue entry of ${rid}`).toBeDefined();
    expect(await bytes(w.blobs, entry!.packKey, { start: entry!.offset, end: entry!.offset + entry!.length - 1 })).toEqual(w.bodies.get(rid));
  }
}

async function erasedUnreachable(w: World): Promise<void> {
  await expect(erasureGate(w.catalogue, w.erasures).getRecording(SITE, w.rids[2]!)).rejects.toBeInstanceOf(ErasedError);
}

/** The erased call's bytes in no object of the site's recordings. */
async function erasedBytesNowhere(w: World): Promise<void> {
  const erased = w.bodies.get(w.rids[2]!)!;
  for await (const info of w.blobs.list(`recordings/${SITE}/`)) expect((await bytes(w.blobs, info.key)).indexOf(erased), info.key).toBe(-1);
}

/** No object of the site holds the call: its bytes in no pack, its rid in no manifest. */
async function callNowhere(w: World, rid: string, label: string): Promise<void> {
  const body = w.bodies.get(rid)!;
  for await (const info of w.blobs.list(`recordings/${SITE}/`)) expect((await bytes(w.blobs, info.key)).indexOf(body), `${label}: ${rid} in ${info.key}`).toBe(-1);
  for await (const info of w.blobs.list(`manifests/${SITE}/`)) expect((await bytes(w.blobs, info.key)).toString('utf8').includes(rid), `${label}: ${rid} listed by ${info.key}`).toBe(false);
}

/** Every done request's call is nowhere in the bucket: `done` is never said while a copy exists. */
async function doneMeansGone(w: World, label: string): Promise<void> {
  for (const e of await w.table.listErasures(SITE)) if (e.status === 'done') await callNowhere(w, e.rid, `${label}, ${e.rid} done`);
}

describe('the purge carries an erasure out', () => {
  it('writes the pack again without the erased call: every other call restores byte-identical from the new pack, the held one still under legal hold; the old pack and manifest go; the request is done and the trail names the erased call', async () => {
    const w = await world();
    const { plan, deleted } = await purge(w);
    expect(plan.summary.erasures).toEqual({ planned: 1 });
    expect(await exists(w, w.f.packKey)).toBe(false);
    expect(await exists(w, w.f.manifestKey)).toBe(false);
    await keptCallsRestore(w);
    const moved = (await w.catalogue.getRecording(SITE, w.rids[0]!))!;
    expect(moved.packKey).not.toBe(w.f.packKey);
    expect(w.holder.isHeld(moved.packKey)).toBe(true);
    expect(await w.catalogue.getRecording(SITE, w.rids[2]!)).toBeUndefined();
    await erasedBytesNowhere(w);
    await erasedUnreachable(w);
    const request = (await w.table.getErasure(SITE, w.rids[2]!))!;
    expect(request).toMatchObject({ status: 'done', doneAt: NOW.toISOString() });
    expect(request.doneNote).toContain(moved.packKey);
    expect(await exists(w, `erasures/${SITE}/${w.rids[2]}/done.json`)).toBe(true);
    const record = w.audit.find((e) => e.action === 'purge' && e.detail?.object === w.f.packKey)!;
    expect(record.detail).toMatchObject({ rule: 'erasure', erased: [w.rids[2]], rids: [w.rids[2]], kept: [w.rids[0], w.rids[1], w.rids[3]] });
    expect(record.detail!.calls).toEqual([expect.stringMatching(new RegExp(`^${w.rids[2]} callId=batch-2 `))]);
    const report = purgeReport({ site: SITE, startedAt: NOW.toISOString(), plan, deleted }, NOW, workflowConfig({}));
    expect(report.alert.message).toMatch(/erasure \(data subjects' requests\): 1 call\(s\) planned/);
    expect(report.alert.message).toMatch(/1 erasure request\(s\) carried out \(done\)/);
  });

  it('waits while the pack is under Object Lock, saying "erasure pending until" its end, then carries it out', async () => {
    const w = await world({ createdDaysAgo: 5 });
    const until = new Date(w.createdAt.getTime() + LOCK_DAYS * DAY).toISOString();
    const first = await purge(w);
    expect(first.plan.batches).toEqual([]);
    expect(first.plan.summary.erasures).toEqual({ planned: 0, locked: { count: 1, until } });
    expect(purgeReport({ site: SITE, startedAt: NOW.toISOString(), plan: first.plan, deleted: first.deleted }, NOW, workflowConfig({})).alert.message).toContain(`erasure pending until ${until}`);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('pending');
    await erasedUnreachable(w);
    w.clock.advance(26 * DAY);
    await purge(w);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
    await keptCallsRestore(w);
    await erasedBytesNowhere(w);
  });

  it('notes on the request the date its pack\'s Object Lock ends, so the officer can say when the call goes (erasures list and the 410 say it)', async () => {
    const w = await world({ createdDaysAgo: 5 });
    const until = new Date(w.createdAt.getTime() + LOCK_DAYS * DAY).toISOString();
    await purge(w);
    const waiting = `its pack is under Object Lock until ${until}: the first purge after that erases the call`;
    expect(await w.table.getErasure(SITE, w.rids[2]!)).toMatchObject({ status: 'pending', waiting, waitingAt: NOW.toISOString() });
    await expect(erasureGate(w.catalogue, w.erasures).getRecording(SITE, w.rids[2]!)).rejects.toThrow(`waiting (purge of ${NOW.toISOString()}): ${waiting}`);
  });

  it('of a pack in Deep Archive waits for its restore, asked for: the report and the request name the pack, the call and the restore, never "held calls"; done after the restore', async () => {
    const w = await world();
    w.archived.add(w.f.packKey);
    const { plan, deleted } = await purge(w);
    expect(w.restores).toEqual([w.f.packKey]);
    expect(await exists(w, w.f.packKey)).toBe(true);
    const waits = `erasure of call(s) ${w.rids[2]} waits, pack kept: the pack is in the archive tier (DEEP_ARCHIVE) and its other 3 call(s) must be read from it to be copied to a new pack first; a restore was requested (Bulk, ready within 48 hours, readable 7 days): the first purge after the restore copies them and deletes the pack`;
    const message = purgeReport({ site: SITE, startedAt: NOW.toISOString(), plan, deleted }, NOW, workflowConfig({})).alert.message;
    expect(message).toContain(`${w.f.packKey}: ${waits}`);
    expect(message).toContain('1 pack(s) holding erased calls are in the archive tier: their restore was asked for');
    expect(message).not.toMatch(/held call/);
    const request = (await w.table.getErasure(SITE, w.rids[2]!))!;
    expect(request).toMatchObject({ status: 'pending', waiting: `pack ${w.f.packKey}: ${waits}`, waitingAt: NOW.toISOString() });
    await expect(erasureGate(w.catalogue, w.erasures).getRecording(SITE, w.rids[2]!)).rejects.toThrow(`waiting (purge of ${NOW.toISOString()}): pack ${w.f.packKey}: erasure of call(s) ${w.rids[2]} waits`);
    w.archived.clear(); // restored
    w.clock.advance(2 * DAY);
    await purge(w);
    const done = (await w.table.getErasure(SITE, w.rids[2]!))!;
    expect(done.status).toBe('done');
    expect(done.waiting).toBeUndefined();
    await keptCallsRestore(w);
    await erasedBytesNowhere(w);
  });

  it('of a pack the retention deletes anyway: its audit record says the retention rule deleted it, with its days and cutoff, and names the erasure request it carried out', async () => {
    const w = await world();
    const { plan } = await purge(w, new Stopper(), { ...SETTINGS, retentionDays: 5 });
    expect(plan.summary.erasures).toEqual({ planned: 1 });
    expect(await exists(w, w.f.packKey)).toBe(false);
    const records = w.audit.filter((e) => e.action === 'purge' && e.detail?.object === w.f.packKey);
    expect(records).toHaveLength(1);
    expect(records[0]!.principal).toBe('ferry purge (retention)');
    expect(records[0]!.detail).toMatchObject({ rule: 'retention', retentionDays: 5, cutoff: new Date(NOW.getTime() - 5 * DAY).toISOString(), rules: ['retention', 'erasure'], erased: [w.rids[2]], keptHeld: [w.rids[1]] });
    expect(records[0]!.detail!.rids).toEqual([w.rids[0], w.rids[2], w.rids[3]]);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
    await erasedBytesNowhere(w);
  });

  it('of a pack the retention deletes anyway keeps the held call under legal hold in its new pack (S3 refuses to delete it while the hold stands)', async () => {
    const w = await world();
    await purge(w, new Stopper(), { ...SETTINGS, retentionDays: 5 });
    expect(await exists(w, w.f.packKey)).toBe(false);
    const moved = (await w.catalogue.getRecording(SITE, w.rids[1]!))!;
    expect(moved.packKey).not.toBe(w.f.packKey);
    expect(w.holder.isHeld(moved.packKey)).toBe(true);
    expect(w.holder.isHeld(moved.manifestKey)).toBe(true);
    expect(await bytes(w.blobs, moved.packKey, { start: moved.offset, end: moved.offset + moved.length - 1 })).toEqual(w.bodies.get(w.rids[1]!));
  });

  it('leaves a call held after its request alone, pending, naming it in the plan', async () => {
    const w = await world({ holdKept: false });
    await placeHold(w.holdDeps, { site: SITE, rid: w.rids[2]!, reason: 'tribunal', principal: 'counsel' });
    const { plan } = await purge(w);
    expect(plan.batches).toEqual([]);
    expect(plan.summary.erasures).toEqual({ planned: 0, held: [w.rids[2]] });
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('pending');
    expect(await exists(w, w.f.packKey)).toBe(true);
  });

  it('stopped after any one of its writes and run again, loses no call, never serves the erased one, says done only once the old pack and manifest are gone', async () => {
    const writes = new Stopper();
    await purge(await world(), writes);
    expect(writes.count).toBeGreaterThan(8);
    for (let at = 1; at <= writes.count; at++) {
      const w = await world();
      await purge(w, new Stopper(at)).catch((error: unknown) => {
        if (!(error instanceof Crash)) throw error;
      });
      await keptCallsRestore(w);
      await erasedUnreachable(w);
      const status = (await w.table.getErasure(SITE, w.rids[2]!))!.status;
      if (status === 'done') expect([await exists(w, w.f.packKey), await exists(w, w.f.manifestKey)], `stopped before write ${at}`).toEqual([false, false]);
      await purge(w);
      expect((await w.table.getErasure(SITE, w.rids[2]!))!.status, `stopped before write ${at}, then run again`).toBe('done');
      expect(await exists(w, w.f.packKey)).toBe(false);
      expect(await exists(w, w.f.manifestKey)).toBe(false);
      await keptCallsRestore(w);
      await erasedBytesNowhere(w);
      expect(w.audit.some((e) => e.action === 'purge' && (e.detail?.erased as string[] | undefined)?.includes(w.rids[2]!)), `stopped before write ${at}: the trail names the erased call`).toBe(true);
    }
  });
  it('a call requested while its pack is being rewritten, after a purge stopped at any write: never done while a copy of it exists; both calls erased in the end, the others kept and the held one still held', async () => {
    const writes = new Stopper();
    await purge(await world(), writes);
    const underWay: number[] = [];
    for (let at = 1; at <= writes.count; at++) {
      const w = await world();
      const label = `stopped before write ${at}`;
      await purge(w, new Stopper(at)).catch((error: unknown) => {
        if (!(error instanceof Crash)) throw error;
      });
      // The officer asks for another call of the pack while its rewrite is under way (its entry names the old pack or the copy, as the purge left it).
      const asked = await requestErasure({ catalogue: w.catalogue, holds: w.holds, erasures: w.erasures, clock: w.clock }, { site: SITE, rid: w.rids[0]!, reason: 'second data subject', principal: 'officer-2' }).catch(() => undefined);
      if (!asked) continue; // the first purge had finished with the call already copied and re-catalogued: nothing under way
      for (let round = 0; round < 3; round++) {
        const { plan, deleted } = await purge(w);
        if (plan.summary.erasures?.afterRewrite?.includes(w.rids[0]!)) {
          underWay.push(at);
          expect(purgeReport({ site: SITE, startedAt: NOW.toISOString(), plan, deleted }, NOW, workflowConfig({})).alert.message).toContain(`1 call(s) asked for while their pack was being rewritten wait in its new pack`);
        }
        await doneMeansGone(w, `${label}, purge ${round + 2}`);
        w.clock.advance((LOCK_DAYS + 1) * DAY);
      }
      for (const rid of [w.rids[0]!, w.rids[2]!]) {
        expect((await w.table.getErasure(SITE, rid))!.status, `${label}: ${rid}`).toBe('done');
        await callNowhere(w, rid, label);
        await expect(erasureGate(w.catalogue, w.erasures).getRecording(SITE, rid)).rejects.toBeInstanceOf(ErasedError);
      }
      for (const rid of [w.rids[1]!, w.rids[3]!]) {
        const entry = (await w.catalogue.getRecording(SITE, rid))!;
        expect(entry, `${label}: entry of ${rid}`).toBeDefined();
        expect(await bytes(w.blobs, entry.packKey, { start: entry.offset, end: entry.offset + entry.length - 1 }), `${label}: ${rid}`).toEqual(w.bodies.get(rid));
      }
      expect(w.holder.isHeld((await w.catalogue.getRecording(SITE, w.rids[1]!))!.packKey), `${label}: the held call's pack keeps its legal hold`).toBe(true);
    }
    // The stops between the copy's first write and the old pack's deletion leave a rewrite under way that the next purge finishes as begun.
    expect(underWay.length).toBeGreaterThan(3);
  });
});

/**
 * The same batch shipped a second time under another pack (an agent that lost its state directory
 * ships what the recorder still holds again): the same calls, bytes and rids, catalogued once (the
 * first copy wins); this copy's members are in the bucket all the same.
 */
async function shipAgain(w: World, createdAt: Date) {
  const members = [10, 10, 10, 10].map((age, i) => ({ path: `batch/call-${i}.wav`, body: audio(i + 'batch'.length * 7, 600), meta: { callId: `batch-${i}`, start: new Date(NOW.getTime() - age * DAY).toISOString() } }));
  const copy = buildPack(SITE, members, { seed: 'batch shipped again', day: new Date(NOW.getTime() - 10 * DAY).toISOString().slice(0, 10) + 'T00:00:00Z', createdAt: createdAt.toISOString() });
  expect(copy.manifest.members.map((m) => m.rid)).toEqual(w.rids);
  expect(copy.packKey).not.toBe(w.f.packKey);
  await publish(w.blobs, copy);
  await ingestManifest({ blobs: w.blobs, catalogue: w.catalogue }, copy.manifestKey);
  w.uploaded.set(copy.packKey, createdAt);
  w.uploaded.set(copy.manifestKey, createdAt);
  return copy;
}

describe('the purge erases every copy of the call', () => {
  it('erases the call from a second pack the same batch was shipped in again (catalogued once): its bytes in no pack, the copy\'s other calls kept; the next purge, finding no pack that lists it, marks the request done', async () => {
    const w = await world();
    const copy = await shipAgain(w, w.createdAt);
    expect((await w.catalogue.getRecording(SITE, w.rids[2]!))!.packKey).toBe(w.f.packKey);
    await purge(w);
    expect(await exists(w, w.f.packKey)).toBe(false);
    expect(await exists(w, copy.packKey)).toBe(false);
    await callNowhere(w, w.rids[2]!, 'after the purge');
    await keptCallsRestore(w);
    const record = w.audit.find((e) => e.action === 'purge' && e.detail?.object === copy.packKey)!;
    expect(record.detail).toMatchObject({ rule: 'erasure', erased: [w.rids[2]] });
    expect(await w.table.getErasure(SITE, w.rids[2]!)).toMatchObject({ status: 'pending', waiting: expect.stringContaining('from the 2 packs that hold a copy of it') });
    await erasedUnreachable(w);
    w.clock.advance(DAY);
    const next = await purge(w);
    expect(next.plan.summary.erasures).toMatchObject({ done: 1 });
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
  });

  it('keeps the request pending when the store fails to delete one of the packs holding a copy while the purge deletes the other: done only once that copy is gone too', async () => {
    const w = await world();
    const copy = await shipAgain(w, w.createdAt);
    const remove = w.blobs.delete.bind(w.blobs);
    w.blobs.delete = (key) => (key === copy.packKey ? Promise.reject(new Error('InternalError: we encountered an internal error')) : remove(key));
    await purge(w);
    expect(await exists(w, w.f.packKey)).toBe(false);
    expect(await exists(w, copy.packKey)).toBe(true);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('pending');
    await erasedUnreachable(w);
    await doneMeansGone(w, 'copy kept');
    w.blobs.delete = remove;
    w.clock.advance(DAY);
    await purge(w);
    w.clock.advance(DAY);
    await purge(w);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
    await callNowhere(w, w.rids[2]!, 'after the copy went');
    await keptCallsRestore(w);
  });

  it('goes on when another manifest of the call\'s day cannot be read: the call is erased from its pack, the request stays pending naming that manifest, and is done by the first purge after it is gone', async () => {
    const w = await world();
    const day = w.f.manifestKey.slice(0, w.f.manifestKey.lastIndexOf('/') + 1);
    const torn = `${day}p${'0'.repeat(23)}.json`;
    await w.blobs.put(torn, Buffer.from('{"format": 1, "site": "site-a", "members": ['));
    const first = await purge(w);
    expect(first.plan.summary.erasures).toMatchObject({ planned: 1 });
    expect(await exists(w, w.f.packKey)).toBe(false);
    await erasedBytesNowhere(w);
    await keptCallsRestore(w);
    expect(await w.table.getErasure(SITE, w.rids[2]!)).toMatchObject({ status: 'pending', waiting: expect.stringContaining(`manifest ${torn} of the call's day could not be read`) });
    await w.blobs.delete(torn);
    w.clock.advance(DAY);
    await purge(w);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
  });

  it('keeps the request pending while the second copy is still under Object Lock, the erased call not catalogued again from it, then erases it there', async () => {
    const w = await world();
    const copy = await shipAgain(w, new Date(NOW.getTime() - 5 * DAY));
    const first = await purge(w);
    expect(await exists(w, w.f.packKey)).toBe(false);
    expect(await exists(w, copy.packKey)).toBe(true);
    expect(await w.catalogue.getRecording(SITE, w.rids[2]!)).toBeUndefined();
    expect(first.plan.summary.erasures).toMatchObject({ locked: { count: 1, until: new Date(NOW.getTime() + 25 * DAY).toISOString() } });
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('pending');
    await erasedUnreachable(w);
    w.clock.advance(26 * DAY);
    await purge(w);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
    await callNowhere(w, w.rids[2]!, 'after the second purge');
    await keptCallsRestore(w);
  });

  it('erases a copy shipped again after the request was done (catalogued anew under the erased rid)', async () => {
    const w = await world();
    await purge(w);
    expect((await w.table.getErasure(SITE, w.rids[2]!))!.status).toBe('done');
    w.clock.advance(40 * DAY);
    const copy = await shipAgain(w, new Date(w.clock.now().getTime() - 31 * DAY));
    expect((await w.catalogue.getRecording(SITE, w.rids[2]!))!.packKey).toBe(copy.packKey);
    await erasedUnreachable(w);
    const again = await purge(w);
    expect(again.plan.summary.erasures).toMatchObject({ planned: 1 });
    expect(await exists(w, copy.packKey)).toBe(false);
    expect(await w.catalogue.getRecording(SITE, w.rids[2]!)).toBeUndefined();
    await callNowhere(w, w.rids[2]!, 'after the copy was erased');
    await keptCallsRestore(w);
  });
});
