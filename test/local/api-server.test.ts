import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sigV4Signer } from '../../adapters/sigv4.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { ingestManifest } from '../../core/ingest.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { startApiServer } from '../../local/api-server.ts';
import type { HttpEndpoint } from '../../local/http-endpoint.ts';
import { startReplayServer } from '../../local/replay-server.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';
import { apiGet, replayGet, TEST_KEY, TEST_REGION } from '../support/signed.ts';
import { sourceFunctions } from '../support/source-functions.ts';

// The local catalogue API as the deployed one behaves (API Gateway, IAM authorization): real
// HTTP, SigV4 verified, the caller's access key id handed to the handlers as the principal.

const run = promisify(execFile);
let api: HttpEndpoint;
let replay: HttpEndpoint;
let f: PackFixture;
const blobs = new MemoryBlobStore();
const catalogue = new MemoryCatalogue();
const audits: AuditEvent[] = [];
const SESSION = 'session-token-for-the-page-0123456789';
const members = [
  { path: 'batch/one.wav', body: audio(1, 5000), meta: { agent: 'ann', caller: '+441', start: '2026-03-01T08:00:00Z' } },
  { path: 'batch/two.wav', body: audio(2, 3000), meta: { agent: 'bob', called: '+441', start: '2026-03-01T09:00:00Z' } },
];

beforeAll(async () => {
  f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const common = { credentials: [TEST_KEY], region: TEST_REGION, log: () => undefined };
  const { functions, replay: replayFunction } = sourceFunctions({ catalogue, blobs, audit: (e: AuditEvent) => void audits.push(e) });
  replay = await startReplayServer({ ...common, replay: replayFunction! });
  api = await startApiServer({ ...common, functions, session: { token: SESSION, replayUrl: replay.url, credentials: TEST_KEY } });
});

afterAll(async () => {
  await Promise.all([api?.stop(), replay?.stop()]);
});

const rid = (i: number) => f.manifest.members[i]!.rid;

describe('local catalogue API (real HTTP, SigV4)', () => {
  it('searches and pages for a signed caller, and audits the access key id as the principal', async () => {
    const res = await apiGet(`${api.url}/sites/site-a/recordings?number=${encodeURIComponent('+441')}&limit=1`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: { rid: string }[]; cursor: string };
    expect(page.items.map((e) => e.rid)).toEqual([rid(0)]);
    const next = (await (await apiGet(`${api.url}/sites/site-a/recordings?number=%2B441&limit=1&cursor=${page.cursor}`)).json()) as { items: { rid: string }[]; cursor: null };
    expect(next).toEqual({ items: [expect.objectContaining({ rid: rid(1) })], cursor: null });
    const one = await apiGet(`${api.url}/sites/site-a/recordings/${rid(1)}`);
    expect(((await one.json()) as { meta: { agent: string } }).meta.agent).toBe('bob');
    expect(audits.at(-1)).toMatchObject({ action: 'search', rid: rid(1), principal: TEST_KEY.accessKeyId });
  });

  it('accepts a signature made by another SigV4 client (curl --aws-sigv4), which signs only host and x-amz-date', async () => {
    // Asynchronously: the server answers from this very process.
    const curl = async (secret: string) =>
      (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', '--aws-sigv4', `aws:amz:${TEST_REGION}:execute-api`, '--user', `${TEST_KEY.accessKeyId}:${secret}`, `${api.url}/sites/site-a/recordings?limit=1`])).stdout;
    expect(await curl(TEST_KEY.secretAccessKey)).toBe('200');
    expect(await curl('not-the-secret')).toBe('403');
  });

  it('refuses an unsigned request with 403 Missing Authentication Token, as API Gateway does', async () => {
    const res = await fetch(`${api.url}/sites/site-a/recordings`);
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ message: 'Missing Authentication Token' });
  });

  it('refuses with 403 a wrong secret, an unknown key, a replay-scoped signature and a query changed after signing', async () => {
    const wrongSecret = await apiGet(`${api.url}/sites/site-a/recordings`, { credentials: { ...TEST_KEY, secretAccessKey: 'not-the-secret' } });
    expect(wrongSecret.status).toBe(403);
    expect(wrongSecret.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    expect(((await wrongSecret.json()) as { message: string }).message).toMatch(/signature we calculated does not match/);
    const unknown = await apiGet(`${api.url}/sites/site-a/recordings`, { credentials: { accessKeyId: 'AKIDNOBODY', secretAccessKey: 'x' } });
    expect(unknown.status).toBe(403);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnrecognizedClientException');
    const forLambda = await replayGet(`${api.url}/sites/site-a/recordings`);
    expect(forLambda.status).toBe(403);
    const signed = await apiGet(`${api.url}/sites/site-a/recordings?agent=ann`);
    expect(signed.status).toBe(200);
    // Headers signed for ?agent=ann, sent with ?agent=bob: the signature no longer fits.
    const { hostname, port } = new URL(api.url);
    const s = await sigV4Signer('execute-api', TEST_REGION, TEST_KEY).sign({ method: 'GET', protocol: 'http:', hostname, path: '/sites/site-a/recordings', query: { agent: 'ann' }, headers: { host: `${hostname}:${port}` } });
    const replayed = await new Promise<number>((resolve, reject) => {
      request({ hostname, port, path: '/sites/site-a/recordings?agent=bob', headers: s.headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end();
    });
    expect(replayed).toBe(403);
  });

  it('refuses a __proto__ query parameter with 400 naming it, like any unknown parameter', async () => {
    const res = await apiGet(`${api.url}/sites/site-a/recordings?__proto__=x`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/__proto__: unknown parameter/);
    const constructor = await apiGet(`${api.url}/sites/site-a/recordings?constructor=x`);
    expect(constructor.status).toBe(400);
  });

  it('has no route that triggers ingest: POST /internal/s3-events is 404', async () => {
    const res = await fetch(`${api.url}/internal/s3-events`, { method: 'POST', body: JSON.stringify({ Records: [{ s3: { object: { key: f.manifestKey } } }] }) });
    expect(res.status).toBe(404);
  });

  it('serves no audio: replay is its own endpoint', async () => {
    const res = await apiGet(`${api.url}/sites/site-a/recordings/${rid(0)}/audio`);
    expect(res.status).toBe(404);
  });

  it('answers preflight, 404 JSON for unknown routes and recordings, 405 for other methods', async () => {
    const pre = await fetch(`${api.url}/sites/site-a/recordings`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const unknown = await fetch(`${api.url}/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'NotFound' });
    const absent = await apiGet(`${api.url}/sites/site-a/recordings/r00000000000000000000000`);
    expect(absent.status).toBe(404);
    expect(await absent.json()).toMatchObject({ error: 'NotFoundError' });
    const post = await fetch(`${api.url}/sites/site-a/recordings`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it("lets the page's session search, and mint presigned replay links that the replay endpoint plays", async () => {
    const session = { 'X-Ferry-Session': SESSION };
    const search = await fetch(`${api.url}/sites/site-a/recordings?agent=bob`, { headers: session });
    expect(search.status).toBe(200);
    expect(audits.at(-1)).toMatchObject({ action: 'search', principal: `${TEST_KEY.accessKeyId} (web page session)` });
    expect((await fetch(`${api.url}/sites/site-a/recordings`, { headers: { 'X-Ferry-Session': 'guess' } })).status).toBe(403);
    expect((await fetch(`${api.url}/local/replay-link?site=site-a&rid=${rid(0)}`)).status).toBe(403);
    const bad = await fetch(`${api.url}/local/replay-link?site=site-a&rid=nope`, { headers: session });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^rid:/);
    const link = (await (await fetch(`${api.url}/local/replay-link?site=site-a&rid=${rid(0)}`, { headers: session })).json()) as { url: string; head: string };
    expect(new URL(link.url).origin).toBe(replay.url);
    const played = await fetch(link.url);
    expect(played.status).toBe(200);
    expect(Buffer.from(await played.arrayBuffer())).toEqual(members[0]!.body);
    expect((await fetch(link.head, { method: 'HEAD' })).status).toBe(200);
    // A link is for one method: the GET link does not answer HEAD.
    expect((await fetch(link.url, { method: 'HEAD' })).status).toBe(403);
  });

  it('serves the web page at / with a policy that allows media and requests to the replay endpoint only besides itself', async () => {
    const page = await fetch(`${api.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain(`media-src 'self' ${replay.url};`);
    const html = await page.text();
    expect(html).toContain('src="web/app.js"');
    const js = await fetch(`${api.url}/web/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    await js.text();
    expect((await fetch(`${api.url}/`, { method: 'POST' })).status).toBe(405);
  });

  it('serves only the known web files: no other file, no directory traversal', async () => {
    // fetch() would normalise '..' away, so these paths go out as raw request lines.
    const rawGet = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(api.url);
        request({ hostname, port, path }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
    for (const path of ['/web/', '/web/index.html', '/web/nope.js', '/web/../package.json', '/web/%2e%2e/package.json', '/web/..%2fpackage.json', '/web//app.js', '/index.html', '/web/app.js/', '/web/APP.JS']) {
      expect(await rawGet(path), path).toBe(404);
    }
    expect(await rawGet('/web/app.js?v=1')).toBe(200);
  });
});
