import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32 } from 'node:zlib';
import { BatchGetCommand, BatchWriteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { conditionFailed, translateDynamoError } from '../../adapters/dynamo-errors.ts';
import { LeanDynamo } from '../../adapters/dynamo-lean.ts';
import { TransientError } from '../../core/errors.ts';
import { CredentialTable } from '../../local/iam-gateway/credentials.ts';
import { verifySignature } from '../../local/iam-gateway/sigv4.ts';

// The functions' DynamoDB calls as signed requests (adapters/dynamo-lean.ts) against a small
// server answering as DynamoDB does, faults included. Their results against dynalite are the
// catalogue and audit-ledger contracts (test/contract/catalogue.test.ts, test/core/audit-trail.test.ts).

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

interface Seen {
  req: IncomingMessage;
  body: string;
}

async function serve(answer: (res: ServerResponse, n: number, seen: Seen) => void): Promise<{ endpoint: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { req, body: Buffer.concat(chunks).toString('utf8') };
      seen.push(s);
      answer(res, seen.length, s);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, seen };
}

function reply(res: ServerResponse, status: number, body: unknown, crc?: number): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0', 'x-amz-crc32': String(crc ?? crc32(bytes)) }).end(bytes);
}

const error = (type: string, message: string) => ({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message });
const KEY = { accessKeyId: 'AKIAEXAMPLE0000002', secretAccessKey: 'dynamo-secret' };
const noFallback = { send: () => Promise.reject(new Error('the fallback was used')) } as never;
const lean = (endpoint: string, maxAttempts = 3) => new LeanDynamo({ region: 'eu-west-1', endpoint, credentials: KEY, retry: { maxAttempts, backoff: () => 1 } }, noFallback);

describe('LeanDynamo', () => {
  it('sends GetItem as DynamoDB JSON (the key marshalled) and answers the document client shape (the item unmarshalled)', async () => {
    const { endpoint, seen } = await serve((res) => reply(res, 200, { Item: { pk: { S: 'REC#a' }, sk: { S: 'r1' }, length: { N: '512' }, tags: { L: [{ S: 'x' }] } } }));
    const client = lean(endpoint);
    try {
      const out = await client.send(new GetCommand({ TableName: 't', Key: { pk: 'REC#a', sk: 'r1' } }));
      expect(out.Item).toEqual({ pk: 'REC#a', sk: 'r1', length: 512, tags: ['x'] });
      expect(seen[0]!.req.headers['x-amz-target']).toBe('DynamoDB_20120810.GetItem');
      expect(JSON.parse(seen[0]!.body)).toEqual({ TableName: 't', Key: { pk: { S: 'REC#a' }, sk: { S: 'r1' } } });
    } finally {
      client.destroy();
    }
  });

  it('sends BatchGetItem with every key marshalled, and answers the responses and unprocessed keys unmarshalled', async () => {
    const { endpoint, seen } = await serve((res) =>
      reply(res, 200, { Responses: { t: [{ pk: { S: 'REC#a' }, sk: { S: 'r1' }, length: { N: '7' } }] }, UnprocessedKeys: { t: { Keys: [{ pk: { S: 'REC#a' }, sk: { S: 'r2' } }] } } }),
    );
    const client = lean(endpoint);
    try {
      const out = await client.send(new BatchGetCommand({ RequestItems: { t: { Keys: [{ pk: 'REC#a', sk: 'r1' }, { pk: 'REC#a', sk: 'r2' }] } } }));
      expect(out.Responses).toEqual({ t: [{ pk: 'REC#a', sk: 'r1', length: 7 }] });
      expect(out.UnprocessedKeys).toEqual({ t: { Keys: [{ pk: 'REC#a', sk: 'r2' }] } });
      expect(seen[0]!.req.headers['x-amz-target']).toBe('DynamoDB_20120810.BatchGetItem');
      expect(JSON.parse(seen[0]!.body)).toEqual({ RequestItems: { t: { Keys: [{ pk: { S: 'REC#a' }, sk: { S: 'r1' } }, { pk: { S: 'REC#a' }, sk: { S: 'r2' } }] } } });
    } finally {
      client.destroy();
    }
  });

  it('retries a 500 and ProvisionedThroughputExceededException, then answers: three requests', async () => {
    const { endpoint, seen } = await serve((res, n) =>
      n === 1 ? reply(res, 500, error('InternalServerError', 'busy')) : n === 2 ? reply(res, 400, error('ProvisionedThroughputExceededException', 'slow down')) : reply(res, 200, {}),
    );
    const client = lean(endpoint);
    try {
      const out = await client.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }));
      expect(out.Item).toBeUndefined();
      expect(seen).toHaveLength(3);
    } finally {
      client.destroy();
    }
  });

  it('a ValidationException is not retried and reaches the adapter with its name and status, fatal', async () => {
    const { endpoint, seen } = await serve((res) => reply(res, 400, error('ValidationException', 'One or more parameter values were invalid')));
    const client = lean(endpoint);
    try {
      const refused = await client.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } })).catch((e: unknown) => e);
      expect(refused).toMatchObject({ name: 'ValidationException', $metadata: { httpStatusCode: 400 } });
      const translated = translateDynamoError(refused, 'GetItem', 'catalogue');
      expect(translated).not.toBeInstanceOf(TransientError);
      expect(translated.message).toBe('DynamoDB GetItem (catalogue) failed: ValidationException: One or more parameter values were invalid');
      expect(seen).toHaveLength(1);
    } finally {
      client.destroy();
    }
  });

  it('a refused condition is ConditionalCheckFailedException, as conditionFailed reads it', async () => {
    const { endpoint, seen } = await serve((res) => reply(res, 400, error('ConditionalCheckFailedException', 'The conditional request failed')));
    const client = lean(endpoint);
    try {
      const refused = await client.send(new PutCommand({ TableName: 't', Item: { pk: 'a', sk: 'b', gone: undefined }, ConditionExpression: 'attribute_not_exists(pk)' })).catch((e: unknown) => e);
      expect(conditionFailed(refused)).toBe(true);
      expect(JSON.parse(seen[0]!.body)).toEqual({ TableName: 't', Item: { pk: { S: 'a' }, sk: { S: 'b' } }, ConditionExpression: 'attribute_not_exists(pk)' });
    } finally {
      client.destroy();
    }
  });

  it('an answer whose CRC32 does not match is retried, and after the last attempt fails naming the mismatch', async () => {
    const { endpoint, seen } = await serve((res) => reply(res, 200, { Item: { pk: { S: 'a' } } }, 12345));
    const client = lean(endpoint, 2);
    try {
      const torn = await client.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } })).catch((e: unknown) => e);
      expect((torn as Error).message).toMatch(/does not match its CRC32 \(x-amz-crc32 12345\)/);
      expect(seen).toHaveLength(2);
    } finally {
      client.destroy();
    }
  });

  it('signs as DynamoDB checks it (the target and body signed): verifies with its key, not with another secret', async () => {
    const { endpoint, seen } = await serve((res) => reply(res, 200, {}));
    const client = lean(endpoint);
    try {
      await client.send(new GetCommand({ TableName: 't', Key: { pk: 'a', sk: 'b' } }));
      const { req, body } = seen[0]!;
      expect(req.headers.authorization).toMatch(/Credential=AKIAEXAMPLE0000002\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=[^,]*x-amz-target/);
      const incoming = { method: 'POST', path: '/', query: {}, headers: req.headers, body: Buffer.from(body) };
      const entry = { ...KEY, principal: 'catalogue' as never, arn: 'arn:aws:iam::123456789012:role/catalogue' };
      await expect(verifySignature(incoming, new CredentialTable([entry]), new Date())).resolves.toMatchObject({ accessKeyId: KEY.accessKeyId });
      await expect(verifySignature(incoming, new CredentialTable([{ ...entry, secretAccessKey: 'another' }]), new Date())).resolves.toMatchObject({ code: 'SignatureDoesNotMatch' });
      await expect(verifySignature({ ...incoming, body: Buffer.from(body.replace('"t"', '"u"')) }, new CredentialTable([entry]), new Date())).resolves.toMatchObject({ code: 'SignatureDoesNotMatch' });
    } finally {
      client.destroy();
    }
  });

  it('sends every other command to the document client it was given', async () => {
    const sent: unknown[] = [];
    const client = new LeanDynamo({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials: KEY }, { send: (c: unknown) => (sent.push(c), Promise.resolve({ UnprocessedItems: {} })) } as never);
    try {
      const batch = new BatchWriteCommand({ RequestItems: { t: [{ PutRequest: { Item: { pk: 'a', sk: 'b' } } }] } });
      await expect(client.send(batch)).resolves.toEqual({ UnprocessedItems: {} });
      expect(sent).toEqual([batch]);
    } finally {
      client.destroy();
    }
  });
});
