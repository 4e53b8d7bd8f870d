import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { DynamoCatalogue, createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';
import { catalogueContract } from './catalogue-contract.ts';

catalogueContract('MemoryCatalogue', async () => new MemoryCatalogue());

let dynamo: LocalDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  dynamo = await startLocalDynamo({});
  client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  doc = DynamoDBDocumentClient.from(client);
});

afterAll(async () => {
  client?.destroy();
  await dynamo?.stop();
});

catalogueContract('DynamoCatalogue on dynalite', async () => {
  const table = `catalogue-${++tables}`;
  await createCatalogueTable(client, table);
  await createCatalogueTable(client, table); // idempotent
  return new DynamoCatalogue(doc, table);
});
