import { GetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { FerryError, messageOf, TransientError } from '../core/errors.ts';

// DynamoDB SDK errors as Ferry errors, for every store on the catalogue table (the catalogue,
// holds, locks, runs, audit heads, export and recall status): throttling and service trouble
// are transient, the rest fatal. And the status stores' read of one record.

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

/**
 * The SDK error as a FerryError classified by behaviour: retry (TransientError) or give up.
 * `what` names the store in the message ("DynamoDB PutItem (lock) failed: …"); an error without
 * a name is named by its `code`.
 */
export function translateDynamoError(error: unknown, operation: string, what?: string): FerryError {
  if (error instanceof FerryError) return error;
  const e = error as { name?: string; code?: string } | undefined;
  const name = e?.name ?? e?.code ?? 'Error';
  const message = `DynamoDB ${operation}${what ? ` (${what})` : ''} failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

/** Whether DynamoDB refused the request to these credentials (IAM: AccessDeniedException), the translated error's cause or the SDK's own. */
export function deniedByDynamo(error: unknown): boolean {
  const e = error instanceof FerryError ? error.cause : error;
  return (e as { name?: string } | undefined)?.name === 'AccessDeniedException';
}

/** Whether a conditional write was refused (its condition did not hold). */
export function conditionFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/**
 * The record stored at `key` (a GetItem), without the item's keys and `type` tag; undefined when
 * there is none. For the status stores that keep a record's fields beside its keys.
 */
export async function getRecord<T>(doc: DynamoDBDocumentClient, tableName: string, key: { pk: string; sk: string }): Promise<T | undefined> {
  try {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: key }));
    if (!out.Item) return undefined;
    const { pk: _pk, sk: _sk, type: _type, ...record } = out.Item;
    return record as T;
  } catch (error) {
    throw translateDynamoError(error, 'GetItem');
  }
}
