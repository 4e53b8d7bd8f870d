import { InvalidInputError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import type { CatalogueEntry, PackRecord, RecordingDirection, RecordingPage, RecordingQuery, RecordingSort } from './ports.ts';

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
  /** Epoch seconds after which DynamoDB deletes an item that carries it (export records); dynalite ignores it. */
  timeToLiveAttribute: 'ttl',
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
  /** Console case exports' status records (core/exports.ts). */
  export: 'EXPORT#',
  /** Recall status records (core/recall-status.ts): written by the recall workflow only, never by ingest or rebuild. */
  recall: 'RECALL#',
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

// ---- cursor: base64url JSON of the last emitted key of the search's order ----
// `{ v: 1, after }` for the default order (the cursors handed out before sorts existed stay
// valid); other sorts add `sort`, so a cursor only resumes a search of the same order.

interface CursorBody {
  v: 1;
  after: string;
  sort?: RecordingSort;
}

export const RECORDING_SORTS = ['start', '-start', 'duration', '-duration'] as const satisfies readonly RecordingSort[];
export const RECORDING_DIRECTIONS = ['inbound', 'outbound', 'internal'] as const satisfies readonly RecordingDirection[];

const SORT_KEY_SHAPE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[^#]+$/;
const DURATION_KEY_SHAPE = /^(\d{10}|-{10})#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#[^#]+$/;

function byDuration(sort: RecordingSort): boolean {
  return sort === 'duration' || sort === '-duration';
}

export function encodeCursor(after: string, sort: RecordingSort = 'start'): string {
  const body: CursorBody = sort === 'start' ? { v: 1, after } : { v: 1, after, sort };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, sort: RecordingSort = 'start'): string {
  const bad = () => new InvalidInputError('cursor is malformed: pass back the cursor of the previous page unchanged', { field: 'cursor' });
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw bad();
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new InvalidInputError('cursor is malformed: pass back the cursor of the previous page unchanged', { cause });
  }
  const parsed = (body ?? {}) as Partial<CursorBody>;
  const after = parsed.after;
  if (parsed.v !== 1 || typeof after !== 'string') throw bad();
  const cursorSort = parsed.sort ?? 'start';
  if (cursorSort !== sort) throw new InvalidInputError(`cursor belongs to a search sorted by ${String(cursorSort)}, not ${sort}: start again from the first page`, { field: 'cursor' });
  if (!(byDuration(sort) ? DURATION_KEY_SHAPE : SORT_KEY_SHAPE).test(after)) throw bad();
  return after;
}

/**
 * The key a duration sort orders by: the duration in whole milliseconds (10 digits, floored), then
 * the start sort key. A call without a duration gets dashes: the comparator puts it last either way.
 */
export function durationKeyOf(item: Record<string, unknown>): string {
  const seconds = (item.meta as { durationSec?: unknown } | undefined)?.durationSec;
  const ms = typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? Math.min(9_999_999_999, Math.floor(seconds * 1000)) : undefined;
  return `${ms === undefined ? '-'.repeat(10) : String(ms).padStart(10, '0')}#${String(item[SORT_KEY.name])}`;
}

/** Order of two keys of the plan's sort: negative when `a` comes first. */
export function compareKeys(a: string, b: string, sort: RecordingSort): number {
  if (byDuration(sort)) {
    const aNone = a.startsWith('-');
    const bNone = b.startsWith('-');
    if (aNone !== bNone) return aNone ? 1 : -1; // no duration: last, ascending or descending
    const durationOrder = sort === '-duration' && !aNone ? -1 : 1;
    const [ad, as] = [a.slice(0, 10), a.slice(11)];
    const [bd, bs] = [b.slice(0, 10), b.slice(11)];
    if (ad !== bd) return (ad < bd ? -1 : 1) * durationOrder;
    return as < bs ? -1 : as > bs ? 1 : 0; // same duration: by start, then rid
  }
  const order = a < b ? -1 : a > b ? 1 : 0;
  return sort === '-start' ? -order : order;
}

/** The key of an item in the plan's order (the start sort key, or the duration key). */
export function orderKeyOf(item: Record<string, unknown>, sort: RecordingSort): string {
  return byDuration(sort) ? durationKeyOf(item) : (item[SORT_KEY.name] as string);
}

// ---- search plan ----

/** A clause holds when any of its attribute/value pairs is equal; a plan's clauses all must hold. */
export interface FilterClause {
  anyOf: { attribute: string; value: string }[];
}

/** Conditions on the entry's call metadata (not index attributes): `meta.direction`, `meta.durationSec`. */
export interface MetaFilter {
  direction?: RecordingDirection;
  /** Inclusive bounds, seconds. */
  minDurationSec?: number;
  maxDurationSec?: number;
}

export interface SearchPlan {
  /** One query per branch, merged by sort key (a number search has two: caller and called; a time search one per shard). */
  branches: { index: IndexDefinition; partitionValue: string }[];
  /** Exclusive lower bound of the sort key (`from`, or the cursor of an ascending start sort). */
  after?: string;
  /** Inclusive upper bound of the sort key (`to`). */
  upTo?: string;
  /** Exclusive upper bound of the sort key: the cursor of a `-start` sort. */
  before?: string;
  filters: FilterClause[];
  meta: MetaFilter;
  sort: RecordingSort;
  /** Duration sorts: the cursor's duration key; results resume after it in the sorted window. */
  resumeAfter?: string;
  limit: number;
}

/**
 * Most calls a duration sort orders. The indexes are all in start order, so a duration sort reads
 * every match (index Query, filtered) and sorts in memory: bounded, it stays one Lambda request at
 * any catalogue size (10,000 items are about 6 MB of reads). A broader search is refused naming `sort`.
 */
export const DURATION_SORT_WINDOW = 10_000;

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
  const sort = checkSort(query.sort);
  const meta = metaFilterOf(query);
  const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor, sort);

  // `{from}#` and `{to}#~` sort before/after every key of that instant (rids are [0-9a-z]).
  const fromKey = from === undefined ? undefined : `${from}#`;
  const upTo = to === undefined ? undefined : `${to}#~`;
  const ascending = sort === 'start' && cursor !== undefined && (fromKey === undefined || cursor > fromKey);
  const after = ascending ? cursor : fromKey;
  const before = sort === '-start' ? cursor : undefined;
  const resumeAfter = byDuration(sort) ? cursor : undefined;

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
  return { branches, after, upTo, before, filters, meta, sort, resumeAfter, limit };
}

function checkSort(sort: RecordingSort | undefined): RecordingSort {
  if (sort === undefined) return 'start';
  if (!(RECORDING_SORTS as readonly string[]).includes(sort)) throw new InvalidInputError(`sort must be one of ${RECORDING_SORTS.join(', ')}, got "${String(sort)}"`);
  return sort;
}

function wholeSeconds(field: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidInputError(`${field} must be a whole number of seconds (0 or more), got ${String(value)}`);
  return value;
}

function metaFilterOf(query: RecordingQuery): MetaFilter {
  const { direction } = query;
  if (direction !== undefined && !(RECORDING_DIRECTIONS as readonly string[]).includes(direction)) {
    throw new InvalidInputError(`direction must be one of ${RECORDING_DIRECTIONS.join(', ')}, got "${String(direction)}"`);
  }
  const minDurationSec = wholeSeconds('minDuration', query.minDuration);
  const maxDurationSec = wholeSeconds('maxDuration', query.maxDuration);
  if (minDurationSec !== undefined && maxDurationSec !== undefined && minDurationSec > maxDurationSec) {
    throw new InvalidInputError(`minDuration (${minDurationSec}) must not be more than maxDuration (${maxDurationSec})`);
  }
  return Object.fromEntries(Object.entries({ direction, minDurationSec, maxDurationSec }).filter(([, v]) => v !== undefined)) as MetaFilter;
}

/** Whether an entry's call metadata satisfies the plan's direction and duration conditions. */
export function matchesMeta(item: Record<string, unknown>, filter: MetaFilter): boolean {
  const meta = (item.meta ?? {}) as { direction?: unknown; durationSec?: unknown };
  if (filter.direction !== undefined && meta.direction !== filter.direction) return false;
  if (filter.minDurationSec === undefined && filter.maxDurationSec === undefined) return true;
  const duration = meta.durationSec;
  if (typeof duration !== 'number' || !Number.isFinite(duration)) return false;
  if (filter.minDurationSec !== undefined && duration < filter.minDurationSec) return false;
  return filter.maxDurationSec === undefined || duration <= filter.maxDurationSec;
}

/** Whether an item found on a branch's index satisfies the plan's range and filters. */
export function matchesPlan(item: Record<string, unknown>, plan: SearchPlan): boolean {
  const key = item[SORT_KEY.name];
  if (typeof key !== 'string') return false;
  if (plan.after !== undefined && key <= plan.after) return false;
  if (plan.upTo !== undefined && key > plan.upTo) return false;
  if (plan.before !== undefined && key >= plan.before) return false;
  if (!matchesMeta(item, plan.meta)) return false;
  return plan.filters.every((clause) => clause.anyOf.some(({ attribute, value }) => item[attribute] === value));
}

/**
 * Builds a page from up to limit+1 matching items in sort-key order: the extra item only
 * proves that more follow, so a cursor is never handed out for an empty next page.
 */
export function pageOf(items: Record<string, unknown>[], limit: number, sort: RecordingSort = 'start'): RecordingPage {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  if (items.length > limit && last) return { items: page.map(itemToEntry), cursor: encodeCursor(orderKeyOf(last, sort), sort) };
  return { items: page.map(itemToEntry) };
}

/**
 * A duration sort's page from every match of the search (any order, each once): refused naming
 * `sort` beyond DURATION_SORT_WINDOW matches, else sorted, resumed after the cursor, cut to limit+1.
 */
export function durationPageOf(matches: Record<string, unknown>[], plan: SearchPlan): RecordingPage {
  if (matches.length > DURATION_SORT_WINDOW) {
    throw new InvalidInputError(
      `sort: ordering by duration takes at most ${DURATION_SORT_WINDOW} matching calls and this search matches more; ` +
        'narrow it (from/to, agent, number, callId, direction, minDuration/maxDuration) or sort by start',
      { field: 'sort' },
    );
  }
  const keyed = matches.map((item) => ({ key: durationKeyOf(item), item }));
  keyed.sort((a, b) => compareKeys(a.key, b.key, plan.sort));
  const resume = plan.resumeAfter;
  const rest = resume === undefined ? keyed : keyed.filter(({ key }) => compareKeys(key, resume, plan.sort) > 0);
  return pageOf(rest.slice(0, plan.limit + 1).map(({ item }) => item), plan.limit, plan.sort);
}

/** Whether the plan orders by duration (a bounded in-memory sort of every match). */
export function sortsByDuration(plan: Pick<SearchPlan, 'sort'>): boolean {
  return byDuration(plan.sort);
}

export const SORT_KEY_NAME = SORT_KEY.name;
