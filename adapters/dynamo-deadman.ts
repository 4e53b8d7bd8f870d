import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FerryError, TransientError, messageOf } from '../core/errors.ts';
import type { DeadmanState, DeadmanStore } from '../core/fleet-read.ts';
import { ITEM_PREFIXES } from '../core/catalogue-table.ts';

// The dead-man's switch's memory on the catalogue table: `pk=DEADMAN#{site}, sk=state`, one
// item per site, so a raised alert is remembered across invocations (and cold starts).

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

function translate(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `DynamoDB ${operation} (dead-man state) failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

const key = (site: string) => ({ pk: `${ITEM_PREFIXES.deadman}${site}`, sk: 'state' });

export class DynamoDeadmanStore implements DeadmanStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async get(site: string): Promise<DeadmanState | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key(site), ConsistentRead: true }));
      if (!out.Item) return undefined;
      const { pk: _pk, sk: _sk, type: _type, ...state } = out.Item;
      return state as DeadmanState;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async put(state: DeadmanState): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...key(state.site), type: 'deadman', ...state } }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }
}
