import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryErasureStore, MirroredErasureStore } from '../../core/erasure-items.ts';
import { erasureGate, requestErasure } from '../../core/erasures.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { BlobStore } from '../../core/ports.ts';
import { BlobStoreDeleter, deletePurgeBatch, planPurge, type DeleteOutcome, type ObjectDeleter } from '../../core/purge.ts';
import { purgeReport } from '../../core/purge-report.ts';
import { workflowConfig } from '../../core/workflow-config.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// An erasure reaches the DR replica (`replication`): the purge deletes the erased call's old pack
// and manifest in the DR bucket too (S3 never replicates a version's deletion), first, and keeps
// the pack here while the DR copy cannot be deleted, the request pending naming the DR bucket.
// Ordinary retention leaves the DR bucket to its own lifecycle, and nothing else there is touched.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;
const SETTINGS = { retentionDays: 365, keepFullCycles: 2, objectLockDays: 30 };
const DR = 'ferry-dr-eu-central-1';

async function copyTo(from: BlobStore, to: BlobStore, key: string): Promise<void> {
  const { body } = await from.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
  await to.put(key, Buffer.concat(chunks));
}

/** A site with two packs (40 days old, past the Object Lock), both replicated to the DR bucket as S3 replication does (same keys), and an erasure request for a call of the first. */
async function world() {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const dr = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const table = new MemoryErasureStore();
  const erasures = new MirroredErasureStore(table, blobs);
  const createdAt = new Date(NOW.getTime() - 40 * DAY);
  const erasedPack = await publishPack({ blobs, catalogue }, SITE, NOW, 'erased', [10, 10, 10], { createdAt });
  const otherPack = await publishPack({ blobs, catalogue }, SITE, NOW, 'other', [20, 20], { createdAt });
  for await (const info of blobs.list('')) await copyTo(blobs, dr, info.key);
  const rid = erasedPack.manifest.members[1]!.rid;
  await requestErasure({ catalogue, holds, erasures, clock }, { site: SITE, rid, reason: 'data subject request', reference: 'DSAR-3', principal: 'officer-1' });
  return { clock, blobs, dr, catalogue, holds, table, erasures, erasedPack, otherPack, rid, audit: [] as AuditEvent[] };
}

type World = Awaited<ReturnType<typeof world>>;

/** One purge (plan, then every batch) with the DR bucket's deleter `drDeleter` (default: deletes there). */
async function purge(w: World, drDeleter: ObjectDeleter = new BlobStoreDeleter(w.dr), settings = SETTINGS, batchObjects = 50, deleter: ObjectDeleter = new BlobStoreDeleter(w.blobs)) {
  const audit = (e: AuditEvent) => void w.audit.push(e);
  const plan = await planPurge({ blobs: w.blobs, holds: w.holds, catalogue: w.catalogue, erasures: w.erasures, audit }, { site: SITE, settings, now: w.clock.now(), maxTargets: 100, batchObjects });
  const locks = new SiteLocks(new MemoryLockTable(), w.clock);
  const { token } = await locks.acquire({ site: SITE, holder: 'test', operation: 'purge' });
  const copyOut = { blobs: w.blobs, catalogue: w.catalogue, holder: new MemoryObjectHolder(), clock: w.clock };
  const deps = { deleter, replica: { name: DR, deleter: drDeleter }, locks, blobs: w.blobs, catalogue: w.catalogue, copyOut, erasures: w.erasures, audit, clock: w.clock };
  const deleted = [];
  for (const batch of plan.batches) deleted.push(await deletePurgeBatch(deps, SITE, token, batch));
  return { plan, deleted, report: purgeReport({ site: SITE, startedAt: w.clock.now().toISOString(), plan, deleted }, w.clock.now(), workflowConfig({})).alert.message };
}

const keys = async (store: BlobStore) => {
  const out: string[] = [];
  for await (const info of store.list('')) out.push(info.key);
  return out.sort();
};

/** A DR bucket whose policy does not let the purge's role delete (another account): S3 answers AccessDenied per key. */
const refusing: ObjectDeleter = {
  deleteObjects: async (list: string[]): Promise<DeleteOutcome> => ({ deleted: [], retained: list.map((key) => ({ key, reason: 'AccessDenied: Access Denied' })), failed: [] }),
};

describe('an erasure with a DR replica (replication)', () => {
  it("deletes the erased call's old pack and manifest in the DR bucket too, and nothing else there; the request is done", async () => {
    const w = await world();
    const drBefore = await keys(w.dr);
    await purge(w);
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeUndefined();
    const drAfter = await keys(w.dr);
    expect(drAfter).not.toContain(w.erasedPack.packKey);
    expect(drAfter).not.toContain(w.erasedPack.manifestKey);
    // Every other DR object stays: the other pack, its manifest, everything but the two keys erased.
    expect(drAfter).toEqual(drBefore.filter((k) => k !== w.erasedPack.packKey && k !== w.erasedPack.manifestKey));
    expect(drAfter).toContain(w.otherPack.packKey);
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  it('keeps the pack here and the request pending, naming the DR bucket and its refusal, while the DR copy cannot be deleted; done once both are gone', async () => {
    const w = await world();
    const { report } = await purge(w, refusing);
    // Neither copy deleted: the pack here is kept so that the next purge tries both again.
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeDefined();
    expect(await w.dr.head(w.erasedPack.packKey)).toBeDefined();
    const request = (await w.table.getErasure(SITE, w.rid))!;
    expect(request.status).toBe('pending');
    expect(request.waiting).toContain(`its copy in the DR bucket ${DR} could not be deleted: ${w.erasedPack.packKey} (AccessDenied: Access Denied)`);
    expect(report).toContain(`its copy in the DR bucket ${DR} could not be deleted`);
    await expect(erasureGate(w.catalogue, w.erasures).getRecording(SITE, w.rid)).rejects.toThrow(`DR bucket ${DR}`);

    w.clock.advance(DAY);
    await purge(w);
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeUndefined();
    expect(await w.dr.head(w.erasedPack.packKey)).toBeUndefined();
    expect(await w.dr.head(w.erasedPack.manifestKey)).toBeUndefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  it("tells the operator what keeps an erasure's pack when the DR bucket refuses, not only that failed deletions are tried again", async () => {
    const w = await world();
    const { report } = await purge(w, refusing);
    expect(report).toContain(`1 pack(s) holding erased calls are kept because their copy in the DR bucket ${DR} could not be deleted`);
    expect(report).toContain('PurgeRoleArn');
  });

  it('keeps the request pending naming the DR bucket when its region cannot be reached (the whole call fails)', async () => {
    const w = await world();
    const unreachable: ObjectDeleter = { deleteObjects: () => Promise.reject(new Error('getaddrinfo ENOTFOUND s3.eu-central-1.amazonaws.com')) };
    await purge(w, unreachable);
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeDefined();
    const request = (await w.table.getErasure(SITE, w.rid))!;
    expect(request.status).toBe('pending');
    expect(request.waiting).toContain(`DR bucket ${DR} could not be deleted: ${w.erasedPack.packKey} (getaddrinfo ENOTFOUND`);
  });

  it('deletes the DR copy of a dead attempt at the erased pack (it holds the erased call too) with the pack', async () => {
    const w = await world();
    const dead = w.erasedPack.packKey.replace(/\.tar$/, '-1.tar');
    const { body } = await w.blobs.get(w.erasedPack.packKey);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
    for (const store of [w.blobs, w.dr]) {
      await store.put(dead, Buffer.concat(chunks));
      await store.put(w.erasedPack.manifestKey, Buffer.from(JSON.stringify({ ...w.erasedPack.manifest, superseded: [dead] })));
    }
    const { plan } = await purge(w);
    expect(plan.batches.flatMap((b) => b.targets).find((t) => t.key === dead)).toMatchObject({ replica: true });
    expect(await w.blobs.head(dead)).toBeUndefined();
    expect(await w.dr.head(dead)).toBeUndefined();
    expect(await w.dr.head(w.erasedPack.packKey)).toBeUndefined();
    expect(await w.dr.head(w.otherPack.packKey)).toBeDefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  /** The erased pack's dead attempt `-1`, here and in the DR bucket, named in its manifest (`superseded`). */
  async function withDeadAttempt(w: World): Promise<string> {
    const dead = w.erasedPack.packKey.replace(/\.tar$/, '-1.tar');
    const { body } = await w.blobs.get(w.erasedPack.packKey);
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.from(c as Uint8Array));
    for (const store of [w.blobs, w.dr]) {
      await store.put(dead, Buffer.concat(chunks));
      await store.put(w.erasedPack.manifestKey, Buffer.from(JSON.stringify({ ...w.erasedPack.manifest, superseded: [dead] })));
    }
    return dead;
  }

  it("keeps the erased pack here and the request pending while the DR copy of a dead attempt at it cannot be deleted, even when the pack's own DR copy went; done once it goes", async () => {
    const w = await world();
    const dead = await withDeadAttempt(w);
    // The DR bucket refuses the dead attempt only (a version still locked there, an InternalError for that key).
    const inner = new BlobStoreDeleter(w.dr);
    const refusesDead: ObjectDeleter = {
      deleteObjects: async (list) => {
        const out = await inner.deleteObjects(list.filter((k) => k !== dead));
        return { ...out, failed: [...out.failed, ...list.filter((k) => k === dead).map((key) => ({ key, reason: 'InternalError: We encountered an internal error. Please try again.' }))] };
      },
    };
    await purge(w, refusesDead);
    expect(await w.dr.head(dead)).toBeDefined();
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeDefined();
    const request = (await w.table.getErasure(SITE, w.rid))!;
    expect(request.status).toBe('pending');
    expect(request.waiting).toContain(`its copy in the DR bucket ${DR} could not be deleted: ${dead} (InternalError`);

    w.clock.advance(DAY);
    await purge(w);
    for (const key of [dead, w.erasedPack.packKey, w.erasedPack.manifestKey]) {
      expect(await w.dr.head(key), key).toBeUndefined();
      expect(await w.blobs.head(key), key).toBeUndefined();
    }
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  it('keeps the erased pack, its manifest and the request pending while a dead attempt at it cannot be deleted here, though its DR copies went; done once it goes', async () => {
    const w = await world();
    const dead = await withDeadAttempt(w);
    const inner = new BlobStoreDeleter(w.blobs);
    const refusesDead: ObjectDeleter = {
      deleteObjects: async (list) => {
        const out = await inner.deleteObjects(list.filter((k) => k !== dead));
        return { ...out, failed: [...out.failed, ...list.filter((k) => k === dead).map((key) => ({ key, reason: 'InternalError: We encountered an internal error. Please try again.' }))] };
      },
    };
    await purge(w, new BlobStoreDeleter(w.dr), SETTINGS, 50, refusesDead);
    expect(await w.blobs.head(dead)).toBeDefined();
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeDefined();
    expect(await w.blobs.head(w.erasedPack.manifestKey)).toBeDefined();
    const request = (await w.table.getErasure(SITE, w.rid))!;
    expect(request.status).toBe('pending');
    expect(request.waiting).toContain(`its dead attempt(s) ${dead} could not be deleted here`);

    w.clock.advance(DAY);
    await purge(w);
    for (const key of [dead, w.erasedPack.packKey, w.erasedPack.manifestKey]) expect(await w.blobs.head(key), key).toBeUndefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  it('plans a dead attempt at an erased pack in the same batch as the pack, however small the batches', async () => {
    const w = await world();
    const dead = await withDeadAttempt(w);
    const { plan } = await purge(w, new BlobStoreDeleter(w.dr), SETTINGS, 2);
    const batchOf = (key: string) => plan.batches.findIndex((b) => b.targets.some((t) => t.key === key));
    expect(batchOf(dead)).toBeGreaterThanOrEqual(0);
    expect(batchOf(dead)).toBe(batchOf(w.erasedPack.packKey));
  });

  it("deletes the DR copy of a pack the retention deletes anyway with an erased call, but leaves a pack the retention alone deletes to the DR bucket's lifecycle", async () => {
    const w = await world();
    await purge(w, new BlobStoreDeleter(w.dr), { ...SETTINGS, retentionDays: 5 });
    expect(await w.blobs.head(w.erasedPack.packKey)).toBeUndefined();
    expect(await w.blobs.head(w.otherPack.packKey)).toBeUndefined();
    expect(await w.dr.head(w.erasedPack.packKey)).toBeUndefined();
    expect(await w.dr.head(w.erasedPack.manifestKey)).toBeUndefined();
    expect(await w.dr.head(w.otherPack.packKey)).toBeDefined();
    expect(await w.dr.head(w.otherPack.manifestKey)).toBeDefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });
});
