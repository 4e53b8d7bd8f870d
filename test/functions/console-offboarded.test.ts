import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONSOLE_ROUTES } from '../../core/console-access.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';
import { createHandler, consoleDepsFromEnv, type ReplayLinkRequest } from '../../functions/console/handler.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';
import { consoleCaller, consoleToken, parseJson, testConsoleVerifier } from '../support/console-handler.ts';
import { auditTrail } from '../support/http-event.ts';

// An off-boarded site (deployment config `offboarded`: its customer gone, its calls kept to the end
// of their retention): its own officer and listener groups reach nothing on any route, while the
// deployment's admin and officer-all still search, play and hold its calls. The other customer's
// site next to it is untouched.

async function setup() {
  const catalogue = new MemoryCatalogue();
  const gone = Array.from({ length: 3 }, (_, i) => makeEntry('acme-cc', i));
  const stays = Array.from({ length: 3 }, (_, i) => makeEntry('globex-cc', i));
  await catalogue.putRecordings([...gone, ...stays]);
  const trail = auditTrail();
  const minted: ReplayLinkRequest[] = [];
  const handler = createHandler({
    verifier: testConsoleVerifier(),
    sites: ['acme-cc', 'globex-cc'],
    offboarded: ['acme-cc'],
    catalogue,
    holds: { holds: new MemoryHoldStore(), catalogue, blobs: new MemoryBlobStore(), holder: new MemoryObjectHolder() },
    links: async (r) => (minted.push(r), `https://replay.example/sites/${r.site}/recordings/${r.rid}/audio`),
    audit: trail.audit,
    clock: trail.clock,
    cursorKey: 'k'.repeat(32),
    log: () => undefined,
  });
  return { call: consoleCaller((e) => handler(e, {})), gone, stays, trail, minted };
}

afterEach(() => vi.unstubAllEnvs());

const window = { from: '2000-01-01T00:00:00Z', to: '2100-01-01T00:00:00Z' };

describe('console: an off-boarded site', () => {
  it("lists nothing of it to its former officer or listener, and 403s every one of its routes for them, reading and minting nothing", async () => {
    const { call, gone, trail, minted } = await setup();
    for (const groups of [['officer-acme-cc'], ['listener-acme-cc'], ['officer-acme-cc', 'listener-acme-cc']]) {
      const bearer = consoleToken('wile', groups);
      expect(parseJson(await call('GET', '/console/sites', { bearer }))).toEqual({ sites: [], closed: ['acme-cc'] });
      expect(parseJson(await call('GET', '/console/me', { bearer }))).toMatchObject({ sites: [], access: {}, closed: ['acme-cc'] });
      for (const route of CONSOLE_ROUTES.filter((r) => r.path.includes('{site}'))) {
        const path = route.path.replace('{site}', 'acme-cc').replace('{rid}', gone[0]!.rid).replace('{case}', 'case-1').replace('{exportId}', 'e1');
        const res = await call(route.method, path, { bearer, query: route.action === 'search' ? window : {} });
        expect(res.statusCode, `${groups.join('+')} ${route.method} ${path}`).toBe(403);
        expect(parseJson(res).message).toContain(
          'wile may not see site acme-cc any more: it was closed (off-boarded): its groups (officer-acme-cc, listener-acme-cc) open it to no one any more. Its calls are kept to the end of their retention; for one of them (a legal request), ask the administrator of this service',
        );
      }
    }
    expect(trail.events).toEqual([]);
    expect(minted).toEqual([]);
  });

  it('still lets admin and officer-all search, play and hold its calls', async () => {
    const { call, gone, minted } = await setup();
    for (const groups of [['admin'], ['officer-all']]) {
      const bearer = consoleToken('ops', groups);
      expect(parseJson(await call('GET', '/console/sites', { bearer }))).toEqual({ sites: [{ name: 'acme-cc', access: 'officer' }, { name: 'globex-cc', access: 'officer' }] });
      const found = await call('GET', '/console/sites/acme-cc/recordings', { bearer, query: window });
      expect((parseJson(found).items as unknown[]).length).toBe(3);
      expect((await call('POST', `/console/sites/acme-cc/recordings/${gone[1]!.rid}/play-link`, { bearer })).statusCode).toBe(200);
    }
    const held = await call('POST', '/console/sites/acme-cc/holds', { bearer: consoleToken('ops', ['admin']), body: { rid: gone[2]!.rid, reason: 'retention inquiry after off-boarding' } });
    expect(held.statusCode).toBe(201);
    expect(minted.map((m) => m.site)).toEqual(['acme-cc', 'acme-cc']);
  });

  it("leaves the other customer's officer on their own site, and still out of the off-boarded one", async () => {
    const { call, stays } = await setup();
    const bearer = consoleToken('gina', ['officer-globex-cc']);
    expect(parseJson(await call('GET', '/console/sites', { bearer }))).toEqual({ sites: [{ name: 'globex-cc', access: 'officer' }] });
    expect((await call('GET', `/console/sites/globex-cc/recordings/${stays[0]!.rid}`, { bearer })).statusCode).toBe(200);
    // Not told that acme-cc was closed (nor that it exists): it is no site of theirs.
    const refused = await call('GET', '/console/sites/acme-cc/recordings', { bearer, query: window });
    expect(refused.statusCode).toBe(403);
    expect(parseJson(refused).message).not.toMatch(/closed|off-boarded/);
  });

  it("names to a former officer only the closed sites their own groups name, never another customer's", async () => {
    const { call } = await setup();
    // An officer of acme-cc and of a site the deployment no longer has: only acme-cc is said closed.
    const bearer = consoleToken('wile', ['officer-acme-cc', 'officer-roadrunner-cc']);
    expect(parseJson(await call('GET', '/console/sites', { bearer }))).toEqual({ sites: [], closed: ['acme-cc'] });
    // Admin sees the site itself: nothing is closed to them.
    expect(parseJson(await call('GET', '/console/sites', { bearer: consoleToken('ops', ['admin', 'officer-acme-cc']) }))).not.toHaveProperty('closed');
    // No group at all: nothing closed, nothing named.
    expect(parseJson(await call('GET', '/console/sites', { bearer: consoleToken('new', []) }))).toEqual({ sites: [] });
  });

  it('reads the off-boarded sites from CONSOLE_OFFBOARDED_SITES, and names the variable when it is no JSON array', () => {
    const env = { BUCKET: 'ferry-data', TABLE: 'ferry-catalogue', AWS_REGION: 'eu-west-2', CURSOR_KEY: 'k'.repeat(32), CONSOLE_ISSUER: 'https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_Test0001', CONSOLE_CLIENT_ID: 'c', CONSOLE_REPLAY_URLS: JSON.stringify({ 'acme-cc': 'https://a.example/', 'globex-cc': 'https://g.example/' }) };
    // The shared clients read the process environment (functions/shared/deps.ts cloudDeps).
    for (const [name, value] of Object.entries(env)) vi.stubEnv(name, value);
    expect(consoleDepsFromEnv({ ...env, CONSOLE_OFFBOARDED_SITES: '["acme-cc"]' }).offboarded).toEqual(['acme-cc']);
    expect(consoleDepsFromEnv(env).offboarded).toBeUndefined();
    expect(() => consoleDepsFromEnv({ ...env, CONSOLE_OFFBOARDED_SITES: 'acme-cc' })).toThrow(/CONSOLE_OFFBOARDED_SITES.*JSON array of site names/);
  });
});
