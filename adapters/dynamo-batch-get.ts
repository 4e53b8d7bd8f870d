import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../core/errors.ts';
import type { DocumentSender } from './dynamo-lean.ts';

type Item = Record<string, unknown>;

/** Keys a BatchGetItem request may carry. */
export const BATCH_GET_SIZE = 100;

export interface BatchGetOptions {
  /** Only these attributes of each item; absent: all. */
  attributes?: readonly string[];
  /** Requests for one hundred keys before the keys still unprocessed are a TransientError. */
  maxAttempts: number;
  /** The first backoff before unprocessed keys are asked again (doubled each time, at most 2 s, jittered). */
  baseDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
  /** The store's translation of a DynamoDB error (its name in the message). */
  translate: (error: unknown, operation: string) => Error;
}

/** BatchGetItem of `keys` on one table, a hundred keys a request, unprocessed keys asked again; each item found handed to `each`. */
export async function batchGetItems(doc: DocumentSender, table: string, keys: readonly Item[], options: BatchGetOptions, each: (item: Item) => void): Promise<void> {
  const { attributes } = options;
  const projection = attributes ? { ProjectionExpression: attributes.map((_, i) => `#a${i}`).join(', '), ExpressionAttributeNames: Object.fromEntries(attributes.map((a, i) => [`#a${i}`, a])) } : {};
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let i = 0; i < keys.length; i += BATCH_GET_SIZE) {
    let pending: Item[] = keys.slice(i, i + BATCH_GET_SIZE);
    for (let attempt = 1; pending.length > 0; attempt++) {
      let out;
      try {
        out = await doc.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: pending, ...projection } } }));
      } catch (error) {
        throw options.translate(error, 'BatchGetItem');
      }
      for (const item of out.Responses?.[table] ?? []) each(item);
      pending = (out.UnprocessedKeys?.[table]?.Keys as Item[] | undefined) ?? [];
      if (pending.length === 0) break;
      if (attempt >= options.maxAttempts) throw new TransientError(`DynamoDB BatchGetItem left ${pending.length} keys unprocessed after ${attempt} attempts`);
      const delay = Math.min(2000, options.baseDelayMs * 2 ** (attempt - 1));
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}
