import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoPurgeIntentStore } from '../../adapters/dynamo-purge-intents.ts';
import { purgeIntentId, type PurgeIntent } from '../../core/purge-intents.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// The purge's open intents on the catalogue table (dynalite): one item an intent while open,
// read back as written, listed by site, gone once closed.

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
beforeAll(async () => {
  dynamo = await startLocalDynamo();
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  doc = DynamoDBDocumentClient.from(client);
  await createCatalogueTable(client, 'intents');
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

const intent = (site: string, key: string, extra: Partial<PurgeIntent> = {}): PurgeIntent => ({ site, id: purgeIntentId(site, key), key, kind: 'pack', at: '2026-06-01T00:00:00.000Z', ...extra });

describe('DynamoPurgeIntentStore', () => {
  it('reads an intent back as written (the record it notes pending too), lists a site\'s open intents only, and forgets one once closed (closing twice is no error)', async () => {
    const store = new DynamoPurgeIntentStore(doc, 'intents');
    const a = intent('site-a', 'recordings/site-a/2019/03/01/p1.tar', { manifest: 'manifests/site-a/recordings/2019/03/01/p1.json', recordings: 25_000, pending: { record: 'outcome', from: 41 } });
    const b = intent('site-a', 'backups/site-a/db/full-1.sql', { kind: 'full' });
    const other = intent('site-b', 'recordings/site-b/2019/03/01/p9.tar');
    for (const i of [a, b, other]) await store.putIntent(i);
    expect(await store.getIntent('site-a', a.id)).toEqual(a);
    expect((await store.listIntents('site-a')).sort((x, y) => x.id.localeCompare(y.id))).toEqual([a, b].sort((x, y) => x.id.localeCompare(y.id)));
    await store.closeIntent('site-a', a.id);
    await store.closeIntent('site-a', a.id);
    expect(await store.getIntent('site-a', a.id)).toBeUndefined();
    expect(await store.listIntents('site-a')).toEqual([b]);
    expect(await store.listIntents('site-b')).toEqual([other]);
  });
});
