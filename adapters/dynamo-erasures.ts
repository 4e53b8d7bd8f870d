import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError, NotFoundError } from '../core/errors.ts';
import { erasurePk, erasureToItem, itemToErasure, type ErasureRecord, type ErasureStore } from '../core/erasure-items.ts';
import { inPageOrder, pageOfKeys, type ErasureKey, type ErasurePage, type ErasurePageOptions } from '../core/erasure-pages.ts';
import { batchGetItems } from './dynamo-batch-get.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// ErasureStore on the catalogue table (items laid out by core/erasure-items.ts): one partition
// per site (`ERASE#{site}`), one item per call. Query, never Scan. A page of the list reads the
// partition's keys only (rid, requestedAt, status) and the page's records by BatchGetItem
// (core/erasure-pages.ts says why: no key orders requests by time).

export class DynamoErasureStore implements ErasureStore {
  constructor(
    private readonly doc: Pick<DynamoDBDocumentClient, 'send'>,
    private readonly tableName: string,
  ) {}

  async createErasure(record: ErasureRecord): Promise<void> {
    await this.put(record, 'attribute_not_exists(pk)', () => new AlreadyExistsError(`recording ${record.rid} of site ${record.site} has an erasure request already`));
  }

  async markDone(record: ErasureRecord): Promise<void> {
    await this.put(record, 'attribute_exists(pk)', () => new NotFoundError(`no erasure request for recording ${record.rid} in site ${record.site}`));
  }

  async noteWaiting(record: ErasureRecord): Promise<void> {
    // Never over a done request: the purge that noted the wait may run beside the one that finished it.
    await this.put({ ...record, status: 'pending' }, 'attribute_exists(pk) AND #status = :pending', () => new NotFoundError(`no pending erasure request for recording ${record.rid} in site ${record.site}`), { names: { '#status': 'status' }, values: { ':pending': 'pending' } });
  }

  async getErasure(site: string, rid: string): Promise<ErasureRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: erasurePk(site), sk: rid }, ConsistentRead: true }));
      return out.Item ? itemToErasure(out.Item) : undefined;
    } catch (error) {
      throw translateDynamoError(error, 'GetItem');
    }
  }

  async listErasures(site: string): Promise<ErasureRecord[]> {
    return (await this.queryAll(site)).map(itemToErasure);
  }

  async erasurePage(site: string, options: ErasurePageOptions): Promise<ErasurePage> {
    const keys = (await this.queryAll(site, ['sk', 'requestedAt', 'status'])).map((i): ErasureKey => ({ rid: String(i.sk), requestedAt: String(i.requestedAt), status: i.status === 'done' ? 'done' : 'pending' }));
    const { rids, after } = pageOfKeys(keys, options);
    const records: ErasureRecord[] = [];
    await batchGetItems(this.doc, this.tableName, rids.map((rid) => ({ pk: erasurePk(site), sk: rid })), { maxAttempts: 5, baseDelayMs: 50, translate: translateDynamoError }, (item) => records.push(itemToErasure(item)));
    return { items: inPageOrder(rids, records), ...(after !== undefined ? { after } : {}) };
  }

  /** Every item of the site's partition, page after page; only `attributes` of each when given. */
  private async queryAll(site: string, attributes?: readonly string[]): Promise<Record<string, unknown>[]> {
    const names = Object.fromEntries([['#pk', 'pk'], ...(attributes ?? []).map((a, i) => [`#a${i}`, a])]);
    const projection = attributes ? { ProjectionExpression: attributes.map((_, i) => `#a${i}`).join(', ') } : {};
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      let out;
      try {
        out = await this.doc.send(new QueryCommand({ TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: names, ExpressionAttributeValues: { ':pk': erasurePk(site) }, ...projection, ExclusiveStartKey: start }));
      } catch (error) {
        throw translateDynamoError(error, 'Query');
      }
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async firstErasedRids(site: string, limit: number): Promise<{ rids: string[]; more: boolean }> {
    let out;
    try {
      out = await this.doc.send(
        new QueryCommand({ TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' }, ExpressionAttributeValues: { ':pk': erasurePk(site) }, ProjectionExpression: '#sk', Limit: limit }),
      );
    } catch (error) {
      throw translateDynamoError(error, 'Query');
    }
    // DynamoDB gives a LastEvaluatedKey whenever the Limit was reached: more, or exactly `limit`.
    return { rids: (out.Items ?? []).map((i) => String(i.sk)), more: out.LastEvaluatedKey !== undefined };
  }

  async erasedAmong(site: string, rids: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const keys = [...new Set(rids)].map((rid) => ({ pk: erasurePk(site), sk: rid }));
    await batchGetItems(this.doc, this.tableName, keys, { attributes: ['sk'], maxAttempts: 5, baseDelayMs: 50, translate: translateDynamoError }, (item) => found.add(String(item.sk)));
    return found;
  }

  private async put(record: ErasureRecord, condition: string, lost: () => Error, expression?: { names: Record<string, string>; values: Record<string, unknown> }): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: erasureToItem(record), ConditionExpression: condition, ...(expression ? { ExpressionAttributeNames: expression.names, ExpressionAttributeValues: expression.values } : {}) }));
    } catch (error) {
      if (conditionFailed(error)) throw lost();
      throw translateDynamoError(error, 'PutItem');
    }
  }
}
