// The catalogue table's shape, as data: the CDK stack and the local cloud's CreateTable both build
// the table from CATALOGUE_TABLE, and the IAM policies read ITEM_PREFIXES (see core/catalogue-table.ts).

export type KeyType = 'S';

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: { readonly name: string; readonly type: KeyType };
  readonly sortKey: { readonly name: string; readonly type: KeyType };
  readonly projection: 'ALL';
}

const SORT_KEY = { name: 'startRid', type: 'S' } as const;

/** The sort key every search index shares: `{start as UTC ISO}#{rid}`. */
export const SORT_KEY_NAME = SORT_KEY.name;

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


export function timePartition(site: string, shard: number): string {
  return `${site}#${shard}`;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

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
  /** Erasure requests (core/erasure-items.ts): written by the holds function and the purge, never by ingest or rebuild. */
  erasure: 'ERASE#',
  /** Console case exports' status records (core/exports.ts). */
  export: 'EXPORT#',
  /** Recall status records (core/recall-status.ts): written by the recall workflow only, never by ingest or rebuild. */
  recall: 'RECALL#',
  /** The dead-man's switch's memory of each site (adapters/dynamo-deadman.ts). */
  deadman: 'DEADMAN#',
  /** A purge's record of each run, written as it starts (core/purge-watch.ts): the purge role's only write of its kind, read by the dead-man's switch. */
  purgeRun: 'PURGERUN#',
  /** The purge's open intents (core/purge-intents.ts): written and closed by the purge only; read by the audit view. */
  purgeIntent: 'PURGEINTENT#',
} as const;
export type ItemKind = keyof typeof ITEM_PREFIXES;

/** What ingest (and a rebuild) writes: the items a manifest makes. */
export const INGEST_WRITES: readonly ItemKind[] = ['recording', 'pack', 'artefact', 'artefactSource', 'snapshot'];

/** What the purge removes from the catalogue (CatalogueStore forgetPack, forgetArtefact, forgetSnapshot). */
export const PURGE_FORGETS: readonly ItemKind[] = ['recording', 'pack', 'artefact', 'snapshot'];

/** `REC#*`-style patterns for a `dynamodb:LeadingKeys` condition. */
export function leadingKeyPatterns(kinds: readonly ItemKind[]): string[] {
  return kinds.map((kind) => `${ITEM_PREFIXES[kind]}*`);
}
