import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoLockTable } from '../../adapters/dynamo-lock.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { MemoryPurgeRunStore, MemoryPurgeWatchStore, PURGE_RUN_KEEP_DAYS, type PurgeRunStore, type PurgeWatchStore } from '../../core/purge-watch.ts';
import { ManualClock } from '../../core/clock.ts';
import { LockHeldError, LockLostError, MemoryLockTable, SiteLocks, type LockTable } from '../../core/lock.ts';
import { MemoryRunStore, type RunRecord, type RunStore } from '../../core/window.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// One contract for the lock, run against the in-memory table and DynamoDB (dynalite): the
// same rules, and a compare-and-set that lets exactly one of many racing acquires win. The
// window's and the purge's run records and the dead-man's purge watch likewise.

const HOUR = 3_600_000;
const T0 = new Date('2026-03-01T02:00:00.000Z');

function lockContract(name: string, makeTable: () => Promise<LockTable>) {
  describe(`LockStore contract: ${name}`, () => {
    const setup = async () => {
      const clock = new ManualClock(T0);
      return { clock, locks: new SiteLocks(await makeTable(), clock) };
    };

    it('acquire, re-enter, exclude, release, release again', async () => {
      const { locks } = await setup();
      const grant = await locks.acquire({ site: 'a', holder: 'e1', operation: 'backup' });
      expect(grant).toMatchObject({ site: 'a', holder: 'e1', operation: 'backup', token: 1, reentered: false, acquiredAt: T0.toISOString() });
      expect(await locks.acquire({ site: 'a', holder: 'e1', operation: 'backup' })).toMatchObject({ token: 1, reentered: true });
      await expect(locks.acquire({ site: 'a', holder: 'e2', operation: 'backup' })).rejects.toBeInstanceOf(LockHeldError);
      await expect(locks.acquire({ site: 'a', holder: 'e2', operation: 'purge' })).rejects.toMatchObject({ name: 'LockHeldError', lock: { holder: 'e1' } });
      expect(await locks.acquire({ site: 'b', holder: 'e2', operation: 'purge' })).toMatchObject({ token: 1 }); // sites are independent
      expect(await locks.describe('a')).toMatchObject({ holder: 'e1', token: 1 });
      expect(await locks.release('a', 1)).toEqual({ site: 'a', token: 1, outcome: 'released' });
      expect(await locks.release('a', 1)).toEqual({ site: 'a', token: 1, outcome: 'already-free' });
      expect(await locks.describe('a')).toBeUndefined();
      expect(await locks.release('never', 4)).toEqual({ site: 'never', token: 4, outcome: 'already-free' });
      expect((await locks.acquire({ site: 'a', holder: 'e3', operation: 'purge' })).token).toBe(2);
    });

    it('heartbeat by the holder moves the last sign of life; by anyone else it is LockLostError', async () => {
      const { locks, clock } = await setup();
      const g = await locks.acquire({ site: 'a', holder: 'e1', operation: 'purge' });
      clock.advance(HOUR);
      expect((await locks.heartbeat('a', g.token)).heartbeatAt).toBe(clock.now().toISOString());
      await expect(locks.heartbeat('a', g.token + 1)).rejects.toBeInstanceOf(LockLostError);
      await locks.release('a', g.token);
      await expect(locks.heartbeat('a', g.token)).rejects.toMatchObject({ name: 'LockLostError' });
    });

    it('clears a lock silent for 12 h + 1 s, not one silent for 11 h 59 min; the loser cannot release the new holder', async () => {
      const { locks, clock } = await setup();
      const old = await locks.acquire({ site: 'a', holder: 'dead', operation: 'backup' });
      clock.advance(11 * HOUR + 59 * 60_000);
      await expect(locks.acquire({ site: 'a', holder: 'e2', operation: 'purge' })).rejects.toBeInstanceOf(LockHeldError);
      clock.advance(60_000 + 1000);
      const fresh = await locks.acquire({ site: 'a', holder: 'e2', operation: 'purge' });
      expect(fresh).toMatchObject({ token: old.token + 1, cleared: { holder: 'dead', token: old.token } });
      expect(await locks.release('a', old.token)).toMatchObject({ outcome: 'held-by-other', holder: 'e2' });
      expect(await locks.describe('a')).toMatchObject({ holder: 'e2' });
    });

    it('lets exactly one of many racing acquires win', async () => {
      const { locks } = await setup();
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => locks.acquire({ site: 'race', holder: `e${i}`, operation: i % 2 ? 'backup' : 'purge' })));
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockHeldError);
      expect((await locks.describe('race'))?.token).toBe(1);
    });
  });
}

function runContract(name: string, make: () => Promise<RunStore>) {
  describe(`RunStore contract: ${name}`, () => {
    it('keeps one record per window start, newest first', async () => {
      const runs = await make();
      const record = (startedAt: string, outcome: RunRecord['outcome']): RunRecord => ({ site: 's', startedAt, finishedAt: startedAt, outcome, mode: 'scheduled', reasons: [], packs: 1, recordings: 2, bytes: 3, failed: 0, lost: 0, manifestsMissing: 0 });
      await runs.putRun(record('2026-03-01T02:00:00.000Z', 'FULL'));
      await runs.putRun(record('2026-03-02T02:00:00.000Z', 'PARTIAL'));
      await runs.putRun(record('2026-03-02T02:00:00.000Z', 'FAILED')); // the same window again replaces
      expect((await runs.recentRuns('s', 5)).map((r) => [r.startedAt, r.outcome])).toEqual([
        ['2026-03-02T02:00:00.000Z', 'FAILED'],
        ['2026-03-01T02:00:00.000Z', 'FULL'],
      ]);
      expect(await runs.recentRuns('other', 5)).toEqual([]);
    });
  });
}

function purgeRunContract(name: string, make: () => Promise<{ runs: PurgeRunStore; watch: PurgeWatchStore }>) {
  describe(`PurgeRunStore and PurgeWatchStore contract: ${name}`, () => {
    it("answers a site's newest purge run (none: undefined), the same start written again replacing it", async () => {
      const { runs } = await make();
      expect(await runs.lastPurgeRun('s')).toBeUndefined();
      await runs.putPurgeRun({ site: 's', startedAt: '2026-03-01T05:00:00.120Z', execution: 'e1' });
      await runs.putPurgeRun({ site: 's', startedAt: '2026-03-08T05:00:00.050Z', execution: 'e2' });
      await runs.putPurgeRun({ site: 's', startedAt: '2026-03-08T05:00:00.050Z', execution: 'e2-again' });
      await runs.putPurgeRun({ site: 'other', startedAt: '2026-03-09T05:00:00.000Z', execution: 'e3' });
      expect(await runs.lastPurgeRun('s')).toEqual({ site: 's', startedAt: '2026-03-08T05:00:00.050Z', execution: 'e2-again' });
    });

    it('keeps the purge watch of each site, replaced whole (an alert resolved leaves no alertedDue)', async () => {
      const { watch } = await make();
      expect(await watch.getPurgeWatch('s')).toBeUndefined();
      await watch.putPurgeWatch({ site: 's', cron: '0 5 ? * SUN *', since: '2026-03-01T00:00:00.000Z', alertedDue: '2026-03-01T05:00:00.000Z' });
      await watch.putPurgeWatch({ site: 's', cron: '0 5 ? * SUN *', since: '2026-03-01T00:00:00.000Z' });
      expect(await watch.getPurgeWatch('s')).toEqual({ site: 's', cron: '0 5 ? * SUN *', since: '2026-03-01T00:00:00.000Z' });
    });
  });
}

lockContract('MemoryLockTable', async () => new MemoryLockTable());
runContract('MemoryRunStore', async () => new MemoryRunStore());
purgeRunContract('memory', async () => ({ runs: new MemoryPurgeRunStore(), watch: new MemoryPurgeWatchStore() }));

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  // dynalite alone, no IAM gateway: a contract suite of the adapter on tables of its own (IAM on
  // the lock items is test/local/iam-gateway.test.ts's and the workflows' through the local cloud).
  dynamo = await startLocalDynamo({});
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

async function freshTable(): Promise<string> {
  const table = `catalogue-${++tables}`;
  await createCatalogueTable(client, table);
  return table;
}

lockContract('DynamoLockTable on dynalite', async () => new DynamoLockTable(doc, await freshTable()));
runContract('DynamoRunStore on dynalite', async () => new DynamoRunStore(doc, await freshTable()));
purgeRunContract('DynamoPurgeRunStore and DynamoPurgeWatchStore on dynalite', async () => {
  const table = await freshTable();
  return { runs: new DynamoPurgeRunStore(doc, table), watch: new DynamoPurgeWatchStore(doc, table) };
});

describe('DynamoPurgeRunStore item', () => {
  it(`lives at pk=PURGERUN#{site}, sk={start}, holds only the site, start and execution, and expires ${PURGE_RUN_KEEP_DAYS} days after the start (ttl)`, async () => {
    const table = await freshTable();
    await new DynamoPurgeRunStore(doc, table).putPurgeRun({ site: 'site-a', startedAt: '2026-03-01T05:00:00.000Z', execution: 'arn:x' });
    const item = (await doc.send(new GetCommand({ TableName: table, Key: { pk: 'PURGERUN#site-a', sk: '2026-03-01T05:00:00.000Z' } }))).Item;
    expect(item).toEqual({ pk: 'PURGERUN#site-a', sk: '2026-03-01T05:00:00.000Z', type: 'purgeRun', site: 'site-a', startedAt: '2026-03-01T05:00:00.000Z', execution: 'arn:x', ttl: Date.parse('2026-03-01T05:00:00.000Z') / 1000 + PURGE_RUN_KEEP_DAYS * 86_400 });
  });
});

describe('DynamoLockTable item', () => {
  it('lives in the catalogue table at pk=LOCK#{site}, sk=LOCK and keeps its token after release', async () => {
    const table = await freshTable();
    const locks = new SiteLocks(new DynamoLockTable(doc, table), new ManualClock(T0));
    const g = await locks.acquire({ site: 'site-a', holder: 'e1', operation: 'backup' });
    await locks.release('site-a', g.token);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'LOCK#site-a', sk: 'LOCK' } }));
    expect(Item).toMatchObject({ type: 'lock', site: 'site-a', token: 1, revision: 2 });
    expect(Item?.holder).toBeUndefined();
  });
});
