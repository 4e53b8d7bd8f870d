import { CreateTableCommand, DescribeTableCommand, ResourceInUseException, type CreateTableCommandInput, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CATALOGUE_TABLE } from '../core/catalogue-table.ts';
import { TransientError } from '../core/errors.ts';
import { translateDynamoError as translate } from './dynamo-errors.ts';

/** Creates the catalogue table from CATALOGUE_TABLE (on demand) and waits until it and its indexes are ACTIVE. Idempotent. */
export async function createCatalogueTable(client: DynamoDBClient, tableName: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const attributes = new Map<string, string>([
    [CATALOGUE_TABLE.partitionKey.name, CATALOGUE_TABLE.partitionKey.type],
    [CATALOGUE_TABLE.sortKey.name, CATALOGUE_TABLE.sortKey.type],
  ]);
  for (const gsi of CATALOGUE_TABLE.globalSecondaryIndexes) {
    attributes.set(gsi.partitionKey.name, gsi.partitionKey.type);
    attributes.set(gsi.sortKey.name, gsi.sortKey.type);
  }
  const input: CreateTableCommandInput = {
    TableName: tableName,
    BillingMode: CATALOGUE_TABLE.billing,
    AttributeDefinitions: [...attributes].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType: AttributeType as 'S' })),
    KeySchema: [
      { AttributeName: CATALOGUE_TABLE.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: CATALOGUE_TABLE.sortKey.name, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: CATALOGUE_TABLE.globalSecondaryIndexes.map((gsi) => ({
      IndexName: gsi.indexName,
      KeySchema: [
        { AttributeName: gsi.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: gsi.sortKey.name, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: gsi.projection },
    })),
  };
  try {
    await client.send(new CreateTableCommand(input));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw translate(error, 'CreateTable');
  }
  await waitUntilActive(client, tableName, options.timeoutMs ?? 60_000);
}

async function waitUntilActive(client: DynamoDBClient, tableName: string, timeoutMs: number): Promise<void> {
  for (let waited = 0; ; waited += 100) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (waited >= timeoutMs) throw new TransientError(`table ${tableName} not ACTIVE after ${timeoutMs} ms (status ${Table?.TableStatus})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
