import { ITEM_PREFIXES } from './catalogue-table.ts';
import type { PackRecord } from './ports.ts';

// What an officer sees of a call's pack: its archive tier and its recall.
//
// The recall status record: one per pack (`pk=RECALL#{site}, sk={packKey}`), written by the recall
// workflow's steps only (functions/recall: the request, then each check), never by ingest or
// `catalogue rebuild` (those write REC#/PACK# items only), so neither can reset it. The newest
// request owns the record: a check of an older execution does not overwrite a newer request's.
//
// The archive tier is predicted, not asked of S3: the console and the catalogue API may not read
// packs (no s3:GetObject/HEAD), and the lifecycle rule that moves them is configuration the stack
// passes to the functions (PACK_TIERS, built from the same tiers as the bucket's rules). S3 runs
// lifecycle transitions asynchronously, up to about 48 h after they are due, so a pack just past
// its day may still be instantly readable; a recall then answers "available" at once, because the
// workflow asks S3 itself.

/** Storage classes whose objects must be restored before they can be read. */
export const ARCHIVED_CLASSES: ReadonlySet<string> = new Set(['DEEP_ARCHIVE', 'GLACIER']);
/** S3 lifecycle does not transition objects under 128 KiB (its default since September 2024). */
export const MIN_TRANSITION_BYTES = 128 * 1024;
/** How late S3 may run a due transition: a recall that found the pack instantly readable holds this long. */
export const LIFECYCLE_LATENESS_MS = 48 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/** One transition of the packs' lifecycle rule (infra/lifecycle-tiers.ts `tiersByClass(…).recordings`). */
export interface PackTier {
  storageClass: string;
  afterDays: number;
}

export type RecallRecordState = 'restoring' | 'available' | 'gave-up';

export interface RecallStatusRecord {
  site: string;
  packKey: string;
  /** The recording the request named (any recording of the pack plays once it is restored). */
  rid?: string;
  state: RecallRecordState;
  requester: string;
  /** ISO; identifies the request (the newest request owns the record). */
  requestedAt: string;
  /** The storage class S3 reported at the last step. */
  storageClass: string;
  /** Checks done so far (0 after the request). */
  polls: number;
  /** Until when the restored copy is readable (S3's expiry-date), once available. */
  availableUntil?: string;
  updatedAt: string;
}

export interface RecallStatusStore {
  /**
   * Writes the record. With `ifRequestedAt`, only while the stored record is that request's (or
   * there is none): answers false, writing nothing, when a newer request took the record over.
   */
  put(record: RecallStatusRecord, options?: { ifRequestedAt?: string }): Promise<boolean>;
  /** The pack's record, or undefined when no recall was ever recorded. */
  get(site: string, packKey: string): Promise<RecallStatusRecord | undefined>;
}

export function recallPk(site: string): string {
  return `${ITEM_PREFIXES.recall}${site}`;
}

/** The recall as the status routes answer it (`GET …/recordings/{rid}/recall`). */
export interface RecallView {
  state: 'none' | RecallRecordState;
  requestedAt?: string;
  requester?: string;
  availableUntil?: string;
  polls?: number;
  updatedAt?: string;
  /** The storage class S3 reported at the recall's last step. */
  storageClass?: string;
  /** state none after a recall: when its restored copy stopped being readable. */
  expiredAt?: string;
}

/** The record as of `now`: an available copy past availableUntil is no recall any more (none). */
export function recallView(record: RecallStatusRecord | undefined, now: Date): RecallView {
  if (!record) return { state: 'none' };
  const { state, requestedAt, requester, polls, updatedAt, availableUntil, storageClass } = record;
  if (state === 'available') {
    // Without availableUntil S3 found the pack instantly readable (not yet moved): good while the lifecycle may still be late.
    const until = availableUntil ?? new Date(Date.parse(updatedAt) + LIFECYCLE_LATENESS_MS).toISOString();
    if (Date.parse(until) <= now.getTime()) return { state: 'none', expiredAt: until };
  }
  return { state, requestedAt, requester, polls, updatedAt, storageClass, ...(availableUntil ? { availableUntil } : {}) };
}

/** When S3 makes a transition due: creation + days, rounded up to the next midnight UTC (S3's rule). */
export function transitionDueAt(createdAt: string, afterDays: number): Date {
  const due = Date.parse(createdAt) + afterDays * DAY_MS;
  return new Date(Math.ceil(due / DAY_MS) * DAY_MS);
}

/** The storage class the lifecycle rule gives the pack at `now`, and when it enters an archive class (if it ever does). */
export function predictedClass(pack: Pick<PackRecord, 'createdAt' | 'size'>, tiers: readonly PackTier[], now: Date): { storageClass: string; archiveAt?: string } {
  if (pack.size < MIN_TRANSITION_BYTES) return { storageClass: 'STANDARD' };
  let storageClass = 'STANDARD';
  let archiveAt: Date | undefined;
  for (const tier of [...tiers].sort((a, b) => a.afterDays - b.afterDays)) {
    const due = transitionDueAt(pack.createdAt, tier.afterDays);
    if (ARCHIVED_CLASSES.has(tier.storageClass) && (archiveAt === undefined || due < archiveAt)) archiveAt = due;
    if (due.getTime() <= now.getTime()) storageClass = tier.storageClass;
  }
  return { storageClass, ...(archiveAt ? { archiveAt: archiveAt.toISOString() } : {}) };
}

/** The `archive` field of a recording (GET …/recordings/{rid}). */
export interface ArchiveView {
  state: 'online' | 'archived' | 'restoring' | 'restored';
  storageClass: string;
  availableUntil?: string;
  /** When the lifecycle rule moves (or moved) the pack to an archive class; absent when it never does. */
  archiveAt?: string;
}

/** The pack's predicted tier combined with its recall. */
export function archiveView(pack: Pick<PackRecord, 'createdAt' | 'size'>, tiers: readonly PackTier[], recall: RecallView, now: Date): ArchiveView {
  const { storageClass, archiveAt } = predictedClass(pack, tiers, now);
  const when = archiveAt ? { archiveAt } : {};
  if (!ARCHIVED_CLASSES.has(storageClass)) return { state: 'online', storageClass, ...when };
  if (recall.state === 'restoring') return { state: 'restoring', storageClass, ...when };
  if (recall.state === 'available') {
    return recall.availableUntil ? { state: 'restored', storageClass, availableUntil: recall.availableUntil, ...when } : { state: 'online', storageClass: recall.storageClass ?? storageClass, ...when };
  }
  return { state: 'archived', storageClass, ...when };
}

/** RecallStatusStore in memory (tests). */
export class MemoryRecallStatusStore implements RecallStatusStore {
  readonly records = new Map<string, RecallStatusRecord>();

  async put(record: RecallStatusRecord, options: { ifRequestedAt?: string } = {}): Promise<boolean> {
    const key = `${record.site}\u0000${record.packKey}`;
    const stored = this.records.get(key);
    if (options.ifRequestedAt !== undefined && stored && stored.requestedAt !== options.ifRequestedAt) return false;
    this.records.set(key, structuredClone(record));
    return true;
  }

  async get(site: string, packKey: string): Promise<RecallStatusRecord | undefined> {
    const found = this.records.get(`${site}\u0000${packKey}`);
    return found && structuredClone(found);
  }
}
