// The DynamoDB calls of the functions' hot paths as signed JSON requests (signed-http.ts)
// instead of SDK calls: a replay's catalogue lookups (GetItem, BatchGetItem), a search page's
// Query and the audit record's conditional PutItem. It takes the document client's own
// commands (GetCommand, BatchGetCommand, QueryCommand, PutCommand from lib-dynamodb), marshals
// them as the document client does (util-dynamodb, undefined values removed) and answers with
// the same output shape, so the adapters (dynamo-catalogue.ts, dynamo-audit-ledger.ts) are
// unchanged; every other command goes to the document client given. Errors carry DynamoDB's own
// name (`ConditionalCheckFailedException`, `ProvisionedThroughputExceededException`, …) and
// status, as the SDK's do, so translateDynamoError and conditionFailed read them the same.
// Throttling, 5xx and network errors are retried (the SDK's standard backoff); the answer's
// CRC32 (x-amz-crc32) is checked, as the SDK's DynamoDB client checks it, and a mismatch is retried.
import { crc32 } from 'node:zlib';
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { TransientError } from '../core/errors.ts';
import { translateDynamoError } from './dynamo-errors.ts';
import { awsDomain, readAll, retrying, signedHttpFor, targetOf, type RetryOptions, type SignedClientOptions, type SignedHttp } from './signed-http.ts';

/** An absent endpoint is `https://dynamodb.{region}.amazonaws.com` (`.com.cn` in China). */
export type LeanDynamoOptions = SignedClientOptions;

/** What the adapters need of a document client. */
export type DocumentSender = Pick<DynamoDBDocumentClient, 'send'>;

type Item = Record<string, unknown>;
type Wire = Record<string, AttributeValue>;

/** As the functions' document client marshals (aws-clients.ts). */
const MARSHALL = { removeUndefinedValues: true } as const;
const wire = (item: Item) => marshall(item, MARSHALL) as Wire;
const plain = (item: Wire | undefined) => (item === undefined ? undefined : (unmarshall(item) as Item));
const values = (v: Item | undefined) => (v === undefined ? {} : { ExpressionAttributeValues: wire(v) });

/** Status, name and message of a DynamoDB error answer, shaped as the SDK's errors are. */
function dynamoError(status: number, body: string): Error {
  let parsed: { __type?: string; message?: string; Message?: string } = {};
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    // Not JSON (a proxy's page): the status says it.
  }
  const name = parsed.__type?.split('#').pop() || (status >= 500 ? 'InternalServerError' : `HTTP${status}`);
  const error = new Error(parsed.message ?? parsed.Message ?? (body.slice(0, 200) || `status ${status}`)) as Error & { $metadata: { httpStatusCode: number } };
  error.name = name;
  error.$metadata = { httpStatusCode: status };
  return error;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/** What the SDK retries: throttling and service trouble (as translateDynamoError classifies them), any 5xx, the network. */
function retryable(error: unknown): boolean {
  const e = error as { code?: string; $metadata?: { httpStatusCode?: number } };
  return translateDynamoError(error, '') instanceof TransientError || NETWORK_CODES.has(e.code ?? '') || (e.$metadata?.httpStatusCode ?? 0) >= 500;
}

export class LeanDynamo implements DocumentSender {
  private readonly http: SignedHttp;
  private readonly retry: RetryOptions | undefined;

  constructor(
    o: LeanDynamoOptions,
    /** Where every command but Get, BatchGet, Query and Put goes. */
    private readonly fallback: DocumentSender,
  ) {
    const { pathname: _path, ...target } = targetOf(o.endpoint ?? `https://dynamodb.${o.region}.${awsDomain(o.region)}`);
    this.http = signedHttpFor('dynamodb', o, target);
    this.retry = o.retry;
  }

  readonly send = ((command: unknown, ...rest: unknown[]) => {
    if (command instanceof GetCommand) return this.get(command.input);
    if (command instanceof QueryCommand) return this.query(command.input);
    if (command instanceof PutCommand) return this.put(command.input);
    if (command instanceof BatchGetCommand) return this.batchGet(command.input);
    return (this.fallback.send as (c: unknown, ...r: unknown[]) => unknown)(command, ...rest);
  }) as DynamoDBDocumentClient['send'];

  /** Closes the kept-alive sockets. */
  destroy(): void {
    this.http.destroy();
  }

  private async get(input: GetCommand['input']) {
    const { Key, ...rest } = input;
    const out = await this.call<{ Item?: Wire }>('GetItem', { ...rest, Key: wire(Key!) });
    return { $metadata: {}, Item: plain(out.Item) };
  }

  private async query(input: QueryCommand['input']) {
    const { ExpressionAttributeValues, ExclusiveStartKey, ...rest } = input;
    const out = await this.call<{ Items?: Wire[]; LastEvaluatedKey?: Wire; Count?: number; ScannedCount?: number }>('Query', {
      ...rest,
      ...values(ExpressionAttributeValues),
      ...(ExclusiveStartKey === undefined ? {} : { ExclusiveStartKey: wire(ExclusiveStartKey) }),
    });
    return { $metadata: {}, Items: out.Items?.map((item) => plain(item)!), LastEvaluatedKey: plain(out.LastEvaluatedKey), Count: out.Count, ScannedCount: out.ScannedCount };
  }

  private async batchGet(input: BatchGetCommand['input']) {
    const { RequestItems, ...rest } = input;
    const requests = Object.fromEntries(Object.entries(RequestItems ?? {}).map(([table, r]) => [table, { ...r, Keys: r.Keys?.map((key) => wire(key)) }]));
    const out = await this.call<{ Responses?: Record<string, Wire[]>; UnprocessedKeys?: Record<string, { Keys?: Wire[] }> }>('BatchGetItem', { ...rest, RequestItems: requests });
    const byTable = <T>(m: Record<string, T> | undefined, f: (v: T) => unknown) => (m === undefined ? undefined : Object.fromEntries(Object.entries(m).map(([table, v]) => [table, f(v)])));
    return {
      $metadata: {},
      Responses: byTable(out.Responses, (items) => items.map((item) => plain(item)!)),
      UnprocessedKeys: byTable(out.UnprocessedKeys, (r) => ({ ...r, Keys: r.Keys?.map((key) => plain(key)!) })),
    };
  }

  private async put(input: PutCommand['input']) {
    const { Item, ExpressionAttributeValues, ...rest } = input;
    const out = await this.call<{ Attributes?: Wire }>('PutItem', { ...rest, Item: wire(Item!), ...values(ExpressionAttributeValues) });
    return { $metadata: {}, Attributes: plain(out.Attributes) };
  }

  /** One DynamoDB operation, retried as the SDK retries it; errors as the SDK's (name, status). */
  private call<T>(operation: string, input: Item): Promise<T> {
    const body = JSON.stringify(input);
    return retrying(
      () => this.attempt<T>(operation, body),
      (error) => (retryable(error) ? new TransientError(String(error), { cause: error }) : (error as Error)),
      this.retry,
    ).catch((error: unknown) => {
      // The adapter sees the last attempt's own error, as after the SDK's retries.
      throw error instanceof TransientError && error.cause instanceof Error ? error.cause : error;
    });
  }

  private async attempt<T>(operation: string, body: string): Promise<T> {
    const response = await this.http.send({
      method: 'POST',
      path: '/',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': `DynamoDB_20120810.${operation}` },
      body,
      what: `DynamoDB ${operation}`,
    });
    const bytes = await readAll(response);
    const status = response.statusCode ?? 0;
    const expected = response.headers['x-amz-crc32'];
    if (typeof expected === 'string' && Number(expected) !== crc32(bytes)) {
      throw Object.assign(new Error(`the answer to ${operation} does not match its CRC32 (x-amz-crc32 ${expected}): torn on the way`), { code: 'ECONNRESET' });
    }
    if (status !== 200) throw dynamoError(status, bytes.toString('utf8'));
    return JSON.parse(bytes.toString('utf8')) as T;
  }
}
