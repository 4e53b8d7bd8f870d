import { describe, expect, it } from 'vitest';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { appendAuditEvents, verifyAuditChain, type AuditEvent, type AuditRecord } from '../../core/audit-trail.ts';
import { ManualClock } from '../../core/clock.ts';
import { TransientError } from '../../core/errors.ts';
import { MemoryLockTable, SiteLocks } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { BlobStoreDeleter } from '../../core/purge.ts';
import { MemoryPurgeIntentStore, openIntentRecords, purgeIntentId, type PurgeIntent } from '../../core/purge-intents.ts';
import { MemoryPurgeRunStore } from '../../core/purge-watch.ts';
import type { PurgeBatch } from '../../core/retention.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';
import { createPurgeHandler } from '../../functions/purge/handler.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';
import { auditTrailReader } from '../../core/audit-query.ts';
import { createHandler as createCatalogueHandler } from '../../functions/catalogue/handler.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// The purge's write-ahead record (core/purge-intents.ts) through the purge function's steps, over
// a durable hash-chained ledger: a fault between the deletes and their `purge` record leaves the
// ledger naming the calls deleted, the step retried records nothing twice, and the next purge
// records the outcome; the chain verifies throughout. Faults: an audit write of chosen actions
// fails, or a write of the intents' store (noting an intent pending, noting it open, closing it).

type IntentFault = 'note-begun' | 'note-open' | 'note-outcome' | 'close';

/** The intents' store with a fault hook: the chosen writes fail (a throttled table, a timeout). */
class FaultyIntents extends MemoryPurgeIntentStore {
  readonly failing = new Set<IntentFault>();
  override async putIntent(intent: PurgeIntent): Promise<void> {
    const write: IntentFault = intent.pending ? (intent.pending.record === 'begun' ? 'note-begun' : 'note-outcome') : 'note-open';
    if (this.failing.has(write)) throw new TransientError(`purge intents: ProvisionedThroughputExceededException (${write} not written)`);
    await super.putIntent(intent);
  }
  override async closeIntent(site: string, id: string): Promise<void> {
    if (this.failing.has('close')) throw new TransientError('purge intents: ProvisionedThroughputExceededException (close not written)');
    await super.closeIntent(site, id);
  }
}

const SITE = 'site-a';
const NOW = new Date('2026-06-01T00:00:00.000Z');
const SETTINGS = { retentionDays: 365, keepFullCycles: 2, objectLockDays: 30 };

/** The bucket's deleter with a fault hook: a call deleting a manifest fails (the step stops after its objects went). */
class FaultyDeleter extends BlobStoreDeleter {
  failManifests = false;
  override async deleteObjects(keys: string[]) {
    if (this.failManifests && keys.some((k) => k.startsWith('manifests/'))) throw new TransientError('S3 DeleteObjects: SlowDown (manifests not deleted)');
    return super.deleteObjects(keys);
  }
}

async function world(opts: { hold?: number[] } = {}) {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const ledger = new MemoryAuditLedger();
  const intents = new FaultyIntents();
  const holds = new MemoryHoldStore();
  const pack = await publishPack({ blobs, catalogue, holds }, SITE, NOW, 'old', [400, 401, 402], opts.hold ? { hold: opts.hold } : {});
  const deleter = new FaultyDeleter(blobs);
  // The fault: the audit write of the chosen actions fails (a throttled table, a timeout), after whatever came before it.
  const failing = new Set<string>();
  const audit = async (event: AuditEvent) => {
    if (failing.has(event.action)) throw new TransientError(`audit ledger: ProvisionedThroughputExceededException (${event.action} record not written)`);
    await appendAuditEvents({ ledger }, [event]);
  };
  const locks = new SiteLocks(new MemoryLockTable(), clock);
  const run = createPurgeHandler({ blobs, catalogue, holds, audit, intents, trail: ledger, holder: { setLegalHold: async () => undefined }, deleter, locks, purgeRuns: new MemoryPurgeRunStore(), clock, log: () => undefined });
  const plan = async () => (await run({ action: 'plan', site: SITE, settings: SETTINGS, maxTargets: 100, batchObjects: 50 })) as { batches: PurgeBatch[]; summary: Record<string, unknown> };
  const grant = async () => (await locks.acquire({ site: SITE, holder: 'workflow', operation: 'purge' })).token;
  const del = (token: number, batch: PurgeBatch) => run({ action: 'delete', site: SITE, token, batch: JSON.parse(JSON.stringify(batch)) as unknown });
  const records = () => ledger.records(SITE, 1, 1000);
  const verdict = async () => verifyAuditChain(SITE, [], await ledger.head(SITE), await records());
  /** The plan's first batch and the lock granted for it: a purge about to delete. */
  const planned = async () => ({ batch: (await plan()).batches[0]!, token: await grant() });
  return { blobs, catalogue, ledger, intents, deleter, pack, failing, run, plan, planned, grant, del, records, verdict, locks };
}

/** The first batch deleted up to its `purge` record, which fails (the fault cleared after): the pack and its manifest gone, the intent open. */
async function stoppedBeforeOutcome() {
  const w = await world();
  const { batch, token } = await w.planned();
  w.failing.add('purge');
  await expect(w.del(token, batch)).rejects.toThrow(/purge record not written/);
  w.failing.clear();
  return { w, batch, token };
}

const of = (records: AuditRecord[], action: string) => records.filter((r) => r.event.action === action);

describe('the purge names what it deletes before it deletes it', () => {
  it('a fault between the deletes and their purge record: the ledger already names the deleted pack and its 3 calls (an intent left open), the chain verifies', async () => {
    const { w } = await stoppedBeforeOutcome();
    expect(await w.blobs.head(w.pack.packKey)).toBeUndefined();
    expect(await w.blobs.head(w.pack.manifestKey)).toBeUndefined();
    const records = await w.records();
    const [begun] = of(records, 'purge-intent');
    expect(of(records, 'purge')).toEqual([]);
    expect(begun!.event.detail).toMatchObject({ intent: purgeIntentId(SITE, w.pack.packKey), state: 'begun', object: w.pack.packKey, manifest: w.pack.manifestKey, kind: 'pack', recordings: 3, rids: w.pack.manifest.members.map((m) => m.rid) });
    expect((begun!.event.detail!.calls as string[]).map((c) => c.split(' ')[1])).toEqual(['callId=old-0', 'callId=old-1', 'callId=old-2']);
    expect(openIntentRecords(records)).toEqual([{ seq: begun!.seq, intent: purgeIntentId(SITE, w.pack.packKey), object: w.pack.packKey, at: NOW.toISOString() }]);
    expect(await w.intents.listIntents(SITE)).toHaveLength(1);
    expect(await w.verdict()).toMatchObject({ ok: true });
  });

  it('the audit view marks the begun record of an open intent open, and no longer once the next purge recorded its outcome', async () => {
    const { w, token } = await stoppedBeforeOutcome();
    const trail = auditTrail();
    const view = createCatalogueHandler({ catalogue: w.catalogue, auditTrail: auditTrailReader({ ledger: w.ledger, blobs: new MemoryBlobStore(), intents: w.intents }), audit: trail.audit, clock: trail.clock, cursorKey: 'k'.repeat(32), log: () => undefined });
    const intentsShown = async () => {
      const r = await view(httpEvent('GET', `/sites/${SITE}/audit`, { pathParameters: { site: SITE }, query: { action: 'purge-intent' }, principal: 'officer@example.com' }));
      expect(r.statusCode).toBe(200);
      return (JSON.parse(r.body as string) as { items: { details: { state: string; object: string }; open?: boolean }[] }).items.map((i) => [i.details.state, i.details.object, i.open ?? false]);
    };
    expect(await intentsShown()).toEqual([['begun', w.pack.packKey, true]]);
    await w.locks.release(SITE, token);
    await w.plan();
    expect(await intentsShown()).toEqual([['begun', w.pack.packKey, false]]);
  });

  it('the step retried records no second intent and records the outcome once (state completed, the same intent, no "manifest kept"); the next purge finds nothing to settle', async () => {
    const { w, batch, token } = await stoppedBeforeOutcome();
    // Step Functions' Retry: the same batch, the same token.
    const retried = (await w.del(token, batch)) as { failed: unknown[]; targetsDone: number };
    expect(retried).toMatchObject({ failed: [], targetsDone: 1 });
    const records = await w.records();
    expect(of(records, 'purge-intent')).toHaveLength(1);
    const [outcome, ...more] = of(records, 'purge');
    expect(more).toEqual([]);
    expect(outcome!.event.detail).toMatchObject({ intent: purgeIntentId(SITE, w.pack.packKey), state: 'completed', object: w.pack.packKey, manifest: w.pack.manifestKey, recordings: 3 });
    expect(openIntentRecords(records)).toEqual([]);
    expect(await w.intents.listIntents(SITE)).toEqual([]);
    await w.locks.release(SITE, token);
    expect((await w.plan()).summary.intents).toBeUndefined();
    expect(await w.verdict()).toMatchObject({ ok: true });
  });

  it('a purge stopped before the outcome: the next purge records it (state completed, the same intent), closes it, and its report says so', async () => {
    const { w, token } = await stoppedBeforeOutcome();
    await w.locks.release(SITE, token);
    const next = await w.plan();
    expect(next.summary.intents).toEqual({ completed: 1, notDeleted: 0, open: 0 });
    const records = await w.records();
    expect(of(records, 'purge-intent')).toHaveLength(1);
    expect(of(records, 'purge').map((r) => r.event.detail)).toMatchObject([{ intent: purgeIntentId(SITE, w.pack.packKey), state: 'completed', object: w.pack.packKey, manifest: w.pack.manifestKey, recordings: 3 }]);
    expect(openIntentRecords(records)).toEqual([]);
    expect(await w.intents.listIntents(SITE)).toEqual([]);
    expect(await w.verdict()).toMatchObject({ ok: true });
    // The plan after it has nothing left to settle.
    expect((await w.plan()).summary.intents).toBeUndefined();

    const report = (await w.run({ action: 'report', site: SITE, startedAt: NOW.toISOString(), execution: 'e-2', config: DEFAULT_WORKFLOW_CONFIG, run: { plan: next, deleted: [] } })) as { alert: { message: string } };
    expect(report.alert.message).toContain('audit trail: 1 deletion(s) an earlier purge began and carried out without recording the outcome: recorded now');
  });

  it('a purge without faults writes the intent then the outcome naming the same intent, and leaves none open', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    await w.del(token, batch);
    const records = await w.records();
    expect(records.map((r) => [r.event.action, r.event.detail?.intent, r.event.detail?.state])).toEqual([
      ['purge-intent', purgeIntentId(SITE, w.pack.packKey), 'begun'],
      ['purge', purgeIntentId(SITE, w.pack.packKey), undefined],
    ]);
    expect(of(records, 'purge')[0]!.event.detail).toMatchObject({ recordings: 3, rids: w.pack.manifest.members.map((m) => m.rid) });
    expect(openIntentRecords(records)).toEqual([]);
    expect(await w.intents.listIntents(SITE)).toEqual([]);
  });

  it('an intent record that cannot be written stops the step before any delete: the pack and its manifest are still there', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    w.failing.add('purge-intent');
    await expect(w.del(token, batch)).rejects.toThrow(/purge-intent record not written/);
    expect(await w.blobs.head(w.pack.packKey)).toBeDefined();
    expect(await w.blobs.head(w.pack.manifestKey)).toBeDefined();
    expect(await w.records()).toEqual([]);
  });

  it('a step that stopped after the intent but before the delete: the next purge records the intent not carried out, then begins and records the deletion anew', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    // The delete itself fails for the whole call (S3 unreachable): the object stays.
    const stopped = createPurgeHandler({ blobs: w.blobs, catalogue: w.catalogue, holds: new MemoryHoldStore(), audit: async (e) => void (await appendAuditEvents({ ledger: w.ledger }, [e])), intents: w.intents, holder: { setLegalHold: async () => undefined }, deleter: { deleteObjects: () => Promise.reject(new TransientError('S3 unreachable')) }, locks: w.locks, purgeRuns: new MemoryPurgeRunStore(), clock: new ManualClock(NOW), log: () => undefined });
    await expect(stopped({ action: 'delete', site: SITE, token, batch: JSON.parse(JSON.stringify(batch)) as unknown })).rejects.toThrow(/S3 unreachable/);
    await w.locks.release(SITE, token);
    const next = await w.plan();
    expect(next.summary.intents).toEqual({ completed: 0, notDeleted: 1, open: 0 });
    await w.del(await w.grant(), next.batches[0]!);
    const records = await w.records();
    expect(records.map((r) => [r.event.action, r.event.detail?.state])).toEqual([
      ['purge-intent', 'begun'],
      ['purge-intent', 'not-deleted'],
      ['purge-intent', 'begun'],
      ['purge', undefined],
    ]);
    expect(openIntentRecords(records)).toEqual([]);
    expect(await w.verdict()).toMatchObject({ ok: true });
  });

  it('a step stopped between its intent record and noting the intent open: the retry writes no second intent record', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    w.intents.failing.add('note-open');
    await expect(w.del(token, batch)).rejects.toThrow(/note-open not written/);
    expect(of(await w.records(), 'purge-intent')).toHaveLength(1);
    w.intents.failing.clear();
    await w.del(token, batch);
    const records = await w.records();
    expect(records.map((r) => [r.event.action, r.event.detail?.state])).toEqual([['purge-intent', 'begun'], ['purge', undefined]]);
    expect(openIntentRecords(records)).toEqual([]);
    expect(await w.verdict()).toMatchObject({ ok: true });
  });

  it('a step stopped after noting an intent pending and before its record: the next purge closes it without a record (nothing was announced or deleted), then deletes anew', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    w.failing.add('purge-intent');
    await expect(w.del(token, batch)).rejects.toThrow(/purge-intent record not written/);
    w.failing.clear();
    expect(await w.intents.listIntents(SITE)).toHaveLength(1);
    await w.locks.release(SITE, token);
    const next = await w.plan();
    expect(next.summary.intents).toEqual({ completed: 0, notDeleted: 0, open: 0, closed: 1 });
    expect(await w.records()).toEqual([]);
    await w.del(await w.grant(), next.batches[0]!);
    expect((await w.records()).map((r) => [r.event.action, r.event.detail?.state])).toEqual([['purge-intent', 'begun'], ['purge', undefined]]);
  });

  it('a step stopped between the purge record and closing the intent: neither its retry nor the next purge writes a second outcome', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    w.intents.failing.add('close');
    await expect(w.del(token, batch)).rejects.toThrow(/close not written/);
    expect(of(await w.records(), 'purge')).toHaveLength(1);
    // The retry stops at the same place (the table still refuses the close): still one outcome.
    await expect(w.del(token, batch)).rejects.toThrow(/close not written/);
    expect(of(await w.records(), 'purge')).toHaveLength(1);
    w.intents.failing.clear();
    await w.locks.release(SITE, token);
    const next = await w.plan();
    expect(next.summary.intents).toEqual({ completed: 0, notDeleted: 0, open: 0, closed: 1 });
    const report = (await w.run({ action: 'report', site: SITE, startedAt: NOW.toISOString(), execution: 'e-2', config: DEFAULT_WORKFLOW_CONFIG, run: { plan: next, deleted: [] } })) as { alert: { message: string } };
    expect(report.alert.message).toContain('audit trail: 1 closed without a new record (an earlier purge recorded the outcome');
    const records = await w.records();
    expect(records.map((r) => [r.event.action, r.event.detail?.state])).toEqual([['purge-intent', 'begun'], ['purge', undefined]]);
    expect(await w.intents.listIntents(SITE)).toEqual([]);
    expect(await w.verdict()).toMatchObject({ ok: true });
  });

  it('a batch retried once its pack and manifest are gone, with no audit trail: reported done, not "manifest kept for the next purge"', async () => {
    const w = await world();
    const { batch, token } = await w.planned();
    const bare = createPurgeHandler({ blobs: w.blobs, catalogue: w.catalogue, holds: new MemoryHoldStore(), holder: { setLegalHold: async () => undefined }, deleter: new BlobStoreDeleter(w.blobs), locks: w.locks, purgeRuns: new MemoryPurgeRunStore(), clock: new ManualClock(NOW), log: () => undefined });
    const del = () => bare({ action: 'delete', site: SITE, token, batch: JSON.parse(JSON.stringify(batch)) as unknown });
    await del();
    expect(await del()).toMatchObject({ failed: [], failedCount: 0, targetsDone: 1 });
  });

  it('a step stopped after deleting a pack whose held call it copied out, before its manifest: the retry copies nothing again, deletes the manifest and records the outcome once', async () => {
    const w = await world({ hold: [1] });
    const { batch, token } = await w.planned();
    expect(batch.targets[0]).toMatchObject({ key: w.pack.packKey, keep: [w.pack.manifest.members[1]!.rid] });
    const packs = async () => {
      const keys: string[] = [];
      for await (const o of w.blobs.list(`recordings/${SITE}/`)) keys.push(o.key);
      return keys;
    };
    w.deleter.failManifests = true;
    await expect(w.del(token, batch)).rejects.toThrow(/manifests not deleted/);
    expect(await w.blobs.head(w.pack.packKey)).toBeUndefined();
    expect(await w.blobs.head(w.pack.manifestKey)).toBeDefined();
    const copied = await packs();
    expect(copied).toHaveLength(1);
    w.deleter.failManifests = false;
    expect(await w.del(token, batch)).toMatchObject({ failed: [], failedCount: 0, targetsDone: 1 });
    expect(await packs()).toEqual(copied);
    expect(await w.blobs.head(w.pack.manifestKey)).toBeUndefined();
    expect((await w.records()).map((r) => [r.event.action, r.event.detail?.state])).toEqual([['purge-intent', 'begun'], ['purge', undefined]]);
    expect(await w.intents.listIntents(SITE)).toEqual([]);
  });
});
