import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { FerryError, NotFoundError, TransientError } from '../../core/errors.ts';
import { startLocalS3 } from '../../local/s3-process.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A TLS-intercepting proxy or a firewall answers for the store: its block page is not S3's
// answer (no x-amz-request-id) and is named as what it is, not as refused credentials; S3's
// own 403 (with its request id) still reads as before. Real HTTP, the real SDK.

let server: Server;
let url: string;
/** What the endpoint answers: a proxy's block page, S3's own refusal, or a proxy's 503. */
let mode: 'block' | 's3' | 'gateway' | 'web404' | 'envoy' = 'block';

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume().on('end', () => {
      if (mode === 's3') {
        res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': 'ABC123' });
        return res.end(req.method === 'HEAD' ? undefined : '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      }
      if (mode === 'gateway') return res.writeHead(503, { 'content-type': 'text/html', server: 'corp-proxy' }).end('<h1>Upstream timed out</h1>');
      if (mode === 'envoy') return res.writeHead(503, { 'content-type': 'text/plain', server: 'envoy' }).end('upstream connect error or disconnect/reset before headers. reset reason: connection failure');
      if (mode === 'web404') return res.writeHead(404, { 'content-type': 'text/html', server: 'nginx' }).end('<h1>Not Found</h1>');
      res.writeHead(403, { 'content-type': 'text/html', server: 'corp-proxy', via: '1.1 corp-proxy' }).end('<h1>Access Denied</h1> blocked by corporate web policy (category: Online Storage)');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const store = (readsWithoutList = false) => new S3BlobStore(createS3Client({ endpoint: url, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, maxAttempts: 1 }), 'b', { readsWithoutList });

describe('an answer that did not come from S3', () => {
  it("names a proxy's 403 block page as not S3's, with its type and server, for a write and for a read a DR key would take as a missing key", async () => {
    mode = 'block';
    const put = await store().put('heartbeats/demo/x.json', Buffer.from('{}')).catch((e: unknown) => e);
    expect(put).toBeInstanceOf(FerryError);
    expect((put as Error).message).toBe('S3 put heartbeats/demo/x.json: HTTP 403 (text/html, server corp-proxy, via 1.1 corp-proxy) that did not come from S3 (no x-amz-request-id): a proxy or firewall between this machine and the store answered; ask the site\'s network team (HTTPS_PROXY, the proxy\'s policy for the store\'s host)');
    // A principal that may not list reads S3's 403 as "absent"; a block page is no such answer.
    await expect(store(true).head('heartbeats/demo/missing.json')).rejects.toThrow(/did not come from S3/);
  });

  it('names a web server answering 404 to everything (a wrong cloud.endpoint) as not S3, for a write and a read', async () => {
    mode = 'web404';
    await expect(store().put('k', Buffer.from('x'))).rejects.toThrow(/^S3 put k: HTTP 404 \(text\/html, server nginx\) that did not come from S3/);
    await expect(store(true).head('k')).rejects.toThrow(/HTTP 404 .*that did not come from S3/);
  });

  it("names a proxy's plain-text 503 (a body the SDK cannot parse) as not S3's, and asks again, for a GET and a PUT", async () => {
    mode = 'envoy';
    for (const attempt of [() => store().put('k', Buffer.from('x')), () => store().get('k')]) {
      const failure = await attempt().catch((e: unknown) => e);
      expect(failure).toBeInstanceOf(TransientError);
      expect((failure as Error).message).toMatch(/HTTP 503 \(text\/plain, server envoy\)(: "upstream connect error or disconnect\/reset before headers\. reset reason: connection failure")? that did not come from S3/);
    }
  });

  it("keeps S3's own 403 (it names its request) as S3's: refused credentials, or a missing key for a principal that may not list", async () => {
    mode = 's3';
    await expect(store().put('k', Buffer.from('x'))).rejects.toThrow('S3 put k: AccessDenied: Access Denied');
    expect(await store(true).head('missing')).toBeUndefined();
  });

  it("asks again after a proxy's 503 (its upstream timed out), saying it was the proxy", async () => {
    mode = 'gateway';
    const failure = await store().put('k', Buffer.from('x')).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TransientError);
    expect((failure as Error).message).toMatch(/^S3 put k: HTTP 503 \(text\/html, server corp-proxy\) that did not come from S3/);
  });
});

describe('the local S3 stand-in', () => {
  it('names its request in every answer, errors included, as S3 does (so its answers are told from a proxy\'s)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-s3-reqid-'));
    const s3 = await startLocalS3({ directory: dir, buckets: ['b'] });
    try {
      const local = new S3BlobStore(createS3Client({ endpoint: s3.endpoint, credentials: s3.credentials, maxAttempts: 1 }), 'b');
      await local.put('k', Buffer.from('x'));
      const missing = await local.get('missing').catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(((missing as Error).cause as { $metadata?: { requestId?: string } }).$metadata?.requestId).toMatch(/^[0-9A-F]{16}$/);
    } finally {
      await s3.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a store whose TLS certificate this machine does not trust (a TLS-intercepting proxy)', () => {
  it('says to give the CA as NODE_EXTRA_CA_CERTS, and that AWS_CA_BUNDLE is not read', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const tls = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_req, res) => res.end());
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    try {
      const untrusted = new S3BlobStore(createS3Client({ endpoint: `https://127.0.0.1:${(tls.address() as AddressInfo).port}`, credentials: { accessKeyId: 'A', secretAccessKey: 'S' }, maxAttempts: 1 }), 'b');
      await expect(untrusted.put('k', Buffer.from('x'))).rejects.toThrow(/self[- ]signed certificate.*give the proxy's CA as NODE_EXTRA_CA_CERTS=\/path\/to\/ca\.pem; Ferry, like the AWS SDK for JavaScript, does not read AWS_CA_BUNDLE\)$/);
    } finally {
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
