import { BatchWriteCommand, DeleteCommand, GetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { batchGetItems } from './dynamo-batch-get.ts';
import type { DocumentSender } from './dynamo-lean.ts';
import {
  COPY_SK_PREFIX,
  copyKey,
  copyToItem,
  itemToCopy,
  DURATION_SORT_WINDOW,
  durationPageOf,
  entryToItem,
  itemToEntry,
  itemToPack,
  matchesPlan,
  packRecordKey,
  packToItem,
  pageOf,
  planSearch,
  recordingKey,
  SORT_KEY_NAME,
  sortsByDuration,
  type SearchPlan,
} from '../core/catalogue-table.ts';
import { beyond, ReadMeter, stoppedPageOf } from '../core/catalogue-budget.ts';
import {
  artefactPageOf,
  artefactSourcePk,
  artefactToItem,
  itemToSourceRecord,
  matchesArtefactPlan,
  planArtefactQuery,
  sourceRecordToItem,
} from '../core/artefact-items.ts';
import { matchesSnapshotPlan, planSnapshotQuery, snapshotPageOf, snapshotPk, snapshotSk, snapshotToItem, type SnapshotPage, type SnapshotQuery } from '../core/snapshot-items.ts';
import type { SnapshotSummary } from '../core/tree-manifest.ts';
import { TransientError } from '../core/errors.ts';
import { recordingLookupKey, type ArtefactEntry, type ArtefactPage, type ArtefactQuery, type ArtefactSourceRecord, type CatalogueEntry, type CatalogueStore, type PackRecord, type RecordingCopy, type RecordingPage, type RecordingQuery, type RecordingSort } from '../core/ports.ts';
import { artefactQueryInput } from './dynamo-artefact-query.ts';
import { conditionFailed, translateDynamoError as translate } from './dynamo-errors.ts';
import { branchLimit, mergeBySortKey, recordingQueryInput } from './dynamo-recording-query.ts';

export { createCatalogueTable } from './dynamo-catalogue-table.ts';

type Item = Record<string, unknown>;

export interface DynamoCatalogueOptions {
  /** Attempts per BatchWrite chunk while DynamoDB hands back UnprocessedItems (default 8). */
  maxAttempts?: number;
  /** First backoff delay; doubles each attempt, capped at 2 s (default 50 ms). */
  baseDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /**
   * BatchWriteItem requests in flight while one call writes many entries (default 4: a manifest
   * of 100 calls goes in one round trip instead of four). Each keeps its own unprocessed-items retry.
   */
  writeConcurrency?: number;
}

const BATCH_SIZE = 25;

/** Requests in flight for one per recording: the conditional DeleteItems forgetting a pack's entries (where a BatchWrite took 25), the Queries of their copies. */
const FORGET_CONCURRENCY = 16;

/** CatalogueStore on one DynamoDB table laid out by core/catalogue-table.ts. Query only, never Scan. */
export class DynamoCatalogue implements CatalogueStore {
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly writeConcurrency: number;

  constructor(
    private readonly doc: DocumentSender,
    private readonly tableName: string,
    options: DynamoCatalogueOptions = {},
  ) {
    this.maxAttempts = options.maxAttempts ?? 8;
    this.baseDelayMs = options.baseDelayMs ?? 50;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.writeConcurrency = Math.max(1, options.writeConcurrency ?? 4);
  }

  async putRecordings(entries: CatalogueEntry[]): Promise<void> {
    // BatchWrite refuses two writes to one key in a request: the last entry for a rid wins.
    const byKey = new Map<string, Item>();
    for (const item of entries.map(entryToItem)) byKey.set(`${item.pk}\u0000${item.sk}`, item);
    const items = [...byKey.values()];
    const chunks: Item[][] = [];
    for (let i = 0; i < items.length; i += BATCH_SIZE) chunks.push(items.slice(i, i + BATCH_SIZE));
    await this.inFlight(chunks, (chunk) => this.writeChunk(chunk));
  }

  /**
   * Runs `write` over the chunks, `writeConcurrency` at a time. Resolves once every chunk is
   * written; on a failure, lets the writes in flight finish (none is left half-sent behind the
   * caller's back), starts no more, and rejects with the first error.
   */
  private async inFlight<T>(chunks: T[], write: (chunk: T) => Promise<void>, concurrency = this.writeConcurrency): Promise<void> {
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (failure === undefined && next < chunks.length) {
        const chunk = chunks[next++]!;
        try {
          await write(chunk);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
    if (failure) throw failure.error;
  }

  async putPack(pack: PackRecord): Promise<void> {
    await this.writeChunk([packToItem(pack)]);
  }

  async putCopies(copies: RecordingCopy[]): Promise<void> {
    const items = copies.map(copyToItem);
    const chunks: Item[][] = [];
    for (let i = 0; i < items.length; i += BATCH_SIZE) chunks.push(items.slice(i, i + BATCH_SIZE));
    await this.inFlight(chunks, (chunk) => this.writeChunk(chunk));
  }

  /**
   * One Query a recording: its partition's COPY# items. An erasure asks for a few calls; a purge
   * for every call it forgets (a pack's hundred, in each of a batch's packs), so they go
   * FORGET_CONCURRENCY at a time, as the deletes do.
   */
  async copiesOf(site: string, rids: readonly string[]): Promise<Map<string, RecordingCopy[]>> {
    const found = new Map<string, RecordingCopy[]>();
    await this.inFlight([...new Set(rids)], async (rid) => {
      const copies: RecordingCopy[] = [];
      const input = { TableName: this.tableName, KeyConditionExpression: 'pk = :pk AND begins_with(sk, :copy)', ExpressionAttributeValues: { ':pk': recordingKey(site, rid).pk, ':copy': COPY_SK_PREFIX } };
      for await (const item of this.queryAll(input)) copies.push(itemToCopy(item));
      if (copies.length) found.set(recordingLookupKey(site, rid), copies);
    }, FORGET_CONCURRENCY);
    return found;
  }

  /**
   * Each entry goes by a DeleteItem conditional on its still naming the pack (a BatchWrite delete
   * takes no condition): between a caller's read and this delete, a purge's copy-out or another
   * copy's ingest may have re-pointed the call to a pack still in the bucket, and that entry stays.
   */
  async forgetPack(site: string, packId: string, rids: string[]): Promise<void> {
    await this.inFlight([...new Set(rids)], async (rid) => {
      try {
        await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: recordingKey(site, rid), ConditionExpression: 'packId = :packId', ExpressionAttributeValues: { ':packId': packId } }));
      } catch (error) {
        // Absent, or catalogued in another pack: nothing of this pack's to forget.
        if (!conditionFailed(error)) throw translate(error, 'DeleteItem');
      }
    }, FORGET_CONCURRENCY);
    // The pack's copies of calls catalogued elsewhere, and its record: keyed by the pack, no condition needed.
    const keys = [...[...new Set(rids)].map((rid) => copyKey(site, rid, packId)), packRecordKey(site, packId)];
    for (let i = 0; i < keys.length; i += BATCH_SIZE) await this.sendBatch(keys.slice(i, i + BATCH_SIZE).map((Key) => ({ DeleteRequest: { Key } })));
  }

  async forgetArtefact(entry: ArtefactEntry): Promise<void> {
    const { pk, sk } = artefactToItem(entry);
    await this.sendBatch([{ DeleteRequest: { Key: { pk, sk } } }]);
  }

  async getRecording(site: string, rid: string): Promise<CatalogueEntry | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: recordingKey(site, rid) }));
      return out.Item ? itemToEntry(out.Item) : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async getRecordings(keys: readonly { site: string; rid: string }[]): Promise<Map<string, CatalogueEntry>> {
    const found = new Map<string, CatalogueEntry>();
    await this.batchGet(keys, undefined, (item) => {
      const entry = itemToEntry(item);
      found.set(recordingLookupKey(entry.site, entry.rid), entry);
    });
    return found;
  }

  async packKeysOf(keys: readonly { site: string; rid: string }[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    await this.batchGet(keys, ['site', 'rid', 'packKey'], (item) => found.set(recordingLookupKey(item.site as string, item.rid as string), item.packKey as string));
    return found;
  }

  /** BatchGetItem of the recordings' items (each once), 100 keys a request, unprocessed keys retried; `attributes` only, when named. */
  private async batchGet(keys: readonly { site: string; rid: string }[], attributes: readonly string[] | undefined, each: (item: Item) => void): Promise<void> {
    const distinct = [...new Map(keys.map((k) => [recordingLookupKey(k.site, k.rid), recordingKey(k.site, k.rid)])).values()];
    await batchGetItems(this.doc, this.tableName, distinct, { ...(attributes ? { attributes } : {}), maxAttempts: this.maxAttempts, baseDelayMs: this.baseDelayMs, sleep: this.sleep, translate }, each);
  }

  async getPack(site: string, packId: string): Promise<PackRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: packRecordKey(site, packId) }));
      return out.Item ? itemToPack(out.Item) : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async searchRecordings(query: RecordingQuery): Promise<RecordingPage> {
    const plan = planSearch(query);
    const meter = new ReadMeter(plan.budget, plan.branches.length);
    const branches = plan.branches.map(() => ({} as BranchProgress));
    const streams = plan.branches.map((_, i) => this.queryBranch(plan, i, meter, branches[i]!));
    // A duration sort reads every match (one more than the window proves there are too many).
    const enough = sortsByDuration(plan) ? DURATION_SORT_WINDOW + 1 : plan.limit + 1;
    const readOrder = sortsByDuration(plan) ? 'start' : plan.sort;
    const found: Item[] = [];
    let through: string | undefined;
    try {
      for await (const item of mergeBySortKey(streams, plan.sort === '-start')) {
        // A branch that stopped for the budget has read up to its `through`: past the nearest
        // such point another match may lie unread, so the page ends there.
        through = stoppedThrough(branches, readOrder);
        if (through !== undefined && beyond(item[SORT_KEY_NAME] as string, through, readOrder)) break;
        found.push(item);
        if (found.length >= enough) break;
      }
    } finally {
      await Promise.all(streams.map((s) => s.return(undefined)));
    }
    through = stoppedThrough(branches, readOrder);
    if (through !== undefined && found.length < enough) return stoppedPageOf(found, through, plan.sort, meter.read);
    return { ...(sortsByDuration(plan) ? durationPageOf(found, plan) : pageOf(found, plan.limit, plan.sort)), ...(plan.budget ? { read: meter.read } : {}) };
  }

  async putArtefact(entry: ArtefactEntry): Promise<void> {
    await this.writeChunk([artefactToItem(entry), sourceRecordToItem(entry)]);
  }

  async listArtefacts(query: ArtefactQuery): Promise<ArtefactPage> {
    const plan = planArtefactQuery(query);
    const input = artefactQueryInput(this.tableName, plan);
    const found: Item[] = [];
    if (!input) return { items: [] };
    for await (const item of this.queryAll(input)) {
      if (!matchesArtefactPlan(item, plan)) continue;
      found.push(item);
      if (found.length > plan.limit) break;
    }
    return artefactPageOf(found, plan.limit);
  }

  async listArtefactSources(site: string): Promise<ArtefactSourceRecord[]> {
    const input: QueryCommandInput = { TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': 'pk' }, ExpressionAttributeValues: { ':pk': artefactSourcePk(site) } };
    const records: ArtefactSourceRecord[] = [];
    for await (const item of this.queryAll(input)) records.push(itemToSourceRecord(item));
    return records;
  }

  async putSnapshot(summary: SnapshotSummary): Promise<void> {
    await this.writeChunk([snapshotToItem(summary)]);
  }

  async listSnapshots(query: SnapshotQuery): Promise<SnapshotPage> {
    const plan = planSnapshotQuery(query);
    // Backwards (newest first); the cursor is an exclusive upper end, `at` without a source a filter in code.
    const hi = plan.before !== undefined && plan.before <= plan.hi ? plan.before : plan.hi;
    const names: Record<string, string> = { '#pk': 'pk', '#sk': 'sk' };
    const values: Record<string, unknown> = { ':pk': plan.pk, ':hi': hi };
    const condition = plan.lo === undefined ? '#pk = :pk AND #sk <= :hi' : '#pk = :pk AND #sk BETWEEN :lo AND :hi';
    if (plan.lo !== undefined) values[':lo'] = plan.lo;
    const filtered = plan.at !== undefined && plan.lo === undefined;
    const input: QueryCommandInput = {
      TableName: this.tableName,
      KeyConditionExpression: condition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
      ScanIndexForward: false,
      // The cursor's own key is inside the range (<=) and dropped below, hence one more.
      Limit: filtered ? undefined : plan.limit + 2,
    };
    const found: Item[] = [];
    for await (const item of this.queryAll(input)) {
      if (!matchesSnapshotPlan(item, plan)) continue;
      found.push(item);
      if (found.length > plan.limit) break;
    }
    return snapshotPageOf(found, plan.limit);
  }

  async forgetSnapshot(summary: Pick<SnapshotSummary, 'site' | 'source' | 'takenAt' | 'snapshotId'>): Promise<void> {
    await this.sendBatch([{ DeleteRequest: { Key: { pk: snapshotPk(summary.site), sk: snapshotSk(summary) } } }]);
  }

  /** Every item a Query returns, following LastEvaluatedKey. */
  private async *queryAll(input: QueryCommandInput): AsyncGenerator<Item, void, undefined> {
    let exclusiveStartKey: Item | undefined;
    do {
      let out;
      try {
        out = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: exclusiveStartKey }));
      } catch (error) {
        throw translate(error, 'Query');
      }
      yield* out.Items ?? [];
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
  }

  /**
   * Every matching item of one branch, in sort-key order, one Query page at a time, each page's
   * Limit granted by the meter; when it grants none, the branch stops and `progress.through`
   * says how far it read.
   */
  private async *queryBranch(plan: SearchPlan, branch: number, meter: ReadMeter, progress: BranchProgress): AsyncGenerator<Item, void, undefined> {
    const input = recordingQueryInput(this.tableName, plan, branch);
    // A filtered branch (no Limit of its own) starts at its part of the page and doubles it each
    // Query: a filter most calls pass reads little past the page, a rare one soon reads 1 MB pages.
    const growing = input.Limit === undefined && !sortsByDuration(plan);
    let ask = growing ? branchLimit(plan) : input.Limit;
    let exclusiveStartKey: Item | undefined;
    do {
      const limit = await meter.grant(ask, exclusiveStartKey === undefined);
      if (growing && ask !== undefined) ask *= 2;
      if (limit === 0) {
        progress.through = exclusiveStartKey![SORT_KEY_NAME] as string;
        return;
      }
      let out;
      try {
        out = await this.doc.send(new QueryCommand({ ...input, Limit: limit, ExclusiveStartKey: exclusiveStartKey }));
      } catch (error) {
        meter.settle(limit, 0);
        throw translate(error, 'Query');
      }
      meter.settle(limit, out.ScannedCount ?? out.Items?.length ?? 0);
      // BETWEEN includes the cursor's own key; matchesPlan drops it (and re-checks the filters).
      for (const item of out.Items ?? []) if (matchesPlan(item, plan)) yield item;
      exclusiveStartKey = out.LastEvaluatedKey;
    } while (exclusiveStartKey);
  }

  private async writeChunk(items: Item[]): Promise<void> {
    await this.sendBatch(items.map((Item) => ({ PutRequest: { Item } })));
  }

  /** One BatchWriteItem (≤ 25 requests), retrying unprocessed requests with backoff. */
  private async sendBatch(requests: ({ PutRequest: { Item: Item } } | { DeleteRequest: { Key: Item } })[]): Promise<void> {
    const items = requests;
    let pending = requests;
    for (let attempt = 1; ; attempt++) {
      let unprocessed;
      try {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
        unprocessed = out.UnprocessedItems?.[this.tableName];
      } catch (error) {
        throw translate(error, 'BatchWriteItem');
      }
      if (!unprocessed || unprocessed.length === 0) return;
      if (attempt >= this.maxAttempts) {
        throw new TransientError(`DynamoDB BatchWriteItem left ${unprocessed.length} of ${items.length} items unprocessed after ${attempt} attempts`);
      }
      pending = unprocessed as typeof pending;
      const delay = Math.min(2000, this.baseDelayMs * 2 ** (attempt - 1));
      await this.sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }
}


/** How far a branch of a search read before its budget ran out (undefined: it did not run out). */
interface BranchProgress {
  through?: string;
}

/** The nearest point in the read order where a branch stopped for the budget, if one did. */
function stoppedThrough(branches: BranchProgress[], order: RecordingSort): string | undefined {
  let nearest: string | undefined;
  for (const { through } of branches) if (through !== undefined && (nearest === undefined || beyond(nearest, through, order))) nearest = through;
  return nearest;
}
