import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError, NotFoundError } from '../core/errors.ts';
import { erasurePk, erasureToItem, itemToErasure, type ErasureRecord, type ErasureStore } from '../core/erasure-items.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// ErasureStore on the catalogue table (items laid out by core/erasure-items.ts): one partition
// per site (`ERASE#{site}`), one item per call. Query, never Scan.

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

  async getErasure(site: string, rid: string): Promise<ErasureRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: erasurePk(site), sk: rid }, ConsistentRead: true }));
      return out.Item ? itemToErasure(out.Item) : undefined;
    } catch (error) {
      throw translateDynamoError(error, 'GetItem');
    }
  }

  async listErasures(site: string): Promise<ErasureRecord[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      let out;
      try {
        out = await this.doc.send(new QueryCommand({ TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': 'pk' }, ExpressionAttributeValues: { ':pk': erasurePk(site) }, ExclusiveStartKey: start }));
      } catch (error) {
        throw translateDynamoError(error, 'Query');
      }
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.map(itemToErasure);
  }

  private async put(record: ErasureRecord, condition: string, lost: () => Error): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: erasureToItem(record), ConditionExpression: condition }));
    } catch (error) {
      if (conditionFailed(error)) throw lost();
      throw translateDynamoError(error, 'PutItem');
    }
  }
}
