import type { PriceTable, StorageClass } from './cost-prices.ts';
import { CATALOGUE_INDEXES } from './catalogue-schema.ts';

// `ferry cost estimate`: what a site's volumes cost in the deployment's tiers, from a dated
// price table. A model, stated so an operator can check it by hand (docs/operations.md):
// - a month is 30 days; a GB is 2^30 bytes (as S3 bills);
// - recordings are packed `recordingsPerPack` to a tar (512-byte header per member, members
//   padded to 512 bytes, 1 KiB end), uploaded in `partSizeMiB` parts (create + parts +
//   complete requests, or one PUT when it fits in one part), with one manifest each that stays
//   in Standard, read once by the ingest function, which writes one catalogue item per
//   recording (copied into each of the table's five search indexes) and one per pack;
// - an object is billed in a class for at least that class's minimum duration, at least its
//   minimum size, plus the archive classes' per-object overhead (part at the Standard rate);
// - an object under 128 KiB never leaves Standard: S3's lifecycle does not transition objects
//   that small (its default minimum transition size, which the stack keeps; the local S3 too);
// - "per month" is the steady state once the retention is full; "over the retention" is
//   everything billed from a fresh start until the first recordings reach their retention,
//   backups and logs included over those same days.

export const CODEC_BYTES_PER_SECOND = { g711: 8000, g729: 1000, opus: 2000 } as const;
export type Codec = keyof typeof CODEC_BYTES_PER_SECOND;

/** A lifecycle step (infra/lifecycle-tiers.ts `Tier`, structurally). */
export interface CostTier {
  storageClass: Exclude<StorageClass, 'STANDARD'>;
  afterDays: number;
}

export interface CostInput {
  callsPerDay: number;
  codec: Codec;
  avgSeconds: number;
  retentionDays: number;
  recordingsPerPack: number;
  partSizeMiB: number;
  backupGbPerDay: number;
  backupRetentionDays: number;
  /** Binlogs (absent: none): see binlogStreams. */
  binlogs?: BinlogCostInput;
  tiers: { recordings: CostTier[]; backups: CostTier[] };
}

/**
 * One binlog source: `gbPerDay` written, in `segmentsPerDay` segments (1: rotated daily, as with
 * the nightly dump's --flush-logs), a partial of the active segment every `partialIntervalSeconds`
 * (0: none). A closed segment is kept `segmentDays` (as long as the fulls that need it); a
 * partial, the whole prefix again, `partialDays` (its lock plus half the purge interval: the purge
 * deletes it at its first run after the lock, once a newer partial or the closed segment exists).
 */
export interface BinlogCostInput {
  gbPerDay: number;
  segmentsPerDay: number;
  partialIntervalSeconds: number;
  segmentDays: number;
  partialDays: number;
}

export type CostDataClass = 'recordings' | 'manifests' | 'backups' | 'binlogs' | 'binlog partials';

export interface CostLine {
  dataClass: CostDataClass;
  storageClass: StorageClass;
  /** Age of the objects in this class: from `fromDay` to `toDay`. */
  fromDay: number;
  toDay: number;
  /** Steady state: objects and billed GB in this class. */
  objects: number;
  billedGb: number;
  storagePerMonth: number;
  /** Uploads (into Standard) and lifecycle transitions into this class. */
  requestsPerMonth: number;
  overRetention: number;
  /** Reading one recording back from this class (replay by byte range; Deep Archive: restore its pack first). */
  replayOne?: number;
  /** Reading everything in this class back once (a DR restore). */
  retrieveAll: number;
}

export interface CostEstimate {
  volumes: { recordingBytes: number; packBytes: number; packsPerDay: number; recordingsGbPerDay: number; backupGbPerDay: number };
  lines: CostLine[];
  catalogue: { perMonth: number; overRetention: number };
  functions: { perMonth: number; overRetention: number };
  /** perYear: twelve months of the steady state. */
  total: { perMonth: number; perYear: number; overRetention: number };
  /** Deployed parts the price table has no price for: left out of the totals, each said why. */
  unpriced: string[];
  /** Data whose objects are too small for the lifecycle to move them: priced in Standard throughout, each said why. */
  lifecycleWarnings: string[];
  /** What the deployment runs that this model leaves out, each with how to size it. */
  notIncluded: string[];
}

/**
 * Left out of every estimate, with how to size each: the first bill has these lines too. Tree
 * snapshots have a size but no model here yet.
 */
export const NOT_INCLUDED: readonly string[] = [
  "tree snapshots (file shares): a day's new content packs are the share's daily change, plus an index of about 50 B a file (2,000 files: 94 KB), kept by sites[].trees (14 daily, 8 weekly, 12 monthly); price the daily change as --backup-gb-per-day",
  'the daily scrub: reads back reports.scrubSample of the stored packs and backups (Glacier IR retrieval per GB read); S3 server access logs, kept logs.accessLogExpirationDays',
  'CloudWatch: custom metrics (about 4 a site, per metric-month), alarms (per alarm-month: aws cloudwatch describe-alarms counts them), log ingestion and storage of the functions and state machines (logged at level ALL)',
  "the ingest function's duration: 512 MB, per GB-second (eu-west-1 x86 $0.0000166667): at 1 s a manifest, $0.0000083 a pack, about 40 times its request price on the ingest line (its logs show the real duration)",
  'KMS: 3 customer managed keys (per key-month) and their requests; Secrets Manager: 1 secret; Cognito, CloudFront, API Gateway and Function URL requests of the console and the catalogue API',
];

const DAYS_PER_MONTH = 30;
/**
 * S3 lifecycle does not transition an object smaller than this to any class (the default
 * TransitionDefaultMinimumObjectSize, all_storage_classes_128K, which the stack does not change;
 * local/s3-tiers.cjs applies the same rule).
 */
export const LIFECYCLE_MIN_TRANSITION_BYTES = 128 * 1024;
const CATALOGUE_ITEM_BYTES = 1024;
/** A tar's end: two zero blocks. */
const TAR_END_BYTES = 1024;
const MANIFEST_BYTES_PER_MEMBER = 600;

interface Stream {
  dataClass: CostDataClass;
  objectsPerDay: number;
  objectBytes: number;
  putsPerObject: number;
  retentionDays: number;
  tiers: CostTier[];
  /** Per-GB reads for replay: one recording of this size. */
  replayBytes?: number;
}

export function estimateCost(input: CostInput, prices: PriceTable): CostEstimate {
  checkInput(input);
  const gib = prices.gibibyteBytes;
  const recordingBytes = input.callsPerDay > 0 ? input.avgSeconds * CODEC_BYTES_PER_SECOND[input.codec] : 0;
  const memberBytes = 512 + Math.ceil(recordingBytes / 512) * 512;
  const packBytes = input.recordingsPerPack * memberBytes + TAR_END_BYTES;
  const packsPerDay = Math.ceil(input.callsPerDay / input.recordingsPerPack);
  const partBytes = input.partSizeMiB * 1024 * 1024;
  const uploadRequests = (bytes: number) => (bytes <= partBytes ? 1 : Math.ceil(bytes / partBytes) + 2);
  const backupBytes = input.backupGbPerDay * gib;
  const streams: Stream[] = [
    { dataClass: 'recordings', objectsPerDay: packsPerDay, objectBytes: packBytes, putsPerObject: uploadRequests(packBytes), retentionDays: input.retentionDays, tiers: input.tiers.recordings, replayBytes: recordingBytes },
    { dataClass: 'manifests', objectsPerDay: packsPerDay, objectBytes: 1024 + MANIFEST_BYTES_PER_MEMBER * input.recordingsPerPack, putsPerObject: 1, retentionDays: input.retentionDays, tiers: [] },
  ];
  if (input.backupGbPerDay > 0) {
    streams.push({ dataClass: 'backups', objectsPerDay: 1, objectBytes: backupBytes, putsPerObject: uploadRequests(backupBytes) + 1, retentionDays: input.backupRetentionDays, tiers: input.tiers.backups });
  }
  if (input.binlogs && input.binlogs.gbPerDay > 0) streams.push(...binlogStreams(input.binlogs, gib, uploadRequests, input.tiers.backups));
  const lines = streams.flatMap((s) => streamLines(s, prices, packBytes, input.retentionDays));
  const catalogue = catalogueCost(input, packsPerDay, prices);
  const invocationsPerMonth = packsPerDay * DAYS_PER_MONTH;
  const functionsPerMonth = (invocationsPerMonth * prices.lambda.requestsPerMillion) / 1e6 + (invocationsPerMonth * prices.s3.STANDARD.getPer1000) / 1000;
  const functions = { perMonth: functionsPerMonth, overRetention: (functionsPerMonth * input.retentionDays) / DAYS_PER_MONTH };
  const sum = (pick: (l: { perMonth: number; overRetention: number }) => number) =>
    lines.reduce((t, l) => t + pick({ perMonth: l.storagePerMonth + l.requestsPerMonth, overRetention: l.overRetention }), 0) + pick(catalogue) + pick(functions);
  return {
    volumes: { recordingBytes, packBytes, packsPerDay, recordingsGbPerDay: (packsPerDay * packBytes) / gib, backupGbPerDay: input.backupGbPerDay },
    lines,
    catalogue,
    functions,
    total: { perMonth: sum((l) => l.perMonth), perYear: 12 * sum((l) => l.perMonth), overRetention: sum((l) => l.overRetention) },
    unpriced: unpriced(prices),
    lifecycleWarnings: streams.flatMap((stream) => untiered(stream, input)),
    notIncluded: [...NOT_INCLUDED],
  };
}

/**
 * A day of binlog: `segmentsPerDay` closed segments of gbPerDay/segmentsPerDay, and 86,400 /
 * partialIntervalSeconds partials, each the active segment's prefix so far (on average half a
 * segment): a day's partials hold (86,400 / interval) × segment / 2 bytes, 144 GiB for 1 GiB in
 * one daily segment every 300 s. Each object has its manifest (one more PUT).
 */
function binlogStreams(b: BinlogCostInput, gib: number, uploadRequests: (bytes: number) => number, tiers: CostTier[]): Stream[] {
  const segmentBytes = (b.gbPerDay * gib) / b.segmentsPerDay;
  const streams: Stream[] = [{ dataClass: 'binlogs', objectsPerDay: b.segmentsPerDay, objectBytes: segmentBytes, putsPerObject: uploadRequests(segmentBytes) + 1, retentionDays: b.segmentDays, tiers }];
  if (b.partialIntervalSeconds > 0) {
    const partialBytes = segmentBytes / 2;
    streams.push({ dataClass: 'binlog partials', objectsPerDay: 86_400 / b.partialIntervalSeconds, objectBytes: partialBytes, putsPerObject: uploadRequests(partialBytes) + 1, retentionDays: b.partialDays, tiers });
  }
  return streams;
}

function checkInput(input: CostInput): void {
  const problems: string[] = [];
  const positive = (v: number, what: string, allowZero = false) => {
    if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) problems.push(`${what} must be a ${allowZero ? 'non-negative' : 'positive'} number (got ${v})`);
  };
  positive(input.callsPerDay, '--calls-per-day', true);
  positive(input.avgSeconds, '--avg-seconds');
  positive(input.retentionDays, '--retention-days');
  positive(input.backupGbPerDay, '--backup-gb-per-day', true);
  positive(input.backupRetentionDays, '--backup-retention-days');
  positive(input.recordingsPerPack, '--recordings-per-pack');
  if (input.binlogs) {
    positive(input.binlogs.gbPerDay, '--binlog-gb-per-day', true);
    positive(input.binlogs.segmentsPerDay, '--binlog-segments-per-day');
    positive(input.binlogs.partialIntervalSeconds, '--partial-interval-seconds', true);
    positive(input.binlogs.segmentDays, 'the binlog segments\' retention');
    positive(input.binlogs.partialDays, '--partial-lock-days');
  }
  if (!(input.codec in CODEC_BYTES_PER_SECOND)) problems.push(`--codec must be one of ${Object.keys(CODEC_BYTES_PER_SECOND).join(', ')} (got ${input.codec})`);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
}

/** The classes an object passes through before its retention ends, with its age in each. */
function segments(tiers: CostTier[], retentionDays: number): { storageClass: StorageClass; from: number; to: number }[] {
  const steps: { storageClass: StorageClass; afterDays: number }[] = [{ storageClass: 'STANDARD', afterDays: 0 }, ...[...tiers].sort((a, b) => a.afterDays - b.afterDays)];
  return steps
    .map((step, i) => ({ storageClass: step.storageClass, from: step.afterDays, to: Math.min(steps[i + 1]?.afterDays ?? Infinity, retentionDays) }))
    .filter((seg) => seg.from < retentionDays);
}

/**
 * Object-days in a class that holds ages `from` to `to`, summed from a fresh start to day
 * `horizon`: ∫₀^horizon clamp(t − from, 0, to − from) dt (one object written a day).
 */
function stockDays(from: number, to: number, horizon: number): number {
  if (horizon <= from) return 0;
  if (horizon <= to) return (horizon - from) ** 2 / 2;
  return (to - from) ** 2 / 2 + (to - from) * (horizon - to);
}

function streamLines(stream: Stream, prices: PriceTable, packBytes: number, horizonDays: number): CostLine[] {
  const gib = prices.gibibyteBytes;
  const std = prices.s3.STANDARD;
  const tiers = stream.objectBytes < LIFECYCLE_MIN_TRANSITION_BYTES ? [] : stream.tiers;
  return segments(tiers, stream.retentionDays).map((seg, i) => {
    const p = prices.s3[seg.storageClass];
    const days = seg.to - seg.from;
    const billedDays = Math.max(days, p.minimumDays);
    const inClassBytes = Math.max(stream.objectBytes, p.minimumObjectBytes) + p.overheadBytesInClass;
    const objects = stream.objectsPerDay * days;
    const billedObjects = stream.objectsPerDay * billedDays;
    const billedGb = (billedObjects * inClassBytes) / gib;
    const overheadGb = (billedObjects * p.overheadBytesAtStandard) / gib;
    const storagePerMonth = billedGb * p.storagePerGbMonth + overheadGb * std.storagePerGbMonth;
    const perObjectRequests = i === 0 ? (stream.putsPerObject * std.putPer1000) / 1000 : p.transitionInPer1000 / 1000;
    const requestsPerMonth = stream.objectsPerDay * DAYS_PER_MONTH * perObjectRequests;
    // From a fresh start to the horizon (the recordings' retention, for every stream: the column's
    // days), the stock in this class grows from 0 to `days` days of objects, then holds; each object
    // that left it before its minimum duration is billed the rest; uploads run from day 0,
    // transitions into this class only once the first objects reach its age.
    const left = stream.objectsPerDay * Math.max(0, horizonDays - seg.to);
    const objectDays = stream.objectsPerDay * stockDays(seg.from, seg.to, horizonDays) + left * (billedDays - days);
    const requestsOverHorizon = stream.objectsPerDay * Math.max(0, horizonDays - seg.from) * perObjectRequests;
    const overRetention =
      ((objectDays / gib) * (inClassBytes * p.storagePerGbMonth + p.overheadBytesAtStandard * std.storagePerGbMonth)) / DAYS_PER_MONTH + requestsOverHorizon;
    const readPer1000 = seg.storageClass === 'DEEP_ARCHIVE' ? (p.restoreRequestPer1000 ?? 0) + std.getPer1000 : p.getPer1000;
    const retrieveAll = (stream.objectsPerDay * days * readPer1000) / 1000 + ((stream.objectsPerDay * days * stream.objectBytes) / gib) * p.retrievalPerGb;
    const replayOne =
      stream.replayBytes === undefined
        ? undefined
        : seg.storageClass === 'DEEP_ARCHIVE'
          ? readPer1000 / 1000 + (packBytes / gib) * p.retrievalPerGb
          : p.getPer1000 / 1000 + (stream.replayBytes / gib) * p.retrievalPerGb;
    return { dataClass: stream.dataClass, storageClass: seg.storageClass, fromDay: seg.from, toDay: seg.to, objects, billedGb, storagePerMonth, requestsPerMonth, overRetention, replayOne, retrieveAll };
  });
}

/**
 * The catalogue as deployed: a recording's item is written to the table and copied whole into
 * every search index (CATALOGUE_INDEXES, projection ALL: time, agent, call id, caller, called),
 * each copy a write and stored bytes of its own; point-in-time recovery bills the table's size
 * again (`pointInTimeRecoveryPerGbMonth`). Once the retention is full, the purge deletes as many
 * items a day as ingest writes (forgetPack: each delete a write of the item's size, in the table
 * and in every index): the steady state pays the writes twice, the first retention once.
 */
function catalogueCost(input: CostInput, packsPerDay: number, prices: PriceTable): { perMonth: number; overRetention: number } {
  const copies = 1 + Object.keys(CATALOGUE_INDEXES).length;
  const writesPerMonth = (input.callsPerDay * copies + packsPerDay) * DAYS_PER_MONTH;
  const writes = (writesPerMonth * prices.dynamodb.writeRequestUnitsPerMillion) / 1e6;
  const dailyGb = (input.callsPerDay * CATALOGUE_ITEM_BYTES * copies) / prices.gibibyteBytes;
  const perGbMonth = prices.dynamodb.storagePerGbMonth + (prices.dynamodb.pointInTimeRecoveryPerGbMonth ?? 0) / copies;
  const D = input.retentionDays;
  return {
    perMonth: 2 * writes + dailyGb * D * perGbMonth,
    overRetention: (writes * D) / DAYS_PER_MONTH + (((dailyGb * D * D) / 2) * perGbMonth) / DAYS_PER_MONTH,
  };
}

/** A stream whose lifecycle tiers S3 will not apply: its objects are under the transition minimum. */
function untiered(stream: Stream, input: CostInput): string[] {
  if (stream.tiers.length === 0 || stream.objectBytes >= LIFECYCLE_MIN_TRANSITION_BYTES) return [];
  const classes = stream.tiers.map((t) => t.storageClass).join(' and ');
  const why = `S3's lifecycle does not move objects under 128 KiB (its default minimum transition size)`;
  const remedy = stream.dataClass === 'recordings' ? `; a pack reaches ${classes} from ${Math.ceil((LIFECYCLE_MIN_TRANSITION_BYTES - TAR_END_BYTES) / ((stream.objectBytes - TAR_END_BYTES) / input.recordingsPerPack))} recordings of this size (--recordings-per-pack; the source's closeAfterFiles and the recorder's batches decide it)` : '';
  return [`${stream.dataClass}: objects of ${Math.round(stream.objectBytes).toLocaleString('en-US')} B stay in STANDARD for their whole retention, never ${classes}: ${why}, so they are priced there${remedy}`];
}

/** What the deployed stack runs that this price table cannot price (an older table, another region's). */
function unpriced(prices: PriceTable): string[] {
  const missing: string[] = [];
  if (prices.dynamodb.pointInTimeRecoveryPerGbMonth === undefined) {
    missing.push("the catalogue's point-in-time recovery (always on in the deployed stack) is not priced: the price table has no dynamodb.pointInTimeRecoveryPerGbMonth; it bills the base table's size again");
  }
  return missing;
}
