import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { S3WriteOnce } from '../../adapters/s3-write-once.ts';
import { AlreadyExistsError, InvalidInputError, TransientError } from '../../core/errors.ts';
import { CredentialTable } from '../../local/iam-gateway/credentials.ts';
import { verifySignature } from '../../local/iam-gateway/sigv4.ts';
import { BUCKET, md5, read, startParity, type Parity } from '../local/s3-parity-harness.ts';

// The audit seals' write-once PUTs without the SDK (adapters/s3-write-once.ts): against the local
// S3 stand-in (which refuses a write under the bucket's Object Lock without a digest, as S3 does),
// and against a small server that answers with the faults a PUT must survive. Through the IAM
// gateway as the functions' roles: every audited request of the function bundles in test/local
// and test/e2e seals its record with it.

const record = (seq: number) => Buffer.from(`${JSON.stringify({ seq, site: 's', event: { action: 'search' } })}\n`);

describe('S3WriteOnce against the local S3 stand-in', () => {
  let parity: Parity;
  let writer: S3WriteOnce;
  beforeAll(async () => {
    parity = await startParity();
    writer = new S3WriteOnce({ bucket: BUCKET, region: 'us-east-1', endpoint: parity.s3.endpoint, credentials: parity.s3.credentials, retry: { maxAttempts: 1 } });
  });
  afterAll(async () => {
    writer?.destroy();
    await parity?.cleanup();
  });

  it('writes the bytes with their content type under the bucket default retention, and answers the ETag', async () => {
    const body = record(1);
    const out = await writer.put('audit/s/000000000001.json', body, { contentType: 'application/json', ifNoneMatch: true });
    expect(await read(parity.client, 'audit/s/000000000001.json')).toBe(body.toString());
    const info = await parity.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'audit/s/000000000001.json' }));
    expect(info).toMatchObject({ ContentType: 'application/json', ObjectLockMode: 'GOVERNANCE', ETag: out.etag });
    expect(out.etag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
  });

  it('a key that exists is AlreadyExistsError naming it, and the first bytes stay', async () => {
    await writer.put('audit/s/000000000002.json', record(2), { ifNoneMatch: true });
    const again = await writer.put('audit/s/000000000002.json', Buffer.from('something else\n'), { ifNoneMatch: true }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(AlreadyExistsError);
    expect((again as Error).message).toContain('audit/s/000000000002.json');
    expect(await read(parity.client, 'audit/s/000000000002.json')).toBe(record(2).toString());
  });

  it('signs keys with spaces, unicode and reserved characters as S3 expects (the stand-in accepts the signature)', async () => {
    const key = "audit/Ünïcode site/a b+c (1)!*'~&=.json";
    await writer.put(key, record(3), { ifNoneMatch: true });
    expect(await read(parity.client, key)).toBe(record(3).toString());
  });

  it('refuses the options it does not send (storage class, metadata, checksum, retention) before any request', async () => {
    const refused = await writer.put('audit/s/x.json', record(4), { storageClass: 'GLACIER', metadata: { a: 'b' } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InvalidInputError);
    expect((refused as Error).message).toMatch(/does not send storageClass, metadata/);
    await expect(read(parity.client, 'audit/s/x.json')).rejects.toMatchObject({ name: 'NoSuchKey' });
  });
});

describe('S3WriteOnce under faults (a stand-in server)', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

  async function serve(answer: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ endpoint: string; requests: { req: IncomingMessage; body: Buffer }[] }> {
    const requests: { req: IncomingMessage; body: Buffer }[] = [];
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        requests.push({ req, body: Buffer.concat(chunks) });
        answer(req, res, requests.length);
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, requests };
  }

  const slowDown = (res: ServerResponse) =>
    res.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
  const preconditionFailed = (res: ServerResponse) =>
    res.writeHead(412, { 'content-type': 'application/xml' }).end('<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
  const ok = (res: ServerResponse) => res.writeHead(200, { etag: '"e"' }).end();

  it('sends the body with its Content-MD5, its SHA-256 as the signed payload hash, the type and If-None-Match: *, all signed', async () => {
    const { endpoint, requests } = await serve((_req, res) => ok(res));
    const key = { accessKeyId: 'AKIAEXAMPLE0000001', secretAccessKey: 'right-secret' };
    const writer = new S3WriteOnce({ bucket: 'ferry-data', region: 'eu-west-1', endpoint, credentials: key });
    try {
      const body = record(5);
      expect(await writer.put('audit/s/a b.json', body, { contentType: 'application/json', ifNoneMatch: true })).toEqual({ etag: '"e"' });
      const { req, body: sent } = requests[0]!;
      expect(req.method).toBe('PUT');
      expect(req.url).toBe('/ferry-data/audit/s/a%20b.json');
      expect(sent.equals(body)).toBe(true);
      expect(req.headers).toMatchObject({
        'content-md5': md5(body),
        'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
        'content-type': 'application/json',
        'if-none-match': '*',
        'content-length': String(body.length),
      });
      expect(req.headers.authorization).toMatch(/SignedHeaders=[^,]*content-md5[^,]*if-none-match[^,]*x-amz-content-sha256/);
      const url = new URL(req.url!, 'http://x');
      const incoming = { method: 'PUT', path: url.pathname, query: {}, headers: req.headers };
      const entry = { ...key, principal: 'catalogue' as never, arn: 'arn:aws:iam::123456789012:role/catalogue' };
      await expect(verifySignature(incoming, new CredentialTable([entry]), new Date())).resolves.toMatchObject({ accessKeyId: key.accessKeyId });
    } finally {
      writer.destroy();
    }
  });

  it('retries 503 SlowDown and a reset connection with the same bytes; a retry that meets its own earlier write is AlreadyExistsError', async () => {
    const { endpoint, requests } = await serve((_req, res, n) => (n === 1 ? slowDown(res) : n === 2 ? res.socket!.destroy() : preconditionFailed(res)));
    const writer = new S3WriteOnce({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, retry: { backoff: () => 1 } });
    try {
      const error = await writer.put('audit/s/000000000006.json', record(6), { ifNoneMatch: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AlreadyExistsError);
      expect(requests).toHaveLength(3);
      expect(requests.every((r) => r.body.equals(record(6)))).toBe(true);
    } finally {
      writer.destroy();
    }
  });

  it('gives up after maxAttempts with TransientError naming the key and S3 code, one request an attempt', async () => {
    const { endpoint, requests } = await serve((_req, res) => slowDown(res));
    const writer = new S3WriteOnce({ bucket: 'b', region: 'eu-west-1', endpoint, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, retry: { maxAttempts: 2, backoff: () => 1 } });
    try {
      const error = await writer.put('audit/s/7.json', record(7), { ifNoneMatch: true }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect((error as Error).message).toMatch(/S3 put audit\/s\/7\.json: SlowDown/);
      expect(requests).toHaveLength(2);
    } finally {
      writer.destroy();
    }
  });
});
