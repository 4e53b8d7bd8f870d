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
