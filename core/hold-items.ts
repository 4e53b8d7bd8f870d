import { ITEM_PREFIXES } from './catalogue-table.ts';
import { defined } from './defined.ts';
import { FerryError, InvalidInputError } from './errors.ts';

// Legal holds and cases as catalogue items. They are their own records, never written by
// ingest or `catalogue rebuild` (those write REC#/PACK# items only), so a re-ingest of a
// manifest cannot wipe a hold. One partition per site for each kind: a site has few holds
// and cases, and the purge reads every hold of its site with one Query.
//
// Hold: `pk=HOLD#{site}, sk={rid}#{placedAt}#{scope}`. A record is never deleted: a release
//   writes releasedBy/At/Reason on it, so the history (who placed, who released, why) stays.
// Case: `pk=CASE#{site}, sk={caseId}`, with its member list and, while the case is held,
//   `held` (who placed the case hold, when, why). Every request that changes a case reads it
//   whole and writes it whole, so each write is conditional on the `version` it read (absent on
//   records from before: version 0) and writes the next: two officers (or the console and the
//   CLI, or a retry beside a running request) on one case never silently undo each other's part.

/** Who placed a hold: on the call itself, or because the call is a member of a held case. */
export type HoldScope = { kind: 'call' } | { kind: 'case'; caseId: string };

export interface HoldRecord {
  site: string;
  rid: string;
  scope: HoldScope;
  reason: string;
  reference?: string;
  placedBy: string;
  /** ISO, UTC. */
  placedAt: string;
  releasedBy?: string;
  releasedAt?: string;
  releaseReason?: string;
}

export interface CaseHold {
  by: string;
  at: string;
  reason: string;
  reference?: string;
}

/**
 * A case's release under way (core/case-release.ts): who started it, when, why, and how far
 * down the member list it has gone. Every member before `done` has its record of the case
 * released and its objects' legal hold OFF where no other held call shares them.
 */
export interface CaseRelease {
  by: string;
  at: string;
  reason: string;
  done: number;
}

export interface CaseRecord {
  site: string;
  caseId: string;
  name: string;
  reason: string;
  reference?: string;
  createdBy: string;
  createdAt: string;
  /** Recording ids, in the order they were added. */
  members: string[];
  /** Present while the case is on hold. */
  held?: CaseHold;
  /** Present while a release of the held case is part-way (the case is still held until it ends). */
  releasing?: CaseRelease;
  /** How many times the case was written since versions were kept (absent: 0). The store writes it; a write names the one it read. */
  version?: number;
}

/**
 * Another request wrote the case between this one's read and its write (HTTP 409). The use-cases
 * retry from a fresh read first; this reaches a caller only when they could not get through.
 */
export class CaseChangedError extends FerryError {
  override readonly name: string = 'CaseChangedError';
  /** Hold records the request wrote (placed or released) before it gave up: they stand, and the audit trail must name them. */
  readonly holds: HoldRecord[];
  constructor(message: string, options?: { cause?: unknown; holds?: HoldRecord[] }) {
    super('conflict', message, options);
    this.holds = options?.holds ?? [];
  }
}

/** Calls are not added to a case whose release is under way (HTTP 409): they would be released with it. */
export class CaseReleasingError extends FerryError {
  override readonly name: string = 'CaseReleasingError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** The version a write of `record` expects the stored case to have: records written before versions were kept are 0. */
export function caseVersion(record: Pick<CaseRecord, 'version'>): number {
  return record.version ?? 0;
}

/** The refusal of a write whose case changed since it was read, naming the case and the versions. */
export function caseChanged(record: Pick<CaseRecord, 'site' | 'caseId' | 'version'>, found: number | undefined, cause?: unknown): CaseChangedError {
  const now = found === undefined ? '' : ` (version ${found}, this request read version ${caseVersion(record)})`;
  return new CaseChangedError(`case ${record.caseId} in site ${record.site} was changed by another request since this one read it${now}`, cause === undefined ? undefined : { cause });
}

/**
 * Calls a case holds at most. Its member list is one item (DynamoDB's limit is 400 KB: ~16,000
 * rids) and one object in the bucket; 10,000 leaves room for the case's texts and its hold.
 */
export const CASE_MAX_MEMBERS = 10_000;

/** Refuses a case record the table could not store, before any copy of it is written anywhere. */
export function assertCaseFits(record: Pick<CaseRecord, 'caseId' | 'members'>): void {
  if (record.members.length > CASE_MAX_MEMBERS) throw new InvalidInputError(`rids: case ${record.caseId} would have ${record.members.length} calls: a case holds at most ${CASE_MAX_MEMBERS}`, { field: 'rids' });
}

export function holdPk(site: string): string {
  return `${ITEM_PREFIXES.hold}${site}`;
}

export function casePk(site: string): string {
  return `${ITEM_PREFIXES.case}${site}`;
}

export function scopeKey(scope: HoldScope): string {
  return scope.kind === 'call' ? 'call' : `case:${scope.caseId}`;
}

export function holdSk(hold: Pick<HoldRecord, 'rid' | 'placedAt' | 'scope'>): string {
  return `${hold.rid}#${hold.placedAt}#${scopeKey(hold.scope)}`;
}

export function isActive(hold: HoldRecord): boolean {
  return hold.releasedAt === undefined;
}

export function holdToItem(hold: HoldRecord): Record<string, unknown> & { pk: string; sk: string } {
  return defined({
    pk: holdPk(hold.site),
    sk: holdSk(hold),
    type: 'hold',
    site: hold.site,
    rid: hold.rid,
    scope: scopeKey(hold.scope),
    reason: hold.reason,
    reference: hold.reference,
    placedBy: hold.placedBy,
    placedAt: hold.placedAt,
    releasedBy: hold.releasedBy,
    releasedAt: hold.releasedAt,
    releaseReason: hold.releaseReason,
  });
}

export function itemToHold(item: Record<string, unknown>): HoldRecord {
  const scope = String(item.scope);
  return defined({
    site: String(item.site),
    rid: String(item.rid),
    scope: scope.startsWith('case:') ? { kind: 'case' as const, caseId: scope.slice('case:'.length) } : { kind: 'call' as const },
    reason: String(item.reason),
    reference: item.reference as string | undefined,
    placedBy: String(item.placedBy),
    placedAt: String(item.placedAt),
    releasedBy: item.releasedBy as string | undefined,
    releasedAt: item.releasedAt as string | undefined,
    releaseReason: item.releaseReason as string | undefined,
  });
}

export function caseToItem(record: CaseRecord): Record<string, unknown> & { pk: string; sk: string } {
  return defined({
    pk: casePk(record.site),
    sk: record.caseId,
    type: 'case',
    site: record.site,
    caseId: record.caseId,
    name: record.name,
    reason: record.reason,
    reference: record.reference,
    createdBy: record.createdBy,
    createdAt: record.createdAt,
    members: [...record.members],
    held: record.held ? defined({ ...record.held }) : undefined,
    releasing: record.releasing ? { ...record.releasing } : undefined,
    version: record.version,
  });
}

function releasingOf(item: Record<string, unknown>): CaseRelease {
  return { by: String(item.by), at: String(item.at), reason: String(item.reason), done: Number(item.done) };
}

export function itemToCase(item: Record<string, unknown>): CaseRecord {
  return defined({
    site: String(item.site),
    caseId: String(item.caseId),
    name: String(item.name),
    reason: String(item.reason),
    reference: item.reference as string | undefined,
    createdBy: String(item.createdBy),
    createdAt: String(item.createdAt),
    members: Array.isArray(item.members) ? item.members.map(String) : [],
    held: item.held ? (defined({ ...(item.held as CaseHold) }) as CaseHold) : undefined,
    releasing: item.releasing ? releasingOf(item.releasing as Record<string, unknown>) : undefined,
    version: item.version === undefined ? undefined : Number(item.version),
  });
}

/** The port the hold use-cases and the purge read and write holds through. */
export interface HoldStore {
  /** Writes one hold record (a new hold, or the same one now released); same key replaces (idempotent). */
  putHold(hold: HoldRecord): Promise<void>;
  /** Every hold record of the site, active and released, in rid then placedAt order; [] when none. */
  listHolds(site: string): Promise<HoldRecord[]>;
  /** The hold records of one recording (active and released); [] when none. */
  holdsOf(site: string, rid: string): Promise<HoldRecord[]>;
  /** Creates a case (with the version it carries, if any: a rebuild's); AlreadyExistsError when the case id is taken. */
  createCase(record: CaseRecord): Promise<void>;
  /**
   * Replaces an existing case (members, held) if it is still at the version `record` was read at
   * (caseVersion: absent is 0), writing the next version; returns the case as written.
   * CaseChangedError when another write came between (nothing written: read again and redo);
   * NotFoundError when absent. Not idempotent: the same record written twice is refused the second time.
   */
  updateCase(record: CaseRecord): Promise<CaseRecord>;
  /** One case, or undefined when absent. */
  getCase(site: string, caseId: string): Promise<CaseRecord | undefined>;
  /** Every case of the site, in case id order; [] when none. */
  listCases(site: string): Promise<CaseRecord[]>;
}

/** The recording ids of the site with at least one active hold. */
export async function heldRids(holds: Pick<HoldStore, 'listHolds'>, site: string): Promise<Set<string>> {
  return new Set((await holds.listHolds(site)).filter(isActive).map((h) => h.rid));
}
