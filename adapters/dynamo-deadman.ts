import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FerryError, TransientError, messageOf } from '../core/errors.ts';
import type { DeadmanState, DeadmanStore } from '../core/fleet-read.ts';
import type { PurgeWatchState, PurgeWatchStore } from '../core/purge-watch.ts';
import { ITEM_PREFIXES } from '../core/catalogue-table.ts';

// The dead-man's switch's memory on the catalogue table: `pk=DEADMAN#{site}, sk=state`, one
// item per site, so a raised alert is remembered across invocations (and cold starts); and its
// watch of the site's scheduled purge beside it, `pk=DEADMAN#{site}, sk=purge` (core/purge-watch.ts).

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

function translate(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `DynamoDB ${operation} (dead-man state) failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

const key = (site: string, sk = 'state') => ({ pk: `${ITEM_PREFIXES.deadman}${site}`, sk });

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

export class DynamoPurgeWatchStore implements PurgeWatchStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getPurgeWatch(site: string): Promise<PurgeWatchState | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key(site, 'purge'), ConsistentRead: true }));
      if (!out.Item) return undefined;
      const { pk: _pk, sk: _sk, type: _type, ...state } = out.Item;
      return state as PurgeWatchState;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async putPurgeWatch(state: PurgeWatchState): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...key(state.site, 'purge'), type: 'deadman-purge', ...state } }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }
}
