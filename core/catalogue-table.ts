// The catalogue table, as data, split by responsibility: the table and its indexes
// (catalogue-schema.ts), items and key builders (catalogue-items.ts), cursors and sort order
// (catalogue-cursor.ts), and the search plan (catalogue-search.ts). This module re-exports them.
// The CDK stack and the local cloud's CreateTable both build the table from CATALOGUE_TABLE, so
// the two cannot drift; MemoryCatalogue and DynamoCatalogue run the same search plan.
//
// Items: recording `pk=REC#{site}#{rid}, sk=REC` (replay is one GetItem); pack
// `pk=PACK#{site}#{packId}, sk=PACK`; another pack holding a recording catalogued elsewhere (the
// same call shipped twice) `pk=REC#{site}#{rid}, sk=COPY#{packId}`, found by the erasure's Query.
// Every search index shares the sort key `startRid = {start as UTC ISO}#{rid}`, unique per site
// and ordered like the results
// (start ascending, then rid), so the last emitted `startRid` is a cursor valid on any index.
// Index partition attributes are absent when the metadata is: the indexes are sparse.
// The time index is sharded (`timePk = {site}#{shard}`, TIME_SHARDS shards by a hash of the rid):
// an agent catching up on a backlog writes one site's entries at once, which on a single
// partition key would throttle. A time search queries every shard and merges by sort key.

export {
  CATALOGUE_INDEXES,
  CATALOGUE_TABLE,
  DEFAULT_PAGE_SIZE,
  ITEM_PREFIXES,
  MAX_PAGE_SIZE,
  INGEST_WRITES,
  PURGE_FORGETS,
  SORT_KEY_NAME,
  TIME_SHARDS,
  leadingKeyPatterns,
  timeShardOf,
  type IndexDefinition,
  type ItemKind,
  type KeyType,
} from './catalogue-schema.ts';
export {
  COPY_SK_PREFIX,
  copyKey,
  copyToItem,
  itemToCopy,
  entryToItem,
  itemToEntry,
  itemToPack,
  normalizeIso,
  normalizeNumber,
  packRecordKey,
  packToItem,
  recordingKey,
  sortKeyOf,
  type CatalogueItem,
} from './catalogue-items.ts';
export { RECORDING_DIRECTIONS, RECORDING_SORTS, compareKeys, decodeCursor, durationKeyOf, encodeCursor, orderKeyOf } from './catalogue-cursor.ts';
export {
  DURATION_SORT_WINDOW,
  durationPageOf,
  matchesMeta,
  matchesPlan,
  pageOf,
  planSearch,
  sortsByDuration,
  type FilterClause,
  type MetaFilter,
  type SearchPlan,
} from './catalogue-search.ts';
