import { InvalidInputError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import type { CatalogueEntry, PackRecord, RecordingPage, RecordingQuery } from './ports.ts';

// The catalogue table, as data. The CDK stack and the local cloud's CreateTable both build
// the table from CATALOGUE_TABLE, so the two cannot drift. Key builders, the search plan and
// the cursor format live here too: MemoryCatalogue and DynamoCatalogue run the same plan.
//
// Items: recording `pk=REC#{site}#{rid}, sk=REC` (replay is one GetItem); pack
// `pk=PACK#{site}#{packId}, sk=PACK`. Every search index shares the sort key
// `startRid = {start as UTC ISO}#{rid}`, unique per site and ordered like the results
// (start ascending, then rid), so the last emitted `startRid` is a cursor valid on any index.
// Index partition attributes are absent when the metadata is: the indexes are sparse.
// The time index is sharded (`timePk = {site}#{shard}`, TIME_SHARDS shards by a hash of the rid):
// an agent catching up on a backlog writes one site's entries at once, which on a single
// partition key would throttle. A time search queries every shard and merges by sort key.

export type KeyType = 'S';

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey: { readonly name: string; readonly type: KeyType };
  readonly projection: 'ALL';
}

const SORT_KEY = { name: 'startRid', type: 'S' } as const;

function index(indexName: string, partition: string): IndexDefinition {
  return { indexName, partitionKey: { name: partition, type: 'S' }, sortKey: SORT_KEY, projection: 'ALL' };
}

export const CATALOGUE_INDEXES = {
  byTime: index('byTime', 'timePk'),
  byAgent: index('byAgent', 'agentPk'),
  byCallId: index('byCallId', 'callIdPk'),
  byCaller: index('byCaller', 'callerPk'),
  byCalled: index('byCalled', 'calledPk'),
} as const;

export const CATALOGUE_TABLE = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  billing: 'PAY_PER_REQUEST',
  globalSecondaryIndexes: Object.values(CATALOGUE_INDEXES),
} as const;

/**
 * Partitions of one site's time index. Changing it moves entries between partitions: run
 * `ferry catalogue rebuild` after a change (the catalogue is a cache of the manifests).
 */
export const TIME_SHARDS = 8;

/** The time shard of a recording: FNV-1a of its id, so an entry always lands on the same shard. */
export function timeShardOf(rid: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < rid.length; i++) hash = Math.imul(hash ^ rid.charCodeAt(i), 0x01000193) >>> 0;
  return hash % TIME_SHARDS;
}

function timePartition(site: string, shard: number): string {
  return `${site}#${shard}`;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export type CatalogueItem = Record<string, unknown> & { pk: string; sk: string };

/** Phone numbers are matched without the punctuation people type: "+44 (20) 7946-0000" = "+442079460000". */
export function normalizeNumber(value: string): string {
  return value.replace(/[\s().-]/g, '');
}

/** ISO time in the one sortable form (UTC, milliseconds); InvalidInputError naming the field otherwise. */
export function normalizeIso(value: string, field: string): string {
  const at = new Date(value);
  const year = at.getUTCFullYear();
  if (Number.isNaN(at.getTime()) || year < 1 || year > 9999) {
    throw new InvalidInputError(`${field} must be an ISO 8601 date-time, got "${value}"`);
  }
  return at.toISOString();
}

/**
 * The first segment of each kind of item's partition key. IAM scopes a function to the items it
 * may touch with `dynamodb:LeadingKeys` on these (infra/workflows/build.ts), so the key builders
 * and the policies read one list.
 */
export const ITEM_PREFIXES = {
  recording: 'REC#',
  pack: 'PACK#',
  artefact: 'ART#',
  artefactSource: 'ARTSRC#',
  snapshot: 'SNAP#',
  lock: 'LOCK#',
  run: 'RUN#',
  /** Legal holds (core/hold-items.ts): never written by ingest or rebuild. */
  hold: 'HOLD#',
  case: 'CASE#',
} as const;
export type ItemKind = keyof typeof ITEM_PREFIXES;

/** What the purge removes from the catalogue (CatalogueStore forgetPack, forgetArtefact, forgetSnapshot). */
export const PURGE_FORGETS: readonly ItemKind[] = ['recording', 'pack', 'artefact', 'snapshot'];

/** `REC#*`-style patterns for a `dynamodb:LeadingKeys` condition. */
export function leadingKeyPatterns(kinds: readonly ItemKind[]): string[] {
  return kinds.map((kind) => `${ITEM_PREFIXES[kind]}*`);
}

export function recordingKey(site: string, rid: string): { pk: string; sk: string } {
  return { pk: `${ITEM_PREFIXES.recording}${site}#${rid}`, sk: 'REC' };
}

export function packRecordKey(site: string, packId: string): { pk: string; sk: string } {
  return { pk: `${ITEM_PREFIXES.pack}${site}#${packId}`, sk: 'PACK' };
}

export function sortKeyOf(entry: Pick<CatalogueEntry, 'start' | 'rid'>): string {
  return `${normalizeIso(entry.start, 'start')}#${entry.rid}`;
}

/** Drops undefined values (DynamoDB rejects them; the memory store must look the same). */
function defined<T extends Record<string, unknown>>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

export function entryToItem(entry: CatalogueEntry): CatalogueItem {
  const { site, meta } = entry;
  return defined({
    ...recordingKey(site, entry.rid),
    type: 'recording',
    site,
    rid: entry.rid,
    source: entry.source,
    packId: entry.packId,
    packKey: entry.packKey,
    manifestKey: entry.manifestKey,
    offset: entry.offset,
    length: entry.length,
    sha256: entry.sha256,
    contentType: entry.contentType,
    path: entry.path,
    start: normalizeIso(entry.start, 'start'),
    meta: defined({ ...meta }),
    [SORT_KEY.name]: sortKeyOf(entry),
    timePk: timePartition(site, timeShardOf(entry.rid)),
    agentPk: meta.agent === undefined ? undefined : `${site}#${meta.agent}`,
    callIdPk: meta.callId === undefined ? undefined : `${site}#${meta.callId}`,
    callerPk: meta.caller === undefined ? undefined : `${site}#${normalizeNumber(meta.caller)}`,
    calledPk: meta.called === undefined ? undefined : `${site}#${normalizeNumber(meta.called)}`,
  });
}

export function itemToEntry(item: Record<string, unknown>): CatalogueEntry {
  const entry: CatalogueEntry = {
    site: item.site as string,
    rid: item.rid as string,
    source: item.source as string,
    packId: item.packId as string,
    packKey: item.packKey as string,
    manifestKey: item.manifestKey as string,
    offset: Number(item.offset),
    length: Number(item.length),
    sha256: item.sha256 as string,
    contentType: item.contentType as string,
    path: item.path as string,
    start: item.start as string,
    meta: (item.meta ?? {}) as CatalogueEntry['meta'],
  };
  return entry;
}

export function packToItem(pack: PackRecord): CatalogueItem {
  return { ...packRecordKey(pack.site, pack.packId), type: 'pack', ...pack };
}

export function itemToPack(item: Record<string, unknown>): PackRecord {
  const { site, packId, packKey, manifestKey, source, members, size, createdAt } = item;
  return { site, packId, packKey, manifestKey, source, members: Number(members), size: Number(size), createdAt } as PackRecord;
}

// ---- cursor: base64url JSON of the last emitted sort key ----

interface CursorBody {
  v: 1;
  after: string;
}

const SORT_KEY_SHAPE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[^#]+$/;

export function encodeCursor(after: string): string {
  const body: CursorBody = { v: 1, after };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const bad = () => new InvalidInputError('cursor is malformed: pass back the cursor of the previous page unchanged');
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw bad();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new InvalidInputError('cursor is malformed: pass back the cursor of the previous page unchanged', { cause });
  }
  const after = (body as Partial<CursorBody> | null)?.after;
  if ((body as Partial<CursorBody> | null)?.v !== 1 || typeof after !== 'string' || !SORT_KEY_SHAPE.test(after)) throw bad();
  return after;
}

// ---- search plan ----

/** A clause holds when any of its attribute/value pairs is equal; a plan's clauses all must hold. */
export interface FilterClause {
  anyOf: { attribute: string; value: string }[];
}

export interface SearchPlan {
  /** One query per branch, merged by sort key (a number search has two: caller and called; a time search one per shard). */
  branches: { index: IndexDefinition; partitionValue: string }[];
  /** Exclusive lower bound of the sort key (cursor or `from`). */
  after?: string;
  /** Inclusive upper bound of the sort key (`to`). */
  upTo?: string;
  filters: FilterClause[];
  limit: number;
}

function numberClause(site: string, number: string): FilterClause {
  const value = `${site}#${normalizeNumber(number)}`;
  return { anyOf: [{ attribute: 'callerPk', value }, { attribute: 'calledPk', value }] };
}

function checkLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) {
    throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${String(limit)}`);
  }
  return value;
}

function nonEmpty(field: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (value.length === 0) throw new InvalidInputError(`${field} must not be empty`);
  return value;
}

/**
 * Picks the most selective index (callId > agent > number > time) and turns every other
 * criterion into a filter. Time bounds always go on the sort key: every index shares it.
 */
export function planSearch(query: RecordingQuery): SearchPlan {
  const { site } = query;
  if (!NAME_PATTERN.test(site)) throw new InvalidInputError(`site must be a site name (${NAME_PATTERN.source}), got "${site}"`);
  const callId = nonEmpty('callId', query.callId);
  const agent = nonEmpty('agent', query.agent);
  const number = nonEmpty('number', query.number);
  const limit = checkLimit(query.limit);
  const from = query.from === undefined ? undefined : normalizeIso(query.from, 'from');
  const to = query.to === undefined ? undefined : normalizeIso(query.to, 'to');
  if (from !== undefined && to !== undefined && from > to) throw new InvalidInputError(`from (${from}) must not be after to (${to})`);
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);

  // `{from}#` and `{to}#~` sort before/after every key of that instant (rids are [0-9a-z]).
  const fromKey = from === undefined ? undefined : `${from}#`;
  const after = cursor !== undefined && (fromKey === undefined || cursor > fromKey) ? cursor : fromKey;
  const upTo = to === undefined ? undefined : `${to}#~`;

  const filters: FilterClause[] = [];
  let branches: SearchPlan['branches'];
  if (callId !== undefined) {
    branches = [{ index: CATALOGUE_INDEXES.byCallId, partitionValue: `${site}#${callId}` }];
    if (agent !== undefined) filters.push({ anyOf: [{ attribute: 'agentPk', value: `${site}#${agent}` }] });
    if (number !== undefined) filters.push(numberClause(site, number));
  } else if (agent !== undefined) {
    branches = [{ index: CATALOGUE_INDEXES.byAgent, partitionValue: `${site}#${agent}` }];
    if (number !== undefined) filters.push(numberClause(site, number));
  } else if (number !== undefined) {
    branches = numberClause(site, number).anyOf.map(({ attribute, value }) => ({
      index: attribute === 'callerPk' ? CATALOGUE_INDEXES.byCaller : CATALOGUE_INDEXES.byCalled,
      partitionValue: value,
    }));
  } else {
    branches = Array.from({ length: TIME_SHARDS }, (_, shard) => ({
      index: CATALOGUE_INDEXES.byTime,
      partitionValue: timePartition(site, shard),
    }));
  }
  return { branches, after, upTo, filters, limit };
}

/** Whether an item found on a branch's index satisfies the plan's range and filters. */
export function matchesPlan(item: Record<string, unknown>, plan: SearchPlan): boolean {
  const key = item[SORT_KEY.name];
  if (typeof key !== 'string') return false;
  if (plan.after !== undefined && key <= plan.after) return false;
  if (plan.upTo !== undefined && key > plan.upTo) return false;
  return plan.filters.every((clause) => clause.anyOf.some(({ attribute, value }) => item[attribute] === value));
}

/**
 * Builds a page from up to limit+1 matching items in sort-key order: the extra item only
 * proves that more follow, so a cursor is never handed out for an empty next page.
 */
export function pageOf(items: Record<string, unknown>[], limit: number): RecordingPage {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  if (items.length > limit && last) return { items: page.map(itemToEntry), cursor: encodeCursor(last[SORT_KEY.name] as string) };
  return { items: page.map(itemToEntry) };
}

export const SORT_KEY_NAME = SORT_KEY.name;
