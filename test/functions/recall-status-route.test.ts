import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { MemoryRecallStatusStore, type PackTier, type RecallStatusRecord } from '../../core/recall-status.ts';
import { createHandler as createCatalogueHandler } from '../../functions/catalogue/handler.ts';
import { createHandler as createConsoleHandler } from '../../functions/console/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { consoleCaller, consoleToken, officerA, parseJson, testConsoleVerifier } from '../support/console-handler.ts';
import { httpEvent } from '../support/http-event.ts';

// GET …/recordings/{rid}/recall (console and IAM catalogue API): the recall status record of the
// recording's pack; and the `archive` state GET …/recordings/{rid} derives from the lifecycle
// tiers, the pack's upload time and that record.

const TIERS: PackTier[] = [
  { storageClass: 'GLACIER_IR', afterDays: 30 },
  { storageClass: 'DEEP_ARCHIVE', afterDays: 365 },
];
const NOW = new Date('2026-04-01T12:00:00.000Z');

async function setup() {
  const catalogue = new MemoryCatalogue();
  const old = makeEntry('site-a', 1, { packId: 'p0000000000000000000000a1', packKey: 'recordings/site-a/2024/01/05/p0000000000000000000000a1.tar' });
  const young = makeEntry('site-a', 2);
  const other = makeEntry('site-b', 3);
  await catalogue.putRecordings([old, young, other]);
  const pack = (e: typeof old, createdAt: string) => ({ site: e.site, packId: e.packId, packKey: e.packKey, manifestKey: e.manifestKey, source: e.source, members: 1, size: 500_000, createdAt });
  await catalogue.putPack(pack(old, '2024-01-05T10:00:00.000Z'));
  await catalogue.putPack(pack(young, '2026-03-01T09:00:00.000Z'));
  const recalls = new MemoryRecallStatusStore();
  const clock = new ManualClock(NOW);
  const events: AuditEvent[] = [];
  const common = { catalogue, recalls, packTiers: TIERS, audit: (e: AuditEvent) => void events.push(e), clock, cursorKey: 'k'.repeat(32), log: () => undefined };
  const console = consoleCaller(
    createConsoleHandler({
      ...common,
      verifier: testConsoleVerifier(),
      sites: ['site-a', 'site-b'],
      holds: { holds: new MemoryHoldStore(), catalogue, blobs: new MemoryBlobStore(), holder: new MemoryObjectHolder() },
      links: async () => 'https://replay.example/x',
    }),
  );
  const catalogueApi = createCatalogueHandler(common);
  const iam = (site: string, rid: string, suffix = '/recall') => catalogueApi(httpEvent('GET', `/sites/${site}/recordings/${rid}${suffix}`, { pathParameters: { site, rid }, principal: 'arn:aws:sts::111122223333:assumed-role/officer/x' }));
  const record = (over: Partial<RecallStatusRecord> = {}): RecallStatusRecord => ({
    site: 'site-a',
    packKey: old.packKey,
    rid: old.rid,
    state: 'restoring',
    requester: 'alice',
    requestedAt: '2026-04-01T11:00:00.000Z',
    storageClass: 'DEEP_ARCHIVE',
    polls: 1,
    updatedAt: '2026-04-01T11:30:00.000Z',
    ...over,
  });
  return { old, young, other, recalls, clock, events, console, iam, record };
}

describe('recall status route', () => {
  it('answers none for a pack never recalled, on the console and on the IAM catalogue API', async () => {
    const { old, console, iam } = await setup();
    const res = await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: officerA() });
    expect(res.statusCode).toBe(200);
    expect(parseJson(res)).toEqual({ site: 'site-a', rid: old.rid, packKey: old.packKey, state: 'none' });
    expect(parseJson(await iam('site-a', old.rid))).toEqual(parseJson(res));
  });

  it('answers the record: restoring with requestedAt, available with availableUntil, none once that passed', async () => {
    const { old, recalls, clock, console, record } = await setup();
    const get = async () => parseJson(await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: officerA() }));
    await recalls.put(record());
    expect(await get()).toMatchObject({ state: 'restoring', requestedAt: '2026-04-01T11:00:00.000Z', requester: 'alice', polls: 1 });
    await recalls.put(record({ state: 'available', polls: 4, availableUntil: '2026-04-09T00:00:00.000Z' }));
    expect(await get()).toMatchObject({ state: 'available', availableUntil: '2026-04-09T00:00:00.000Z' });
    clock.set(new Date('2026-04-09T00:00:00.000Z'));
    expect(await get()).toMatchObject({ state: 'none', expiredAt: '2026-04-09T00:00:00.000Z' });
    await recalls.put(record({ state: 'gave-up', polls: 5 }));
    expect(await get()).toMatchObject({ state: 'gave-up', polls: 5 });
  });

  it("tells a listener (listener-<site>) the recall's state but not which officer asked for it, unless the listener did", async () => {
    const { old, recalls, console, record } = await setup();
    const get = async (username: string) => parseJson(await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: consoleToken(username, ['listener-site-a']) }));
    await recalls.put(record());
    const other = await get('quinn');
    expect(other).toMatchObject({ state: 'restoring', requestedAt: '2026-04-01T11:00:00.000Z', polls: 1 });
    expect(other).not.toHaveProperty('requester');
    await recalls.put(record({ requester: 'quinn' }));
    expect(await get('quinn')).toMatchObject({ state: 'restoring', requester: 'quinn' });
  });

  it('is not audited (the page polls it), unlike GET of the recording', async () => {
    const { old, console, events } = await setup();
    await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: officerA() });
    expect(events).toEqual([]);
    await console('GET', `/console/sites/site-a/recordings/${old.rid}`, { bearer: officerA() });
    expect(events.map((e) => e.action)).toEqual(['search']);
  });

  it("answers 403 to another site's officer, 404 for an unknown recording, 400 naming rid, 401 without a valid token", async () => {
    const { old, other, console, iam } = await setup();
    const forbidden = await console('GET', `/console/sites/site-b/recordings/${other.rid}/recall`, { bearer: officerA() });
    expect(forbidden.statusCode).toBe(403);
    expect(parseJson(forbidden)).toMatchObject({ error: 'ForbiddenError', message: expect.stringContaining('site-b') });
    const unknown = await console('GET', '/console/sites/site-a/recordings/r00000000000000000000000/recall', { bearer: officerA() });
    expect(unknown.statusCode).toBe(404);
    expect((await iam('site-a', 'r00000000000000000000000')).statusCode).toBe(404);
    const bad = await console('GET', '/console/sites/site-a/recordings/r123/recall', { bearer: officerA() });
    expect(bad.statusCode).toBe(400);
    expect(parseJson(bad).message).toMatch(/rid: must be a recording id/);
    expect(parseJson(await iam('site-a', 'r123')).message).toMatch(/rid: must be a recording id/);
    const extra = await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: officerA(), query: { state: 'x' } });
    expect(extra.statusCode).toBe(400);
    expect(parseJson(extra).message).toMatch(/state/);
    expect((await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`)).statusCode).toBe(401);
    expect((await console('GET', `/console/sites/site-a/recordings/${old.rid}/recall`, { bearer: `${officerA().slice(0, -8)}AAAAAAAA` })).statusCode).toBe(401);
    // Another site's officer through officer-all: allowed.
    expect((await console('GET', `/console/sites/site-b/recordings/${other.rid}/recall`, { bearer: consoleToken('chief', ['officer-all']) })).statusCode).toBe(200);
  });
});

describe('archive state of a recording', () => {
  it('is archived for a pack past the Deep Archive day, online in Glacier IR for a month-old pack', async () => {
    const { old, young, console } = await setup();
    const archived = parseJson(await console('GET', `/console/sites/site-a/recordings/${old.rid}`, { bearer: officerA() }));
    expect(archived.archive).toEqual({ state: 'archived', storageClass: 'DEEP_ARCHIVE', archiveAt: '2025-01-05T00:00:00.000Z' });
    const online = parseJson(await console('GET', `/console/sites/site-a/recordings/${young.rid}`, { bearer: officerA() }));
    expect(online.archive).toEqual({ state: 'online', storageClass: 'GLACIER_IR', archiveAt: '2027-03-02T00:00:00.000Z' });
  });

  it('follows the recall: restoring, restored until availableUntil, archived again after (IAM API the same)', async () => {
    const { old, recalls, clock, iam, record } = await setup();
    const archive = async () => parseJson(await iam('site-a', old.rid, '')).archive;
    await recalls.put(record());
    expect(await archive()).toMatchObject({ state: 'restoring' });
    await recalls.put(record({ state: 'available', availableUntil: '2026-04-09T00:00:00.000Z' }));
    expect(await archive()).toMatchObject({ state: 'restored', availableUntil: '2026-04-09T00:00:00.000Z' });
    clock.set(new Date('2026-04-09T00:00:00.000Z'));
    expect(await archive()).toMatchObject({ state: 'archived' });
  });

  it('is left out when the pack record is missing (nothing to predict from)', async () => {
    const { other, console } = await setup();
    const res = parseJson(await console('GET', `/console/sites/site-b/recordings/${other.rid}`, { bearer: consoleToken('chief', ['admin']) }));
    expect(res.rid).toBe(other.rid);
    expect(res).not.toHaveProperty('archive');
  });
});
