import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createDynamoClients } from '../../adapters/aws-clients.ts';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { entryToItem } from '../../core/catalogue-table.ts';
import { LOCAL_REGION, LOCAL_TABLE } from '../../core/deployment.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { startLocalDynamo } from '../../local/dynalite-process.ts';
import { LOCAL_S3_CREDENTIALS } from '../../local/s3-process.ts';

// Loads a bench catalogue straight into a dynalite LevelDB directory. The table is created
// through dynalite's own CreateTable (a dynalite child on the directory, as every run starts
// it); the items are then written in-process with dynalite's own store functions, exactly what
// its PutItem writes for a new item (the item under its key, and one row in each index whose key
// attributes the item has), thousands of items per LevelDB batch instead of 25 per HTTP request
// through its request parsing. A later dynalite on the same directory serves the rows as if they
// had been put one by one (test/scripts/bench-catalogue-load.test.ts compares the two).

interface DynaliteTable {
  TableName: string;
  LocalSecondaryIndexes?: unknown[];
  GlobalSecondaryIndexes?: unknown[];
}
type Item = Record<string, unknown>;
interface Batchable {
  batch(ops: { type: 'put'; key: string; value: unknown }[], cb: (err?: Error | null) => void): void;
}
interface DynaliteStore {
  db: { close(): Promise<void> };
  getTable(name: string, cb: (err: Error | null, table: DynaliteTable) => void): void;
  getItemDb(name: string): Batchable;
  getIndexDb(type: 'Local' | 'Global', table: string, index: string): Batchable;
}
interface DynaliteDb {
  create(options: { path: string }): DynaliteStore;
  validateItem(item: Item, table: DynaliteTable): Error | null | undefined;
  createKey(item: Item, table: DynaliteTable): string;
  getIndexActions(indexes: unknown[], existing: undefined, item: Item, table: DynaliteTable): { puts: { index: string; key: string; item: Item }[] };
}

const ITEMS_PER_BATCH = 2000;

/**
 * DynamoDB's attribute values for a catalogue item (strings, numbers, booleans, maps and lists
 * only), as the document client's marshalling with removeUndefinedValues gives them, at a
 * small part of its cost (the SDK's marshall took about 1 ms an item here).
 */
function attributeValue(value: unknown): unknown {
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (value === null) return { NULL: true };
  if (Array.isArray(value)) return { L: value.filter((v) => v !== undefined).map(attributeValue) };
  if (typeof value === 'object') return { M: attributeMap(value as Item) };
  throw new Error(`the bench loader cannot store a ${typeof value}`);
}

function attributeMap(item: Item): Item {
  const out: Item = {};
  for (const [name, value] of Object.entries(item)) if (value !== undefined) out[name] = attributeValue(value);
  return out;
}

/** Where a load in progress notes how many entries are written (beside the directory, not in LevelDB's own). */
export const writtenFile = (directory: string) => `${directory}.written`;

/** How many entries an interrupted load of `directory` had written; undefined when none was started there. */
export function writtenSoFar(directory: string): number | undefined {
  return existsSync(writtenFile(directory)) ? Number(readFileSync(writtenFile(directory), 'utf8')) : undefined;
}

/**
 * Creates the catalogue table in `directory` and writes `count` entries (`entryOf(0..count-1)`)
 * into it; a load that was interrupted goes on from the last batch it noted.
 */
export async function loadCatalogueDirect(directory: string, count: number, entryOf: (n: number) => CatalogueEntry, say: (line: string) => void): Promise<void> {
  const resumeAt = writtenSoFar(directory);
  if (resumeAt !== undefined) {
    say(`  going on with the load in ${directory} from entry ${resumeAt.toLocaleString('en-GB')}`);
    await writeCatalogueItems(directory, resumeAt, count, entryOf, say);
    return;
  }
  const dynamo = await startLocalDynamo({ directory });
  const { client } = createDynamoClients({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials: { ...LOCAL_S3_CREDENTIALS } });
  try {
    await createCatalogueTable(client, LOCAL_TABLE);
  } finally {
    client.destroy();
    await dynamo.stop();
  }
  await writeCatalogueItems(directory, 0, count, entryOf, say);
}

/** Writes entries `from` to `count - 1` into the catalogue table of `directory` (puts of the same entry again change nothing). */
export async function writeCatalogueItems(directory: string, from: number, count: number, entryOf: (n: number) => CatalogueEntry, say: (line: string) => void): Promise<void> {
  const dyn = createRequire(import.meta.url)('dynalite/db') as DynaliteDb;
  const store = dyn.create({ path: directory });
  try {
    const table = await new Promise<DynaliteTable>((resolve, reject) => store.getTable(LOCAL_TABLE, (err, t) => (err ? reject(err) : resolve(t))));
    const started = performance.now();
    for (let first = from; first < count; first += ITEMS_PER_BATCH) {
      const groups = new Map<Batchable, { type: 'put'; key: string; value: unknown }[]>();
      const add = (db: Batchable, key: string, value: unknown) => {
        let ops = groups.get(db);
        if (!ops) groups.set(db, (ops = []));
        ops.push({ type: 'put', key, value });
      };
      for (let n = first; n < Math.min(count, first + ITEMS_PER_BATCH); n++) {
        const item = attributeMap(entryToItem(entryOf(n)));
        const invalid = dyn.validateItem(item, table);
        if (invalid) throw invalid;
        add(store.getItemDb(LOCAL_TABLE), dyn.createKey(item, table), item);
        for (const type of ['Local', 'Global'] as const) {
          for (const put of dyn.getIndexActions(table[`${type}SecondaryIndexes`] ?? [], undefined, item, table).puts) add(store.getIndexDb(type, LOCAL_TABLE, put.index), put.key, put.item);
        }
      }
      await Promise.all([...groups].map(([db, ops]) => new Promise<void>((resolve, reject) => db.batch(ops, (err) => (err ? reject(err) : resolve())))));
      const done = Math.min(count, first + ITEMS_PER_BATCH);
      writeFileSync(writtenFile(directory), String(done));
      if (done % 50_000 === 0) say(`  loaded ${done.toLocaleString('en-GB')} calls, ${((done - from) / ((performance.now() - started) / 1000)).toFixed(0)} items/s`);
    }
  } finally {
    await store.db.close();
  }
  rmSync(writtenFile(directory), { force: true });
}
