import { conditionFailed, getRecord, translateDynamoError } from './dynamo-errors.ts';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { recallPk, type RecallStatusRecord, type RecallStatusStore } from '../core/recall-status.ts';

// Recall status records on the catalogue table: `pk = RECALL#{site}, sk = {packKey}`, the record's
// fields beside the keys. The recall function writes them (PutItem, conditional for a check);
// the catalogue and console functions read them (GetItem).

export class DynamoRecallStatusStore implements RecallStatusStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async put(record: RecallStatusRecord, options: { ifRequestedAt?: string } = {}): Promise<boolean> {
    const owned = options.ifRequestedAt === undefined ? {} : {
      ConditionExpression: 'attribute_not_exists(pk) OR requestedAt = :requestedAt',
      ExpressionAttributeValues: { ':requestedAt': options.ifRequestedAt },
    };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: recallPk(record.site), sk: record.packKey, type: 'recall', ...record }, ...owned }));
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw translateDynamoError(error, 'PutItem');
    }
  }

  get(site: string, packKey: string): Promise<RecallStatusRecord | undefined> {
    return getRecord<RecallStatusRecord>(this.doc, this.tableName, { pk: recallPk(site), sk: packKey });
  }
}
