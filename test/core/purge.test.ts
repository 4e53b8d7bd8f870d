import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryLockTable, SiteLocks, LockLostError } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { BlobStoreDeleter, PLAN_AND_RESULTS_BYTES, PLAN_STATE_BYTES, deletePurgeBatch, fitPlanState, planPurge, type ObjectDeleter, type PurgePlanResult } from '../../core/purge.ts';
import { BATCH_RESULT_BYTES, withinResultBytes } from '../../core/purge-delete.ts';
import { purgeReport } from '../../core/purge-report.ts';
import { checkRecall, MemoryArchiveStore, requestRecall } from '../../core/recall.ts';
import { MemoryRecallStatusStore } from '../../core/recall-status.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';
import { daysAgo, publishArtefact, publishPack } from '../workflows/purge-fixtures.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { buildPack, publish, audio } from '../support/pack-fixture.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import type { AuditEvent } from '../../core/audit-trail.ts';

// The purge and recall use-cases around the pure planner, over memory stores.

const NOW = new Date('2026-06-01T00:00:00.000Z');

async function site() {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  return { blobs, catalogue, holds: new MemoryHoldStore() };
}

describe('planPurge', () => {
  it('reads the site’s manifests up to the cutoff day, looks up legal holds, and batches the plan', async () => {
    const deps = await site();
    const old1 = await publishPack(deps, 'site-a', NOW, 'o1', [400, 401]);
    await publishPack(deps, 'site-a', NOW, 'held', [400], { hold: [0] });
    await publishPack(deps, 'site-a', NOW, 'young', [3]);
    await publishPack(deps, 'site-b', NOW, 'other-site', [900]);
    await deps.blobs.put('manifests/site-a/recordings/2020/01/01/pbroken.json', Buffer.from('not json'));
    await publishArtefact(deps, 'site-a', { source: 'db', type: 'rotated', name: 'a.rbk', takenAt: daysAgo(NOW, 30) });
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 100, batchObjects: 10 });
    expect(plan.batches.flatMap((b) => b.targets.map((t) => [t.key, t.then]))).toEqual([[old1.packKey, old1.manifestKey]]);
    expect(plan.summary).toMatchObject({ targets: 1, packs: 1, keptPacks: 1, keptPacksHeld: 1, keptFulls: 1, unreadable: 1, truncated: false });
  });

  it('keeps the newest genuine fulls and reports, as a warning, the forged fulls dated 2099 it counted toward nothing', async () => {
    const deps = await site();
    const genuine = [];
    for (const days of [30, 20, 10]) genuine.push(await publishArtefact(deps, 'site-a', { source: 'sql', type: 'rotated', name: `full-${days}.sql`, takenAt: daysAgo(NOW, days) }));
    const forged = [];
    for (const day of ['01', '02']) forged.push(await publishArtefact(deps, 'site-a', { source: 'sql', type: 'rotated', name: `full-209901${day}.sql`, takenAt: new Date(`2099-01-${day}T02:00:00.000Z`) }));
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 100, batchObjects: 10 });
    // Only the oldest genuine full goes: the two newest genuine ones are the two kept.
    expect(plan.batches.flatMap((b) => b.targets.map((t) => t.key))).toEqual([genuine[0]!.key]);
    expect(plan.summary).toMatchObject({ fulls: 1, keptFulls: 2 });
    expect(plan.summary.futureDated).toEqual({ count: 2, named: [`${forged[0]!.key} (taken 2099-01-01T02:00:00.000Z)`, `${forged[1]!.key} (taken 2099-01-02T02:00:00.000Z)`].sort() });

    const report = purgeReport({ site: 'site-a', startedAt: NOW.toISOString(), plan, deleted: [{ index: 0, deleted: 2, targetsDone: 1, retained: [], retainedCount: 0, failed: [], failedCount: 0 }] }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(report).toMatchObject({ outcome: 'DONE', alert: { severity: 'warning' } });
    expect(report.alert.message).toContain(`dated in the future (after now + 24 h): 2 full backup(s), log segment(s) or tree snapshot(s), kept and counted toward no rule: ${plan.summary.futureDated!.named.join(', ')}`);
    expect(report.alert.message).toMatch(/set it right.*agent key/);
  });

  it('says nothing of items dated in the future when there are none', async () => {
    const deps = await site();
    await publishArtefact(deps, 'site-a', { source: 'sql', type: 'rotated', name: 'a.sql', takenAt: new Date(NOW.getTime() + 3_600_000) });
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 100, batchObjects: 10 });
    expect(plan.summary.futureDated).toBeUndefined();
    const report = purgeReport({ site: 'site-a', startedAt: NOW.toISOString(), plan, deleted: [] }, NOW, DEFAULT_WORKFLOW_CONFIG);
    expect(report.alert.severity).toBe('info');
    expect(report.alert.message).not.toMatch(/dated in the future/);
  });

  it('deletes the dead attempts a manifest lists with their pack, just before it, and nothing else it names', async () => {
    const deps = await site();
    const old = buildPack('site-a', [{ path: 'o/call-0.wav', body: audio(1, 600), meta: { start: daysAgo(NOW, 400).toISOString() } }], { day: '2025-04-01T00:00:00Z' });
    const young = await publishPack(deps, 'site-a', NOW, 'young', [3]);
    const dead = old.packKey.replace(/\.tar$/, '-1.tar');
    const packKey = old.packKey.replace(/\.tar$/, '-2.tar');
    const manifest = { ...old.manifest, packKey, superseded: [old.packKey, dead, young.packKey] };
    for (const key of [old.packKey, dead, packKey]) await deps.blobs.put(key, old.pack);
    await deps.blobs.put(old.manifestKey, Buffer.from(JSON.stringify(manifest)));
    await ingestManifest(deps, old.manifestKey);
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 100, batchObjects: 10 });
    expect(plan.batches.flatMap((b) => b.targets.map((t) => [t.key, t.then]))).toEqual([
      [old.packKey, undefined],
      [dead, undefined],
      [packKey, old.manifestKey],
    ]);
    expect(plan.summary).toMatchObject({ targets: 1, packs: 1 });
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    const result = await deletePurgeBatch({ deleter: new BlobStoreDeleter(deps.blobs), locks, ...deps }, 'site-a', g.token, plan.batches[0]!);
    expect(result).toMatchObject({ deleted: 4, failedCount: 0 });
    const left = [];
    for await (const o of deps.blobs.list('recordings/')) left.push(o.key);
    expect(left).toEqual([young.packKey]);
  });

  it('stops reading manifests once maxTargets packs may go, and says the plan is truncated', async () => {
    const deps = await site();
    for (let i = 0; i < 5; i++) await publishPack(deps, 'site-a', NOW, `p${i}`, [400 + i]);
    const plan = await planPurge(deps, { site: 'site-a', settings: { retentionDays: 365, keepFullCycles: 2 }, now: NOW, maxTargets: 2, batchObjects: 2 });
    expect(plan.summary).toMatchObject({ targets: 2, truncated: true });
    expect(plan.batches).toHaveLength(2);
  });
});

describe("the plan within Step Functions' state", () => {
  it('drops batches from the end (for the next purge) when packs of many held calls would make the plan heavier than the state allows, and says how many', () => {
    const rids = (n: number) => Array.from({ length: n }, (_, i) => `r${String(i).padStart(26, '0')}`);
    const batch = (index: number) => ({ index, targets: [{ key: `recordings/site-a/2026/01/01/p${index}.tar`, then: `manifests/site-a/recordings/2026/01/01/p${index}.json`, kind: 'pack' as const, keep: rids(400) }] });
    const plan: PurgePlanResult = {
      site: 'site-a',
      batches: Array.from({ length: 40 }, (_, i) => batch(i)),
      summary: { targets: 40, packs: 40, fulls: 0, segments: 0, keptPacks: 0, keptPacksHeld: 0, copiedOut: 40, keptFulls: 0, keptSegments: 0, unreadable: 0, orphans: 0, truncated: false },
    };
    expect(Buffer.byteLength(JSON.stringify(plan))).toBeGreaterThan(256 * 1024);
    const fitted = fitPlanState(plan);
    expect(Buffer.byteLength(JSON.stringify(fitted))).toBeLessThanOrEqual(PLAN_STATE_BYTES);
    // With each batch's result gathered beside it by the Map state, the whole stays under the state's 256 KiB.
    expect(Buffer.byteLength(JSON.stringify(fitted)) + fitted.batches.length * BATCH_RESULT_BYTES).toBeLessThanOrEqual(PLAN_AND_RESULTS_BYTES);
    expect(fitted.batches.map((b) => b.index)).toEqual(plan.batches.slice(0, fitted.batches.length).map((b) => b.index));
    expect(fitted.summary).toMatchObject({ truncated: true, deferred: 40 - fitted.batches.length });
    expect(fitted.batches.length).toBeGreaterThan(10);
    const report = purgeReport({ site: 'site-a', startedAt: NOW.toISOString(), plan: fitted, deleted: [] }, new Date(NOW.getTime() + 60_000), DEFAULT_WORKFLOW_CONFIG);
    expect(report.alert.message).toContain(`; ${40 - fitted.batches.length} target(s) left for the next purge to keep the plan within Step Functions' state size`);
    const light = { ...plan, batches: plan.batches.slice(0, 2) };
    expect(fitPlanState(light)).toBe(light);
  });

  it("drops batches when the plan fits alone but not with a result for each of its batches beside it", () => {
    const rids = (n: number) => Array.from({ length: n }, (_, i) => `r${String(i).padStart(26, '0')}`);
    const one = (index: number) => ({ index, targets: [{ key: `recordings/site-a/2026/01/01/p${index}.tar`, kind: 'pack' as const, keep: rids(280) }] });
    const plan: PurgePlanResult = {
      site: 'site-a',
      batches: Array.from({ length: 20 }, (_, i) => one(i)),
      summary: { targets: 20, packs: 20, fulls: 0, segments: 0, keptPacks: 0, keptPacksHeld: 0, copiedOut: 20, keptFulls: 0, keptSegments: 0, unreadable: 0, orphans: 0, truncated: false },
    };
    expect(Buffer.byteLength(JSON.stringify(plan))).toBeLessThanOrEqual(PLAN_STATE_BYTES);
    const fitted = fitPlanState(plan);
    expect(fitted.batches.length).toBeLessThan(20);
    expect(Buffer.byteLength(JSON.stringify(fitted)) + fitted.batches.length * BATCH_RESULT_BYTES).toBeLessThanOrEqual(PLAN_AND_RESULTS_BYTES);
    expect(fitted.summary).toMatchObject({ truncated: true, deferred: 20 - fitted.batches.length });
  });

  it("keeps a batch's result within BATCH_RESULT_BYTES: reasons cut, entries dropped, the counts whole", () => {
    const entry = (i: number) => ({ key: `recordings/site-a/2026/01/01/${'p'.repeat(80)}${i}.tar`, reason: `AccessDenied: ${'because '.repeat(300)}` });
    const result = { index: 0, deleted: 0, targetsDone: 0, retained: Array.from({ length: 30 }, (_, i) => entry(i)), retainedCount: 30, failed: Array.from({ length: 30 }, (_, i) => entry(i)), failedCount: 30 };
    const bounded = withinResultBytes(result);
    expect(Buffer.byteLength(JSON.stringify(bounded))).toBeLessThanOrEqual(BATCH_RESULT_BYTES);
    expect(bounded).toMatchObject({ retainedCount: 30, failedCount: 30 });
    expect(bounded.failed.length).toBeGreaterThan(0);
    expect(bounded.failed[0]!.reason.length).toBeLessThanOrEqual(1000);
    const small = { ...result, retained: result.retained.slice(0, 2).map((e) => ({ ...e, reason: 'locked' })), failed: [] };
    expect(withinResultBytes(small)).toEqual(small);
  });
});

describe('deletePurgeBatch', () => {
  const batch = (targets: { key: string; then?: string }[]) => ({ index: 0, targets: targets.map((t) => ({ ...t, kind: 'pack' as const })) });

  it('heartbeats the lock, deletes objects, forgets their catalogue entries, then deletes their manifests; retained ones keep both', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const a = buildPack('site-a', [{ path: '000001/a1.wav', body: audio(1) }, { path: '000001/a2.wav', body: audio(2) }]);
    const b = buildPack('site-a', [{ path: '000002/b1.wav', body: audio(3) }]);
    for (const f of [a, b]) {
      await publish(blobs, f);
      await ingestManifest({ blobs, catalogue }, f.manifestKey);
    }
    const calls: string[][] = [];
    const inner = new BlobStoreDeleter(blobs, (k) => (k === b.packKey ? '2099-01-01' : undefined));
    const deleter: ObjectDeleter = { deleteObjects: (keys) => (calls.push(keys), inner.deleteObjects(keys)) };
    const clock = new ManualClock(NOW);
    const locks = new SiteLocks(new MemoryLockTable(), clock);
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    clock.advance(60_000);
    const result = await deletePurgeBatch({ deleter, locks, blobs, catalogue }, 'site-a', g.token, batch([{ key: a.packKey, then: a.manifestKey }, { key: b.packKey, then: b.manifestKey }]));
    expect(calls).toEqual([[a.packKey, b.packKey], [a.manifestKey]]);
    expect(result).toMatchObject({ deleted: 2, targetsDone: 1, retainedCount: 1, failedCount: 0, retained: [{ key: b.packKey }] });
    expect(await blobs.head(b.manifestKey)).toBeDefined();
    // The catalogue never lists what is not there, and still lists what is.
    for (const m of a.manifest.members) expect(await catalogue.getRecording('site-a', m.rid)).toBeUndefined();
    for (const m of b.manifest.members) expect(await catalogue.getRecording('site-a', m.rid)).toBeDefined();
    expect((await locks.describe('site-a'))?.heartbeatAt).toBe(clock.now().toISOString());
  });

  it("names each purged call in its purge record by the texts the catalogue keeps (a sidecar's transcript mapped to the agent: its first 500 characters, not the whole of it 100 times over)", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const transcript = `Agent: hello, ${'and then the caller said '.repeat(20_000)}`;
    const f = buildPack('site-a', Array.from({ length: 20 }, (_, i) => ({ path: `000001/t${i}.wav`, body: audio(i + 1), meta: { start: '2019-03-01T09:30:00Z', agent: transcript, callId: `CVP-${i}` } })));
    await publish(blobs, f);
    await ingestManifest({ blobs, catalogue }, f.manifestKey);
    const kept = (await catalogue.getRecording('site-a', f.manifest.members[0]!.rid))!.meta.agent!;
    const events: AuditEvent[] = [];
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue, audit: (e) => void events.push(e) }, 'site-a', g.token, batch([{ key: f.packKey, then: f.manifestKey }]));
    const purge = events.find((e) => e.action === 'purge')!;
    const line = (purge.detail as { calls: string[] }).calls[0]!;
    expect(line.length).toBe(`${f.manifest.members[0]!.rid} callId=CVP-0 start=2019-03-01T09:30:00Z ?→? agent=${kept}`.length);
    expect(line).toBe(`${f.manifest.members[0]!.rid} callId=CVP-0 start=2019-03-01T09:30:00Z ?→? agent=${kept}`);
    expect(Buffer.byteLength(JSON.stringify(purge))).toBeLessThan(100_000);
  });

  it("keeps the entry of a call catalogued in another pack when it purges a pack that holds the same recording again (shipped twice), and forgets that pack's record of its copy", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const call = { path: '000001/a1.wav', body: audio(1) };
    const first = buildPack('site-a', [call], { seed: 'first' });
    const again = buildPack('site-a', [call, { path: '000001/a2.wav', body: audio(2) }], { seed: 'again' });
    for (const p of [first, again]) {
      await publish(blobs, p);
      await ingestManifest({ blobs, catalogue }, p.manifestKey);
    }
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    const result = await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue }, 'site-a', g.token, batch([{ key: again.packKey, then: again.manifestKey }]));
    expect(result).toMatchObject({ failedCount: 0 });
    expect(await blobs.head(again.packKey)).toBeUndefined();
    const [a1, a2] = again.manifest.members;
    expect(await catalogue.getRecording('site-a', a1!.rid)).toMatchObject({ packKey: first.packKey });
    expect(await catalogue.getRecording('site-a', a2!.rid)).toBeUndefined();
    expect((await catalogue.copiesOf('site-a', [a1!.rid])).size).toBe(0);
  });

  it("catalogues a call again from its other copy when it purges the pack its entry named (shipped twice, the copy still in the bucket): the call stays searchable and playable", async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const call = { path: '000001/a1.wav', body: audio(1) };
    const first = buildPack('site-a', [call], { seed: 'first' });
    // The second shipping holds a younger call too: the retention lets the first pack go, not this one.
    const again = buildPack('site-a', [call, { path: '000001/a2.wav', body: audio(2) }], { seed: 'again' });
    for (const p of [first, again]) {
      await publish(blobs, p);
      await ingestManifest({ blobs, catalogue }, p.manifestKey);
    }
    const rid = first.manifest.members[0]!.rid;
    expect(await catalogue.getRecording('site-a', rid)).toMatchObject({ packKey: first.packKey });
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    const result = await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue }, 'site-a', g.token, batch([{ key: first.packKey, then: first.manifestKey }]));
    expect(result).toMatchObject({ failedCount: 0, targetsDone: 1 });
    expect(await blobs.head(first.packKey)).toBeUndefined();
    const entry = await catalogue.getRecording('site-a', rid);
    expect(entry).toMatchObject({ packKey: again.packKey, manifestKey: again.manifestKey });
    expect(await blobs.head(entry!.packKey)).toBeDefined();
    expect((await catalogue.searchRecordings({ site: 'site-a' })).items.map((e) => e.rid).sort()).toEqual(again.manifest.members.map((m) => m.rid).sort());
  });

  it('keeps a manifest whose catalogue entries could not be removed, for the next purge', async () => {
    const blobs = new MemoryBlobStore();
    const a = buildPack('site-a', [{ path: '000001/a1.wav', body: audio(1) }]);
    await publish(blobs, a);
    const catalogue = { forgetPack: async () => Promise.reject(new Error('table unavailable')), forgetArtefact: async () => undefined, forgetSnapshot: async () => undefined, putSnapshot: async () => undefined, packKeysOf: async () => new Map<string, string>(), copiesOf: async () => new Map(), putRecordings: async () => undefined, putPack: async () => undefined, putCopies: async () => undefined };
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    const result = await deletePurgeBatch({ deleter: new BlobStoreDeleter(blobs), locks, blobs, catalogue }, 'site-a', g.token, batch([{ key: a.packKey, then: a.manifestKey }]));
    expect(result).toMatchObject({ deleted: 1, targetsDone: 0, failedCount: 1 });
    expect(result.failed[0]?.reason).toMatch(/catalogue entries not removed.*table unavailable/);
    expect(await blobs.head(a.manifestKey)).toBeDefined();
  });

  it('refuses to run without the lock (fencing) and refuses keys of another site', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const locks = new SiteLocks(new MemoryLockTable(), new ManualClock(NOW));
    const deleter = new BlobStoreDeleter(blobs);
    await expect(deletePurgeBatch({ deleter, locks, blobs, catalogue }, 'site-a', 1, batch([{ key: 'recordings/site-a/a.tar' }]))).rejects.toBeInstanceOf(LockLostError);
    const g = await locks.acquire({ site: 'site-a', holder: 'p', operation: 'purge' });
    await expect(deletePurgeBatch({ deleter, locks, blobs, catalogue }, 'site-a', g.token, batch([{ key: 'recordings/site-b/a.tar' }]))).rejects.toThrow(/outside site site-a/);
  });
});

describe('purgeReport', () => {
  it('is always written: done, done with skips, failed, not started', () => {
    const run = { site: 'site-a', startedAt: NOW.toISOString() };
    const later = new Date(NOW.getTime() + 60_000);
    expect(purgeReport({ ...run, deleted: [] }, later, DEFAULT_WORKFLOW_CONFIG)).toMatchObject({ outcome: 'DONE', alert: { severity: 'info' } });
    expect(purgeReport({ ...run, deleted: [{ index: 0, deleted: 1, targetsDone: 0, retained: [{ key: 'k', reason: 'AccessDenied' }], retainedCount: 1, failed: [], failedCount: 0 }] }, later, DEFAULT_WORKFLOW_CONFIG).outcome).toBe('INCOMPLETE');
    expect(purgeReport({ ...run, error: { Error: 'LockLostError', Cause: 'lost' } }, later, DEFAULT_WORKFLOW_CONFIG).alert.message).toContain('raise staleLockHours');
    expect(purgeReport({ ...run, lockError: { Error: 'LockHeldError' }, heldBy: null }, later, DEFAULT_WORKFLOW_CONFIG).outcome).toBe('NOT-STARTED');
  });
});

describe('recall use-cases', () => {
  it('requests a restore once, polls, and gives up after the configured polls', async () => {
    const deps = await site();
    const pack = await publishPack(deps, 'site-a', NOW, 'deep', [700]);
    const archive = new MemoryArchiveStore();
    archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    const clock = new ManualClock(NOW);
    const statuses = new MemoryRecallStatusStore();
    const config = { ...DEFAULT_WORKFLOW_CONFIG, recallMaxPolls: 2 };
    let state = await requestRecall({ catalogue: deps.catalogue, archive, statuses, clock }, { site: 'site-a', rid: pack.manifest.members[0]!.rid, requester: 'r' }, config);
    expect(state).toMatchObject({ state: 'restoring', packKey: pack.packKey, polls: 0 });
    // Asking again while the restore runs does not request a second one.
    await requestRecall({ catalogue: deps.catalogue, archive, statuses, clock }, { site: 'site-a', packKey: pack.packKey, requester: 'r' }, config);
    expect(archive.requests).toHaveLength(1);
    state = await checkRecall({ archive, statuses, clock }, state, config);
    expect(state.state).toBe('restoring');
    state = await checkRecall({ archive, statuses, clock }, state, config);
    expect(state).toMatchObject({ state: 'gave-up', polls: 2, notice: { severity: 'warning' } });
  });

  it('refuses a pack of another site', async () => {
    const archive = new MemoryArchiveStore();
    const deps = await site();
    await expect(requestRecall({ catalogue: deps.catalogue, archive, statuses: new MemoryRecallStatusStore(), clock: new ManualClock(NOW) }, { site: 'site-a', packKey: 'recordings/site-b/x.tar', requester: 'r' }, DEFAULT_WORKFLOW_CONFIG)).rejects.toThrow(/not a pack of site site-a/);
  });
});
