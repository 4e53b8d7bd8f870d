import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../core/clock.ts';
import { SiteLocks, lockItemKey, type LockOperation, type LockState, type LockStore, type LockTable } from '../core/lock.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// The site lock on the catalogue table (item `pk=LOCK#{site}, sk=LOCK`). Reads are strongly
// consistent GetItems; every change is one PutItem conditioned on the revision read (or on
// the item's absence), so no transaction is needed and dynalite behaves as DynamoDB does.
// The rules themselves are core/lock.ts (SiteLocks); this file only stores the state.

type Item = Record<string, unknown>;

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation, 'lock');

function toItem(state: LockState, revision: number): Item {
  return {
    ...lockItemKey(state.site),
    type: 'lock',
    site: state.site,
    token: state.token,
    revision,
    ...(state.held ?? {}),
    ...(state.lastCleared ? { lastCleared: state.lastCleared } : {}),
  };
}

function fromItem(item: Item): { state: LockState; revision: number } {
  const state: LockState = { site: item.site as string, token: Number(item.token) };
  if (typeof item.holder === 'string') {
    state.held = {
      holder: item.holder,
      operation: item.operation as LockOperation,
      acquiredAt: item.acquiredAt as string,
      heartbeatAt: item.heartbeatAt as string,
    };
  }
  if (item.lastCleared) state.lastCleared = item.lastCleared as LockState['lastCleared'];
  return { state, revision: Number(item.revision) };
}

export class DynamoLockTable implements LockTable {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async read(site: string): Promise<{ state: LockState; revision: number } | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: lockItemKey(site), ConsistentRead: true }));
      return out.Item ? fromItem(out.Item) : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async write(state: LockState, expected: number | undefined): Promise<boolean> {
    const condition =
      expected === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: '#revision = :expected', ExpressionAttributeNames: { '#revision': 'revision' }, ExpressionAttributeValues: { ':expected': expected } };
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: toItem(state, (expected ?? 0) + 1), ...condition }));
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw translate(error, 'PutItem');
    }
  }
}

/** The LockStore the workflows use, on DynamoDB. */
export function dynamoLockStore(doc: DynamoDBDocumentClient, tableName: string, clock: Clock): LockStore {
  return new SiteLocks(new DynamoLockTable(doc, tableName), clock);
}
