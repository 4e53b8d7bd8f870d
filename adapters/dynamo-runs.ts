import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FerryError, TransientError, messageOf } from '../core/errors.ts';
import { runItemKey, type RunRecord, type RunStore } from '../core/window.ts';

// Backup window run records on the catalogue table: `pk=RUN#{site}, sk={startedAt}`, so a
// site's runs are one Query, newest first, and "did last night's window happen" is one call.

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

function translate(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `DynamoDB ${operation} (runs) failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

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
