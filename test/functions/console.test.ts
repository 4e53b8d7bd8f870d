import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cognitoTokenVerifier } from '../../adapters/console-token.ts';
import { CONSOLE_ROUTES } from '../../core/console-access.ts';
import { SEARCH_TIME_MARGIN_MS } from '../../core/catalogue-budget.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { appendAudit } from '../../core/audit-trail.ts';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { auditTrailReader } from '../../core/audit-query.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import type { RecallRequest } from '../../core/recall.ts';
import { createHandler, type ReplayLinkRequest } from '../../functions/console/handler.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { sign, TokenIssuer } from '../../local/cognito-tokens.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';

// The console function with real Cognito-shaped access tokens signed by a test key, verified
// by aws-jwt-verify against that key's JWKS (cached: no network), over the in-memory catalogue.

const ISSUER = 'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Test0001';
const CLIENT = 'console-client-1';
const issuer = new TokenIssuer(ISSUER);
const now = () => Math.floor(Date.now() / 1000);

function token(username: string, groups: string[], extra?: Record<string, unknown>) {
  return issuer.accessToken({ username, groups, clientId: CLIENT, issuedAt: now(), extra });
}

async function setup(options: { recall?: boolean } = {}) {
  const catalogue = new MemoryCatalogue();
  const a = Array.from({ length: 5 }, (_, i) => makeEntry('site-a', i));
  const b = Array.from({ length: 5 }, (_, i) => makeEntry('site-b', i));
  await catalogue.putRecordings([...a, ...b]);
  const trail = auditTrail();
  const minted: ReplayLinkRequest[] = [];
  const started: RecallRequest[] = [];
  // The durable trail of site-a, read by the audit view: a search, a listen through a console link, a hold of a case member.
  const ledger = new MemoryAuditLedger();
  const blobs = new MemoryBlobStore();
  const chain = { ledger, blobs };
  await appendAudit(chain, { at: '2026-04-01T09:00:00.000Z', action: 'search', site: 'site-a', query: { agent: 'agent-1' }, principal: 'alice' });
  await appendAudit(chain, { at: '2026-04-01T09:05:00.000Z', action: 'listen', site: 'site-a', rid: a[1]!.rid, principal: 'arn:aws:sts::111122223333:assumed-role/console/x', officer: 'bob' });
  await appendAudit(chain, { at: '2026-04-01T09:10:00.000Z', action: 'hold', site: 'site-a', rid: a[2]!.rid, principal: 'alice', query: { caseId: 'C-17', reason: '=court order' } });
  await appendAudit(chain, { at: '2026-04-01T09:20:00.000Z', action: 'search', site: 'site-b', principal: 'carol' });
  const recall = { startRecall: async (r: RecallRequest) => (started.push(r), { execution: 'arn:aws:states:eu-west-2:111122223333:execution:recall:x' }) };
  const handler = createHandler({
    verifier: cognitoTokenVerifier({ issuer: ISSUER, clientId: CLIENT, jwks: issuer.jwks() as never }),
    sites: ['site-a', 'site-b'],
    catalogue,
    ...(options.recall === false ? {} : { recall }),
    auditTrail: auditTrailReader(chain),
    holds: { holds: new MemoryHoldStore(), catalogue, blobs: new MemoryBlobStore(), holder: new MemoryObjectHolder() },
    links: async (r) => (minted.push(r), `https://replay-${r.site}.example/sites/${r.site}/recordings/${r.rid}/audio?X-Amz-Expires=300`),
    audit: trail.audit,
    clock: trail.clock,
    cursorKey: 'k'.repeat(32),
    log: () => undefined,
  });
  const call = (method: string, path: string, opts: { bearer?: string; query?: Record<string, string>; context?: unknown } = {}) =>
    handler(httpEvent(method, path, { query: opts.query, headers: opts.bearer === undefined ? {} : { authorization: `Bearer ${opts.bearer}` } }), opts.context);
  return { a, b, trail, minted, started, call };
}

const body = (res: HttpResult) => JSON.parse(res.body as string) as Record<string, unknown>;
const officerA = () => token('alice', ['officer-site-a']);

/** A concrete path of a route, for a site and a recording (and a case). */
function pathOf(template: string, site: string, rid: string): string {
  return template.replace('{site}', site).replace('{rid}', rid).replace('{case}', 'case-1');
}

describe('console handler: sign-in', () => {
  it('answers /console/me with the user, groups and the sites the groups allow', async () => {
    const { call } = await setup();
    const res = await call('GET', '/console/me', { bearer: officerA() });
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual({ username: 'alice', groups: ['officer-site-a'], sites: ['site-a'], access: { 'site-a': 'officer' } });
    const all = await call('GET', '/console/sites', { bearer: token('olga', ['officer-all']) });
    expect(body(all)).toEqual({ sites: [{ name: 'site-a', access: 'officer' }, { name: 'site-b', access: 'officer' }] });
    const none = await call('GET', '/console/sites', { bearer: token('nobody', []) });
    expect(body(none)).toEqual({ sites: [] });
  });

  it.each([
    ['no Authorization header', undefined, /Bearer/],
    ['a token that is not a JWT', 'not-a-token', /not a JWT/],
    ['an expired token', issuer.accessToken({ username: 'alice', groups: ['officer-site-a'], clientId: CLIENT, issuedAt: now() - 7200 }), /expired/i],
    ['a token issued to another app client', issuer.accessToken({ username: 'alice', groups: ['admin'], clientId: 'other', issuedAt: now() }), /another client/],
    ['an ID token instead of an access token', token('alice', ['admin'], { token_use: 'id' }), /not an access token/],
    ['a token from another issuer', token('alice', ['admin'], { iss: 'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Other' }), /issuer/i],
  ])('answers 401 for %s, on every route', async (_, bearer, message) => {
    const { call, a, trail } = await setup();
    for (const route of CONSOLE_ROUTES) {
      const res = await call(route.method, pathOf(route.path, 'site-a', a[0]!.rid), { bearer });
      expect(res.statusCode, `${route.method} ${route.path}`).toBe(401);
      expect(res.headers['WWW-Authenticate']).toBe('Bearer');
      expect(body(res)).toMatchObject({ error: 'UnauthorizedError', message: expect.stringMatching(message) });
    }
    expect(trail.events).toEqual([]);
  });

  it('answers 401 for a forged token: the real key id, groups raised to admin, signed with another key', async () => {
    const { call } = await setup();
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const real = JSON.parse(Buffer.from(officerA().split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const forged = sign({ alg: 'RS256', kid: issuer.kid, typ: 'JWT' }, { ...real, 'cognito:groups': ['admin'] }, other);
    const res = await call('GET', '/console/sites', { bearer: forged });
    expect(res.statusCode).toBe(401);
    expect(body(res).message).toMatch(/signature/i);
  });
});

describe('console handler: site scoping', () => {
  it("answers 403 to site-a's officer on every site route of site-b, and reads or mints nothing", async () => {
    const { call, b, trail, minted, started } = await setup();
    const siteRoutes = CONSOLE_ROUTES.filter((r) => r.path.includes('{site}'));
    expect(siteRoutes.length).toBeGreaterThanOrEqual(5);
    for (const route of siteRoutes) {
      // A malformed recording id too: scope is checked before anything else about the request.
      for (const rid of [b[0]!.rid, 'not-a-rid']) {
        const res = await call(route.method, pathOf(route.path, 'site-b', rid), { bearer: officerA() });
        expect(res.statusCode, `${route.method} ${route.path} ${rid}`).toBe(403);
        expect(body(res)).toMatchObject({ error: 'ForbiddenError', message: expect.stringContaining('site-b') });
      }
    }
    expect(trail.events).toEqual([]);
    expect(minted).toEqual([]);
    expect(started).toEqual([]);
  });

  it('lets officer-all and admin into every configured site, and answers 404 for a site the deployment lacks', async () => {
    const { call, b } = await setup();
    for (const groups of [['officer-all'], ['admin']]) {
      const res = await call('GET', `/console/sites/site-b/recordings/${b[1]!.rid}`, { bearer: token('chief', groups) });
      expect(res.statusCode).toBe(200);
    }
    const missing = await call('GET', '/console/sites/site-z/recordings', { bearer: token('chief', ['admin']) });
    expect(missing.statusCode).toBe(404);
    expect(body(missing).message).toMatch(/no site site-z/);
    expect(body(missing).message).toContain('its sites: site-a, site-b');
  });

  it("answers site-a's officer the same 403 for a site the deployment lacks (a typo) as for site-b, naming their own sites, on every site route", async () => {
    const { call, b, trail } = await setup();
    const siteRoutes = CONSOLE_ROUTES.filter((r) => r.path.includes('{site}'));
    for (const route of siteRoutes) {
      const [other, typo] = await Promise.all(['site-b', 'site-z'].map((site) => call(route.method, pathOf(route.path, site, b[0]!.rid), { bearer: officerA() })));
      expect([other!.statusCode, typo!.statusCode], `${route.method} ${route.path}`).toEqual([403, 403]);
      // Nothing in the answer tells the two apart but the name asked for.
      expect(body(typo!)).toEqual({ ...body(other!), message: body(other!).message!.toString().replaceAll('site-b', 'site-z') });
    }
    const res = await call('GET', '/console/sites/site-z/recordings', { bearer: officerA() });
    expect(body(res).message).toBe("alice may not see site site-z: it is not one of your sites (your sites: site-a; groups: officer-site-a). Check the site's name; if it is right, ask your administrator to add you to group officer-site-z");
    const none = await call('GET', '/console/sites/site-a/recordings', { bearer: token('nobody', []) });
    expect(none.statusCode).toBe(403);
    expect(body(none).message).toContain('you may see no site yet');
    expect(trail.events).toEqual([]);
  });
});

describe('console handler: a listener (listener-<site>)', () => {
  const listener = () => token('quinn', ['listener-site-a']);

  it('lists the site as listened to only, and an officer group of the same site wins over it', async () => {
    const { call } = await setup();
    expect(body(await call('GET', '/console/sites', { bearer: listener() }))).toEqual({ sites: [{ name: 'site-a', access: 'listener' }] });
    expect(body(await call('GET', '/console/me', { bearer: listener() }))).toEqual({ username: 'quinn', groups: ['listener-site-a'], sites: ['site-a'], access: { 'site-a': 'listener' } });
    const both = await call('GET', '/console/sites', { bearer: token('lead', ['listener-site-a', 'officer-site-a', 'listener-site-b']) });
    expect(body(both)).toEqual({ sites: [{ name: 'site-a', access: 'officer' }, { name: 'site-b', access: 'listener' }] });
  });

  it('searches, counts, opens, plays and recalls a call of the site, each audited as the listener', async () => {
    const { call, a, trail, minted, started } = await setup();
    const rid = a[1]!.rid;
    const answers = [
      await call('GET', '/console/sites/site-a/recordings', { bearer: listener() }),
      await call('GET', '/console/sites/site-a/recordings/count', { bearer: listener() }),
      await call('GET', `/console/sites/site-a/recordings/${rid}`, { bearer: listener() }),
      await call('POST', `/console/sites/site-a/recordings/${rid}/play-link`, { bearer: listener() }),
      await call('POST', `/console/sites/site-a/recordings/${rid}/recall`, { bearer: listener() }),
    ];
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 202]);
    // The recall's status is a listener's route too (this deployment has no recall records: 501, not 403).
    expect((await call('GET', `/console/sites/site-a/recordings/${rid}/recall`, { bearer: listener() })).statusCode).toBe(501);
    expect(minted).toMatchObject([{ site: 'site-a', rid, download: false, officer: 'quinn' }]);
    expect(started).toHaveLength(1);
    expect(new Set(trail.events.map((e) => e.principal))).toEqual(new Set(['quinn']));
  });

  it('answers 403 naming the officer group on every route that downloads, holds, cases, erases, exports or reads the audit trail, and reads or mints nothing', async () => {
    const { call, a, trail, minted } = await setup();
    const officerOnly = CONSOLE_ROUTES.filter((r) => r.path.includes('{site}') && !r.listener);
    expect(officerOnly.map((r) => r.action)).toEqual(expect.arrayContaining(['download-link', 'holds', 'export', 'export-status', 'audit']));
    for (const route of officerOnly) {
      const res = await call(route.method, pathOf(route.path, 'site-a', a[0]!.rid).replace('{exportId}', 'e1'), { bearer: listener() });
      expect(res.statusCode, `${route.method} ${route.path}`).toBe(403);
      expect(body(res).message).toMatch(/^quinn may search and listen to the calls of site site-a, not .+: that needs group officer-site-a \(ask your administrator\)$/);
    }
    const download = await call('POST', `/console/sites/site-a/recordings/${a[0]!.rid}/download-link`, { bearer: listener() });
    expect(body(download).message).toBe('quinn may search and listen to the calls of site site-a, not download them: that needs group officer-site-a (ask your administrator)');
    expect(trail.events).toEqual([]);
    expect(minted).toEqual([]);
  });

  it('reads no audit trail or snapshot list through a call id that names them (GET …/recordings/audit): 400 for the id, nothing read', async () => {
    const { call, trail } = await setup();
    for (const name of ['audit', 'snapshots', 'count%2Faudit', 'x%2Faudit']) {
      const res = await call('GET', `/console/sites/site-a/recordings/${name}`, { bearer: listener() });
      expect(res.statusCode, name).toBe(400);
      expect(body(res).issues, name).toEqual([{ field: 'rid', message: 'must be a recording id (r + 23 hex digits)' }]);
      expect(res.body, name).not.toContain('C-17');
    }
    expect(trail.events).toEqual([]);
  });

  it('gives a listener of site-a nothing of site-b', async () => {
    const { call, b } = await setup();
    const res = await call('POST', `/console/sites/site-b/recordings/${b[0]!.rid}/play-link`, { bearer: listener() });
    expect(res.statusCode).toBe(403);
    expect(body(res).message).toContain('may not see site site-b');
  });
});

describe('console handler: routes', () => {
  it('counts the calls a search matches (GET …/recordings/count), audited as a search marked as a count, and refuses paging parameters naming them', async () => {
    const { call, trail } = await setup();
    const all = await call('GET', '/console/sites/site-a/recordings/count', { bearer: officerA(), query: { sort: '-start' } });
    expect(all.statusCode).toBe(200);
    expect(body(all)).toEqual({ count: 5, more: false, limit: 10_000 });
    const agent = await call('GET', '/console/sites/site-a/recordings/count', { bearer: officerA(), query: { agent: 'agent-1' } });
    expect(body(agent)).toEqual({ count: 1, more: false, limit: 10_000 });
    expect(trail.events).toEqual([
      { at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { count: 'yes' }, principal: 'alice' },
      { at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { agent: 'agent-1', count: 'yes' }, principal: 'alice' },
    ]);
    for (const name of ['limit', 'cursor']) {
      const res = await call('GET', '/console/sites/site-a/recordings/count', { bearer: officerA(), query: { [name]: '10' } });
      expect(res.statusCode).toBe(400);
      expect(body(res).issues).toEqual([{ field: name, message: expect.stringContaining('a count has no pages') }]);
    }
    const bad = await call('GET', '/console/sites/site-a/recordings/count', { bearer: officerA(), query: { direction: 'sideways' } });
    expect(bad.statusCode).toBe(400);
    expect(body(bad).message).toMatch(/direction: must be one of/);
  });

  it("bounds a search and a count by the function's own remaining time (its Lambda context): with no time left beyond the margin, each stops after its first read", async () => {
    const { call } = await setup();
    // The five calls of site-a have no direction: an inbound search reads them all and finds none.
    const noTime = { getRemainingTimeInMillis: () => SEARCH_TIME_MARGIN_MS };
    const page = await call('GET', '/console/sites/site-a/recordings', { bearer: officerA(), query: { direction: 'inbound' }, context: noTime });
    expect(page.statusCode).toBe(200);
    expect(body(page)).toMatchObject({ items: [], cursor: expect.any(String), stopped: { read: 1 } });
    const count = await call('GET', '/console/sites/site-a/recordings/count', { bearer: officerA(), query: { direction: 'inbound' }, context: noTime });
    expect(body(count)).toEqual({ count: 0, more: true, stopped: { read: 1 }, limit: 10_000 });
    // With time to spare, the same search reads to the end of the site.
    const plenty = await call('GET', '/console/sites/site-a/recordings', { bearer: officerA(), query: { direction: 'inbound' }, context: { getRemainingTimeInMillis: () => 20_000 } });
    expect(body(plenty)).toEqual({ items: [], cursor: null });
  });

  it('searches with the catalogue search, audited as the signed-in officer', async () => {
    const { call, a, trail } = await setup();
    const res = await call('GET', '/console/sites/site-a/recordings', { bearer: officerA(), query: { agent: 'agent-1', limit: '10' } });
    expect(res.statusCode).toBe(200);
    expect((body(res).items as { rid: string }[]).map((i) => i.rid)).toEqual([a[1]!.rid]);
    expect(trail.events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'search', site: 'site-a', query: { agent: 'agent-1', limit: 10 }, principal: 'alice' }]);
  });

  it('returns the full catalogue record with its SHA-256', async () => {
    const { call, a } = await setup();
    const res = await call('GET', `/console/sites/site-a/recordings/${a[2]!.rid}`, { bearer: officerA() });
    expect(res.statusCode).toBe(200);
    expect(body(res)).toMatchObject({ rid: a[2]!.rid, sha256: a[2]!.sha256, packKey: a[2]!.packKey, meta: a[2]!.meta });
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ from: 'yesterday' }, 'from'],
    [{ colour: 'red' }, 'colour'],
    [{ from: '2026-03-02T00:00:00Z', to: '2026-03-01T00:00:00Z' }, 'from'],
  ])('answers 400 naming the field for the search query %j', async (query, field) => {
    const { call } = await setup();
    const res = await call('GET', '/console/sites/site-a/recordings', { bearer: officerA(), query });
    expect(res.statusCode).toBe(400);
    expect(body(res)).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining(`${field}:`) });
  });

  it('answers 400 naming the field for a bad site name, a bad recording id, an unknown parameter and a malformed %-escape', async () => {
    const { call, a } = await setup();
    const badSite = await call('GET', '/console/sites/Site_A/recordings', { bearer: token('chief', ['admin']) });
    expect(badSite.statusCode).toBe(400);
    expect(body(badSite).message).toMatch(/^invalid request: site:/);
    const badRid = await call('POST', '/console/sites/site-a/recordings/r123/play-link', { bearer: officerA() });
    expect(body(badRid).message).toMatch(/rid: must be a recording id/);
    const extra = await call('POST', `/console/sites/site-a/recordings/${a[0]!.rid}/play-link`, { bearer: officerA(), query: { ttl: '9999' } });
    expect(extra.statusCode).toBe(400);
    expect(body(extra).message).toMatch(/ttl/);
    const meExtra = await call('GET', '/console/me', { bearer: officerA(), query: { as: 'admin' } });
    expect(meExtra.statusCode).toBe(400);
    // A malformed %-escape in a path parameter is the client's mistake, named: not a 500.
    for (const [path, field] of [['/console/sites/site-a/recordings/%ZZ', 'rid'], ['/console/sites/%E0%A4%A/recordings', 'site'], ['/console/sites/site-a/cases/%ZZ', 'case']] as const) {
      const res = await call('GET', path, { bearer: token('chief', ['admin']) });
      expect(res.statusCode, path).toBe(400);
      expect(body(res).issues, path).toEqual([{ field, message: expect.stringMatching(/is not a valid %-encoded path segment$/) }]);
    }
  });

  it('mints play and download links for the signed-in officer, valid 300 s, naming where the recording is, after checking it exists', async () => {
    const { call, a, minted } = await setup();
    const play = await call('POST', `/console/sites/site-a/recordings/${a[0]!.rid}/play-link`, { bearer: officerA() });
    expect(play.statusCode).toBe(200);
    expect(body(play)).toEqual({ url: expect.stringContaining(`/sites/site-a/recordings/${a[0]!.rid}/audio`), expiresInSeconds: 300, expiresAt: '2026-04-01T12:05:00.000Z', kind: 'play' });
    const download = await call('POST', `/console/sites/site-a/recordings/${a[1]!.rid}/download-link`, { bearer: officerA() });
    expect(body(download).kind).toBe('download');
    expect(minted).toEqual([
      { site: 'site-a', rid: a[0]!.rid, download: false, officer: 'alice', place: { packKey: a[0]!.packKey, offset: a[0]!.offset, length: a[0]!.length } },
      { site: 'site-a', rid: a[1]!.rid, download: true, officer: 'alice', place: { packKey: a[1]!.packKey, offset: a[1]!.offset, length: a[1]!.length } },
    ]);
    const missing = await call('POST', '/console/sites/site-a/recordings/r00000000000000000000000/play-link', { bearer: officerA() });
    expect(missing.statusCode).toBe(404);
    expect(minted).toHaveLength(2);
  });

  it('starts a recall as the officer (202), or answers 501 where no recall workflow is deployed', async () => {
    const { call, a, started } = await setup();
    const res = await call('POST', `/console/sites/site-a/recordings/${a[0]!.rid}/recall`, { bearer: officerA() });
    expect(res.statusCode).toBe(202);
    expect(started).toEqual([{ site: 'site-a', rid: a[0]!.rid, requester: 'alice' }]);
    const without = await setup({ recall: false });
    const none = await without.call('POST', `/console/sites/site-a/recordings/${a[0]!.rid}/recall`, { bearer: officerA() });
    expect(none.statusCode).toBe(501);
  });

  it("lists the site's audit trail newest first, filtered by action, principal (or officer) and time, paged with a cursor, and audits the read", async () => {
    const { call, a, trail } = await setup();
    const all = await call('GET', '/console/sites/site-a/audit', { bearer: officerA() });
    expect(all.statusCode).toBe(200);
    const items = (body(all) as { items: Record<string, unknown>[] }).items;
    expect(items.map((i) => i.action)).toEqual(['hold', 'listen', 'search']);
    expect(items[0]).toMatchObject({ seq: 3, at: '2026-04-01T09:10:00.000Z', site: 'site-a', action: 'hold', principal: 'alice', rid: a[2]!.rid, case: 'C-17', hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(items[1]).toMatchObject({ action: 'listen', officer: 'bob' });
    expect(body(all).cursor).toBeNull();
    expect(trail.events.at(-1)).toMatchObject({ action: 'search', site: 'site-a', principal: 'alice', query: { audit: 'json' } });
    const bob = await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { principal: 'bob' } });
    expect((body(bob) as { items: { action: string }[] }).items.map((i) => i.action)).toEqual(['listen']);
    const searches = await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { action: 'search', from: '2026-04-01T08:00:00Z', to: '2026-04-01T09:05:00Z' } });
    expect((body(searches) as { items: { seq: number }[] }).items.map((i) => i.seq)).toEqual([1]);
    const page1 = body(await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { limit: '2' } })) as { items: { seq: number }[]; cursor: string };
    expect(page1.items.map((i) => i.seq)).toEqual([3, 2]);
    const page2 = body(await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { limit: '2', cursor: page1.cursor } })) as { items: { seq: number }[]; cursor: string | null };
    expect(page2.items.map((i) => i.seq)).toEqual([1]);
    expect(page2.cursor).toBeNull();
    const foreign = await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { limit: '2', action: 'hold', cursor: page1.cursor } });
    expect(foreign.statusCode).toBe(400);
    expect(body(foreign)).toMatchObject({ issues: [{ field: 'cursor' }] });
  });

  it('answers the audit trail as CSV with a header row, the same filters, and a formula-looking cell defused', async () => {
    const { call } = await setup();
    const res = await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query: { format: 'csv', action: 'hold' } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['Content-Type']).toMatch(/^text\/csv/);
    const lines = (res.body as string).split('\r\n');
    expect(lines[0]).toBe('seq,at,site,action,principal,officer,rid,query,detail,hash');
    expect(lines).toHaveLength(3); // header, the hold, after the final CRLF nothing
    expect(lines[1]).toMatch(/^3,2026-04-01T09:10:00.000Z,site-a,hold,alice,,r[0-9a-f]{23},/);
    expect(lines[1]).toContain('=court order');
  });

  it.each([
    [{ action: 'peek' }, 'action', /must be one of search, listen, download, hold, release, export, recall/],
    [{ from: 'yesterday' }, 'from', /ISO 8601/],
    [{ from: '2026-04-02T00:00:00Z', to: '2026-04-01T00:00:00Z' }, 'from', /must not be after to/],
    [{ format: 'xlsx' }, 'format', /json or csv/],
    [{ limit: '0' }, 'limit', /from 1 to 1000/],
    [{ principal: '' }, 'principal', /must not be empty/],
    [{ site: 'x' }, 'site', /unknown parameter/],
  ])('answers 400 naming the field for an audit query %o', async (query, field, message) => {
    const { call } = await setup();
    const res = await call('GET', '/console/sites/site-a/audit', { bearer: officerA(), query });
    expect(res.statusCode).toBe(400);
    expect(body(res)).toMatchObject({ error: 'InvalidInputError', issues: [{ field, message: expect.stringMatching(message) }] });
  });

  it('answers 405 with Allow for a wrong method and 404 for an unknown console path', async () => {
    const { call, a } = await setup();
    const wrong = await call('GET', `/console/sites/site-a/recordings/${a[0]!.rid}/play-link`, { bearer: officerA() });
    expect(wrong.statusCode).toBe(405);
    expect(wrong.headers.Allow).toBe('POST');
    const unknown = await call('GET', '/console/elsewhere', { bearer: officerA() });
    expect(unknown.statusCode).toBe(404);
  });
});
