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
    await new DynamoCatalogue(doc, 'catalogue', { sleep, writeConcurrency: 1 }).putRecordings([...entries, entries[0]!]);
    const sizes = mock.commandCalls(BatchWriteCommand).map((c) => c.args[0].input.RequestItems!.catalogue!.length);
    expect(sizes).toEqual([25, 3, 3, 25, 10]);
    expect(delays).toHaveLength(2);
    expect(delays[1]!).toBeGreaterThanOrEqual(delays[0]! / 2);
  });

  it('keeps up to writeConcurrency BatchWriteItem requests in flight and writes every entry exactly once', async () => {
    const entries = Array.from({ length: 230 }, (_, i) => makeEntry('site-a', i));
    let inFlight = 0;
    let peak = 0;
    const written: string[] = [];
    mock.on(BatchWriteCommand).callsFake(async (input: { RequestItems: Record<string, { PutRequest: { Item: { rid: string } } }[]> }) => {
      peak = Math.max(peak, ++inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      written.push(...input.RequestItems.catalogue!.map((r) => r.PutRequest.Item.rid));
      return { UnprocessedItems: {} };
    });
    await new DynamoCatalogue(doc, 'catalogue', { sleep, writeConcurrency: 4 }).putRecordings(entries);
    expect(peak).toBe(4);
    expect(mock.commandCalls(BatchWriteCommand)).toHaveLength(10);
    expect(written.sort()).toEqual(entries.map((e) => e.rid).sort());
  });

  it('on a failed chunk, lets the chunks in flight finish, starts no more, and rejects with that failure', async () => {
    const entries = Array.from({ length: 200 }, (_, i) => makeEntry('site-a', i));
    let calls = 0;
    let settled = 0;
    mock.on(BatchWriteCommand).callsFake(async () => {
      const n = ++calls;
      await new Promise((resolve) => setTimeout(resolve, n === 1 ? 1 : 20));
      settled++;
      if (n === 1) throw Object.assign(new Error('no table'), { name: 'ResourceNotFoundException' });
      return { UnprocessedItems: {} };
    });
    const store = new DynamoCatalogue(doc, 'catalogue', { sleep, writeConcurrency: 2 });
    await expect(store.putRecordings(entries)).rejects.toMatchObject({ kind: 'fatal', message: /ResourceNotFoundException/ });
    // Chunk 1 failed while chunk 2 was in flight: chunk 2 finished, chunks 3-8 never started.
    expect(calls).toBe(2);
    expect(settled).toBe(2);
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
