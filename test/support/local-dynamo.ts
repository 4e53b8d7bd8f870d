import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// One dynalite for a test file: started before its tests, stopped after; clients read once it runs.

export interface SuiteDynamo {
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  endpoint: string;
}

export function localDynamoForSuite(): SuiteDynamo {
  const suite = {} as SuiteDynamo;
  let dynamo: LocalDynamo | undefined;
  beforeAll(async () => {
    dynamo = await startLocalDynamo({});
    suite.endpoint = dynamo.endpoint;
    suite.client = new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    suite.doc = DynamoDBDocumentClient.from(suite.client);
  });
  afterAll(async () => {
    suite.client?.destroy();
    await dynamo?.stop();
  });
  return suite;
}
