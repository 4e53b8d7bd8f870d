import { describe, expect, it, vi } from 'vitest';
import { TransientError } from '../../core/errors.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { httpEvent } from '../support/http-event.ts';

// A search page's audit record is written while its Query runs, not after it: the page waits
// for both, an audit that fails fails the page, and a Query that fails was still audited.

const CURSOR_KEY = 'k'.repeat(32);
const clock = { now: () => new Date('2026-04-01T12:00:00Z') };

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

async function setup(opts: { failQuery?: boolean } = {}) {
  const memory = new MemoryCatalogue();
  await memory.putRecordings(Array.from({ length: 5 }, (_, i) => makeEntry('site-a', i)));
  const steps: string[] = [];
  const catalogue: Pick<CatalogueStore, 'searchRecordings' | 'getRecording' | 'getPack' | 'listSnapshots'> = {
    searchRecordings: async (q) => {
      steps.push('query started');
      if (opts.failQuery) throw new TransientError('the table is throttled');
      return memory.searchRecordings(q);
    },
    getRecording: (s, r) => memory.getRecording(s, r),
    getPack: (s, p) => memory.getPack(s, p),
    listSnapshots: (q) => memory.listSnapshots(q),
  };
  const record = deferred();
  const audited: AuditEvent[] = [];
  const audit = (event: AuditEvent) => {
    steps.push('audit started');
    audited.push(event);
    return record.promise.then(() => void steps.push('audit written'));
  };
  const handler = createHandler({ catalogue, audit, clock, cursorKey: CURSOR_KEY, log: () => undefined });
  const search = () => handler(httpEvent('GET', '/sites/site-a/recordings', { pathParameters: { site: 'site-a' }, query: { limit: '2' }, principal: 'officer@example.com' }));
  return { search, steps, record, audited };
}

describe('catalogue search audited alongside its Query', () => {
  it('starts the Query while the audit record is being written and answers only once the record is written', async () => {
    const { search, steps, record } = await setup();
    let answered = false;
    const page = search().then((res) => ((answered = true), res));
    // Both under way (the Query started, not a fixed 20 ms later), and no answer while the record is unwritten.
    await vi.waitFor(() => expect(steps).toEqual(['audit started', 'query started']));
    expect(answered).toBe(false);
    record.resolve();
    const res = await page;
    expect(res.statusCode).toBe(200);
    expect((JSON.parse(res.body as string) as { items: unknown[] }).items).toHaveLength(2);
    expect(steps).toEqual(['audit started', 'query started', 'audit written']);
  });

  it('answers 5xx without the rows when the audit record cannot be written, although the Query succeeded', async () => {
    const { search, record } = await setup();
    const page = search();
    record.reject(new TransientError('the audit head could not be moved'));
    const res = await page;
    expect(res.statusCode).toBe(503);
    expect(res.body).not.toMatch(/"items"/);
  });

  it('records the search when its Query then fails, and answers the Query’s error', async () => {
    const { search, record, audited } = await setup({ failQuery: true });
    record.resolve();
    const res = await search();
    expect(res.statusCode).toBe(503);
    expect(audited).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { limit: 2 }, principal: 'officer@example.com' }]);
  });
});
