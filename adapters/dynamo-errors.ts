import { FerryError, messageOf, TransientError } from '../core/errors.ts';

// DynamoDB SDK errors as Ferry errors, for the small item stores on the catalogue table
// (export status, recall status) and the catalogue store itself: throttling and service trouble are transient, the rest fatal.

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

export function translateDynamoError(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  return classify(error, operation, (error as { name?: string } | undefined)?.name ?? 'Error');
}

/** The catalogue store's translation: as translateDynamoError, naming an error without a name by its `code`. */
export function translateCatalogueError(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string; code?: string } | undefined)?.name ?? (error as { code?: string } | undefined)?.code ?? 'Error';
  return classify(error, operation, name);
}

/** SDK errors become FerryErrors classified by behaviour: retry (TransientError) or give up. */
function classify(error: unknown, operation: string, name: string): FerryError {
  const message = `DynamoDB ${operation} failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

/** Whether a conditional write was refused (its condition did not hold). */
export function conditionFailed(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}
