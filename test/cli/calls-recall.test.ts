import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../../cli/api-client.ts';
import { recallCall } from '../../cli/calls-commands.ts';

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
    const started = { site: 'site-a', rid: 'r0123', packKey: 'recordings/site-a/p.tar', execution: 'arn:x', message: 'recall of site-a/r0123 started' };
    const { base, seen } = await api(202, started);
    expect(await recallCall('site-a/r0123', { api: base })).toEqual(started);
    expect(seen).toEqual([{ method: 'POST', url: '/sites/site-a/recordings/r0123/recall', signedBy: 'AKIDFERRYTEST' }]);
  });

  it("fails with the API's status and message when the recall is refused", async () => {
    const { base } = await api(404, { error: 'NotFoundError', message: 'no recording r0123 in site site-a' });
    const error = await recallCall('r0123', { api: base, site: 'site-a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 404, message: 'catalogue API answered 404: no recording r0123 in site site-a' });
  });
});
