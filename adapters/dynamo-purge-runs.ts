import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PURGE_RUN_KEEP_DAYS, purgeRunItemKey, type PurgeOutcome, type PurgeRunRecord, type PurgeRunStore } from '../core/purge-watch.ts';
import { defined } from '../core/defined.ts';
import { translateDynamoError } from './dynamo-errors.ts';

// A purge's record of each run on the catalogue table: `pk=PURGERUN#{site}, sk={startedAt}`, so
// the site's newest run is one Query (newest first, Limit 1). Each item carries `ttl`: DynamoDB
// drops it PURGE_RUN_KEEP_DAYS after the run (the dead-man's switch reads only the newest).

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'purge runs');

export class DynamoPurgeRunStore implements PurgeRunStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putPurgeRun(record: PurgeRunRecord): Promise<void> {
    const ttl = Math.floor(Date.parse(record.startedAt) / 1000) + PURGE_RUN_KEEP_DAYS * 86_400;
    const ended = record.outcome ? { outcome: record.outcome, reportedAt: record.reportedAt, deleted: record.deleted, round: record.round } : {};
    const item = { ...purgeRunItemKey(record.site, record.startedAt), type: 'purgeRun', site: record.site, startedAt: record.startedAt, execution: record.execution, ...defined(ended), ttl };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  async lastPurgeRun(site: string): Promise<PurgeRunRecord | undefined> {
    try {
      const out = await this.doc.send(
        new QueryCommand({ TableName: this.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': purgeRunItemKey(site, '').pk }, ScanIndexForward: false, Limit: 1 }),
      );
      const item = out.Items?.[0];
      if (!item) return undefined;
      const ended = item.outcome ? { outcome: item.outcome as PurgeOutcome, reportedAt: item.reportedAt as string | undefined, deleted: item.deleted as number | undefined, round: item.round as number | undefined } : {};
      return { site: String(item.site), startedAt: String(item.startedAt), execution: String(item.execution), ...defined(ended) };
    } catch (error) {
      throw translate(error, 'Query');
    }
  }
}
