import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidInputError } from './errors.ts';

// Follows a cursor-paged listing (catalogue Query pages, the catalogue API) to its end.

export interface Page<T> {
  items: T[];
  /** Absent or null on the last page. */
  cursor?: string | null;
}

/**
 * Every item of every page, in order. `fetchPage` gets undefined first, then each page's cursor.
 * `maxPages` stops a listing that never ends (a store handing back the same cursor) with an error.
 */
export async function collectPages<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>, options: { maxPages?: number; onPage?: (page: Page<T>) => void } = {}): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    if (options.maxPages !== undefined && pages >= options.maxPages) throw new Error(`pagination does not end after ${options.maxPages} pages`);
    const page = await fetchPage(cursor);
    pages++;
    options.onPage?.(page);
    items.push(...page.items);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return items;
}

// ---- sealed cursors: bound to the listing they came from, tamper-evident ----
// A store's cursor only says where to resume; on its own it would resume any listing at that
// point (another site's, another search's), silently skipping items. The API hands out
// `payload + HMAC(key, scope + payload)` instead, where the scope is the listing, the site
// and every search parameter but the page size; a cursor used anywhere else, or altered, fails.

/** What a cursor belongs to: the listing, the site, the search parameters (limit and cursor excluded). */
export interface CursorScope {
  listing: string;
  site: string;
  query: Record<string, unknown>;
}

const MAC_CHARS = 43; // 32 bytes of HMAC-SHA256 in base64url
export const SEALED_CURSOR_PATTERN = /^[A-Za-z0-9_-]{44,2048}$/;
const FOREIGN =
  'cursor does not belong to this listing (another site, other search parameters or another sort) or was altered: ' +
  'pass back the cursor of the previous page of the same search unchanged';

function scopeText(scope: CursorScope): string {
  const query = Object.keys(scope.query)
    .filter((k) => k !== 'cursor' && k !== 'limit' && scope.query[k] !== undefined)
    .sort()
    .map((k) => [k, scope.query[k]]);
  return JSON.stringify([scope.listing, scope.site, query]);
}

function mac(key: string, scope: CursorScope, payload: string): string {
  return createHmac('sha256', key).update(scopeText(scope)).update('\n').update(payload).digest('base64url');
}

/** The cursor to hand out for `inner` (a store's cursor) within `scope`. */
export function sealCursor(inner: string, scope: CursorScope, key: string): string {
  const payload = Buffer.from(inner, 'utf8').toString('base64url');
  return payload + mac(key, scope, payload);
}

/** The store's cursor inside `sealed`; InvalidInputError naming `cursor` when it is foreign or altered. */
export function openCursor(sealed: string, scope: CursorScope, key: string): string {
  if (!SEALED_CURSOR_PATTERN.test(sealed)) throw new InvalidInputError(FOREIGN, { field: 'cursor' });
  const payload = sealed.slice(0, -MAC_CHARS);
  const given = Buffer.from(sealed.slice(-MAC_CHARS));
  const expected = Buffer.from(mac(key, scope, payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new InvalidInputError(FOREIGN, { field: 'cursor' });
  return Buffer.from(payload, 'base64url').toString('utf8');
}
