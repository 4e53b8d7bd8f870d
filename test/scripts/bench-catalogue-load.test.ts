import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchWriteCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { CATALOGUE_TABLE, entryToItem } from '../../core/catalogue-table.ts';
import { LOCAL_REGION, LOCAL_TABLE } from '../../core/deployment.ts';
import { startLocalDynamo } from '../../local/dynalite-process.ts';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3-process.ts';
import { loadCatalogueDirect, writtenFile } from '../../scripts/bench/catalogue-load.ts';
import { syntheticEntry } from '../../scripts/bench/search.ts';

// The search row's catalogue is written straight into dynalite's store; what a dynalite on that
// directory then serves must be what it serves after the same entries were put through its
// BatchWriteItem: the table and every index, row for row.

const COUNT = 600;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function everything(doc: DynamoDBDocumentClient): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const index of [undefined, ...CATALOGUE_TABLE.globalSecondaryIndexes.map((g) => g.indexName)]) {
    const rows: unknown[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(new ScanCommand({ TableName: LOCAL_TABLE, IndexName: index, ExclusiveStartKey: start }));
      rows.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    out[index ?? 'table'] = rows;
  }
  return out;
}

async function served(directory: string, fill?: (doc: DynamoDBDocumentClient) => Promise<void>): Promise<Record<string, unknown[]>> {
  const dynamo = await startLocalDynamo({ directory });
  const { client, doc } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials: { ...LOCAL_S3_CREDENTIALS } });
  try {
    if (fill) await fill(doc);
    return await everything(doc);
  } finally {
    client.destroy();
    await dynamo.stop();
  }
}

describe('bench catalogue loading straight into dynalite', () => {
  it('serves the table and every index row for row as after the same entries went through BatchWriteItem, also when the load was interrupted and went on', async () => {
    const direct = mkdtempSync(join(tmpdir(), 'api-direct-'));
    const viaApi = mkdtempSync(join(tmpdir(), 'api-batch-'));
    dirs.push(direct, viaApi);
    // Loaded in two goes: the first half, then a load interrupted there goes on from it.
    await loadCatalogueDirect(direct, COUNT / 2, syntheticEntry, () => {});
    writeFileSync(writtenFile(direct), String(COUNT / 2));
    const said: string[] = [];
    await loadCatalogueDirect(direct, COUNT, syntheticEntry, (line) => said.push(line));
    expect(said.join('\n')).toMatch(/going on with the load .* from entry 300/);
    expect(existsSync(writtenFile(direct))).toBe(false);
    const expected = await served(viaApi, async (doc) => {
      await createCatalogueTable(doc, LOCAL_TABLE);
      for (let from = 0; from < COUNT; from += 25) {
        const items = Array.from({ length: 25 }, (_, i) => ({ PutRequest: { Item: entryToItem(syntheticEntry(from + i)) } }));
        await doc.send(new BatchWriteCommand({ RequestItems: { [LOCAL_TABLE]: items } }));
      }
    });
    const actual = await served(direct);
    expect(actual.table).toHaveLength(COUNT);
    expect(Object.values(expected).every((rows) => rows.length > 0)).toBe(true);
    expect(actual).toEqual(expected);
  }, 60_000);
});
