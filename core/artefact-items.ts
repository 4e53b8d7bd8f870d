import { DEFAULT_PAGE_SIZE, ITEM_PREFIXES, MAX_PAGE_SIZE, normalizeIso, type CatalogueItem } from './catalogue-table.ts';
import { InvalidInputError } from './errors.ts';
import { NAME_PATTERN } from './layout.ts';
import { defined } from './defined.ts';
import { shippedByOfItem } from './manifest.ts';
import type { ArtefactEntry, ArtefactPage, ArtefactQuery, ArtefactSourceRecord } from './ports.ts';

// Artefact items in the catalogue table (no index needed: every read is a Query on the table's
// own keys). MemoryCatalogue and DynamoCatalogue store these very items and run the same plan.
//
// Artefact: `pk=ART#{site}`, `sk={source}#{role}#{order}#{artefactId}` where order is takenAt
// (UTC ISO) for fulls and archives and the zero-padded sequence for segments. One partition per
// site (artefacts arrive minutes apart, far below a partition's limits) so a site's listing, a
// source's listing, a role's listing and a time or sequence range are all key conditions.
// Source record: `pk=ARTSRC#{site}`, `sk={source}`, so the sources of a site are one Query.

const ROLES = ['full', 'segment', 'archive'] as const;
const SEQUENCE_WIDTH = 12;
/** Sorts after every character a sort key holds (names, digits, ISO times, `#`). */
const HIGH = '~';

export function artefactPk(site: string): string {
  return `${ITEM_PREFIXES.artefact}${site}`;
}

export function artefactSourcePk(site: string): string {
  return `${ITEM_PREFIXES.artefactSource}${site}`;
}

function sequenceKey(sequence: number | undefined): string {
  return String(sequence ?? 0).padStart(SEQUENCE_WIDTH, '0');
}

export function artefactSk(entry: Pick<ArtefactEntry, 'source' | 'role' | 'takenAt' | 'sequence' | 'artefactId'>): string {
  const order = entry.role === 'segment' ? sequenceKey(entry.sequence) : normalizeIso(entry.takenAt, 'takenAt');
  return `${entry.source}#${entry.role}#${order}#${entry.artefactId}`;
}

/** Drops undefined values (DynamoDB rejects them; the memory store must look the same). */
function checkEntry(entry: ArtefactEntry): void {
  if (!NAME_PATTERN.test(entry.site) || !NAME_PATTERN.test(entry.source)) {
    throw new InvalidInputError(`artefact ${entry.artefactId}: site and source must be names, got "${entry.site}", "${entry.source}"`);
  }
  if (!(ROLES as readonly string[]).includes(entry.role)) throw new InvalidInputError(`artefact ${entry.artefactId}: unknown role "${entry.role}"`);
  if (!/^a[0-9a-f]{23}$/.test(entry.artefactId)) throw new InvalidInputError(`artefact id "${entry.artefactId}" is malformed`);
  if (entry.role === 'segment' && !(Number.isInteger(entry.sequence) && (entry.sequence ?? -1) >= 0)) {
    throw new InvalidInputError(`segment ${entry.artefactId} has no sequence number`);
  }
}

const FIELDS = ['site', 'source', 'sourceType', 'role', 'artefactId', 'key', 'manifestKey', 'name', 'size', 'sha256', 'takenAt', 'span', 'spanSource', 'sequence', 'series', 'partial', 'position', 'profile', 'slot', 'createdAt', 'shippedBy'] as const satisfies readonly (keyof ArtefactEntry)[];
/** Compile-time guard: FIELDS lists every field of an entry, so an item never drops one. */
export const FIELDS_COMPLETE: [keyof ArtefactEntry] extends [(typeof FIELDS)[number]] ? true : never = true;

export function artefactToItem(entry: ArtefactEntry): CatalogueItem {
  checkEntry(entry);
  const span = entry.span && { from: normalizeIso(entry.span.from, 'span.from'), to: normalizeIso(entry.span.to, 'span.to') };
  return defined({
    pk: artefactPk(entry.site),
    sk: artefactSk(entry),
    type: 'artefact',
    ...Object.fromEntries(FIELDS.map((f) => [f, entry[f]])),
    takenAt: normalizeIso(entry.takenAt, 'takenAt'),
    span,
    position: entry.position && { ...entry.position },
    shippedBy: entry.shippedBy && { ...entry.shippedBy },
  });
}

export function itemToArtefact(item: Record<string, unknown>): ArtefactEntry {
  const entry = defined(Object.fromEntries(FIELDS.map((f) => [f, item[f]]))) as unknown as ArtefactEntry;
  entry.size = Number(entry.size);
  if (entry.sequence !== undefined) entry.sequence = Number(entry.sequence);
  if (entry.position) entry.position = { logFile: entry.position.logFile, logPos: Number(entry.position.logPos) };
  const shippedBy = shippedByOfItem(item.shippedBy);
  if (shippedBy) entry.shippedBy = shippedBy;
  else delete entry.shippedBy;
  return entry;
}

export function sourceRecordToItem(entry: ArtefactEntry): CatalogueItem {
  return defined({ pk: artefactSourcePk(entry.site), sk: entry.source, type: 'artefact-source', site: entry.site, source: entry.source, sourceType: entry.sourceType, series: entry.series });
}

export function itemToSourceRecord(item: Record<string, unknown>): ArtefactSourceRecord {
  return defined({ site: item.site, source: item.source, sourceType: item.sourceType, series: item.series }) as ArtefactSourceRecord;
}

// ---- cursor: base64url JSON of the last emitted sort key ----

const SK_SHAPE = /^[a-z0-9][a-z0-9-]*#(full|segment|archive)#[0-9A-Za-z:.-]+#a[0-9a-f]{23}$/;
const CURSOR_MESSAGE = 'cursor is malformed: pass back the cursor of the previous page unchanged';

export function encodeArtefactCursor(sk: string): string {
  return Buffer.from(JSON.stringify({ v: 1, art: sk }), 'utf8').toString('base64url');
}

export function decodeArtefactCursor(cursor: string): string {
  if (!/^[A-Za-z0-9_-]{1,1024}$/.test(cursor)) throw new InvalidInputError(CURSOR_MESSAGE);
  let body: { v?: unknown; art?: unknown } | null;
  try {
    body = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as typeof body;
  } catch (cause) {
    throw new InvalidInputError(CURSOR_MESSAGE, { cause });
  }
  if (body?.v !== 1 || typeof body.art !== 'string' || !SK_SHAPE.test(body.art)) throw new InvalidInputError(CURSOR_MESSAGE);
  return body.art;
}

// ---- query plan ----

export interface ArtefactQueryPlan {
  pk: string;
  /** Inclusive lower bound of the sort key, when the query has one. */
  lo?: string;
  /** Inclusive upper bound of the sort key (always set). */
  hi: string;
  /** Exclusive lower bound from the cursor. */
  after?: string;
  /** Checked on every item (DynamoDB: a FilterExpression). */
  filter: { role?: ArtefactEntry['role']; from?: string; to?: string };
  limit: number;
}

function checkLimit(limit: number | undefined): number {
  const value = limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(value) || value < 1 || value > MAX_PAGE_SIZE) throw new InvalidInputError(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${String(limit)}`);
  return value;
}

/** Validates a query; the normalized time bounds. */
function checkQuery(query: ArtefactQuery): { from?: string; to?: string } {
  const { site, source, role, fromSequence } = query;
  if (!NAME_PATTERN.test(site)) throw new InvalidInputError(`site must be a site name (${NAME_PATTERN.source}), got "${site}"`);
  if (source !== undefined && !NAME_PATTERN.test(source)) throw new InvalidInputError(`source must be a source name (${NAME_PATTERN.source}), got "${source}"`);
  if (role !== undefined && !(ROLES as readonly string[]).includes(role)) throw new InvalidInputError(`role must be one of ${ROLES.join(', ')}, got "${role}"`);
  const from = query.from === undefined ? undefined : normalizeIso(query.from, 'from');
  const to = query.to === undefined ? undefined : normalizeIso(query.to, 'to');
  if (from !== undefined && to !== undefined && from > to) throw new InvalidInputError(`from (${from}) must not be after to (${to})`);
  if (fromSequence !== undefined && (source === undefined || role !== 'segment' || !Number.isInteger(fromSequence) || fromSequence < 0)) {
    throw new InvalidInputError('fromSequence needs a source, role "segment" and a non-negative integer');
  }
  return { from, to };
}

/** Narrows by key as far as the query allows (source, role, time or sequence range); the rest is a filter. */
export function planArtefactQuery(query: ArtefactQuery): ArtefactQueryPlan {
  const { site, source, role, fromSequence } = query;
  const { from, to } = checkQuery(query);
  const limit = checkLimit(query.limit);
  const after = query.cursor === undefined ? undefined : decodeArtefactCursor(query.cursor);

  const prefix = source === undefined ? '' : role === undefined ? `${source}#` : `${source}#${role}#`;
  let lo = prefix || undefined;
  let hi = `${prefix}${HIGH}`;
  if (source !== undefined && role !== undefined && role !== 'segment') {
    if (from !== undefined) lo = `${prefix}${from}`;
    if (to !== undefined) hi = `${prefix}${to}#${HIGH}`;
  }
  if (fromSequence !== undefined) lo = `${prefix}${sequenceKey(fromSequence)}`;
  return { pk: artefactPk(site), lo, hi, after, filter: { role, from, to }, limit };
}

export function matchesArtefactPlan(item: Record<string, unknown>, plan: ArtefactQueryPlan): boolean {
  const sk = item.sk;
  if (item.pk !== plan.pk || typeof sk !== 'string') return false;
  if ((plan.lo !== undefined && sk < plan.lo) || sk > plan.hi || (plan.after !== undefined && sk <= plan.after)) return false;
  const { role, from, to } = plan.filter;
  const takenAt = item.takenAt as string;
  return (role === undefined || item.role === role) && (from === undefined || takenAt >= from) && (to === undefined || takenAt <= to);
}

/** A page from up to limit+1 matching items in sort-key order; the extra one only proves that more follow. */
export function artefactPageOf(items: Record<string, unknown>[], limit: number): ArtefactPage {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  if (items.length > limit && last) return { items: page.map(itemToArtefact), cursor: encodeArtefactCursor(last.sk as string) };
  return { items: page.map(itemToArtefact) };
}
