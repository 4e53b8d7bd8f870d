import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ITEM_PREFIXES } from '../core/catalogue-schema.ts';
import { defined } from '../core/defined.ts';
import type { PurgeIntent, PurgeIntentStore } from '../core/purge-intents.ts';
import { translateDynamoError } from './dynamo-errors.ts';

// The purge's open intents on the catalogue table: `pk=PURGEINTENT#{site}, sk={intent id}`, one
// item while an intent is open (written before its `purge-intent` record, noting it pending, and
// after it; deleted once its outcome is recorded). A site has a handful at most: the objects of the batches a purge was deleting
// when it stopped.

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'purge intents');
const pk = (site: string) => `${ITEM_PREFIXES.purgeIntent}${site}`;

export class DynamoPurgeIntentStore implements PurgeIntentStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getIntent(site: string, id: string): Promise<PurgeIntent | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: pk(site), sk: id }, ConsistentRead: true }));
      return out.Item ? intentOf(out.Item) : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async putIntent(intent: PurgeIntent): Promise<void> {
    const item = { pk: pk(intent.site), sk: intent.id, type: 'purgeIntent', ...defined({ ...intent }) };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  async listIntents(site: string): Promise<PurgeIntent[]> {
    const out: PurgeIntent[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const page = await this.doc.send(new QueryCommand({ TableName: this.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk(site) }, ConsistentRead: true, ExclusiveStartKey: startKey }));
        out.push(...(page.Items ?? []).map(intentOf));
        startKey = page.LastEvaluatedKey;
      } while (startKey);
    } catch (error) {
      throw translate(error, 'Query');
    }
    return out;
  }

  async closeIntent(site: string, id: string): Promise<void> {
    try {
      await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { pk: pk(site), sk: id } }));
    } catch (error) {
      throw translate(error, 'DeleteItem');
    }
  }
}

function intentOf(item: Record<string, unknown>): PurgeIntent {
  const recordings = typeof item.recordings === 'number' ? { recordings: item.recordings } : {};
  const manifest = typeof item.manifest === 'string' ? { manifest: item.manifest } : {};
  const p = item.pending as { record?: unknown; from?: unknown } | undefined;
  const pending = (p?.record === 'begun' || p?.record === 'outcome') && typeof p.from === 'number' ? { pending: { record: p.record as 'begun' | 'outcome', from: p.from } } : {};
  return { site: String(item.site), id: String(item.id), key: String(item.key), kind: item.kind as PurgeIntent['kind'], at: String(item.at), ...manifest, ...recordings, ...pending };
}
