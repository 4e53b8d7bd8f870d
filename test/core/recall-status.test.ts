import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { checkRecall, MemoryArchiveStore, requestRecall } from '../../core/recall.ts';
import { archiveView, MemoryRecallStatusStore, MIN_TRANSITION_BYTES, predictedClass, recallView, transitionDueAt, type PackTier } from '../../core/recall-status.ts';
import { DEFAULT_WORKFLOW_CONFIG } from '../../core/workflow-config.ts';

// The recall status record the recall workflow's steps write, and the archive state the console
// derives from the lifecycle rule and that record.

const SITE = 'site-a';
const PACK = `recordings/${SITE}/2025/01/05/p00000000000000000000001.tar`;
const TIERS: PackTier[] = [
  { storageClass: 'GLACIER_IR', afterDays: 30 },
  { storageClass: 'DEEP_ARCHIVE', afterDays: 365 },
];
const config = { ...DEFAULT_WORKFLOW_CONFIG, recallMaxPolls: 2 };

function setup() {
  const clock = new ManualClock(new Date('2026-06-01T10:00:00.000Z'));
  const archive = new MemoryArchiveStore();
  archive.set(PACK, { storageClass: 'DEEP_ARCHIVE' });
  const statuses = new MemoryRecallStatusStore();
  const deps = { catalogue: new MemoryCatalogue(), archive, statuses, clock };
  const request = () => requestRecall(deps, { site: SITE, packKey: PACK, requester: 'alice' }, config);
  return { clock, archive, statuses, deps, request };
}

describe('recall status record', () => {
  it('is written restoring by the request, with requester, requestedAt and no polls', async () => {
    const { statuses, request } = setup();
    await request();
    expect(await statuses.get(SITE, PACK)).toEqual({
      site: SITE,
      packKey: PACK,
      state: 'restoring',
      requester: 'alice',
      requestedAt: '2026-06-01T10:00:00.000Z',
      storageClass: 'DEEP_ARCHIVE',
      polls: 0,
      updatedAt: '2026-06-01T10:00:00.000Z',
    });
  });

  it('counts each check and turns available with the restored copy expiry', async () => {
    const { clock, archive, statuses, deps, request } = setup();
    let state = await request();
    clock.advance(3600_000);
    state = await checkRecall(deps, state, config);
    expect(await statuses.get(SITE, PACK)).toMatchObject({ state: 'restoring', polls: 1, updatedAt: '2026-06-01T11:00:00.000Z' });
    archive.completeRestore(PACK, '2026-06-09T00:00:00.000Z');
    clock.advance(3600_000);
    await checkRecall(deps, state, config);
    expect(await statuses.get(SITE, PACK)).toMatchObject({ state: 'available', polls: 2, availableUntil: '2026-06-09T00:00:00.000Z', requestedAt: '2026-06-01T10:00:00.000Z' });
  });

  it('records a gave-up recall, and a new request after it restarts the record', async () => {
    const { clock, statuses, deps, request } = setup();
    const first = await checkRecall(deps, await request(), config);
    await checkRecall(deps, first, config);
    expect(await statuses.get(SITE, PACK)).toMatchObject({ state: 'gave-up', polls: 2 });
    clock.advance(60_000);
    await request();
    expect(await statuses.get(SITE, PACK)).toMatchObject({ state: 'restoring', polls: 0, requestedAt: '2026-06-01T10:01:00.000Z' });
  });

  it('restarts after the restored copy expired: S3 is asked for a new restore', async () => {
    const { clock, archive, statuses, deps, request } = setup();
    const first = await request();
    archive.completeRestore(PACK, '2026-06-09T00:00:00.000Z');
    await checkRecall(deps, first, config);
    clock.set(new Date('2026-06-10T00:00:00.000Z'));
    expect(recallView(await statuses.get(SITE, PACK), clock.now())).toEqual({ state: 'none', expiredAt: '2026-06-09T00:00:00.000Z' });
    archive.set(PACK, { storageClass: 'DEEP_ARCHIVE' }); // S3 drops the expired copy
    await request();
    expect(archive.requests).toHaveLength(2);
    expect(recallView(await statuses.get(SITE, PACK), clock.now())).toMatchObject({ state: 'restoring', requestedAt: '2026-06-10T00:00:00.000Z' });
  });

  it("does not let an older execution's check overwrite a newer request's record", async () => {
    const { clock, statuses, deps, request } = setup();
    const old = await request();
    clock.advance(60_000);
    await request();
    await checkRecall(deps, old, config);
    expect(await statuses.get(SITE, PACK)).toMatchObject({ requestedAt: '2026-06-01T10:01:00.000Z', polls: 0 });
  });

  it('answers none for a pack never recalled, and the record as it stands before expiry', () => {
    const now = new Date('2026-06-08T23:59:59.999Z');
    expect(recallView(undefined, now)).toEqual({ state: 'none' });
    const record = { site: SITE, packKey: PACK, state: 'available' as const, requester: 'a', requestedAt: '2026-06-01T10:00:00.000Z', storageClass: 'DEEP_ARCHIVE', polls: 3, availableUntil: '2026-06-09T00:00:00.000Z', updatedAt: '2026-06-01T22:00:00.000Z' };
    expect(recallView(record, now)).toMatchObject({ state: 'available', availableUntil: '2026-06-09T00:00:00.000Z' });
    expect(recallView(record, new Date('2026-06-09T00:00:00.000Z')).state).toBe('none');
  });
});

describe('archive state derived from the lifecycle rule', () => {
  const big = { createdAt: '2025-01-05T10:30:00.000Z', size: MIN_TRANSITION_BYTES };

  it('makes a transition due at creation + days rounded up to the next midnight UTC, as S3 does', () => {
    expect(transitionDueAt('2025-01-05T10:30:00.000Z', 365).toISOString()).toBe('2026-01-06T00:00:00.000Z');
  });

  it('is online in Glacier IR the instant before the Deep Archive day, archived from that instant', () => {
    const due = new Date('2026-01-06T00:00:00.000Z');
    expect(archiveView(big, TIERS, { state: 'none' }, new Date(due.getTime() - 1))).toEqual({ state: 'online', storageClass: 'GLACIER_IR', archiveAt: due.toISOString() });
    expect(archiveView(big, TIERS, { state: 'none' }, due)).toEqual({ state: 'archived', storageClass: 'DEEP_ARCHIVE', archiveAt: due.toISOString() });
  });

  it('is Standard before the first tier is due', () => {
    expect(predictedClass(big, TIERS, new Date('2025-02-04T23:59:59.999Z')).storageClass).toBe('STANDARD');
    expect(predictedClass(big, TIERS, new Date('2025-02-05T00:00:00.000Z')).storageClass).toBe('GLACIER_IR');
  });

  it('never archives a pack under 128 KiB (S3 does not transition it)', () => {
    expect(archiveView({ ...big, size: MIN_TRANSITION_BYTES - 1 }, TIERS, { state: 'none' }, new Date('2030-01-01T00:00:00Z'))).toEqual({ state: 'online', storageClass: 'STANDARD' });
  });

  it('combines with the recall: restoring, restored until availableUntil, archived again after', () => {
    const now = new Date('2026-06-01T00:00:00.000Z');
    expect(archiveView(big, TIERS, { state: 'restoring' }, now).state).toBe('restoring');
    expect(archiveView(big, TIERS, { state: 'available', availableUntil: '2026-06-09T00:00:00.000Z' }, now)).toMatchObject({ state: 'restored', availableUntil: '2026-06-09T00:00:00.000Z' });
    expect(archiveView(big, TIERS, { state: 'gave-up' }, now).state).toBe('archived');
    const record = { site: SITE, packKey: PACK, state: 'available' as const, requester: 'a', requestedAt: '2026-05-30T00:00:00.000Z', storageClass: 'DEEP_ARCHIVE', polls: 3, availableUntil: '2026-06-09T00:00:00.000Z', updatedAt: '2026-05-30T12:00:00.000Z' };
    expect(archiveView(big, TIERS, recallView(record, new Date('2026-06-09T00:00:00.000Z')), new Date('2026-06-09T00:00:00.000Z')).state).toBe('archived');
  });

  it('is online for 48 h after a recall found the pack not yet moved (S3 runs transitions late), archived after', () => {
    const record = { site: SITE, packKey: PACK, state: 'available' as const, requester: 'a', requestedAt: '2026-06-01T00:00:00.000Z', storageClass: 'GLACIER_IR', polls: 0, updatedAt: '2026-06-01T00:00:00.000Z' };
    const at = (iso: string) => archiveView(big, TIERS, recallView(record, new Date(iso)), new Date(iso));
    expect(at('2026-06-02T23:59:59.999Z')).toMatchObject({ state: 'online', storageClass: 'GLACIER_IR' });
    expect(at('2026-06-03T00:00:00.000Z')).toMatchObject({ state: 'archived', storageClass: 'DEEP_ARCHIVE' });
  });
});
