import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoPurgeWatchStore } from '../../adapters/dynamo-deadman.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { purgeLine } from '../../core/fleet-purge.ts';
import { readFleet, type FleetSiteConfig } from '../../core/fleet-read.ts';
import { HEARTBEAT_FORMAT, heartbeatKey } from '../../core/fleet.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryPurgeRunStore, MemoryPurgeWatchStore, watchPurges, type PurgeRunStore, type PurgeWatchStore } from '../../core/purge-watch.ts';
import { MemoryRunStore, type RunStore } from '../../core/window.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// Each site's scheduled purge on the fleet view (core/fleet-purge.ts), read through readFleet
// from the stores the purge and the dead-man's switch write: the newest run's start, the
// schedule, and a purge-missed alert exactly when the switch holds one open. One suite, run on
// the memory stores and on DynamoDB (dynalite) through the adapters the fleet function uses.

const MIN = 60_000;
// Sundays 05:00 UTC; 2026-03-01 is a Sunday.
const CRON = '0 5 ? * SUN *';
const SUNDAY = Date.parse('2026-03-01T05:00:00Z');
const GRACE = 420;
const at = (ms: number) => new Date(ms);

interface Stores {
  runs: RunStore;
  purgeRuns: PurgeRunStore;
  purgeWatch: PurgeWatchStore;
}

const SITES: FleetSiteConfig[] = [
  { name: 'weekly', purgeCron: CRON },
  { name: 'manual' },
];

/** Every site heard from a minute before `now`, so the rows judge the purge alone. */
async function fleetAt(stores: Stores, now: number) {
  const blobs = new MemoryBlobStore();
  for (const s of SITES) {
    const hbAt = at(now - MIN).toISOString();
    await blobs.put(heartbeatKey(s.name, at(now - MIN)), Buffer.from(JSON.stringify({ format: HEARTBEAT_FORMAT, site: s.name, at: hbAt, agentVersion: '0.1.0', sources: [], losses: 0, lastPass: { at: hbAt, failed: 0, lost: 0 } })));
  }
  const rows = await readFleet({ blobs, runs: stores.runs, purge: stores }, SITES, at(now));
  return Object.fromEntries(rows.map((r) => [r.site, r]));
}

/** The switch's pass over the same stores (its alerts kept by the test). */
const switchPass = (stores: Stores, now: number) => watchPurges({ ...stores, notifier: { notify: async () => undefined } }, [{ name: 'weekly', purgeCron: CRON, purgeGraceMinutes: GRACE }], at(now));

function fleetPurgeSuite(name: string, makeStores: () => Promise<Stores>) {
  describe(`the purge on the fleet view: ${name}`, () => {
    it("shows the newest purge run's start and the schedule, and says a site without a purgeCron is not scheduled", async () => {
      const stores = await makeStores();
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt: '2026-02-22T05:00:02.000Z', execution: 'arn:exec:old' });
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt: '2026-03-01T05:00:03.000Z', execution: 'arn:exec:new' });
      const rows = await fleetAt(stores, SUNDAY + 60 * MIN);
      expect(rows.weekly).toMatchObject({ state: 'OK', reasons: [], purge: { cron: CRON, lastRun: { startedAt: '2026-03-01T05:00:03.000Z', execution: 'arn:exec:new' } } });
      expect(rows.weekly!.purge!.missedSince).toBeUndefined();
      expect(purgeLine(rows.weekly!.purge!)).toBe(`purge: last ran 2026-03-01 05:00 UTC (no report yet) (schedule cron(${CRON}))`);
      expect(rows.manual).toMatchObject({ state: 'OK', purge: {} });
      expect(purgeLine(rows.manual!.purge!)).toBe('purge: not scheduled');
    });

    it('says how the last run ended as its report wrote it, and warns when the last run FAILED or could not start', async () => {
      const stores = await makeStores();
      const startedAt = '2026-03-01T05:00:03.000Z';
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt, execution: 'arn:exec:new' });
      let rows = await fleetAt(stores, SUNDAY + 10 * MIN);
      expect(purgeLine(rows.weekly!.purge!)).toBe(`purge: last ran 2026-03-01 05:00 UTC (no report yet) (schedule cron(${CRON}))`);
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt, execution: 'arn:exec:new', outcome: 'DONE', reportedAt: '2026-03-01T05:20:00.000Z', deleted: 12 });
      rows = await fleetAt(stores, SUNDAY + 60 * MIN);
      expect(rows.weekly).toMatchObject({ state: 'OK', purge: { lastRun: { startedAt, outcome: 'DONE', deleted: 12, reportedAt: '2026-03-01T05:20:00.000Z' } } });
      expect(purgeLine(rows.weekly!.purge!)).toBe(`purge: last ran 2026-03-01 05:00 UTC: DONE, 12 object(s) deleted (schedule cron(${CRON}))`);
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt, execution: 'arn:exec:new', outcome: 'FAILED', reportedAt: '2026-03-01T05:20:00.000Z', deleted: 0 });
      rows = await fleetAt(stores, SUNDAY + 60 * MIN);
      expect(rows.weekly).toMatchObject({ state: 'WARN', reasons: [`the last purge (started ${startedAt}) FAILED: its report alert says why; retention is not enforced until a purge succeeds`] });
      expect(purgeLine(rows.weekly!.purge!)).toBe(`purge: last ran 2026-03-01 05:00 UTC: FAILED (schedule cron(${CRON}))`);
    });

    it("shows MISSED exactly while the dead-man's switch holds the purge-missed alert open, with the due time it alerted, and not before it alerts", async () => {
      const stores = await makeStores();
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt: '2026-02-22T05:00:02.000Z', execution: 'arn:exec:old' });
      // The switch watches from the Saturday before: the Sunday purge is owed.
      await switchPass(stores, SUNDAY - 20 * 60 * MIN);
      // Past due and grace, but the switch has not run since: the fleet view does not judge it missed on its own.
      const late = SUNDAY + (GRACE + 5) * MIN;
      expect((await fleetAt(stores, late)).weekly).toMatchObject({ state: 'OK', purge: { cron: CRON, lastRun: { startedAt: '2026-02-22T05:00:02.000Z' } } });

      const [raised] = await switchPass(stores, late);
      expect(raised).toMatchObject({ action: 'raised', missed: '2026-03-01T05:00:00.000Z' });
      const missed = (await fleetAt(stores, late + MIN)).weekly!;
      expect(missed).toMatchObject({ state: 'LATE', purge: { cron: CRON, missedSince: raised!.missed } });
      expect(missed.reasons).toEqual(['the scheduled purge due 2026-03-01T05:00:00.000Z did not run (purge-missed alert open): retention is not being enforced']);
      expect(purgeLine(missed.purge!)).toBe(`purge: MISSED since 2026-03-01 05:00 UTC (last ran 2026-02-22 05:00 UTC (no report yet); schedule cron(${CRON}))`);

      // The purge runs; once the switch resolves its alert, the site is OK again with the new run.
      await stores.purgeRuns.putPurgeRun({ site: 'weekly', startedAt: at(late + 2 * MIN).toISOString(), execution: 'arn:exec:late' });
      expect((await switchPass(stores, late + 15 * MIN))[0]).toMatchObject({ action: 'resolved' });
      expect((await fleetAt(stores, late + 16 * MIN)).weekly).toMatchObject({ state: 'OK', reasons: [], purge: { lastRun: { execution: 'arn:exec:late' } } });
    });

    it('says a scheduled site whose purge never ran so, and keeps a retired site RETIRED while naming its missed purge', async () => {
      const stores = await makeStores();
      await stores.purgeWatch.putPurgeWatch({ site: 'weekly', cron: CRON, since: '2026-02-01T00:00:00.000Z', alertedDue: '2026-03-01T05:00:00.000Z' });
      const blobs = new MemoryBlobStore();
      const [row] = await readFleet({ blobs, runs: stores.runs, purge: stores }, [{ name: 'weekly', purgeCron: CRON, retired: '2026-02-15' }], at(SUNDAY + 500 * MIN));
      expect(row).toMatchObject({ state: 'RETIRED', purge: { cron: CRON, missedSince: '2026-03-01T05:00:00.000Z' } });
      expect(row!.reasons[1]).toMatch(/^the scheduled purge due 2026-03-01T05:00:00.000Z did not run/);
      expect(purgeLine(row!.purge!)).toBe(`purge: MISSED since 2026-03-01 05:00 UTC (never ran (none on record); schedule cron(${CRON}))`);
    });
  });
}

fleetPurgeSuite('memory stores', async () => ({ runs: new MemoryRunStore(), purgeRuns: new MemoryPurgeRunStore(), purgeWatch: new MemoryPurgeWatchStore() }));

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamo({});
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

fleetPurgeSuite('DynamoDB (dynalite)', async () => {
  const table = `catalogue-${++tables}`;
  await createCatalogueTable(client, table);
  return { runs: new DynamoRunStore(doc, table), purgeRuns: new DynamoPurgeRunStore(doc, table), purgeWatch: new DynamoPurgeWatchStore(doc, table) };
});

describe('reading the purge on the fleet view', () => {
  it("reads one purge-run Query per site and the switch's watch only for a scheduled site, and a failed read names the purge without losing the site's heartbeat", async () => {
    const purgeRuns = new MemoryPurgeRunStore();
    const purgeWatch = new MemoryPurgeWatchStore();
    const counts = { runs: 0, watch: 0 };
    const counting = {
      purgeRuns: { lastPurgeRun: (site: string) => (counts.runs++, purgeRuns.lastPurgeRun(site)) },
      purgeWatch: { getPurgeWatch: (site: string) => (counts.watch++, purgeWatch.getPurgeWatch(site)) },
    };
    await fleetAt({ runs: new MemoryRunStore(), ...counting } as unknown as Stores, SUNDAY);
    expect(counts).toEqual({ runs: 2, watch: 1 });

    const failing = { purgeRuns: { lastPurgeRun: async () => Promise.reject(new Error('ThrottlingException: slow down')) }, purgeWatch };
    const rows = await fleetAt({ runs: new MemoryRunStore(), ...failing } as unknown as Stores, SUNDAY);
    expect(rows.weekly).toMatchObject({ state: 'WARN', heartbeatAgeSeconds: 60, purge: { cron: CRON, problem: "cannot read the purge's runs or the dead-man's switch's watch of it: ThrottlingException: slow down" } });
    expect(rows.weekly!.reasons).toEqual([rows.weekly!.purge!.problem]);
    expect(purgeLine(rows.weekly!.purge!)).toBe('purge: unknown (its state could not be read: see the reason below)');
  });
});
