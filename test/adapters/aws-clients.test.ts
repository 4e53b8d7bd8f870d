import { describe, it, expect, afterEach } from 'vitest';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createDynamoClients, createS3Client, useProxyEnvironment } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { TransientError } from '../../core/errors.ts';

let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

/** A plain HTTP endpoint that records each request's headers and answers like S3 to a PUT. */
async function endpoint(seen: IncomingHttpHeaders[]): Promise<string> {
  server = createServer((req, res) => {
    seen.push(req.headers);
    req.resume().on('end', () => res.writeHead(200, { etag: '"x"' }).end());
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

describe('S3 client for an endpoint', () => {
  it('signs requests without hashing the body (UNSIGNED-PAYLOAD), headers and all still signed', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const client = createS3Client({ endpoint: await endpoint(seen), credentials: { accessKeyId: 'A', secretAccessKey: 'S' } });
    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Buffer.alloc(1024, 1) }));
    expect(seen).toHaveLength(1);
    expect(seen[0]?.['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(seen[0]?.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=A\/.*SignedHeaders=.*x-amz-content-sha256/);
  });
});

describe('SDK logging', () => {
  it("gives the S3 and DynamoDB clients a logger without info (the SDK then builds no filtered log record of each call's input and output), and calls still work", async () => {
    const seen: IncomingHttpHeaders[] = [];
    const url = await endpoint(seen);
    const credentials = { accessKeyId: 'A', secretAccessKey: 'B' };
    const s3 = createS3Client({ endpoint: url, credentials });
    const { client: dynamo } = createDynamoClients({ endpoint: url, credentials });
    for (const logger of [s3.config.logger, dynamo.config.logger]) {
      expect(logger.info).toBeUndefined();
      expect(typeof logger.error).toBe('function');
      expect(typeof logger.warn).toBe('function');
    }
    // The SDK calls `logger?.info?.(…)`: with no info, a call goes through as before.
    await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
    expect(seen).toHaveLength(1);
    s3.destroy();
    dynamo.destroy();
  });
});

describe('requests that stall, and the site proxy', () => {
  const credentials = { accessKeyId: 'A', secretAccessKey: 'S' };

  it('fails a request its endpoint accepts and never answers once it has been silent for the idle timeout (a network error, not a hang)', async () => {
    const sockets: import('node:net').Socket[] = [];
    const silent = createNetServer((s) => void sockets.push(s.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const store = new S3BlobStore(createS3Client({ endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, credentials, maxAttempts: 1, timeouts: { idleMs: 400 } }), 'b');
      const started = Date.now();
      const failure = await store.put('k', Buffer.from('x')).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(TransientError);
      expect(String((failure as Error).message)).toMatch(/timed out after 400 ms of inactivity/);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('sends through HTTP(S)_PROXY once the entry point says so (a host only the proxy resolves is reached), and never a loopback stand-in', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const target = new URL(await endpoint(seen));
    const proxied: string[] = [];
    // A forward proxy that knows the name s3.corp.test (as a site's proxy resolves AWS for it).
    const proxy = createServer((req, res) => {
      proxied.push(`${req.method} ${req.url}`);
      const url = new URL(req.url!);
      const forward = httpRequest({ host: '127.0.0.1', port: target.port, path: url.pathname + url.search, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      expect(useProxyEnvironment({ https_proxy: proxyUrl, HTTP_PROXY: proxyUrl })).toBe(proxyUrl);
      const viaProxy = createS3Client({ endpoint: `http://s3.corp.test:${target.port}`, credentials });
      await viaProxy.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }));
      expect(proxied).toEqual([`PUT http://s3.corp.test:${target.port}/b/k?x-id=PutObject`]);
      const local = createS3Client({ endpoint: target.origin, credentials });
      await local.send(new PutObjectCommand({ Bucket: 'b', Key: 'k2', Body: 'x' }));
      expect(proxied).toHaveLength(1);
      expect(seen).toHaveLength(2);
      viaProxy.destroy();
      local.destroy();
      // NO_PROXY, a list of hosts as written: a host it names goes direct (here: a name only the proxy resolves, so it fails).
      useProxyEnvironment({ HTTP_PROXY: proxyUrl, NO_PROXY: '.corp.test' });
      const bypassed = createS3Client({ endpoint: `http://s3.corp.test:${target.port}`, credentials, maxAttempts: 1 });
      await expect(bypassed.send(new PutObjectCommand({ Bucket: 'b', Key: 'k3', Body: 'x' }))).rejects.toThrow(/ENOTFOUND|EAI_AGAIN|getaddrinfo/);
      expect(proxied).toHaveLength(1);
      bypassed.destroy();
    } finally {
      useProxyEnvironment({});
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});
