import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { DirectGetHandler } from '../../adapters/direct-get.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { NotFoundError, TransientError } from '../../core/errors.ts';

// GETs read straight into the caller's buffer (`adapters/direct-get.ts`), against a small S3-like
// server on loopback, over HTTP and HTTPS, with the SDK signing as it does for AWS.

const OBJECT = randomBytes(3 * 1024 * 1024 + 17);
const TLS_DIR = new URL('../fixtures/tls/', import.meta.url);
const credentials = { accessKeyId: 'A', secretAccessKey: 'S' };

interface Seen {
  connections: number;
  requests: { method: string; url: string; authorization?: string }[];
}

/** Serves bucket b: `k` (ranges), `cut` (announces the range, sends half, then drops the socket), anything else 404 in chunks. */
function answer(seen: Seen) {
  return (req: IncomingMessage, res: ServerResponse) => {
    seen.requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization });
    req.resume();
    const key = new URL(req.url!, 'http://x').pathname;
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const [start, end] = m ? [Number(m[1]), Math.min(Number(m[2]), OBJECT.length - 1)] : [0, OBJECT.length - 1];
    if (req.method === 'PUT') return void res.writeHead(200, { etag: '"x"' }).end();
    if (key === '/b/silent') return; // never answers
    if (key === '/b/stall') return void res.writeHead(206, { 'content-length': 1000 }).write(OBJECT.subarray(0, 100)); // then nothing
    if (key === '/b/k' || key === '/b/cut') {
      res.writeHead(m ? 206 : 200, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${OBJECT.length}`, etag: '"e"' });
      if (key === '/b/k') return void res.end(OBJECT.subarray(start, end + 1));
      return void res.write(OBJECT.subarray(start, start + (end - start + 1) / 2), () => res.socket?.destroy());
    }
    // No content-length: Node sends the error body in chunks, as S3 may.
    res.writeHead(404, { 'content-type': 'application/xml' });
    res.write('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>');
    res.end('<Message>The specified key does not exist.</Message></Error>');
  };
}

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function start(tls: boolean): Promise<{ endpoint: string; seen: Seen }> {
  const seen: Seen = { connections: 0, requests: [] };
  server = tls
    ? createHttpsServer({ key: readFileSync(new URL('localhost.key', TLS_DIR)), cert: readFileSync(new URL('localhost.crt', TLS_DIR)) }, answer(seen))
    : createHttpServer(answer(seen));
  server.on(tls ? 'secureConnection' : 'connection', () => seen.connections++);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { endpoint: `${tls ? 'https' : 'http'}://${tls ? 'localhost' : '127.0.0.1'}:${(server!.address() as AddressInfo).port}`, seen };
}

/** A store whose client reads GETs directly; over HTTPS it trusts the fixture's certificate. */
function storeFor(endpoint: string): S3BlobStore {
  const client = createS3Client({ endpoint, credentials, directGets: true });
  if (endpoint.startsWith('https:')) {
    const ca = readFileSync(new URL('localhost.crt', TLS_DIR));
    client.config.requestHandler = new DirectGetHandler(new NodeHttpHandler(), { ca });
  }
  return new S3BlobStore(client, 'b');
}

async function rangesInto(store: S3BlobStore, size: number): Promise<Buffer> {
  const out = Buffer.alloc(OBJECT.length);
  for (let start = 0; start < OBJECT.length; start += size) {
    const end = Math.min(start + size, OBJECT.length) - 1;
    const got = await store.get('k', { start, end });
    expect(got.readInto).toBeTypeOf('function');
    expect(await got.readInto!(out.subarray(start, end + 1))).toBe(end - start + 1);
  }
  return out;
}

describe('GETs read straight into the caller buffer (DirectGetHandler)', () => {
  it('reads every ranged GET into the buffer given, signed, on one kept-alive connection', async () => {
    const { endpoint, seen } = await start(false);
    const out = await rangesInto(storeFor(endpoint), 1024 * 1024);
    expect(out.equals(OBJECT)).toBe(true);
    expect(seen.requests).toHaveLength(4);
    expect(seen.requests.every((r) => r.method === 'GET' && r.url.startsWith('/b/k') && /^AWS4-HMAC-SHA256 /.test(r.authorization ?? ''))).toBe(true);
    expect(seen.connections).toBe(1);
  });

  it('does the same over HTTPS (TLS with onread), verifying the server certificate', async () => {
    const { endpoint, seen } = await start(true);
    const out = await rangesInto(storeFor(endpoint), 1024 * 1024);
    expect(out.equals(OBJECT)).toBe(true);
    expect(seen.connections).toBe(1);
    // Without the certificate trusted, the same GET is refused.
    const untrusted = new S3BlobStore(createS3Client({ endpoint, credentials, directGets: true, maxAttempts: 1 }), 'b');
    await expect(untrusted.get('k', { start: 0, end: 9 })).rejects.toThrow(/self-signed|certificate/i);
  });

  it("turns an error answered in chunks into the store's error (404: NotFoundError), and the connection serves the next GET", async () => {
    const { endpoint, seen } = await start(false);
    const store = storeFor(endpoint);
    await expect(store.get('missing', { start: 0, end: 9 })).rejects.toBeInstanceOf(NotFoundError);
    const got = await store.get('k', { start: 0, end: 9 });
    const into = Buffer.alloc(10);
    expect(await got.readInto!(into)).toBe(10);
    expect(into.equals(OBJECT.subarray(0, 10))).toBe(true);
    expect(seen.connections).toBe(1);
  });

  it('rejects a body cut short by the server, and one longer than the buffer given, without keeping their connections', async () => {
    const { endpoint, seen } = await start(false);
    const store = storeFor(endpoint);
    const cut = await store.get('cut', { start: 0, end: 1024 * 1024 - 1 });
    await expect(cut.readInto!(Buffer.alloc(1024 * 1024))).rejects.toMatchObject({ code: 'ECONNRESET' });
    const long = await store.get('k', { start: 0, end: 999 });
    await expect(long.readInto!(Buffer.alloc(999))).rejects.toThrow(/holds 1000 bytes, more than the 999/);
    const after = await store.get('k', { start: 5, end: 9 });
    const into = Buffer.alloc(5);
    expect(await after.readInto!(into)).toBe(5);
    expect(into.equals(OBJECT.subarray(5, 10))).toBe(true);
    expect(seen.connections).toBe(3);
  });

  it('still serves a body read as a stream, and sends every other request through the Node handler', async () => {
    const { endpoint, seen } = await start(false);
    const store = storeFor(endpoint);
    const got = await store.get('k', { start: 100, end: 100 + 200_000 - 1 });
    const chunks: Buffer[] = [];
    for await (const c of got.body as AsyncIterable<Buffer>) chunks.push(c);
    expect(Buffer.concat(chunks).equals(OBJECT.subarray(100, 200_100))).toBe(true);
    const client = createS3Client({ endpoint, credentials, directGets: true });
    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'p', Body: Buffer.alloc(10) }));
    expect(seen.requests.map((r) => r.method)).toEqual(['GET', 'PUT']);
    expect(seen.connections).toBe(2);
  });

  it('fails a request whose connection goes silent (no head, or a body stalled half way) after the idle time, as a transient failure', async () => {
    const { endpoint } = await start(false);
    const client = createS3Client({ endpoint, credentials, directGets: true, maxAttempts: 1 });
    client.config.requestHandler = new DirectGetHandler(new NodeHttpHandler(), {}, 300);
    const store = new S3BlobStore(client, 'b');
    const began = Date.now();
    await expect(store.get('silent', { start: 0, end: 9 })).rejects.toBeInstanceOf(TransientError);
    expect(Date.now() - began).toBeGreaterThanOrEqual(250);
    const got = await store.get('stall', { start: 0, end: 999 });
    await expect(got.readInto!(Buffer.alloc(1000))).rejects.toThrow(/no byte from the store for 0\.3 s/);
  });

  it('reports a server that is gone as a transient failure', async () => {
    const { endpoint } = await start(false);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    const store = new S3BlobStore(createS3Client({ endpoint, credentials, directGets: true, maxAttempts: 1 }), 'b');
    await expect(store.get('k', { start: 0, end: 9 })).rejects.toBeInstanceOf(TransientError);
  });
});
