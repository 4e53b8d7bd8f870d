import { InvalidInputError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import { CATALOGUE_INDEXES, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SORT_KEY_NAME, TIME_SHARDS, timePartition, type IndexDefinition } from './catalogue-schema.ts';
import { indexKey, normalizeIso, normalizeNumber, normalizeText } from './catalogue-items.ts';
import { RECORDING_DIRECTIONS, RECORDING_SORTS, byDuration, compareKeys, decodeCursor, durationKeyOf, encodeCursor, orderKeyOf } from './catalogue-cursor.ts';
import { checkBudget, entriesWithin } from './catalogue-budget.ts';
import type { ReadBudget, RecordingDirection, RecordingPage, RecordingQuery, RecordingSort } from './ports.ts';

// The search plan: which index to query and what to filter, shared by MemoryCatalogue and
// DynamoCatalogue, and the pages built from what the plan finds.

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
  /** How much the page may read (core/catalogue-budget.ts); absent: unbounded. */
  budget?: ReadBudget;
}

/**
 * Most calls a duration sort orders. The indexes are all in start order, so a duration sort reads
 * every match (index Query, filtered) and sorts in memory: bounded, it stays one Lambda request at
 * any catalogue size (10,000 items are about 6 MB of reads). A broader search is refused naming `sort`.
 */
export const DURATION_SORT_WINDOW = 10_000;

function numberClause(site: string, number: string): FilterClause {
  const value = indexKey(site, normalizeNumber(number));
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
    branches = [{ index: CATALOGUE_INDEXES.byCallId, partitionValue: indexKey(site, normalizeText(callId)) }];
    if (agent !== undefined) filters.push({ anyOf: [{ attribute: 'agentPk', value: indexKey(site, normalizeText(agent)) }] });
    if (number !== undefined) filters.push(numberClause(site, number));
  } else if (agent !== undefined) {
    branches = [{ index: CATALOGUE_INDEXES.byAgent, partitionValue: indexKey(site, normalizeText(agent)) }];
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
  const budget = checkBudget(query.budget);
  return { branches, after, upTo, before, filters, meta, sort, resumeAfter, limit, ...(budget ? { budget } : {}) };
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
  const key = item[SORT_KEY_NAME];
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
  const { entries, last: cutAfter } = entriesWithin(items, limit);
  const last = cutAfter ?? (items.length > limit ? items[limit - 1] : undefined);
  if (last) return { items: entries, cursor: encodeCursor(orderKeyOf(last, sort), sort) };
  return { items: entries };
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
