import { DEFAULT_PAGE_SIZE, ITEM_PREFIXES, MAX_PAGE_SIZE, normalizeIso, type CatalogueItem } from './catalogue-table.ts';
import { InvalidInputError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import { shippedByOfItem } from './manifest.ts';
import { SNAPSHOT_ID_PATTERN, type SnapshotSummary } from './tree-manifest.ts';

// Tree snapshot items in the catalogue table (no index: every read is a Query on the table's
// own keys). MemoryCatalogue and DynamoCatalogue store these very items and run the same plan.
//
// Snapshot: `pk=SNAP#{site}`, `sk={source}#{takenAt as UTC ISO}#{snapshotId}`. One partition per
// site (snapshots arrive hours apart); a source's snapshots are one key range, read backwards
// for newest first, and `at` (takenAt <= at) is the range's upper end, so `limit=1&at=T` is the
// restore point of T in one Query.

/** Sorts after every character a sort key holds (names, digits, ISO times, `#`). */
const HIGH = '~';

export interface SnapshotQuery {
  site: string;
  source?: string;
  /** Only snapshots taken at or before this time (ISO). */
  at?: string;
  /** Page size, 1..1000. */
  limit?: number;
  /** Opaque cursor from the previous page. */
  cursor?: string;
}

export interface SnapshotPage {
  items: SnapshotSummary[];
  /** Present when more results follow. */
  cursor?: string;
}

export function snapshotPk(site: string): string {
  return `${ITEM_PREFIXES.snapshot}${site}`;
}

export function snapshotSk(s: Pick<SnapshotSummary, 'source' | 'takenAt' | 'snapshotId'>): string {
  return `${s.source}#${normalizeIso(s.takenAt, 'takenAt')}#${s.snapshotId}`;
}

const NUMBERS = ['files', 'dirs', 'symlinks', 'problems', 'bytesTotal', 'bytesAdded', 'packs'] as const satisfies readonly (keyof SnapshotSummary)[];
const FIELDS = ['site', 'source', 'snapshotId', 'takenAt', 'manifestKey', ...NUMBERS, 'massChange', 'shippedBy'] as const satisfies readonly (keyof SnapshotSummary)[];
/** Compile-time guard: FIELDS lists every field of a summary, so an item never drops one. */
export const SNAPSHOT_FIELDS_COMPLETE: [keyof SnapshotSummary] extends [(typeof FIELDS)[number]] ? true : never = true;

function checkSummary(s: SnapshotSummary): void {
  if (!NAME_PATTERN.test(s.site) || !NAME_PATTERN.test(s.source)) throw new InvalidInputError(`snapshot ${s.snapshotId}: site and source must be names, got "${s.site}", "${s.source}"`);
  if (!SNAPSHOT_ID_PATTERN.test(s.snapshotId)) throw new InvalidInputError(`snapshot id "${s.snapshotId}" is malformed`);
  for (const field of NUMBERS) {
    if (!Number.isInteger(s[field]) || s[field] < 0) throw new InvalidInputError(`snapshot ${s.snapshotId}: ${field} must be a non-negative integer`);
  }
}

export function snapshotToItem(s: SnapshotSummary): CatalogueItem {
  checkSummary(s);
  // `massChange` only when the snapshot has one (an item of an ordinary snapshot is as before).
  const fields = FIELDS.filter((f) => s[f] !== undefined);
  return { pk: snapshotPk(s.site), sk: snapshotSk(s), type: 'snapshot', ...Object.fromEntries(fields.map((f) => [f, s[f]])), takenAt: normalizeIso(s.takenAt, 'takenAt') };
}

export function itemToSnapshot(item: Record<string, unknown>): SnapshotSummary {
  const s = Object.fromEntries(FIELDS.filter((f) => item[f] !== undefined).map((f) => [f, item[f]])) as unknown as SnapshotSummary;
  for (const field of NUMBERS) s[field] = Number(s[field]);
  const m = s.massChange;
  if (m) s.massChange = { changed: Number(m.changed), previousFiles: Number(m.previousFiles), parentTakenAt: String(m.parentTakenAt), ...(m.snapshots === undefined ? {} : { snapshots: Number(m.snapshots) }) };
  const shippedBy = shippedByOfItem(item.shippedBy);
  if (shippedBy) s.shippedBy = shippedBy;
  else delete s.shippedBy;
  return s;
}

// ---- cursor: base64url JSON of the last emitted sort key ----

const SK_SHAPE = /^[a-z0-9][a-z0-9-]*#\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z#s[0-9a-f]{23}$/;
const CURSOR_MESSAGE = 'cursor is malformed: pass back the cursor of the previous page unchanged';

export function encodeSnapshotCursor(sk: string): string {
  return Buffer.from(JSON.stringify({ v: 1, snap: sk }), 'utf8').toString('base64url');
}

export function decodeSnapshotCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw new InvalidInputError(CURSOR_MESSAGE);
  let body: { v?: unknown; snap?: unknown } | null;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof body;
  } catch (cause) {
    throw new InvalidInputError(CURSOR_MESSAGE, { cause });
  }
  if (body?.v !== 1 || typeof body.snap !== 'string' || !SK_SHAPE.test(body.snap)) throw new InvalidInputError(CURSOR_MESSAGE);
  return body.snap;
}

// ---- query plan: read backwards (newest first) ----

export interface SnapshotQueryPlan {
  pk: string;
  /** Inclusive lower bound of the sort key, when the query has a source. */
  lo?: string;
  /** Inclusive upper bound of the sort key (always set). */
  hi: string;
  /** Exclusive upper bound from the cursor (the page reads downwards). */
  before?: string;
  /** Checked on every item: takenAt <= at (the key range says it already when a source is given). */
  at?: string;
  limit: number;
}

export function planSnapshotQuery(query: SnapshotQuery): SnapshotQueryPlan {
  const { site, source } = query;
  if (!NAME_PATTERN.test(site)) throw new InvalidInputError(`site must be a site name (${NAME_PATTERN.source}), got "${site}"`);
  if (source !== undefined && !NAME_PATTERN.test(source)) throw new InvalidInputError(`source must be a source name (${NAME_PATTERN.source}), got "${source}"`);
  const limit = query.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${String(query.limit)}`);
  const at = query.at === undefined ? undefined : normalizeIso(query.at, 'at');
  const before = query.cursor === undefined ? undefined : decodeSnapshotCursor(query.cursor);
  const prefix = source === undefined ? '' : `${source}#`;
  const hi = source !== undefined && at !== undefined ? `${prefix}${at}#${HIGH}` : `${prefix}${HIGH}`;
  return { pk: snapshotPk(site), lo: prefix || undefined, hi, before, at, limit };
}

export function matchesSnapshotPlan(item: Record<string, unknown>, plan: SnapshotQueryPlan): boolean {
  const sk = item.sk;
  if (item.pk !== plan.pk || typeof sk !== 'string') return false;
  if ((plan.lo !== undefined && sk < plan.lo) || sk > plan.hi || (plan.before !== undefined && sk >= plan.before)) return false;
  return plan.at === undefined || (item.takenAt as string) <= plan.at;
}

/** A page from up to limit+1 matching items in descending sort-key order; the extra one only proves that more follow. */
export function snapshotPageOf(items: Record<string, unknown>[], limit: number): SnapshotPage {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  if (items.length > limit && last) return { items: page.map(itemToSnapshot), cursor: encodeSnapshotCursor(last.sk as string) };
  return { items: page.map(itemToSnapshot) };
}
