import { describe, expect, it } from 'vitest';
import { GetCommand, PutCommand, UpdateCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';

// DynamoDB's key size limits as AWS counts them (UTF-8 bytes): 2048 for a partition key, 1024 for
// a sort key, the table's and every secondary index's. dynalite alone counted the table's keys in
// UTF-16 code units and never looked at an index's key.

const dynamo = localDynamoForSuite();
const TABLE = 'keys';
const refusedAs = /Size of (partition|sort) key .* has exceeded the maximum size limit/;

describe('the local DynamoDB key size limits', () => {
  it('refuses a sort key of 1,025 UTF-8 bytes (343 characters: a count of characters passes it) and takes 1,024', async () => {
    await createCatalogueTable(dynamo.doc, TABLE);
    const over = `${'中'.repeat(341)}ab`;
    expect([over.length, Buffer.byteLength(over)]).toEqual([343, 1025]);
    await expect(dynamo.doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'P', sk: over } }))).rejects.toThrow(refusedAs);
    await dynamo.doc.send(new PutCommand({ TableName: TABLE, Item: { pk: 'P', sk: over.slice(0, -1) } }));
    await expect(dynamo.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: 'P', sk: over } }))).rejects.toThrow(refusedAs);
  });

  it('refuses an item whose search index partition key is over 2048 bytes (PutItem, BatchWriteItem, UpdateItem), and writes nothing of it', async () => {
    const agentPk = `site-a#${'a'.repeat(2042)}`;
    expect(Buffer.byteLength(agentPk)).toBe(2049);
    const item = { pk: 'REC#site-a#r1', sk: 'REC', agentPk, startRid: '2026-03-01T00:00:00.000Z#r1' };
    await expect(dynamo.doc.send(new PutCommand({ TableName: TABLE, Item: item }))).rejects.toThrow(/agentPk of index byAgent \(2049 bytes\)/);
    await expect(dynamo.doc.send(new BatchWriteCommand({ RequestItems: { [TABLE]: [{ PutRequest: { Item: item } }] } }))).rejects.toThrow(refusedAs);
    await dynamo.doc.send(new PutCommand({ TableName: TABLE, Item: { ...item, agentPk: agentPk.slice(0, -1) } }));
    const update = new UpdateCommand({ TableName: TABLE, Key: { pk: item.pk, sk: item.sk }, UpdateExpression: 'SET agentPk = :a', ExpressionAttributeValues: { ':a': agentPk } });
    await expect(dynamo.doc.send(update)).rejects.toThrow(refusedAs);
    expect((await dynamo.doc.send(new GetCommand({ TableName: TABLE, Key: { pk: item.pk, sk: item.sk } }))).Item?.agentPk).toBe(agentPk.slice(0, -1));
  });
});
