import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalCloud, type LocalCloud } from '../../local/cloud.ts';
import { synthesizeDeployment } from '../../local/iam-gateway/synthesize.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

// The console through the local cloud, over real HTTP: sign in against the Cognito stand-in
// (InitiateAuth, USER_PASSWORD_AUTH), call the console API (the console function's bundle,
// verifying the token with aws-jwt-verify against the stand-in's JWKS), mint a play link (a
// presign of the site's replay URL by the console function's own role, checked by the local
// IAM against the synthesized grant) and play it with a Range header.

const A = 'site-a';
const B = 'site-b';
let dir: string;
let cloud: LocalCloud;
let packs: Record<string, PackFixture>;
const bodies = { [A]: audio(1, 6000), [B]: audio(2, 6000) };

async function signIn(username: string, password: string) {
  return fetch(cloud.console.cognitoEndpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AWSCognitoIdentityProviderService.InitiateAuth' },
    body: JSON.stringify({ AuthFlow: 'USER_PASSWORD_AUTH', ClientId: cloud.console.clientId, AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
}

async function accessToken(): Promise<string> {
  const res = await signIn(cloud.console.demo.username, cloud.console.demo.password);
  expect(res.status).toBe(200);
  return ((await res.json()) as { AuthenticationResult: { AccessToken: string } }).AuthenticationResult.AccessToken;
}

const consoleCall = (token: string | undefined, path: string, method = 'GET') =>
  fetch(`${cloud.console.apiUrl}${path}`, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });

beforeAll(async () => {
  const snapshot = await synthesizeDeployment([A, B]);
  dir = mkdtempSync(join(tmpdir(), 'ferry-console-'));
  cloud = await startLocalCloud({ directory: dir, fresh: true, iam: { sites: [A, B], snapshot } });
  packs = { [A]: buildPack(A, [{ path: 'b/1.wav', body: bodies[A]! }]), [B]: buildPack(B, [{ path: 'b/2.wav', body: bodies[B]! }]) };
  for (const f of Object.values(packs)) await publish(cloud.blobs, f);
  await cloud.drain();
  expect(cloud.ingestErrors).toEqual([]);
}, 240_000);

afterAll(async () => {
  await cloud?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the console on the local cloud', () => {
  it("signs the demo officer in (and refuses a wrong password), who sees the first site only", async () => {
    const wrong = await signIn(cloud.console.demo.username, 'Not-the-password-1');
    expect(wrong.status).toBe(400);
    expect(await wrong.json()).toMatchObject({ __type: 'NotAuthorizedException' });
    const me = await consoleCall(await accessToken(), '/me');
    expect(me.status).toBe(200);
    expect(await me.json()).toEqual({ username: 'demo-officer', groups: ['officer-site-a'], sites: [A], access: { [A]: 'officer' } });
    expect((await consoleCall(undefined, '/me')).status).toBe(401);
  });

  it('searches, mints a play link and plays it with a Range header from byte 0 (the start of a play): 206 with exactly those bytes, the listen audited as the officer', async () => {
    const token = await accessToken();
    const rid = packs[A]!.manifest.members[0]!.rid;
    const search = await consoleCall(token, `/sites/${A}/recordings`);
    expect(search.status).toBe(200);
    expect(((await search.json()) as { items: { rid: string }[] }).items.map((i) => i.rid)).toEqual([rid]);
    const minted = await consoleCall(token, `/sites/${A}/recordings/${rid}/play-link`, 'POST');
    expect(minted.status).toBe(200);
    const { url, expiresInSeconds } = (await minted.json()) as { url: string; expiresInSeconds: number };
    expect(expiresInSeconds).toBe(300);
    expect(new URL(url).searchParams.get('X-Amz-Expires')).toBe('300');
    expect(new URL(url).searchParams.get('officer')).toBe('demo-officer');
    expect(new URL(url).searchParams.get('pack')).toBe(packs[A]!.packKey);
    expect(new URL(url).searchParams.get('offset')).toBe(String(packs[A]!.manifest.members[0]!.offset));
    const played = await fetch(url, { headers: { Range: 'bytes=0-1099' } });
    expect(played.status).toBe(206);
    expect(Buffer.from(await played.arrayBuffer()).equals(bodies[A]!.subarray(0, 1100))).toBe(true);
    const audit = readFileSync(cloud.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit).toContainEqual(expect.objectContaining({ action: 'search', site: A, principal: 'demo-officer' }));
    expect(audit).toContainEqual(expect.objectContaining({ action: 'listen', site: A, rid, officer: 'demo-officer', principal: expect.stringContaining('role/') }));
  });

  it("lists the officer's search and listen in the site's audit view (read from the hash-chained trail in the bucket), as JSON and as CSV", async () => {
    const token = await accessToken();
    const rid = packs[A]!.manifest.members[0]!.rid;
    const res = await consoleCall(token, `/sites/${A}/audit?action=listen`);
    expect(res.status).toBe(200);
    const { items, cursor } = (await res.json()) as { items: Record<string, unknown>[]; cursor: string | null };
    expect(items).toContainEqual(expect.objectContaining({ action: 'listen', site: A, rid, officer: 'demo-officer', hash: expect.stringMatching(/^[0-9a-f]{64}$/) }));
    expect(items.every((i) => i.action === 'listen')).toBe(true);
    expect(cursor).toBeNull();
    const csv = await consoleCall(token, `/sites/${A}/audit?format=csv&principal=demo-officer`);
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe('seq,at,site,action,principal,officer,rid,query,detail,hash');
    expect(lines.slice(1).some((l) => l.includes(',search,demo-officer,'))).toBe(true);
    expect((await consoleCall(token, `/sites/${B}/audit`)).status).toBe(403);
  });

  it("refuses site-b to site-a's officer: search, record and play link all 403", async () => {
    const token = await accessToken();
    const rid = packs[B]!.manifest.members[0]!.rid;
    for (const [path, method] of [[`/sites/${B}/recordings`, 'GET'], [`/sites/${B}/recordings/${rid}`, 'GET'], [`/sites/${B}/recordings/${rid}/play-link`, 'POST']] as const) {
      const res = await consoleCall(token, path, method);
      expect(res.status, path).toBe(403);
      expect(await res.json()).toMatchObject({ error: 'ForbiddenError' });
    }
  });

  it('refuses a link with the officer changed (the officer is part of the signature)', async () => {
    const token = await accessToken();
    const rid = packs[A]!.manifest.members[0]!.rid;
    const { url } = (await (await consoleCall(token, `/sites/${A}/recordings/${rid}/download-link`, 'POST')).json()) as { url: string };
    const tampered = new URL(url);
    tampered.searchParams.set('officer', 'someone-else');
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('refuses a query parameter that is not valid %-encoded UTF-8 with a 400 naming it, and searches or audits nothing for it', async () => {
    const token = await accessToken();
    const audited = () => readFileSync(cloud.auditFile, 'utf8').trim().split('\n').length;
    const before = audited();
    for (const [query, field] of [['agent=%ff%fe', 'agent'], ['agent=%', 'agent'], ['callId=ab%2', 'callId'], ['agent=x&number=%c3', 'number'], ['%zz=1', 'query']] as const) {
      const res = await consoleCall(token, `/sites/${A}/recordings?${query}`);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { error: string; message: string; issues: { field: string }[] };
      expect(body.error, query).toBe('InvalidInputError');
      expect(body.issues.map((i) => i.field), query).toEqual([field]);
      expect(body.message, query).toContain('is not valid %-encoded UTF-8');
    }
    expect(audited()).toBe(before);
    // Without a sign-in the answer is 401 whatever the query says, as the front door's authorizer answers first on AWS.
    const anonymous = await fetch(`${cloud.console.apiUrl}/sites/${A}/recordings?agent=%ff`);
    expect(anonymous.status).toBe(401);
    // Well-formed escapes (UTF-8 é, a space as + or %20) are searched as before.
    for (const query of ['agent=Ren%C3%A9e', 'agent=Ann+Lee', 'agent=Ann%20Lee']) expect((await consoleCall(token, `/sites/${A}/recordings?${query}`)).status, query).toBe(200);
  });

  it('refuses a body with fields on the POST routes that take none (play link, download link, recall) with a 400 naming each, and mints with none or {}', async () => {
    const token = await accessToken();
    const rid = packs[A]!.manifest.members[0]!.rid;
    const post = (path: string, body?: string) =>
      fetch(`${cloud.console.apiUrl}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) }, ...(body === undefined ? {} : { body }) });
    for (const route of ['play-link', 'download-link', 'recall']) {
      const res = await post(`/sites/${A}/recordings/${rid}/${route}`, JSON.stringify({ x: 1, officer: 'someone-else' }));
      expect(res.status, route).toBe(400);
      const body = (await res.json()) as { error: string; message: string; issues: { field: string }[] };
      expect(body.error, route).toBe('InvalidInputError');
      expect(body.issues.map((i) => i.field), route).toEqual(['x, officer']);
      expect(body.message, route).toContain('unknown field');
    }
    expect((await post(`/sites/${A}/recordings/${rid}/play-link`, 'not json')).status).toBe(400);
    expect((await post(`/sites/${A}/recordings/${rid}/play-link`, '{}')).status).toBe(200);
    expect((await post(`/sites/${A}/recordings/${rid}/play-link`)).status).toBe(200);
  });
});

