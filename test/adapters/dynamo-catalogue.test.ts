import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { TransientError } from '../../core/errors.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// SDK-level behaviour only (chunking, UnprocessedItems retry, error translation); the
// search semantics are covered by the contract suite against dynalite.

const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'eu-west-1' }));
const mock = mockClient(doc);
const delays: number[] = [];
const sleep = async (ms: number) => {
  delays.push(ms);
};

beforeEach(() => {
  mock.reset();
  delays.length = 0;
});

describe('DynamoCatalogue writes', () => {
  it('writes in chunks of at most 25 and retries only the unprocessed items, with growing backoff', async () => {
    const entries = Array.from({ length: 60 }, (_, i) => makeEntry('site-a', i));
    let calls = 0;
    mock.on(BatchWriteCommand).callsFake((input: { RequestItems: Record<string, unknown[]> }) => {
      calls++;
      const requests = input.RequestItems.catalogue!;
      // The first chunk gets two rounds of throttling.
      if (calls <= 2) return { UnprocessedItems: { catalogue: requests.slice(0, 3) } };
      return { UnprocessedItems: {} };
    });
    await new DynamoCatalogue(doc, 'catalogue', { sleep }).putRecordings([...entries, entries[0]!]);
    const sizes = mock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!.catalogue!.length);
    expect(sizes).toEqual([25, 3, 3, 25, 10]);
    expect(delays).toHaveLength(2);
    expect(delays[1]!).toBeGreaterThanOrEqual(delays[0]! / 2);
  });

  it('gives up with a TransientError after the bounded number of attempts', async () => {
    mock.on(BatchWriteCommand).callsFake((input: { RequestItems: Record<string, unknown[]> }) => ({ UnprocessedItems: input.RequestItems }));
    const store = new DynamoCatalogue(doc, 'catalogue', { sleep, maxAttempts: 4 });
    await expect(store.putRecordings([makeEntry('site-a', 1)])).rejects.toThrow(TransientError);
    expect(mock.commandCalls(BatchWriteCommand)).toHaveLength(4);
    expect(delays).toHaveLength(3);
  });

  it('translates throttling into a retryable TransientError and anything else into a fatal error', async () => {
    mock.on(QueryCommand).rejects(Object.assign(new Error('slow down'), { name: 'ProvisionedThroughputExceededException' }));
    const store = new DynamoCatalogue(doc, 'catalogue', { sleep });
    const error = await store.searchRecordings({ site: 'site-a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryable).toBe(true);
    mock.on(QueryCommand).rejects(Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' }));
    await expect(store.searchRecordings({ site: 'site-a' })).rejects.toMatchObject({ kind: 'fatal', retryable: false, message: /ResourceNotFoundException/ });
  });
});
