import type { Readable } from 'node:stream';
import type { CallMetadata, ShippedBy } from './manifest.ts';
import type { SnapshotPage, SnapshotQuery } from './snapshot-items.ts';
import type { SnapshotSummary } from './tree-manifest.ts';

// Ports: the narrow interfaces the domain needs from the outside world. Each method states
// its contract; every implementation (memory fake, S3, DynamoDB) passes the same contract suite.

export interface BlobInfo {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
  storageClass?: string;
  /** User metadata (x-amz-meta-*), lower-case keys. */
  metadata?: Record<string, string>;
}

export interface ByteRange {
  /** Inclusive first byte. */
  start: number;
  /** Inclusive last byte. */
  end: number;
}

export interface BlobBody {
  body: Readable;
  /**
   * Where the store offers it (S3 with `directGets`): reads the whole body into `target` from
   * its start, with no chunk of its own, instead of `body`; resolves with its length. Rejects,
   * discarding the body, when the body is longer than `target` or is cut short.
   */
  readInto?(target: Uint8Array): Promise<number>;
  /** Size of the whole object. */
  size: number;
  /** Bytes in this body (size, or the range's length). */
  length: number;
  contentType?: string;
  etag?: string;
  /** The object version read, where the store keeps versions (custody reports name it). */
  versionId?: string;
}

export interface PutOptions {
  contentType?: string;
  metadata?: Record<string, string>;
  storageClass?: string;
  /** Base64 SHA-256 of the body; stores that check checksums reject a mismatch. */
  sha256?: string;
  /** Refuse to replace an existing object (If-None-Match: *); throws AlreadyExistsError. */
  ifNoneMatch?: boolean;
  /** Base64 MD5 of the body (Content-MD5), when the caller already took it; S3 adapters compute it otherwise. */
  md5?: string;
  /**
   * Object Lock: retention until this date instead of the bucket's default retention (a copy that
   * must be able to expire sooner: a case export, a binlog partial). Needs s3:PutObjectRetention.
   */
  retainUntil?: Date;
  /** The retention mode of `retainUntil` (default GOVERNANCE); a binlog partial takes the bucket's. */
  lockMode?: 'GOVERNANCE' | 'COMPLIANCE';
}

export interface CompletedPart {
  partNumber: number;
  etag: string;
  /** Base64 SHA-256 of the part, when it was sent with one. */
  sha256?: string;
}

export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated?: Date;
}

/** What a store can do, declared rather than guessed (local stand-ins lack some of S3). */
export interface BlobStoreFeatures {
  /** The store verifies the SHA-256 sent with a put or part and can report it back. */
  verifiesChecksums: boolean;
  /** The store honours If-None-Match: * on put. */
  conditionalPut: boolean;
  /**
   * The ETag of a part or of a single-PUT object is the MD5 of the bytes stored (S3 without
   * SSE-KMS, the stand-ins, most S3-compatible stores), so a writer can check it. Absent: unknown.
   */
  md5ETags?: boolean;
  /** The most parts one multipart upload may have; absent: S3's 10,000 (agent/part-size.ts). */
  maxParts?: number;
}

export interface BlobStore {
  readonly features: BlobStoreFeatures;
  /**
   * How far the store's clock is from this machine's (ms, the store's minus this one's), as its
   * last answers said (S3's Date header); undefined when the store does not say.
   */
  clockOffsetMs?(): number | undefined;
  /** Stores the whole body under key. Replaces unless ifNoneMatch. Retryable errors: TransientError. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag?: string }>;
  /** Metadata of key, or undefined when absent. Never throws NotFound. */
  head(key: string): Promise<BlobInfo | undefined>;
  /** Body of key (or of the inclusive range). NotFoundError when absent; RangeNotSatisfiableError when start >= size. */
  get(key: string, range?: ByteRange): Promise<BlobBody>;
  /** Every object under prefix in key order, paginating internally. */
  /** `pageSize`: keys asked for a request (S3's MaxKeys; default 1,000): a caller that wants only the first few need not fetch a thousand. */
  list(prefix: string, options?: { pageSize?: number }): AsyncIterable<BlobInfo>;
  /** Deletes key; deleting an absent key succeeds (idempotent). */
  delete(key: string): Promise<void>;
  /** Starts a multipart upload and returns its id. */
  createMultipart(key: string, options?: Omit<PutOptions, 'sha256' | 'ifNoneMatch'>): Promise<string>;
  /**
   * Uploads one part (1-based). Parts other than the last must be at least 5 MiB on S3. `sha256`
   * and `md5` (base64) are checksums of the body a verifying store checks; IntegrityError on a mismatch.
   */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, sha256?: string, md5?: string): Promise<CompletedPart>;
  /** Assembles the parts in order into the object. NotFoundError when the upload is unknown; with ifNoneMatch, AlreadyExistsError when the key exists. */
  completeMultipart(key: string, uploadId: string, parts: CompletedPart[], options?: { ifNoneMatch?: boolean }): Promise<{ etag?: string }>;
  /** Discards an upload and its parts; aborting an unknown or finished upload succeeds (idempotent). */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** Uploads begun and neither completed nor aborted, under prefix. Not for the agent: its role may not list them (infra/site-policies.ts). */
  listMultipart(prefix: string): AsyncIterable<MultipartUpload>;
  /**
   * Whether the upload `uploadId` of `key` is still open (S3 ListParts, which an agent role may
   * ask of its own keys): false when the store no longer has it (NoSuchUpload: aborted, completed,
   * or ended by the bucket's lifecycle rule).
   */
  uploadOpen(key: string, uploadId: string): Promise<boolean>;
}

/** One recording as the catalogue knows it: enough to find it and to replay it from its pack. */
export interface CatalogueEntry {
  site: string;
  rid: string;
  source: string;
  packId: string;
  packKey: string;
  manifestKey: string;
  /** Byte offset and length of the recording inside the pack. */
  offset: number;
  length: number;
  sha256: string;
  contentType: string;
  path: string;
  /** Start of the call (ISO, UTC); falls back to the file time when metadata lacks it. */
  start: string;
  meta: CallMetadata;
  /**
   * What the agent could not read of the recorder's metadata, as its manifest says (a sidecar
   * time it could not read, so the start is the file's time): shown with the call, so that a
   * start the recorder never wrote is not taken for fact.
   */
  issues?: string[];
  /** The agent that shipped the recording's pack (its manifest's `shippedBy`): which recorder host it came from. Absent for one shipped before 2026-12-07. */
  shippedBy?: ShippedBy;
}

export interface RecordingQuery {
  site: string;
  /** Inclusive ISO bounds on the call start. */
  from?: string;
  to?: string;
  agent?: string;
  /** Matches caller or called. */
  number?: string;
  callId?: string;
  /** `meta.direction` equals it. */
  direction?: RecordingDirection;
  /** Inclusive bounds on `meta.durationSec`, whole seconds; an entry without a duration never matches either. */
  minDuration?: number;
  maxDuration?: number;
  /** Order of the results (default `start`: call start ascending, then rid). */
  sort?: RecordingSort;
  /** Page size, 1..1000. */
  limit?: number;
  /** Opaque cursor from the previous page (of a search with the same sort). */
  cursor?: string;
  /** How much of the catalogue this page may read; absent: as much as the search needs. */
  budget?: ReadBudget;
}

/**
 * A bound on one search page's reads, so that a filter few calls match cannot read a whole site
 * past the function's timeout: `items` counts the index entries read, matching or not (what
 * DynamoDB's ScannedCount counts); no further read starts at or after `deadline` (epoch ms).
 * A page that runs out of budget before it fills is `stopped` (RecordingPage).
 */
export interface ReadBudget {
  items?: number;
  deadline?: number;
}

export type RecordingDirection = 'inbound' | 'outbound' | 'internal';
/** `start`/`-start`: by call start (then rid), ascending/descending; `duration`/`-duration`: by duration (then start, rid), calls without one last. */
export type RecordingSort = 'start' | '-start' | 'duration' | '-duration';

export interface RecordingPage {
  items: CatalogueEntry[];
  /** Present when more results follow (or, `stopped`, may follow: the search goes on from it). */
  cursor?: string;
  /** Index entries the page read (with a budget: what it counted against it). */
  read?: number;
  /**
   * The budget ran out before the page could be closed: `items` are every match up to the cursor
   * (fewer than the limit, perhaps none, or exactly the limit when it ran out before the match
   * that would tell whether more follow) and the cursor goes on from where the reading stopped.
   */
  stopped?: boolean;
}

export interface PackRecord {
  site: string;
  packId: string;
  packKey: string;
  manifestKey: string;
  source: string;
  members: number;
  size: number;
  createdAt: string;
}

/**
 * Another pack that holds a recording catalogued in a first one: the same site, path and bytes
 * shipped twice (an agent that lost its state directory, a recorder copied to a new PC), perhaps
 * filed under another day. Search and replay keep the first copy; an erasure deletes every one.
 */
export interface RecordingCopy {
  site: string;
  rid: string;
  packId: string;
  packKey: string;
  manifestKey: string;
}

/** One artefact (full backup, log segment, closed archive) as the catalogue knows it: its manifest's fields, plus where the manifest is. */
export interface ArtefactEntry {
  site: string;
  source: string;
  sourceType: 'rotated' | 'binlog' | 'archive';
  role: 'full' | 'segment' | 'archive';
  artefactId: string;
  /** The artefact's object key. */
  key: string;
  manifestKey: string;
  /** Path relative to the source root, as the site wrote it. */
  name: string;
  size: number;
  sha256: string;
  /** ISO, UTC (normalized on write). */
  takenAt: string;
  span?: { from: string; to: string };
  spanSource?: 'events' | 'name' | 'file-times';
  sequence?: number;
  series?: string;
  partial?: boolean;
  position?: { logFile: string; logPos: number };
  profile?: string;
  slot?: string;
  createdAt: string;
  /** The agent that shipped it (its manifest's `shippedBy`); absent for one shipped before 2026-12-07. */
  shippedBy?: ShippedBy;
}

export interface ArtefactQuery {
  site: string;
  source?: string;
  role?: ArtefactEntry['role'];
  /** Inclusive ISO bounds on takenAt. */
  from?: string;
  to?: string;
  /** Segments only (needs source and role 'segment'): sequence numbers from this one up. */
  fromSequence?: number;
  /** Page size, 1..1000. */
  limit?: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

export interface ArtefactPage {
  items: ArtefactEntry[];
  /** Present when more results follow. */
  cursor?: string;
}

/** A source that has shipped artefacts: lets a site's sources be listed, and a binlog source paired with a full-backup source, without a Scan. */
export interface ArtefactSourceRecord {
  site: string;
  source: string;
  sourceType: ArtefactEntry['sourceType'];
  /** Segment series last seen (binlog sources), e.g. `mysql-bin`. */
  series?: string;
}

/** The key of a recording in getRecordings' answer. */
export function recordingLookupKey(site: string, rid: string): string {
  return `${site}/${rid}`;
}

export interface CatalogueStore {
  /** Writes entries, batched; writing the same rid again replaces it (idempotent). */
  putRecordings(entries: CatalogueEntry[]): Promise<void>;
  /** Records that a pack's manifest was ingested (idempotent). */
  putPack(pack: PackRecord): Promise<void>;
  /** Records the other packs holding recordings catalogued elsewhere (idempotent: one item per recording and pack). */
  putCopies(copies: RecordingCopy[]): Promise<void>;
  /** The other copies of each recording (by a Query of its partition), keyed `recordingLookupKey(site, rid)`; none recorded, no key. */
  copiesOf(site: string, rids: readonly string[]): Promise<Map<string, RecordingCopy[]>>;
  /** One entry, or undefined when absent. */
  getRecording(site: string, rid: string): Promise<CatalogueEntry | undefined>;
  /**
   * The entries of many recordings at once (DynamoDB: BatchGetItem, 100 keys a request), keyed
   * `recordingLookupKey(site, rid)`; an absent recording has no key in the map.
   */
  getRecordings(keys: readonly { site: string; rid: string }[]): Promise<Map<string, CatalogueEntry>>;
  /**
   * Where each of these recordings is catalogued now (its pack key), keyed as getRecordings'; an
   * absent one has no key. Ingest's check that it re-points no call: the pack key alone is read.
   */
  packKeysOf(keys: readonly { site: string; rid: string }[]): Promise<Map<string, string>>;
  /** The pack record ingest wrote for a pack's manifest (its createdAt and size), or undefined when absent. */
  getPack(site: string, packId: string): Promise<PackRecord | undefined>;
  /**
   * Results in the query's sort (default: call start ascending, then rid). InvalidInputError on a
   * bad cursor (or one from a search with another sort), and on a duration sort of a search that
   * matches more than DURATION_SORT_WINDOW calls (naming `sort`), or whose budget runs out
   * before it has read every match (a duration order needs them all). A `budget` bounds what a
   * page reads: see ReadBudget and RecordingPage.stopped.
   */
  searchRecordings(query: RecordingQuery): Promise<RecordingPage>;
  /**
   * Removes a purged pack's recording entries, the copies it held (putCopies) and its pack record
   * (idempotent: absent items are fine). An entry goes only while it names this pack: one that
   * names another pack now (the call copied out, or catalogued in another copy since the caller
   * looked) stays.
   */
  forgetPack(site: string, packId: string, rids: string[]): Promise<void>;
  /** Removes a purged artefact's entry (idempotent). */
  forgetArtefact(entry: ArtefactEntry): Promise<void>;
  /** Writes one artefact entry and its source record; the same artefactId again replaces it (idempotent). InvalidInputError on a bad entry. */
  putArtefact(entry: ArtefactEntry): Promise<void>;
  /**
   * One page of a site's artefacts, by Query only. Order: source, then role (archive, full,
   * segment), then takenAt for fulls and archives, sequence for segments, then artefactId.
   * Partial segments are listed beside their finals (the restore planner chooses).
   * InvalidInputError on a bad cursor, limit or bound.
   */
  listArtefacts(query: ArtefactQuery): Promise<ArtefactPage>;
  /** Every source of the site that has shipped an artefact, by source name; [] when none. */
  listArtefactSources(site: string): Promise<ArtefactSourceRecord[]>;
  /** Writes one tree snapshot's summary; the same snapshot again replaces it (idempotent). InvalidInputError on a bad summary. */
  putSnapshot(summary: SnapshotSummary): Promise<void>;
  /**
   * One page of a site's tree snapshots, by Query only: newest first within a source (sources in
   * descending name order when no source is given); `at` keeps those taken at or before it.
   * InvalidInputError on a bad cursor, limit or time.
   */
  listSnapshots(query: SnapshotQuery): Promise<SnapshotPage>;
  /** Removes a purged snapshot's summary (idempotent). */
  forgetSnapshot(summary: Pick<SnapshotSummary, 'site' | 'source' | 'takenAt' | 'snapshotId'>): Promise<void>;
}

export type AlertSeverity = 'info' | 'warning' | 'critical';

export interface Alert {
  severity: AlertSeverity;
  site: string;
  subject: string;
  message: string;
  /** Stable identity of what the alert is about (a condition or a loss): the same key is the same matter, raised, repeated or resolved. */
  key?: string;
  /** What sort of matter (e.g. `purge-missed`), sent as the `kind` message attribute for subscription filters; absent: no attribute. */
  kind?: string;
  details?: Record<string, unknown>;
}

export interface Notifier {
  /**
   * Hands the alert to its channel; NotDeliveredError when it could not. The agent's notifier
   * throws it only when no configured hook took the alert, and its callers (the alert book, the
   * loss reporter) catch it, go on shipping and send the alert again on the next pass; the
   * cloud's SnsNotifier logs, counts and throws it, so a scheduled function fails and its retry
   * and dead-letter queue see it.
   */
  notify(alert: Alert): Promise<void>;
}
