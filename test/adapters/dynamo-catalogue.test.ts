import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { entryToItem, recordingKey } from '../../core/catalogue-items.ts';
import { ManualClock } from '../../core/clock.ts';
import { TransientError } from '../../core/errors.ts';
import { createCase } from '../../core/holds.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
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

describe('a case created over DynamoDB', () => {
  it('checks its calls with BatchGetItems of at most 100 keys, retrying only the unprocessed ones, never a GetItem each; an unknown call is named as before', async () => {
    const entries = Array.from({ length: 250 }, (_, i) => makeEntry('site-a', i));
    const items = new Map(entries.map((e) => [`${recordingKey(e.site, e.rid).pk}|${recordingKey(e.site, e.rid).sk}`, entryToItem(e)]));
    let throttled = false;
    mock.on(BatchGetCommand).callsFake((input: { RequestItems: Record<string, { Keys: { pk: string; sk: string }[] }> }) => {
      const keys = input.RequestItems.catalogue!.Keys;
      // The first request gets one round of throttling on its last 10 keys.
      const unprocessed = throttled ? [] : keys.slice(-10);
      throttled = true;
      const served = keys.slice(0, keys.length - unprocessed.length).map((k) => items.get(`${k.pk}|${k.sk}`)).filter((i) => i !== undefined);
      return { Responses: { catalogue: served }, UnprocessedKeys: unprocessed.length ? { catalogue: { Keys: unprocessed } } : {} };
    });
    const deps = { holds: new MemoryHoldStore(), catalogue: new DynamoCatalogue(doc, 'catalogue', { sleep }), blobs: new MemoryBlobStore(), holder: new MemoryObjectHolder(), clock: new ManualClock(new Date('2026-06-01T00:00:00Z')) };
    const made = await createCase(deps, { site: 'site-a', caseId: 'C-1', name: 'x', reason: 'r', principal: 'alice', rids: entries.map((e) => e.rid) });
    expect(made.members).toHaveLength(250);
    expect(mock.commandCalls(BatchGetCommand).map((c) => c.args[0].input.RequestItems!.catalogue!.Keys!.length)).toEqual([100, 10, 100, 50]);
    expect(mock.commandCalls(GetCommand)).toHaveLength(0);
    const unknown = `r${'0'.repeat(23)}`;
    await expect(createCase(deps, { site: 'site-a', caseId: 'C-2', name: 'x', reason: 'r', principal: 'alice', rids: [entries[0]!.rid, unknown] })).rejects.toMatchObject({ name: 'NotFoundError', message: `no recording ${unknown} in site site-a` });
  });
});
