import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler } from '../../functions/artefacts/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { makeFull, makeSegment, min, publishArtefact } from '../support/artefact-fixtures.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// The artefacts function: the catalogue's list and the restore plan, as API Gateway calls it.
// The audit trail's clock says 2026-04-01T12:00:00Z.

async function setup() {
  const catalogue = new MemoryCatalogue();
  const blobs = new MemoryBlobStore();
  const F1 = makeFull(min(0), { position: { logFile: 'mysql-bin.000001', logPos: 328 } });
  const segments = [1, 2, 3].map((i) => makeSegment(i, min(10 * (i - 1)), min(10 * i - 1)));
  for (const a of [F1, ...segments, makeSegment(5, min(40), min(49))]) await catalogue.putArtefact(a);
  const trail = auditTrail();
  const handler = createHandler({ catalogue, blobs, audit: trail.audit, clock: trail.clock, cursorKey: 'k'.repeat(32), log: () => undefined });
  const plan = (query: Record<string, string> | undefined, source = 'db', site = 'site-a') =>
    handler(httpEvent('GET', `/sites/${site}/sources/${source}/restore-plan`, { pathParameters: { site, source }, query, principal: 'dba@example.com' }));
  const list = (query?: Record<string, string>, site = 'site-a') => handler(httpEvent('GET', `/sites/${site}/artefacts`, { pathParameters: { site }, query }));
  return { F1, segments, trail, plan, list, blobs };
}

const body = (res: HttpResult) => JSON.parse(res.body as string) as Record<string, unknown>;

describe('artefacts handler', () => {
  it('lists artefacts by source and role, paged, and audits the search', async () => {
    const { list, trail, F1 } = await setup();
    const all = body(await list({ limit: '3' })) as { items: { artefactId: string }[]; cursor: string };
    expect(all.items).toHaveLength(3);
    const rest = body(await list({ limit: '3', cursor: all.cursor })) as { items: unknown[]; cursor: null };
    expect(rest.items).toHaveLength(2);
    expect(rest.cursor).toBeNull();
    expect((body(await list({ source: 'db', role: 'full' })) as { items: { artefactId: string }[] }).items.map((a) => a.artefactId)).toEqual([F1.artefactId]);
    expect(trail.events[0]).toMatchObject({ action: 'search', site: 'site-a', query: { artefacts: 'list', limit: 3 } });
  });

  it('refuses with 400 naming cursor a cursor from another site, another source or altered', async () => {
    const { list } = await setup();
    const page = body(await list({ limit: '2' })) as { cursor: string };
    for (const [query, site] of [[{ limit: '2', cursor: page.cursor }, 'site-b'], [{ limit: '2', source: 'db', cursor: page.cursor }, 'site-a']] as const) {
      const res = await list(query, site);
      expect(res.statusCode, `${site} ${JSON.stringify(query)}`).toBe(400);
      expect(body(res).message).toMatch(/^cursor/);
    }
    const altered = `${page.cursor.slice(0, 3)}${page.cursor[3] === 'A' ? 'B' : 'A'}${page.cursor.slice(4)}`;
    expect((await list({ limit: '2', cursor: altered })).statusCode).toBe(400);
  });

  it('answers a plan with 200: the full, the segments to T and the commands', async () => {
    const { plan, trail } = await setup();
    const res = await plan({ at: '2026-03-01T01:15:00+01:00' });
    expect(res.statusCode).toBe(200);
    const p = body(res);
    expect(p).toMatchObject({ ok: true, site: 'site-a', source: 'db', logSource: 'binlog', at: min(15), stopAt: min(15) });
    expect((p.files as { name: string }[]).map((f) => f.name)).toEqual(['full-20260301T000000.sql', 'mysql-bin.000001', 'mysql-bin.000002']);
    expect(p.commands).toContain("TZ=UTC mariadb-binlog --start-position=328 --stop-datetime='2026-03-01 00:15:00' mysql-bin.000001 mysql-bin.000002 | mariadb");
    expect(trail.events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { restorePlan: 'db', at: '2026-03-01T01:15:00+01:00' }, principal: 'dba@example.com' }]);
  });

  it.each([
    ['a gap', min(45), 'gap', /mysql-bin.000004 is not offsite/, min(29)],
    ['T before the first full', min(-1), 'no-full', /no full backup of db was taken at or before T/, min(0)],
    ['T in the future', '2026-05-01T00:00:00Z', 'in-future', /is in the future \(now 2026-04-01T12:00:00.000Z\)/, min(29)],
  ])('refuses %s with 422, the reason and the nearest reachable time', async (_, at, code, reason, nearest) => {
    const { plan } = await setup();
    const res = await plan({ at });
    expect(res.statusCode).toBe(422);
    expect(body(res)).toMatchObject({ ok: false, error: 'RestoreRefusedError', code, message: expect.stringMatching(reason), reason: expect.stringMatching(reason), nearestReachable: nearest });
  });

  it.each([
    [{}, /at: is required/],
    [{ at: 'yesterday' }, /at: must be an ISO 8601 date-time with a zone/],
    [{ at: '2026-03-01T00:15:00' }, /at: must be an ISO 8601 date-time with a zone/],
    [{ at: min(15), atx: '1' }, /atx: unknown parameter/],
  ])('answers 400 for %o', async (query, message) => {
    const { plan, trail } = await setup();
    const res = await plan(query);
    expect(res.statusCode).toBe(400);
    expect(body(res).message).toMatch(message);
    expect(trail.events).toEqual([]);
  });

  it('answers 400 with issues naming from for a from after to, or a year the catalogue does not keep', async () => {
    const { list } = await setup();
    for (const [query, message] of [
      [{ from: '2026-12-06T00:00:00Z', to: '2026-12-01T00:00:00Z' }, 'must not be after to'],
      [{ from: '0000-01-01T00:00:00Z' }, 'must be a time between the years 1 and 9999 (UTC)'],
    ] as const) {
      const res = await list(query);
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body as string)).toMatchObject({ issues: [{ field: 'from', message }] });
    }
  });

  it('answers for a source whose manifests are in the bucket but not in the catalogue that its ingest failed and to run `catalogue rebuild`, not "no such source"', async () => {
    const { plan, blobs } = await setup();
    const m = await publishArtefact(blobs, { source: 'sql2', sourceType: 'rotated', role: 'full', name: 'ccx-full.bak', body: Buffer.from('x'), takenAt: min(5) });
    const res = await plan({ at: min(15) }, 'sql2');
    expect(res.statusCode).toBe(404);
    expect(body(res).message).toBe(`site site-a has manifests of source "sql2" in the bucket (manifests/site-a/backups/sql2/${m.artefactId}.json, …) but none in the catalogue: their ingest failed, so no restore plan can use them; run \`ferry catalogue rebuild --site site-a\` to catalogue them, then plan again`);
  });

  it('answers 404 for an unknown source, 400 for a binlog source or a bad name', async () => {
    const { plan } = await setup();
    const unknown = await plan({ at: min(15) }, 'nope');
    expect(unknown.statusCode).toBe(404);
    expect(body(unknown).message).toMatch(/no source "nope" with shipped artefacts \(sources: binlog, db\)/);
    const wrong = await plan({ at: min(15) }, 'binlog');
    expect(wrong.statusCode).toBe(400);
    expect(body(wrong).message).toMatch(/"binlog" is a binlog source: name the source of the full backups \(db\)/);
    expect((await plan({ at: min(15) }, 'Bad_Name')).statusCode).toBe(400);
  });
});
