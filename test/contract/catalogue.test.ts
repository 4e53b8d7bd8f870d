import { afterAll } from 'vitest';
import { DynamoCatalogue, createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { LeanDynamo } from '../../adapters/dynamo-lean.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';
import { catalogueContract } from './catalogue-contract.ts';

catalogueContract('MemoryCatalogue', async () => new MemoryCatalogue());

const dynamo = localDynamoForSuite();
let tables = 0;

catalogueContract('DynamoCatalogue on dynalite', async () => {
  const table = `catalogue-${++tables}`;
  await createCatalogueTable(dynamo.client, table);
  await createCatalogueTable(dynamo.client, table); // idempotent
  return new DynamoCatalogue(dynamo.doc, table);
});

// The functions' catalogue: its GetItem, Query and PutItem as signed requests (dynamo-lean.ts),
// its batch writes through the document client; the same contract.
const leans: LeanDynamo[] = [];
afterAll(() => leans.forEach((lean) => lean.destroy()));

catalogueContract('DynamoCatalogue on dynalite, reads through LeanDynamo', async () => {
  const table = `catalogue-${++tables}`;
  await createCatalogueTable(dynamo.client, table);
  const lean = new LeanDynamo({ region: 'local', endpoint: dynamo.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }, dynamo.doc);
  leans.push(lean);
  return new DynamoCatalogue(lean, table);
});
