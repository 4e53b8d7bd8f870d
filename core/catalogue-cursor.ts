import { InvalidInputError } from './errors.ts';
import { SORT_KEY_NAME } from './catalogue-schema.ts';
import type { RecordingDirection, RecordingSort } from './ports.ts';

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

export function byDuration(sort: RecordingSort): boolean {
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
  return `${ms === undefined ? '-'.repeat(10) : String(ms).padStart(10, '0')}#${String(item[SORT_KEY_NAME])}`;
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
  return byDuration(sort) ? durationKeyOf(item) : (item[SORT_KEY_NAME] as string);
}
