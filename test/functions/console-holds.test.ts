import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { CONSOLE_ROUTES } from '../../core/console-access.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHandler } from '../../functions/console/handler.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { consoleCaller, officerA, parseJson, testConsoleVerifier } from '../support/console-handler.ts';
import { publishPack } from '../workflows/purge-fixtures.ts';

// The console's legal hold and case routes: the holds function's code run in process for the
// signed-in officer (real Cognito-shaped tokens verified by aws-jwt-verify against a test
// key), over memory stores holding a published, ingested pack per site.

const NOW = new Date('2026-06-01T00:00:00.000Z');


async function setup() {
  const clock = new ManualClock(NOW);
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const holder = new MemoryObjectHolder();
  const events: AuditEvent[] = [];
  const a = await publishPack({ blobs, catalogue }, 'site-a', NOW, 'a', [10, 20, 30]);
  const b = await publishPack({ blobs, catalogue }, 'site-b', NOW, 'b', [10]);
  const handler = createHandler({
    verifier: testConsoleVerifier(),
    sites: ['site-a', 'site-b'],
    catalogue,
    holds: { holds, catalogue, blobs, holder },
    links: async () => 'https://replay.example/',
    audit: (e) => void events.push(e),
    clock,
    cursorKey: 'k'.repeat(32),
    log: () => undefined,
  });
  const call = consoleCaller(handler);
  const rids = a.manifest.members.map((m) => m.rid);
  return { call, a, b, rids, holder, holds, events };
}

const base = '/console/sites/site-a';

describe('console legal hold routes', () => {
  it('places a hold on a call as the signed-in officer (201), sets legal hold on its pack, lists it, and audits hold', async () => {
    const s = await setup();
    const placed = await s.call('POST', `${base}/holds`, { bearer: officerA(), body: { rid: s.rids[0], reason: 'litigation', reference: 'LIT-7' } });
    expect(placed.statusCode).toBe(201);
    expect(parseJson(placed)).toMatchObject({ site: 'site-a', rid: s.rids[0], holds: [{ rid: s.rids[0], placedBy: 'alice', reason: 'litigation', reference: 'LIT-7' }], objects: [s.a.packKey, s.a.manifestKey] });
    expect(s.holder.isHeld(s.a.packKey)).toBe(true);
    expect(s.events).toEqual([{ at: NOW.toISOString(), action: 'hold', site: 'site-a', rid: s.rids[0], principal: 'alice', query: { reason: 'litigation', reference: 'LIT-7' } }]);
    const listed = await s.call('GET', `${base}/holds`, { bearer: officerA() });
    expect(listed.statusCode).toBe(200);
    expect(parseJson(listed)).toMatchObject({ site: 'site-a', active: [{ rid: s.rids[0], placedBy: 'alice' }] });
  });

  it('refuses a release without a reason (400 naming reason), releases with one (200) as the officer and audits release', async () => {
    const s = await setup();
    await s.call('POST', `${base}/holds`, { bearer: officerA(), body: { rid: s.rids[0], reason: 'litigation' } });
    const missing = await s.call('POST', `${base}/holds/release`, { bearer: officerA(), body: { rid: s.rids[0] } });
    expect(missing.statusCode).toBe(400);
    expect(parseJson(missing)).toMatchObject({ error: 'InvalidInputError', issues: [{ field: 'reason', message: 'is required' }] });
    const released = await s.call('POST', `${base}/holds/release`, { bearer: officerA(), body: { rid: s.rids[0], reason: 'settled' } });
    expect(released.statusCode).toBe(200);
    expect(parseJson(released)).toMatchObject({ holds: [{ rid: s.rids[0], releasedBy: 'alice', releaseReason: 'settled' }], objects: [s.a.packKey, s.a.manifestKey] });
    expect(s.holder.isHeld(s.a.packKey)).toBe(false);
    expect(s.events.map((e) => [e.action, e.principal])).toEqual([
      ['hold', 'alice'],
      ['release', 'alice'],
    ]);
  });

  it.each([
    [{ rid: 'r123', reason: 'x' }, 'rid'],
    [{ reason: 'litigation' }, 'rid'],
    [{ rid: 'r00000000000000000000001', reason: '' }, 'reason'],
    [{ rid: 'r00000000000000000000001', reason: 'x', colour: 'red' }, 'colour'],
  ])('answers 400 naming the field for the hold body %j', async (body, field) => {
    const s = await setup();
    const res = await s.call('POST', `${base}/holds`, { bearer: officerA(), body });
    expect(res.statusCode).toBe(400);
    expect(parseJson(res)).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining(field) });
    expect(s.events).toEqual([]);
  });

  it('answers 400 for a body that is not JSON and 404 for a call the site does not have', async () => {
    const s = await setup();
    const notJson = await s.call('POST', `${base}/holds`, { bearer: officerA(), body: undefined, query: undefined });
    expect(notJson.statusCode).toBe(400);
    const elsewhere = await s.call('POST', `${base}/holds`, { bearer: officerA(), body: { rid: s.b.manifest.members[0]!.rid, reason: 'litigation' } });
    expect(elsewhere.statusCode).toBe(404);
    expect(s.holder.isHeld(s.b.packKey)).toBe(false);
  });
});

describe('console case routes', () => {
  it('creates a case (201), lists it, adds calls (200), holds the case, and shows it with its calls held', async () => {
    const s = await setup();
    const created = await s.call('POST', `${base}/cases`, { bearer: officerA(), body: { caseId: 'C-17', name: 'Smith v Acme', reason: 'court order 118', reference: 'REF-1', rids: [s.rids[0]] } });
    expect(created.statusCode).toBe(201);
    expect(parseJson(created)).toMatchObject({ site: 'site-a', caseId: 'C-17', name: 'Smith v Acme', reason: 'court order 118', reference: 'REF-1', createdBy: 'alice', createdAt: NOW.toISOString(), members: [s.rids[0]] });
    const listed = await s.call('GET', `${base}/cases`, { bearer: officerA() });
    expect(listed.statusCode).toBe(200);
    expect(parseJson(listed)).toMatchObject({ site: 'site-a', items: [{ caseId: 'C-17', members: [s.rids[0]] }] });
    const added = await s.call('POST', `${base}/cases/C-17/calls`, { bearer: officerA(), body: { rids: [s.rids[1], s.rids[0]] } });
    expect(added.statusCode).toBe(200);
    expect(parseJson(added)).toMatchObject({ added: [s.rids[1]], case: { members: [s.rids[0], s.rids[1]] } });
    const held = await s.call('POST', `${base}/holds`, { bearer: officerA(), body: { caseId: 'C-17', reason: 'court order 118' } });
    expect(held.statusCode).toBe(201);
    const shown = await s.call('GET', `${base}/cases/C-17`, { bearer: officerA() });
    expect(shown.statusCode).toBe(200);
    const view = parseJson(shown) as { held?: { by: string }; memberHolds: Record<string, unknown[]> };
    expect(view.held).toMatchObject({ by: 'alice', reason: 'court order 118' });
    expect(Object.keys(view.memberHolds)).toEqual([s.rids[0], s.rids[1]]);
    expect(view.memberHolds[s.rids[1]!]).toHaveLength(1);
  });

  it('answers 400 naming the field for a bad case body, case id or calls list, and 404 for an unknown case', async () => {
    const s = await setup();
    const noName = await s.call('POST', `${base}/cases`, { bearer: officerA(), body: { reason: 'x' } });
    expect(noName.statusCode).toBe(400);
    expect(parseJson(noName)).toMatchObject({ issues: [{ field: 'name' }] });
    const badId = await s.call('GET', `${base}/cases/bad%20id`, { bearer: officerA() });
    expect(badId.statusCode).toBe(400);
    expect(parseJson(badId).message).toMatch(/case:/);
    const emptyCalls = await s.call('POST', `${base}/cases/C-1/calls`, { bearer: officerA(), body: { rids: [] } });
    expect(emptyCalls.statusCode).toBe(400);
    expect(parseJson(emptyCalls)).toMatchObject({ issues: [{ field: 'rids' }] });
    const listExtra = await s.call('GET', `${base}/cases`, { bearer: officerA(), query: { all: 'yes' } });
    expect(listExtra.statusCode).toBe(400);
    expect(parseJson(listExtra).message).toMatch(/all/);
    const unknown = await s.call('GET', `${base}/cases/C-404`, { bearer: officerA() });
    expect(unknown.statusCode).toBe(404);
  });
});

describe('console hold and case routes: access', () => {
  const holdRoutes = CONSOLE_ROUTES.filter((r) => /\/(holds|cases)/.test(r.path));

  it('has every hold and case route in the console route table', () => {
    expect(holdRoutes.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /console/sites/{site}/holds',
      'POST /console/sites/{site}/holds',
      'POST /console/sites/{site}/holds/release',
      'GET /console/sites/{site}/cases',
      'POST /console/sites/{site}/cases',
      'GET /console/sites/{site}/cases/{case}',
      'POST /console/sites/{site}/cases/{case}/calls',
    ]);
  });

  it("answers 403 to site-a's officer on site-b's hold and case routes and changes nothing; 401 without a token", async () => {
    const s = await setup();
    const rid = s.b.manifest.members[0]!.rid;
    for (const route of holdRoutes) {
      const path = route.path.replace('{site}', 'site-b').replace('{case}', 'C-1');
      const res = await s.call(route.method, path, { bearer: officerA(), body: { rid, reason: 'litigation' } });
      expect(res.statusCode, `${route.method} ${route.path}`).toBe(403);
      const anonymous = await s.call(route.method, path.replace('site-b', 'site-a'), { body: { rid, reason: 'litigation' } });
      expect(anonymous.statusCode, `${route.method} ${route.path}`).toBe(401);
    }
    expect(s.holder.isHeld(s.b.packKey)).toBe(false);
    expect(await s.holds.listHolds('site-b')).toEqual([]);
    expect(s.events).toEqual([]);
  });
});
