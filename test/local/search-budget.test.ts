import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { deployedVariable } from '../../local/function-environment.ts';
import type { CatalogueEntry } from '../../core/ports.ts';
import { makeEntry } from '../support/catalogue-fixtures.ts';

// The console's search and count on the local cloud, from the deployed bundles, with the
// deployment's search.readLimit lowered to 300 (a site of millions against the default 50,000):
// a direction few calls have stops each request at its budget, a count says "at least" with the
// calls it read, a page answers what it found with a cursor that goes on, and walking the
// cursors finds every match once, in order. Never a timeout or a 5xx.

const A = 'site-a';
const READ_LIMIT = 300;
const SIZE = 2000;
const rare = (i: number) => i % 250 === 11;
let dir: string;
let cloud: LocalCloud;
let entries: CatalogueEntry[];
let token: string;

const consoleGet = (path: string) => fetch(`${cloud.console.apiUrl}${path}`, { headers: { Authorization: `Bearer ${token}` } });

beforeAll(async () => {
  const snapshot = await synthesizeDeployment([A], { search: { readLimit: READ_LIMIT } });
  expect(deployedVariable(snapshot, 'console', 'SEARCH_READ_LIMIT')).toBe(String(READ_LIMIT));
  dir = mkdtempSync(join(tmpdir(), 'ferry-search-budget-'));
  cloud = await startLocalCloud({ directory: dir, fresh: true, iam: { sites: [A], snapshot } });
  entries = Array.from({ length: SIZE }, (_, i) => makeEntry(A, i, { meta: { ...makeEntry(A, i).meta, direction: rare(i) ? 'inbound' : 'outbound', durationSec: 30 + (i % 17) } }));
  await cloud.catalogue.putRecordings(entries);
  const res = await fetch(cloud.console.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: cloud.console.clientId, AuthParameters: { USERNAME: cloud.console.demo.username, PASSWORD: cloud.console.demo.password } }),
  });
  token = ((await res.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
}, 240_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a rare filter over a large site, within the deployment's read limit", () => {
  it('counts "at least N" with the calls it read (no more than the limit) instead of reading the whole site', async () => {
    const res = await consoleGet(`/sites/${A}/recordings/count?direction=inbound`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { count: number; more: boolean; limit: number; stopped?: { read: number } };
    expect(body.more).toBe(true);
    expect(body.stopped?.read).toBeGreaterThan(0);
    expect(body.stopped!.read).toBeLessThanOrEqual(READ_LIMIT);
    expect(body.count).toBeLessThan(entries.filter((_, i) => rare(i)).length);
    // Narrowed to a range the limit covers (261 calls, one inbound), the same count is exact.
    const narrow = await consoleGet(`/sites/${A}/recordings/count?direction=inbound&from=${entries[0]!.start}&to=${entries[260]!.start}`);
    expect(await narrow.json()).toEqual({ count: 1, more: false, limit: 10000 });
  });

  it('answers each page with what it found and a cursor that goes on; walked to the end, every match once, in start order', async () => {
    const found: string[] = [];
    let stopped = 0;
    let cursor: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const res = await consoleGet(`/sites/${A}/recordings?direction=inbound&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: CatalogueEntry[]; cursor: string | null; stopped?: { read: number } };
      found.push(...page.items.map((e) => e.rid));
      if (page.stopped) {
        stopped++;
        expect(page.stopped.read).toBeLessThanOrEqual(READ_LIMIT);
        expect(page.cursor).toBeTypeOf('string');
      }
      cursor = page.cursor;
      if (!cursor) break;
    }
    expect(cursor).toBeNull();
    expect(stopped).toBeGreaterThan(1);
    expect(found).toEqual(entries.filter((_, i) => rare(i)).map((e) => e.rid));
  });

  it('refuses a duration sort it cannot finish with a 400 naming sort and the time range', async () => {
    const res = await consoleGet(`/sites/${A}/recordings?direction=inbound&sort=-duration`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/^sort: .*narrow the time range/) });
  });
});
