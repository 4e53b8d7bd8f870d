import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { startLocalDynamo, type LocalDynamo } from '../../local/dynalite-process.ts';

// DynamoDB's 400 KB item limit as AWS counts it: UTF-8 bytes of attribute names and string values.
// dynalite alone counts UTF-16 code units, which lets through an item of non-Latin text that AWS refuses.

let dynamo: LocalDynamo;
let doc: DynamoDBDocumentClient;
const TABLE = 'sizes';
const LIMIT = 400 * 1024;

beforeAll(async () => {
  dynamo = await startLocalDynamo();
  doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'local', credentials: { accessKeyId: 'x', secretAccessKey: 'x' }, maxAttempts: 1 }));
  await createCatalogueTable(doc, TABLE);
});
afterAll(async () => {
  doc?.destroy();
  await dynamo?.stop();
});

/** An item of exactly `bytes` bytes as DynamoDB counts them, its text `char` repeated (1, 2 or 3 bytes each). */
function itemOf(sk: string, bytes: number, char: string): Record<string, string> {
  const fixed = Buffer.byteLength(`pk${'P'}sk${sk}text`);
  const width = Buffer.byteLength(char);
  const n = Math.floor((bytes - fixed) / width);
  const pad = bytes - fixed - n * width;
  return { pk: 'P', sk, text: char.repeat(n) + 'a'.repeat(pad) };
}

describe('the local DynamoDB item size limit', () => {
  it('takes an item of exactly 400 KB of UTF-8 and refuses one byte more, for two-byte text as for ASCII', async () => {
    for (const char of ['a', 'é']) {
      await doc.send(new PutCommand({ TableName: TABLE, Item: itemOf(`fits-${char}`, LIMIT, char) }));
      await expect(doc.send(new PutCommand({ TableName: TABLE, Item: itemOf(`over-${char}`, LIMIT + 1, char) }))).rejects.toThrow(/Item size has exceeded the maximum allowed size/);
    }
  });

  it('refuses a PutItem of 300,000 two-byte characters (600 KB) that AWS refuses, though it is under 400 K characters', async () => {
    const item = { pk: 'P', sk: 'accents', text: 'é'.repeat(300_000) };
    await expect(doc.send(new PutCommand({ TableName: TABLE, Item: item }))).rejects.toThrow(/Item size has exceeded the maximum allowed size/);
    expect((await doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'P', sk: 'accents' } }))).Item).toBeUndefined();
  });

  it('refuses an UpdateItem that grows an item past 400 KB of UTF-8 (three-byte text)', async () => {
    await doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'P', sk: 'grown', text: '中'.repeat(100_000) } }));
    await expect(
      doc.send(new UpdateCommand({ TableName: TABLE, Key: { pk: 'P', sk: 'grown' }, UpdateExpression: 'SET more = :m', ExpressionAttributeValues: { ':m': '中'.repeat(50_000) } })),
    ).rejects.toThrow(/exceeded the maximum allowed size/);
  });
});
