import { describe, expect, it } from 'vitest';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { SnapshotSummary } from '../../core/tree-manifest.ts';
import { createHandler } from '../../functions/catalogue/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// GET /sites/{site}/snapshots on the catalogue function: newest first, `at` and `limit=1` give
// the restore point, cursors sealed to the site and the search, a bad parameter a 400 naming it.

const CURSOR_KEY = 'k'.repeat(32);
const DAY = 86_400_000;
const BASE = Date.parse('2026-03-01T22:00:00.000Z');
const body = (res: HttpResult) => JSON.parse(res.body as string) as { items: SnapshotSummary[]; cursor: string | null; message?: string; error?: string };

function summary(site: string, source: string, day: number): SnapshotSummary {
  const snapshotId = `s${String(day).padStart(23, '0')}`;
  return { site, source, snapshotId, takenAt: new Date(BASE + day * DAY).toISOString(), manifestKey: `manifests/${site}/trees/${source}/x/${snapshotId}.json`, files: 10 + day, dirs: 2, symlinks: 0, problems: 0, bytesTotal: 100, bytesAdded: day, packs: 1 };
}

async function setup() {
  const catalogue = new MemoryCatalogue();
  for (let d = 0; d < 5; d++) await catalogue.putSnapshot(summary('site-a', 'share', d));
  await catalogue.putSnapshot(summary('site-b', 'share', 1));
  const trail = auditTrail();
  const handler = createHandler({ catalogue, audit: trail.audit, clock: trail.clock, cursorKey: CURSOR_KEY, log: () => undefined });
  const list = (query?: Record<string, string>, site = 'site-a') => handler(httpEvent('GET', `/sites/${site}/snapshots`, { pathParameters: { site }, query, principal: 'dr@example.com' }));
  return { list, trail };
}

describe('snapshots route', () => {
  it('lists a source newest first in sealed pages and audits each listing', async () => {
    const { list, trail } = await setup();
    const first = await list({ source: 'share', limit: '3' });
    expect(first.statusCode).toBe(200);
    const page1 = body(first);
    expect(page1.items.map((s) => s.files)).toEqual([14, 13, 12]);
    const page2 = body(await list({ source: 'share', limit: '3', cursor: page1.cursor! }));
    expect(page2.items.map((s) => s.files)).toEqual([11, 10]);
    expect(page2.cursor).toBeNull();
    expect(trail.events[0]).toEqual({ at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { snapshots: 'list', source: 'share', limit: 3 }, principal: 'dr@example.com' });
  });

  it('answers the restore point of a time with at and limit=1', async () => {
    const { list } = await setup();
    const res = body(await list({ source: 'share', at: new Date(BASE + 2 * DAY + 3600_000).toISOString(), limit: '1' }));
    expect(res.items).toEqual([summary('site-a', 'share', 2)]);
    expect(body(await list({ source: 'share', at: '2020-01-01T00:00:00Z' })).items).toEqual([]);
  });

  it('refuses with 400 naming the parameter: a bad source, time, limit, unknown parameter, or a cursor of another site or search', async () => {
    const { list } = await setup();
    const cases: [Record<string, string>, RegExp][] = [
      [{ source: 'Share!' }, /source: must be a source name/],
      [{ at: 'yesterday' }, /at: must be an ISO 8601 date-time/],
      [{ limit: '0' }, /limit: must be an integer from 1 to 1000/],
      [{ from: '2026-01-01T00:00:00Z' }, /unknown parameter \(allowed: source, at, limit, cursor\)/],
    ];
    for (const [query, message] of cases) {
      const res = await list(query);
      expect(res.statusCode).toBe(400);
      expect(body(res).message).toMatch(message);
    }
    const cursor = body(await list({ source: 'share', limit: '1' })).cursor!;
    for (const [query, site] of [[{ source: 'share', limit: '1', cursor }, 'site-b'], [{ source: 'other', limit: '1', cursor }, 'site-a']] as const) {
      const res = await list(query, site);
      expect(res.statusCode).toBe(400);
      expect(body(res).message).toMatch(/cursor.*does not belong to this listing/);
    }
  });
});
