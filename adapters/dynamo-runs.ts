import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { runItemKey, type RunRecord, type RunStore } from '../core/window.ts';
import { translateDynamoError } from './dynamo-errors.ts';

// Backup window run records on the catalogue table: `pk=RUN#{site}, sk={startedAt}`, so a
// site's runs are one Query, newest first, and "did last night's window happen" is one call.

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'runs');

export class DynamoRunStore implements RunStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putRun(record: RunRecord): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...runItemKey(record.site, record.startedAt), type: 'run', ...record } }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  async recentRuns(site: string, limit: number): Promise<RunRecord[]> {
    try {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': runItemKey(site, '').pk },
          ScanIndexForward: false,
          Limit: limit,
        }),
      );
      return (out.Items ?? []).map(({ pk: _pk, sk: _sk, type: _type, ...record }) => record as RunRecord);
    } catch (error) {
      throw translate(error, 'Query');
    }
  }
}
