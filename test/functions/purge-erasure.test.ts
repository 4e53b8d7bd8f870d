import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryErasureStore, MirroredErasureStore } from '../../core/erasure-items.ts';
import { requestErasure } from '../../core/erasures.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { BlobStoreDeleter } from '../../core/purge.ts';
import { MemoryPurgeRunStore } from '../../core/purge-watch.ts';
import type { PurgeBatch } from '../../core/retention.ts';
import { createPurgeHandler } from '../../functions/purge/handler.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// An erasure carried out by the purge function as the workflow runs it: the plan's batches go to
// the delete step as JSON, through the function's event schema, and must arrive whole.

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const DAY = 86_400_000;

/** `filedDaysAgo`: the day the pack is filed under (default: its calls' day). */
function batchOf(seed: string, createdDaysAgo: number, filedDaysAgo = 10) {
  const members = [0, 1, 2].map((i) => ({ path: `batch/call-${i}.wav`, body: audio(i, 600), meta: { callId: `c-${i}`, start: new Date(NOW.getTime() - 10 * DAY).toISOString(), caller: '+442079460123', called: '2001' } }));
  return buildPack(SITE, members, { seed, day: new Date(NOW.getTime() - filedDaysAgo * DAY).toISOString().slice(0, 10) + 'T00:00:00Z', createdAt: new Date(NOW.getTime() - createdDaysAgo * DAY).toISOString() });
}

async function world(copyCreatedDaysAgo?: number, copyFiledDaysAgo?: number, dr?: MemoryBlobStore) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const table = new MemoryErasureStore();
  const erasures = new MirroredErasureStore(table, blobs);
  const audit: AuditEvent[] = [];
  const first = batchOf('first', 40);
  await publish(blobs, first);
  await ingestManifest({ blobs, catalogue }, first.manifestKey);
  let copy: ReturnType<typeof batchOf> | undefined;
  if (copyCreatedDaysAgo !== undefined) {
    copy = batchOf('shipped again', copyCreatedDaysAgo, copyFiledDaysAgo);
    await publish(blobs, copy);
    await ingestManifest({ blobs, catalogue }, copy.manifestKey);
  }
  const rid = first.manifest.members[1]!.rid;
  await requestErasure({ catalogue, holds, erasures, clock }, { site: SITE, rid, reason: 'data subject request', reference: 'DSAR-1', principal: 'officer' });
  const locks = new SiteLocks(new MemoryLockTable(), clock);
  const run = createPurgeHandler({
    blobs,
    catalogue,
    holds,
    erasures,
    audit: (e) => void audit.push(e),
    holder: { setLegalHold: async () => undefined },
    deleter: new BlobStoreDeleter(blobs),
    ...(dr ? { replica: { name: 'ferry-dr-copy', deleter: new BlobStoreDeleter(dr) } } : {}),
    locks,
    purgeRuns: new MemoryPurgeRunStore(),
    clock,
    log: () => undefined,
  });
  return { blobs, table, audit, first, rid, run, locks, copy };
}

type World = Awaited<ReturnType<typeof world>>;

/** Plan, then every batch through the delete step as the state machine passes it (JSON). */
async function purgeRound(w: World): Promise<void> {
  const plan = (await w.run({ action: 'plan', site: SITE, settings: { retentionDays: 365, keepFullCycles: 2, objectLockDays: 30 }, maxTargets: 100, batchObjects: 50 })) as { batches: PurgeBatch[] };
  const { token } = await w.locks.acquire({ site: SITE, holder: 'workflow', operation: 'purge' });
  for (const batch of plan.batches) await w.run({ action: 'delete', site: SITE, token, batch: JSON.parse(JSON.stringify(batch)) as unknown });
}

describe('purge function: erasure', () => {
  it("an erasure-only rewrite's audit record says rule erasure, not the retention's days", async () => {
    const w = await world();
    await purgeRound(w);
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
    const record = w.audit.find((e) => e.action === 'purge' && e.detail?.object === w.first.packKey)!;
    expect(record.detail).toMatchObject({ rule: 'erasure', erased: [w.rid] });
    expect(record.detail).not.toHaveProperty('retentionDays');
    expect(record.detail).not.toHaveProperty('rules');
  });

  it('keeps the request pending when the first pack goes while a second copy of the call is still under Object Lock', async () => {
    const w = await world(5);
    await purgeRound(w);
    expect(await w.blobs.head(w.first.packKey)).toBeUndefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('pending');
  });

  it('deletes a second copy of the call filed under another day (shipped again later), and marks the request done only once no pack lists it', async () => {
    const w = await world(35, 2);
    expect(w.copy!.manifestKey.split('/').slice(0, -1).join('/')).not.toBe(w.first.manifestKey.split('/').slice(0, -1).join('/'));
    await purgeRound(w);
    expect(await w.blobs.head(w.first.packKey)).toBeUndefined();
    expect(await w.blobs.head(w.copy!.packKey)).toBeUndefined();
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('pending');
    await purgeRound(w);
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });

  it('deletes in the DR bucket the erased pack, its manifest and a dead attempt at it (its `replica` flag kept through the JSON the workflow passes), nothing else there', async () => {
    const dr = new MemoryBlobStore({ clock: new ManualClock(NOW) });
    const w = await world(undefined, undefined, dr);
    const dead = w.first.packKey.replace(/\.tar$/, '-1.tar');
    for (const store of [w.blobs, dr]) {
      await store.put(dead, w.first.pack);
      await store.put(w.first.manifestKey, Buffer.from(JSON.stringify({ ...w.first.manifest, superseded: [dead] })));
    }
    await dr.put(w.first.packKey, w.first.pack);
    await dr.put('recordings/site-a/other.tar', Buffer.from('another pack'));
    await purgeRound(w);
    const left: string[] = [];
    for await (const info of dr.list('')) left.push(info.key);
    expect(left).toEqual(['recordings/site-a/other.tar']);
    expect((await w.table.getErasure(SITE, w.rid))!.status).toBe('done');
  });
});
