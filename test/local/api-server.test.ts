import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { AuditEvent } from '../../functions/shared/audit.ts';
import { startApiServer, type ApiServer } from '../../local/api-server.ts';
import { audio, buildPack, publish, type PackFixture } from '../support/pack-fixture.ts';

let server: ApiServer;
let f: PackFixture;
const blobs = new MemoryBlobStore();
const catalogue = new MemoryCatalogue();
const audits: AuditEvent[] = [];
const members = [
  { path: 'batch/one.wav', body: audio(1, 5000), meta: { agent: 'ann', caller: '+441', start: '2026-03-01T08:00:00Z' } },
  { path: 'batch/two.wav', body: audio(2, 3000), meta: { agent: 'bob', called: '+441', start: '2026-03-01T09:00:00Z' } },
];

beforeAll(async () => {
  f = buildPack('site-a', members);
  await publish(blobs, f);
  server = await startApiServer({ blobs, catalogue, audit: (e) => void audits.push(e), log: () => undefined }, {});
});

afterAll(async () => {
  await server?.stop();
});

const rid = (i: number) => f.manifest.members[i]!.rid;

describe('local API server (real HTTP)', () => {
  it('ingests an S3 event posted to /internal/s3-events', async () => {
    const res = await fetch(`${server.url}/internal/s3-events`, {
      method: 'POST',
      body: JSON.stringify({ Records: [{ eventName: 'ObjectCreated:Put', s3: { object: { key: f.manifestKey } } }] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ingested: [{ recordings: 2 }] });
    const bad = await fetch(`${server.url}/internal/s3-events`, { method: 'POST', body: '{' });
    expect(bad.status).toBe(400);
    const failing = await fetch(`${server.url}/internal/s3-events`, {
      method: 'POST',
      body: JSON.stringify({ Records: [{ s3: { object: { key: 'manifests/site-a/recordings/2026/03/01/p00000000000000000000000.json' } } }] }),
    });
    expect(failing.status).toBe(500);
    expect(await failing.json()).toMatchObject({ error: 'IngestFailedError', failures: [{ key: expect.stringContaining('p000') }] });
  });

  it('searches the catalogue with CORS for local use', async () => {
    const res = await fetch(`${server.url}/sites/site-a/recordings?number=${encodeURIComponent('+441')}&limit=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const page = (await res.json()) as { items: { rid: string }[]; cursor: string };
    expect(page.items.map((e) => e.rid)).toEqual([rid(0)]);
    const next = (await (await fetch(`${server.url}/sites/site-a/recordings?number=%2B441&limit=1&cursor=${page.cursor}`)).json()) as { items: { rid: string }[]; cursor: null };
    expect(next).toEqual({ items: [expect.objectContaining({ rid: rid(1) })], cursor: null });
    const one = await fetch(`${server.url}/sites/site-a/recordings/${rid(1)}`);
    expect(((await one.json()) as { meta: { agent: string } }).meta.agent).toBe('bob');
    const bad = await fetch(`${server.url}/sites/site-a/recordings?limit=5000`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/limit/);
  });

  it('replays the whole recording (200), a range (206) and refuses an unsatisfiable range (416)', async () => {
    const whole = await fetch(`${server.url}/sites/site-a/recordings/${rid(0)}/audio`);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer())).toEqual(members[0]!.body);
    expect(whole.headers.get('content-length')).toBe('5000');
    expect(whole.headers.get('etag')).toBe(`"${f.manifest.members[0]!.sha256}"`);

    const part = await fetch(`${server.url}/sites/site-a/recordings/${rid(1)}/audio`, { headers: { Range: 'bytes=-100' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 2900-2999/3000');
    expect(Buffer.from(await part.arrayBuffer())).toEqual(members[1]!.body.subarray(2900));

    const open = await fetch(`${server.url}/sites/site-a/recordings/${rid(1)}/audio`, { headers: { Range: 'bytes=2990-' } });
    expect(open.status).toBe(206);
    expect(Buffer.from(await open.arrayBuffer())).toEqual(members[1]!.body.subarray(2990));

    const beyond = await fetch(`${server.url}/sites/site-a/recordings/${rid(1)}/audio`, { headers: { Range: 'bytes=3000-' } });
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe('bytes */3000');
    await beyond.arrayBuffer();
    expect(audits.filter((a) => a.action === 'listen')).toHaveLength(3);
  });

  it('answers HEAD with headers and no body', async () => {
    const head = await fetch(`${server.url}/sites/site-a/recordings/${rid(0)}/audio`, { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    expect(head.status).toBe(206);
    expect(head.headers.get('content-length')).toBe('10');
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect((await head.arrayBuffer()).byteLength).toBe(0);
  });

  it('answers preflight, 404 JSON for unknown routes and recordings, 405 for other methods', async () => {
    const pre = await fetch(`${server.url}/sites/site-a/recordings/${rid(0)}/audio`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Range/);
    const unknown = await fetch(`${server.url}/nope`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: 'NotFound' });
    const absent = await fetch(`${server.url}/sites/site-a/recordings/r00000000000000000000000/audio`);
    expect(absent.status).toBe(404);
    expect(await absent.json()).toMatchObject({ error: 'NotFoundError' });
    const post = await fetch(`${server.url}/sites/site-a/recordings`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('serves the web page at / and its assets under /web/ with the right content types', async () => {
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const html = await page.text();
    expect(html).toMatch(/<audio id="audio" controls/);
    // Relative references only, so the page works under any base path.
    expect(html).toContain('src="web/app.js"');
    expect(html).toContain('href="web/style.css"');
    expect(Number(page.headers.get('content-length'))).toBe(Buffer.byteLength(html));
    const js = await fetch(`${server.url}/web/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await js.text()).toContain('/audio');
    const css = await fetch(`${server.url}/web/style.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('x-content-type-options')).toBe('nosniff');
    await css.arrayBuffer();
    const head = await fetch(`${server.url}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const post = await fetch(`${server.url}/`, { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('serves only the known web files: no other file, no directory traversal', async () => {
    // fetch() would normalise '..' away, so these paths go out as raw request lines.
    const rawGet = (path: string) =>
      new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(server.url);
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
