import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AuditHeadStore, ChainHead } from '../core/audit-trail.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// Each site's audit chain head on the catalogue table (item `pk=AUDIT#{site}, sk=HEAD`):
// a strongly consistent GetItem, and one PutItem conditioned on the seq read (or on the
// item's absence), so of two writers taking the same seq exactly one wins.

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'audit head');

export function auditHeadKey(site: string): { pk: string; sk: string } {
  return { pk: `AUDIT#${site}`, sk: 'HEAD' };
}

export class DynamoAuditHeads implements AuditHeadStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  async get(site: string): Promise<ChainHead | undefined> {
    try {
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.table, Key: auditHeadKey(site), ConsistentRead: true }));
      return Item ? { seq: Number(Item.seq), hash: String(Item.hash) } : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async advance(site: string, from: ChainHead | undefined, to: ChainHead): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...auditHeadKey(site), type: 'audit-head', site, seq: to.seq, hash: to.hash },
          ...(from
            ? { ConditionExpression: '#seq = :from', ExpressionAttributeNames: { '#seq': 'seq' }, ExpressionAttributeValues: { ':from': from.seq } }
            : { ConditionExpression: 'attribute_not_exists(pk)' }),
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw translate(error, 'PutItem');
    }
  }
}
