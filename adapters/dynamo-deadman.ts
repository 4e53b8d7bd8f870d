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

/** One state item of the switch (`sk` names which): read consistently, its keys and type taken off. */
async function getState<T>(doc: DynamoDBDocumentClient, tableName: string, site: string, sk: string): Promise<T | undefined> {
  try {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: key(site, sk), ConsistentRead: true }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, type: _type, ...state } = out.Item;
    return state as T;
  } catch (error) {
    throw translate(error, 'GetItem');
  }
}

async function putState(doc: DynamoDBDocumentClient, tableName: string, state: { site: string }, sk: string, type: string): Promise<void> {
  try {
    await doc.send(new PutCommand({ TableName: tableName, Item: { ...key(state.site, sk), type, ...state } }));
  } catch (error) {
    throw translate(error, 'PutItem');
  }
}

export class DynamoDeadmanStore implements DeadmanStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  get(site: string): Promise<DeadmanState | undefined> {
    return getState<DeadmanState>(this.doc, this.tableName, site, 'state');
  }

  put(state: DeadmanState): Promise<void> {
    return putState(this.doc, this.tableName, state, 'state', 'deadman');
  }
}

export class DynamoPurgeWatchStore implements PurgeWatchStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  getPurgeWatch(site: string): Promise<PurgeWatchState | undefined> {
    return getState<PurgeWatchState>(this.doc, this.tableName, site, 'purge');
  }

  putPurgeWatch(state: PurgeWatchState): Promise<void> {
    return putState(this.doc, this.tableName, state, 'purge', 'deadman-purge');
  }
}
