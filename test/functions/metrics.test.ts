import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { dynamoLockStore } from '../../adapters/dynamo-lock.ts';
import { systemClock } from '../../core/clock.ts';
import { LOCAL_BUCKET, LOCAL_REGION, LOCAL_TABLE } from '../../core/deployment.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';
import { buildFunctionBundles } from '../../local/function-bundles.ts';
import { LocalLambda, standInEnvironment } from '../../local/local-lambda.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler as createIngestHandler } from '../../functions/ingest/handler.ts';
import { createHandler as createReplayHandler } from '../../functions/replay/handler.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';
import type { Count } from '../../functions/shared/metrics.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

// Function metrics as they deploy: the lock function's minified bundle, in a runtime of its
// own, prints Embedded Metric Format lines (Powertools metrics) CloudWatch turns into metrics.

interface Emf {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [field: string]: unknown;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let dir: string;
let dynamo: LocalDynamo;
let lock: LocalLambda;
const lines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-emf-'));
  dynamo = await startLocalDynamo({ directory: join(dir, 'dynamo') });
  const { client, doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials });
  await createCatalogueTable(client, LOCAL_TABLE);
  await dynamoLockStore(doc, LOCAL_TABLE, systemClock).acquire({ site: 'site-a', holder: 'other-execution', operation: 'purge' });
  doc.destroy();
  const { lock: bundle } = await buildFunctionBundles(['lock']);
  const cloud = { s3Endpoint: 'http://127.0.0.1:9', dynamoEndpoint: dynamo.endpoint, bucket: LOCAL_BUCKET, table: LOCAL_TABLE, credentials, region: LOCAL_REGION };
  lock = await LocalLambda.start({ functionName: 'ferry-lock', bundle, environment: standInEnvironment(cloud), onLog: (line) => lines.push(line) });
}, 120_000);

afterAll(async () => {
  await lock?.stop();
  await dynamo?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** EMF documents printed since `from`, with the metric `name`. */
function emf(name: string, from = 0): Emf[] {
  return lines
    .slice(from)
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Emf)
    .filter((d) => d._aws.CloudWatchMetrics.some((m) => m.Metrics.some((x) => x.Name === name)));
}

describe('function metrics (EMF)', () => {
  it('a refused acquire prints one LockWaits count for the site in the Ferry namespace; a grant prints LocksAcquired', async () => {
    const before = lines.length;
    const held = { action: 'acquire', site: 'site-a', operation: 'backup', holder: 'this-execution', staleAfterSeconds: 43_200 };
    await expect(lock.invoke(held)).rejects.toMatchObject({ errorType: 'LockHeldError' });
    // The runtime's log lines are read as they come: wait for the document (up to expect.poll's 10 s, not 2 s).
    await expect.poll(() => emf('LockWaits', before).length).toBeGreaterThan(0);
    const waits = emf('LockWaits', before);
    expect(waits).toHaveLength(1);
    const doc = waits[0]!;
    expect(doc._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Ferry', Metrics: [{ Name: 'LockWaits', Unit: 'Count' }] });
    expect(doc._aws.CloudWatchMetrics[0]!.Dimensions[0]).toEqual(expect.arrayContaining(['site', 'service']));
    expect(doc).toMatchObject({ LockWaits: 1, site: 'site-a', service: 'ferry' });
    expect(emf('LocksAcquired', before)).toHaveLength(0);

    const free = { ...held, site: 'site-b' };
    const mark = lines.length;
    await lock.invoke(free);
    await expect.poll(() => emf('LocksAcquired', mark).length).toBeGreaterThan(0);
    expect(emf('LocksAcquired', mark)).toMatchObject([{ LocksAcquired: 1, site: 'site-b' }]);
  });
});

describe('ingest counts', () => {
  it('counts each manifest ingested and each one not ingested, by site', async () => {
    const blobs = new MemoryBlobStore();
    const counted: Parameters<Count>[] = [];
    const handler = createIngestHandler({ blobs, catalogue: new MemoryCatalogue(), log: () => undefined, count: (...a) => void counted.push(a) });
    const good = buildPack('site-a', [{ path: 'x/1.wav', body: audio(1) }], { seed: 'good' });
    await publish(blobs, good);
    const missing = 'manifests/site-b/recordings/2026/03/01/p00000000000000000000000.json';
    const records = [good.manifestKey, missing].map((key) => ({ eventName: 'ObjectCreated:Put', s3: { object: { key } } }));
    await expect(handler({ Records: records })).rejects.toThrow(/not ingested/);
    expect(counted).toEqual([
      ['ManifestsIngested', 'site-a'],
      ['ManifestsNotIngested', 'site-b'],
    ]);
  });
});

describe('replay counts', () => {
  it('counts a listen that sends audio, by site; HEAD and a refused request count nothing', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const f = buildPack('site-a', [{ path: 'b/one.wav', body: audio(1, 4000) }]);
    await publish(blobs, f);
    await ingestManifest({ blobs, catalogue }, f.manifestKey);
    const trail = auditTrail();
    const counted: Parameters<Count>[] = [];
    const handler = createReplayHandler({ blobs, catalogue, audit: trail.audit, clock: trail.clock, log: () => undefined, count: (...a) => void counted.push(a) });
    const rid = f.manifest.members[0]!.rid;
    const call = (method: string, r = rid) => handler(httpEvent(method, `/sites/site-a/recordings/${r}/audio`, { pathParameters: { site: 'site-a', rid: r }, headers: {} }));
    expect((await call('GET')).statusCode).toBe(200);
    expect((await call('HEAD')).statusCode).toBe(200);
    expect((await call('GET', 'not-a-rid')).statusCode).toBe(400);
    expect(counted).toEqual([['Replays', 'site-a']]);
  });
});
