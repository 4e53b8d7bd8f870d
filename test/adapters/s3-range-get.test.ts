import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { escapeKey, requestTarget, S3RangeReader } from '../../adapters/s3-range-get.ts';
import { ArchivedError, NotFoundError, RangeNotSatisfiableError, TransientError } from '../../core/errors.ts';
import { CredentialTable } from '../../local/iam-gateway/credentials.ts';
import { verifySignature } from '../../local/iam-gateway/sigv4.ts';
import { BUCKET, put, startParity, type Parity } from '../local/s3-parity-harness.ts';

// The replay function's ranged GETs without the SDK (adapters/s3-range-get.ts): against the local
// S3 stand-in, against a small server that answers with the faults a GET must survive (S3's 503
// SlowDown, a reset, silence), and with the signatures it makes checked by the local IAM gateway's
// verifier (the replay bundle through the gateway itself: test/local/api-bundles.test.ts).

const text = (body: NodeJS.ReadableStream) => new Response(body as unknown as ReadableStream).text();

describe('S3RangeReader against the local S3 stand-in', () => {
  let parity: Parity;
  let reader: S3RangeReader;
  const object = 'The quick brown fox jumps over the lazy dog. '.repeat(50);
  beforeAll(async () => {
    parity = await startParity();
    reader = new S3RangeReader({ bucket: BUCKET, region: 'us-east-1', endpoint: parity.s3.endpoint, credentials: parity.s3.credentials, retry: { maxAttempts: 1 } });
  });
  afterAll(async () => {
    reader?.destroy();
    await parity?.cleanup();
  });

  it('reads exactly the range asked for, with the object size, length, type and ETag of the SDK GET', async () => {
    await put(parity.client, 'recordings/s/p1.tar', object, { ContentType: 'application/x-tar' });
    const got = await reader.get('recordings/s/p1.tar', { start: 10, end: 39 });
    expect(await text(got.body)).toBe(object.slice(10, 40));
    expect(got).toMatchObject({ size: object.length, length: 30, contentType: 'application/x-tar' });
    expect(got.etag).toMatch(/^"[0-9a-f]{32}"$/);
  });

  it('signs keys with spaces, unicode and reserved characters as S3 expects (the stand-in accepts the signature)', async () => {
    const key = "recordings/s/Ünïcode dir/a b+c (1)!*'~&=.tar";
    await put(parity.client, key, object);
    const got = await reader.get(key, { start: 0, end: 8 });
    expect(await text(got.body)).toBe(object.slice(0, 9));
  });

  it('a missing key is NotFoundError naming it; a range past the end is RangeNotSatisfiableError with the size', async () => {
    const missing = await reader.get('recordings/s/none.tar', { start: 0, end: 9 }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as Error).message).toContain('recordings/s/none.tar');
    await put(parity.client, 'recordings/s/short.tar', 'short');
    const past = await reader.get('recordings/s/short.tar', { start: 100, end: 200 }).catch((e: unknown) => e);
    expect(past).toBeInstanceOf(RangeNotSatisfiableError);
    expect((past as RangeNotSatisfiableError).size).toBe(5);
  });

  it('a pack in DEEP_ARCHIVE is ArchivedError naming the class from S3 error body', async () => {
    await put(parity.client, 'recordings/s/deep.tar', object, { StorageClass: 'DEEP_ARCHIVE' });
    const error = await reader.get('recordings/s/deep.tar', { start: 0, end: 9 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchivedError);
    expect(error).toMatchObject({ storageClass: 'DEEP_ARCHIVE' });
    expect((error as Error).message).toMatch(/archive tier \(DEEP_ARCHIVE\); request a recall/);
  });
});

describe('S3RangeReader under faults (a stand-in server)', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ endpoint: string; requests: IncomingMessage[] }> {
    const requests: IncomingMessage[] = [];
    server = createServer((req, res) => {
      requests.push(req);
      req.resume();
      answer(req, res, requests.length);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, requests };
  }

  const slowDown = (res: ServerResponse) =>
    res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
  const partial = (res: ServerResponse) => res.writeHead(206, { 'content-length': 5, 'content-range': 'bytes 0-4/100' }).end('hello');

  it('retries 503 SlowDown and a reset connection, then reads: three requests, the bytes of the third', async () => {
    const { endpoint, requests } = await serve((_req, res, n) => (n === 1 ? slowDown(res) : n === 2 ? res.socket!.destroy() : partial(res)));
    const reader = new S3RangeReader({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, retry: { backoff: () => 1 } });
    try {
      const got = await reader.get('k', { start: 0, end: 4 });
      expect(await text(got.body)).toBe('hello');
      expect(got.size).toBe(100);
      expect(requests).toHaveLength(3);
      expect(requests.map((r) => r.headers.range)).toEqual(['bytes=0-4', 'bytes=0-4', 'bytes=0-4']);
    } finally {
      reader.destroy();
    }
  });

  it('gives up after maxAttempts with TransientError naming S3 code, one request an attempt', async () => {
    const { endpoint, requests } = await serve((_req, res) => slowDown(res));
    const reader = new S3RangeReader({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, retry: { maxAttempts: 2, backoff: () => 1 } });
    try {
      const error = await reader.get('k', { start: 0, end: 4 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/S3 get k: SlowDown/);
      expect(requests).toHaveLength(2);
    } finally {
      reader.destroy();
    }
  });

  it('a server that never answers fails the attempt after the head timeout, as transient', async () => {
    const { endpoint, requests } = await serve(() => undefined);
    const reader = new S3RangeReader({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, retry: { maxAttempts: 1 }, headTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = await reader.get('k', { start: 0, end: 4 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/no answer in 200 ms/);
      expect(Date.now() - started).toBeLessThan(5000);
      expect(requests).toHaveLength(1);
    } finally {
      reader.destroy();
    }
  });

  it("signs with the role's session token (x-amz-security-token, signed), the unsigned payload and the range", async () => {
    const { endpoint, requests } = await serve((_req, res) => partial(res));
    const reader = new S3RangeReader({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'ASIA1', secretAccessKey: 'S', sessionToken: 'TOKEN' } });
    try {
      await text((await reader.get('a b/c.tar', { start: 0, end: 4 })).body);
      const seen = requests[0]!;
      expect(seen.url).toBe('/b/a%20b/c.tar');
      expect(seen.headers['x-amz-security-token']).toBe('TOKEN');
      expect(seen.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(seen.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=ASIA1\/\d{8}\/eu-west-1\/s3\/aws4_request, SignedHeaders=[^,]*range[^,]*x-amz-security-token/);
    } finally {
      reader.destroy();
    }
  });

  it('its signature verifies with the key it was made with (keys with spaces, unicode, reserved characters), and not with another secret', async () => {
    const { endpoint, requests } = await serve((_req, res) => partial(res));
    const key = { accessKeyId: 'AKIAEXAMPLE0000001', secretAccessKey: 'right-secret' };
    const reader = new S3RangeReader({ bucket: 'ferry-data', region: 'eu-west-1', endpoint, credentials: key });
    try {
      const objectKey = "recordings/s/Ünïcode dir/a b+c (1)!*'~&=.tar";
      await text((await reader.get(objectKey, { start: 0, end: 4 })).body);
      const seen = requests[0]!;
      const url = new URL(seen.url!, 'http://x');
      expect(decodeURIComponent(url.pathname)).toBe(`/ferry-data/${objectKey}`);
      const incoming = { method: 'GET', path: url.pathname, query: {}, headers: seen.headers };
      const entry = { ...key, principal: 'replay' as never, arn: 'arn:aws:iam::123456789012:role/replay' };
      await expect(verifySignature(incoming, new CredentialTable([entry]), new Date())).resolves.toMatchObject({ accessKeyId: key.accessKeyId });
      await expect(verifySignature(incoming, new CredentialTable([{ ...entry, secretAccessKey: 'another' }]), new Date())).resolves.toMatchObject({ code: 'SignatureDoesNotMatch' });
    } finally {
      reader.destroy();
    }
  });

  it('refuses a malformed range before any request (S3 would send the whole object)', async () => {
    const { endpoint, requests } = await serve((_req, res) => partial(res));
    const reader = new S3RangeReader({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' } });
    try {
      await expect(reader.get('k', { start: 9, end: 3 })).rejects.toMatchObject({ name: 'InvalidInputError' });
      expect(requests).toHaveLength(0);
    } finally {
      reader.destroy();
    }
  });
});

describe('where the GET goes', () => {
  it('AWS: virtual-hosted over HTTPS in the region; a bucket with dots path-style; an endpoint path-style', () => {
    expect(requestTarget({ bucket: 'ferry-data-123', region: 'eu-west-2' })).toEqual({ protocol: 'https:', hostname: 'ferry-data-123.s3.eu-west-2.amazonaws.com', port: undefined, host: 'ferry-data-123.s3.eu-west-2.amazonaws.com', basePath: '/' });
    expect(requestTarget({ bucket: 'ferry.data', region: 'eu-west-2' })).toMatchObject({ hostname: 's3.eu-west-2.amazonaws.com', basePath: '/ferry.data/' });
    expect(requestTarget({ bucket: 'ferry-data', region: 'cn-north-1' })).toMatchObject({ hostname: 'ferry-data.s3.cn-north-1.amazonaws.com.cn' });
    expect(requestTarget({ bucket: 'b', region: 'us-east-1', endpoint: 'http://127.0.0.1:4566' })).toEqual({ protocol: 'http:', hostname: '127.0.0.1', port: 4566, host: '127.0.0.1:4566', basePath: '/b/' });
  });

  it("escapes each segment of a key as S3 signs it, keeping '/'", () => {
    expect(escapeKey("a b/c+d/e(1)!*'~.tar")).toBe('a%20b/c%2Bd/e%281%29%21%2A%27~.tar');
    expect(escapeKey('ü/x')).toBe('%C3%BC/x');
  });
});
