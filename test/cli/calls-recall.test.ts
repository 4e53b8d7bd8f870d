import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../cli/api-client.ts';
import { recallCall, recallStatusOf, renderRecallStatus } from '../../cli/calls-commands.ts';

// `ferry calls recall SITE/ID` POSTs to the catalogue API's recall route (a real HTTP server on
// loopback stands in for the API) and reports what it answered.

let server: Server | undefined;

// The CLI signs with the standard credential chain: here, the environment's keys.
beforeEach(() => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFERRYTEST');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'ferry-test-secret');
  vi.stubEnv('AWS_REGION', 'us-east-1');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function api(status: number, body: unknown): Promise<{ base: string; seen: { method?: string; url?: string; signedBy?: string }[] }> {
  const seen: { method?: string; url?: string; signedBy?: string }[] = [];
  server = createServer((req: IncomingMessage, res) => {
    seen.push({ method: req.method, url: req.url, signedBy: /Credential=([^/]+)\//.exec(req.headers.authorization ?? '')?.[1] });
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('ferry calls recall', () => {
  it('POSTs to /sites/{site}/recordings/{rid}/recall and returns the started recall', async () => {
    const started = { site: 'site-a', rid: 'r0123456789abcdef0123456', packKey: 'recordings/site-a/p.tar', execution: 'arn:x', message: 'recall of site-a/r0123456789abcdef0123456 started' };
    const { base, seen } = await api(202, started);
    expect(await recallCall('site-a/r0123456789abcdef0123456', { api: base })).toEqual(started);
    expect(seen).toEqual([{ method: 'POST', url: '/sites/site-a/recordings/r0123456789abcdef0123456/recall', signedBy: 'AKIDFERRYTEST' }]);
  });

  it("fails with the API's status and message when the recall is refused", async () => {
    const { base } = await api(404, { error: 'NotFoundError', message: 'no recording r0123456789abcdef0123456 in site site-a' });
    const error = await recallCall('r0123456789abcdef0123456', { api: base, site: 'site-a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, message: 'catalogue API answered 404: no recording r0123456789abcdef0123456 in site site-a' });
  });
});

describe('ferry calls recall-status', () => {
  it('GETs /sites/{site}/recordings/{rid}/recall, signed, and returns the recall as the API answered it', async () => {
    const status = { site: 'site-a', rid: 'r0123456789abcdef0123456', packKey: 'recordings/site-a/p.tar', state: 'restoring', requestedAt: '2026-12-01T10:00:00.000Z', requester: 'officer@example.com', polls: 3, updatedAt: '2026-12-01T13:00:00.000Z' };
    const { base, seen } = await api(200, status);
    expect(await recallStatusOf('site-a/r0123456789abcdef0123456', { api: base })).toEqual(status);
    expect(seen).toEqual([{ method: 'GET', url: '/sites/site-a/recordings/r0123456789abcdef0123456/recall', signedBy: 'AKIDFERRYTEST' }]);
  });

  it("fails with the API's status and message for a call the catalogue does not know", async () => {
    const rid = 'r9999999999999999999999a';
    const { base } = await api(404, { error: 'NotFoundError', message: `no recording ${rid} in site site-a` });
    const error = await recallStatusOf(rid, { api: base, site: 'site-a' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 404, message: `catalogue API answered 404: no recording ${rid} in site site-a` });
  });

  it('says each state in words with the next command: none, restoring, available until, gave up, expired', () => {
    const base = { site: 'site-a', rid: 'r1', packKey: 'k' };
    expect(renderRecallStatus({ ...base, state: 'none' })).toBe('site-a/r1: no recall requested (`ferry calls recall site-a/r1` if the call is in the archive tier)\n');
    expect(renderRecallStatus({ ...base, state: 'restoring', requestedAt: '2026-12-01T10:00:00Z', requester: 'ann', polls: 2, updatedAt: '2026-12-01T12:00:00Z' })).toBe(
      'site-a/r1: recall in progress since 2026-12-01T10:00:00Z (requested by ann); 2 check(s) so far, last at 2026-12-01T12:00:00Z\n',
    );
    expect(renderRecallStatus({ ...base, state: 'available', availableUntil: '2026-12-08T00:00:00Z' })).toBe('site-a/r1: recalled, playable until 2026-12-08T00:00:00Z (`ferry calls play site-a/r1 --out FILE`)\n');
    expect(renderRecallStatus({ ...base, state: 'gave-up', polls: 96 })).toBe('site-a/r1: the recall gave up after 96 check(s); request it again with `ferry calls recall site-a/r1`\n');
    expect(renderRecallStatus({ ...base, state: 'none', expiredAt: '2026-12-02T00:00:00Z' })).toContain('stopped being playable at 2026-12-02T00:00:00Z');
  });
});
