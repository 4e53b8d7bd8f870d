import { DynamoCatalogue, createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
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
