import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { createHandler, roleNameOf, type ReplayHandlerDeps } from '../../functions/replay/handler.ts';
import { chainAudit } from '../../functions/shared/audit.ts';
import { MemoryAuditLedger } from '../../core/audit-ledger.ts';
import { verifyAuditChain, type AuditRecord } from '../../core/audit-trail.ts';
import type { HttpResult } from '../../functions/shared/http.ts';
import { auditTrail, httpEvent } from '../support/http-event.ts';
import { audio, buildPack, publish } from '../support/pack-fixture.ts';

/** A pack of two calls, catalogued; the handler over it (`over`: its audit, clock, console role…); `call` asks for the first call, as `userArn` when given (an IAM caller). */
async function setup(over: Partial<ReplayHandlerDeps> = {}) {
  const blobs = new MemoryBlobStore();
  const catalogue = new MemoryCatalogue();
  const members = [{ path: 'b/one.wav', body: audio(1, 4000) }, { path: 'b/two.wav', body: audio(2, 1000) }];
  const f = buildPack('site-a', members);
  await publish(blobs, f);
  await ingestManifest({ blobs, catalogue }, f.manifestKey);
  const trail = auditTrail();
  const handler = createHandler({ blobs, catalogue, audit: trail.audit, clock: trail.clock, log: () => undefined, ...over });
  const rid = f.manifest.members[0]!.rid;
  const call = (opts: { method?: string; rid?: string; site?: string; range?: string; query?: Record<string, string>; headers?: Record<string, string>; userArn?: string } = {}) => {
    const event = httpEvent(opts.method ?? 'GET', `/sites/${opts.site ?? 'site-a'}/recordings/${opts.rid ?? rid}/audio`, {
      pathParameters: { site: opts.site ?? 'site-a', rid: opts.rid ?? rid },
      headers: { ...(opts.range ? { range: opts.range } : {}), ...opts.headers },
      query: opts.query,
    });
    if (opts.userArn) event.requestContext.authorizer = { iam: { accessKey: 'AK', userArn: opts.userArn } };
    return handler(event);
  };
  return { call, members, trail, f, blobs, catalogue };
}

async function bytes(res: HttpResult): Promise<Buffer> {
  if (typeof res.body === 'string') return Buffer.from(res.body);
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('replay handler', () => {
  it('streams the whole recording with 200 and audits a listen', async () => {
    const { call, members, trail } = await setup();
    const res = await call();
    expect(res.statusCode).toBe(200);
    expect(res.body).toBeInstanceOf(Readable);
    expect(await bytes(res)).toEqual(members[0]!.body);
    expect(res.headers).toMatchObject({ 'Content-Length': '4000', 'Accept-Ranges': 'bytes', 'Content-Type': 'audio/wav' });
    expect(trail.events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'listen', site: 'site-a', rid: expect.any(String), principal: undefined }]);
  });

  it('answers a Range with 206 and only those bytes (a listen); an unsatisfiable one with 416 (no record)', async () => {
    const { call, members, trail } = await setup();
    const res = await call({ range: 'bytes=100-199' });
    expect(res.statusCode).toBe(206);
    expect(res.headers['Content-Range']).toBe('bytes 100-199/4000');
    expect(await bytes(res)).toEqual(members[0]!.body.subarray(100, 200));
    const bad = await call({ range: 'bytes=4000-' });
    expect(bad.statusCode).toBe(416);
    expect(bad.headers['Content-Range']).toBe('bytes */4000');
    expect(bad.body).toBe('');
    expect(trail.events.map((e) => e.action)).toEqual(['listen']);
  });

  it('records a listen for a range that does not start at byte 0 unless a listen of the same caller and call in the last hour covers it', async () => {
    const events: { action: string; principal?: string; at: string }[] = [];
    let now = Date.parse('2026-04-01T12:00:00Z');
    const s = await setup({ audit: (e) => void events.push(e), clock: { now: () => new Date(now) } });
    const call = async (range: string, userArn = 'arn:aws:iam::1:role/officer') => {
      const res = await s.call({ range, userArn });
      expect(res.statusCode).toBe(206);
      (res.body as Readable).destroy();
    };
    // The whole call but its first byte (the constant R of RIFF): a listen, not a free copy.
    await call('bytes=1-');
    expect(events).toHaveLength(1);
    // That listen covers the same caller's seeks for an hour.
    now += 10 * 60_000;
    await call('bytes=2000-');
    expect(events).toHaveLength(1);
    // Another caller's seek is a listen of its own.
    await call('bytes=2000-', 'arn:aws:iam::1:role/other');
    expect(events.map((e) => e.principal)).toEqual(['arn:aws:iam::1:role/officer', 'arn:aws:iam::1:role/other']);
    // An hour after the first caller's listen, a seek is recorded again.
    now += 60 * 60_000;
    await call('bytes=3000-');
    expect(events.map((e) => [e.action, e.principal, e.at])).toEqual([
      ['listen', 'arn:aws:iam::1:role/officer', '2026-04-01T12:00:00.000Z'],
      ['listen', 'arn:aws:iam::1:role/other', '2026-04-01T12:10:00.000Z'],
      ['listen', 'arn:aws:iam::1:role/officer', '2026-04-01T13:10:00.000Z'],
    ]);
  });

  it('records one listen for a play fetched in several ranges (only the one starting at byte 0)', async () => {
    const { call, trail } = await setup();
    for (const range of ['bytes=0-', 'bytes=0-999', 'bytes=1000-1999', 'bytes=2000-', 'bytes=-500']) {
      const res = await call({ range });
      expect(res.statusCode).toBe(206);
      (res.body as Readable).destroy();
    }
    expect(trail.events.map((e) => e.action)).toEqual(['listen', 'listen']);
    const again = await call();
    (again.body as Readable).destroy();
    expect(trail.events.map((e) => e.action)).toEqual(['listen', 'listen', 'listen']);
  });

  it('answers a malformed %-escape in the Function URL path (no path parameters) with a 400 naming it', async () => {
    const { trail } = await setup();
    const handler = createHandler({ blobs: new MemoryBlobStore(), catalogue: new MemoryCatalogue(), audit: trail.audit, clock: trail.clock, log: () => undefined });
    const res = await handler(httpEvent('GET', '/sites/site-a/recordings/%ZZ/audio'));
    expect(res.statusCode).toBe(400);
    expect(JSON.parse(res.body as string)).toMatchObject({ issues: [{ field: 'rid', message: 'rid: "%ZZ" is not a valid %-encoded path segment' }] });
  });

  it('refuses a parameter it does not read, naming it (`Download=1` would be served inline and audited as a listen); a presign\'s X-Amz-* pass', async () => {
    const { call, trail } = await setup();
    const typo = await call({ query: { Download: '1' } });
    expect(typo.statusCode).toBe(400);
    expect(JSON.parse(typo.body as string)).toMatchObject({ issues: [{ field: 'Download', message: expect.stringMatching(/^Download: unknown parameter \(allowed: download, officer, pack, offset, length, and a presigned link's X-Amz-\*\)$/) }] });
    expect(trail.events).toEqual([]);
    const presigned = await call({ query: { download: '1', 'X-Amz-Algorithm': 'AWS4-HMAC-SHA256', 'X-Amz-Signature': 'ab' } });
    expect(presigned.statusCode).toBe(200);
    (presigned.body as Readable).destroy();
    expect(trail.events.map((e) => e.action)).toEqual(['download']);
  });

  it('answers a cache revalidating the call it holds (If-None-Match: its ETag, or *) with 304, no bytes and no audit record; another ETag gets the call', async () => {
    const { call, f, trail } = await setup();
    const get = (headers: Record<string, string>) => call({ headers });
    const etag = `"${f.manifest.members[0]!.sha256}"`;
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const res = await get({ 'if-none-match': inm });
      expect([inm, res.statusCode, res.body]).toEqual([inm, 304, '']);
      expect(res.headers.ETag).toBe(etag);
    }
    expect(trail.events).toEqual([]);
    const changed = await get({ 'if-none-match': '"something-else"' });
    expect(changed.statusCode).toBe(200);
    (changed.body as Readable).destroy();
    expect(trail.events.map((e) => e.action)).toEqual(['listen']);
  });

  it("takes an officer's name only from the console's role (the links it mints): a caller signing its own request cannot file a listen under a console user", async () => {
    const { call, trail } = await setup({ consoleRole: 'Ferry-processing-ConsoleFnRole-ABC' });
    const as = async (userArn: string) => {
      const res = await call({ query: { officer: 'demo-officer' }, range: 'bytes=0-9', userArn });
      if (typeof res.body !== 'string') (res.body as Readable).destroy();
      return res;
    };
    const spoofed = await as('arn:aws:sts::111122223333:assumed-role/Ferry-processing-SiteAOfficerRole-XYZ/me');
    expect(spoofed.statusCode).toBe(400);
    expect(JSON.parse(spoofed.body as string)).toMatchObject({ issues: [{ field: 'officer' }] });
    expect(trail.events).toEqual([]);
    const minted = await as('arn:aws:sts::111122223333:assumed-role/Ferry-processing-ConsoleFnRole-ABC/Ferry-processing-ConsoleFn');
    expect(minted.statusCode).toBe(206);
    expect(trail.events).toMatchObject([{ action: 'listen', officer: 'demo-officer' }]);
    expect(roleNameOf('arn:aws:iam::000000000000:role/ferry-console-role')).toBe('ferry-console-role');
    expect(roleNameOf('arn:aws:iam::000000000000:role/path/to/name')).toBe('name');
    expect(roleNameOf('AKIDLOCALKEY')).toBeUndefined();
  });

  it('names a download by its real name in filename* beside the ASCII fallback', async () => {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const f = buildPack('site-a', [{ path: 'b/日本語の通話.wav', body: audio(1, 100) }, { path: 'b/back\\slash.wav', body: audio(2, 100) }]);
    await publish(blobs, f);
    await ingestManifest({ blobs, catalogue }, f.manifestKey);
    const trail = auditTrail();
    const handler = createHandler({ blobs, catalogue, audit: trail.audit, clock: trail.clock, log: () => undefined });
    const names: string[] = [];
    for (const m of f.manifest.members) {
      const res = await handler(httpEvent('GET', `/sites/site-a/recordings/${m.rid}/audio`, { pathParameters: { site: 'site-a', rid: m.rid }, query: { download: '1' } }));
      (res.body as Readable).destroy();
      const header = res.headers['Content-Disposition']!;
      expect(header).toMatch(/^attachment; filename="[A-Za-z0-9._-]+"; filename\*=UTF-8''/);
      names.push(decodeURIComponent(/filename\*=UTF-8''(\S+)$/.exec(header)![1]!));
    }
    expect(names.sort()).toEqual(['back\\slash.wav', '日本語の通話.wav'].sort());
  });

  it('answers HEAD with headers only and audits downloads apart from listens', async () => {
    const { call, trail } = await setup();
    const head = await call({ method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['Content-Length']).toBe('4000');
    expect(trail.events).toEqual([]);
    const dl = await call({ query: { download: '1' } });
    expect(dl.headers['Content-Disposition']).toBe('attachment; filename="one.wav"');
    (dl.body as Readable).destroy();
    expect(trail.events.map((e) => e.action)).toEqual(['download']);
  });

  it.each([
    [{ site: 'SITE' }, 400, /site: must be a site name/],
    [{ rid: 'nope' }, 400, /rid: must be a recording id/],
    [{ query: { download: 'maybe' } }, 400, /download: must be 1, true, 0 or false/],
    [{ query: { pack: 'recordings/site-a/x.tar', offset: '-1', length: '10' } }, 400, /offset: must be a whole number of bytes/],
    [{ query: { pack: 'recordings/site-a/x.tar', offset: '0', length: '1e3' } }, 400, /length: must be a whole number of bytes/],
    [{ query: { pack: 'recordings/site-a/x.tar', offset: '0' } }, 400, /pack, offset and length: give all three/],
    [{ rid: 'r00000000000000000000000' }, 404, /no recording/],
    [{ site: 'site-b' }, 404, /no recording/],
  ])('answers %o with %i and a clear message (a 400 with issues)', async (opts, status, message) => {
    const { call, trail } = await setup();
    const res = await call(opts);
    expect(res.statusCode).toBe(status);
    expect(JSON.parse(res.body as string)).toMatchObject({ message: expect.stringMatching(message), ...(status === 400 ? { issues: [expect.objectContaining({ field: expect.any(String) })] } : {}) });
    expect(trail.events).toEqual([]);
  });

  it('serves the recording\'s own bytes whether the link\'s place (pack, offset, length) is right or names other bytes', async () => {
    const { call, members, f, trail } = await setup();
    const [one, two] = f.manifest.members;
    const right = await call({ range: 'bytes=0-99', query: { pack: f.packKey, offset: String(one!.offset), length: String(one!.length) } });
    expect(right.statusCode).toBe(206);
    expect(await bytes(right)).toEqual(members[0]!.body.subarray(0, 100));
    const other = await call({ range: 'bytes=0-99', query: { pack: f.packKey, offset: String(two!.offset), length: String(two!.length) } });
    expect(other.statusCode).toBe(206);
    expect(await bytes(other)).toEqual(members[0]!.body.subarray(0, 100));
    expect(trail.events.map((e) => e.action)).toEqual(['listen', 'listen']);
  });

  it('answers 404 (not 500) when the pack itself is gone', async () => {
    const { call, blobs, f } = await setup();
    await blobs.delete(f.packKey);
    const res = await call();
    expect(res.statusCode).toBe(404);
  });
});

describe('replay through a site replay URL', () => {
  const FN = 'arn:aws:lambda:eu-west-1:111122223333:function:ferry-replay';

  async function handlerFor() {
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const packs = { a: buildPack('site-a', [{ path: 'a/one.wav', body: audio(1, 800) }]), b: buildPack('site-b', [{ path: 'b/one.wav', body: audio(2, 800) }]) };
    for (const f of Object.values(packs)) {
      await publish(blobs, f);
      await ingestManifest({ blobs, catalogue }, f.manifestKey);
    }
    const trail = auditTrail();
    const handler = createHandler({ blobs, catalogue, audit: trail.audit, clock: trail.clock, log: () => undefined });
    const get = (site: string, rid: string, invokedFunctionArn: string) =>
      handler(httpEvent('GET', `/sites/${site}/recordings/${rid}/audio`, { pathParameters: { site, rid } }), { invokedFunctionArn });
    return { get, trail, ridA: packs.a.manifest.members[0]!.rid, ridB: packs.b.manifest.members[0]!.rid };
  }

  it("serves the alias's own site, and refuses another site's recording with 403 naming the site, unaudited", async () => {
    const { get, trail, ridA, ridB } = await handlerFor();
    expect((await get('site-a', ridA, `${FN}:site-site-a`)).statusCode).toBe(200);
    const refused = await get('site-b', ridB, `${FN}:site-site-a`);
    expect(refused.statusCode).toBe(403);
    expect(JSON.parse(refused.body as string)).toEqual({ error: 'ForbiddenError', message: 'this replay URL serves site site-a only, not site-b' });
    expect(trail.events.map((e) => e.site)).toEqual(['site-a']);
  });

  it('serves every site through the unqualified function URL', async () => {
    const { get, ridB } = await handlerFor();
    expect((await get('site-b', ridB, FN)).statusCode).toBe(200);
  });
});

describe('replay of an archived pack', () => {
  it('answers 409 ArchivedError with the recall hint, never 500; the listen stays recorded as attempted (its record is written while the range is opened)', async () => {
    const { translateS3Error } = await import('../../adapters/s3-blob-store.ts');
    const blobs = new MemoryBlobStore();
    const catalogue = new MemoryCatalogue();
    const f = buildPack('site-a', [{ path: 'a/old.wav', body: audio(3, 500) }]);
    await publish(blobs, f);
    await ingestManifest({ blobs, catalogue }, f.manifestKey);
    const archived = { get: async (key: string) => Promise.reject(translateS3Error(Object.assign(new Error('not valid for the storage class'), { name: 'InvalidObjectState', StorageClass: 'DEEP_ARCHIVE' }), 'get', key)) };
    const trail = auditTrail();
    const handler = createHandler({ blobs: archived, catalogue, audit: trail.audit, clock: trail.clock, log: () => undefined });
    const rid = f.manifest.members[0]!.rid;
    const res = await handler(httpEvent('GET', `/sites/site-a/recordings/${rid}/audio`, { pathParameters: { site: 'site-a', rid } }));
    expect(res.statusCode).toBe(409);
    const body = JSON.parse(res.body as string) as { error: string; message: string };
    expect(body.error).toBe('ArchivedError');
    expect(body.message).toMatch(/is in the archive tier \(DEEP_ARCHIVE\); request a recall/);
    expect(trail.events).toEqual([{ at: '2026-04-01T12:00:00.000Z', action: 'listen', site: 'site-a', rid, principal: undefined }]);
  });
});

describe('replay with the durable audit chain', () => {
  it('50 plays starting at once through one execution environment are all recorded in the durable chain with 2 ledger writes, not 50, and sealed to the bucket', async () => {
    const { blobs, catalogue, f } = await setup();
    let moves = 0;
    const heads = new (class extends MemoryAuditLedger {
      override async append(site: string, records: readonly AuditRecord[]): Promise<boolean> {
        moves++;
        return super.append(site, records);
      }
    })();
    const audit = chainAudit({ ledger: heads, blobs }, () => undefined);
    const handler = createHandler({ blobs, catalogue, audit, clock: auditTrail().clock, log: () => undefined });
    const rid = f.manifest.members[0]!.rid;
    const event = httpEvent('GET', `/sites/site-a/recordings/${rid}/audio`, { pathParameters: { site: 'site-a', rid }, headers: { range: 'bytes=0-99' } });
    const answers = await Promise.all(Array.from({ length: 50 }, () => handler(structuredClone(event))));
    expect(answers.map((a) => a.statusCode)).toEqual(Array(50).fill(206));
    for (const a of answers) (a.body as Readable).destroy();
    expect(moves).toBe(2);
    await audit.settled();
    const records: { key: string; text: string }[] = [];
    for await (const info of blobs.list('audit/site-a/')) records.push({ key: info.key, text: (await bytes({ statusCode: 200, headers: {}, body: (await blobs.get(info.key)).body })).toString('utf8') });
    expect(verifyAuditChain('site-a', records, await heads.head('site-a'))).toMatchObject({ ok: true, records: 50 });
  });
});
