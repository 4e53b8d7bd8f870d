import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterEach, describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';

// A slow uplink: the store takes the body steadily but slowly (a 3 Mbit/s line shared by three
// uploads moves an 8 MiB part in 67 s). The idle timeout is for a connection on which nothing
// moves, not for one that moves slower than the body is long: such a part timed out "after 60000
// ms of inactivity" at every attempt while its bytes left the whole time. Here the idle timeout is
// 1 s and the body takes several seconds to be read, never pausing for long.

const IDLE_MS = 1_000;
const BODY_BYTES = 24 * 1024 * 1024;
/** The store reads this much every 20 ms: ~4 MB/s, the body's read taking ~6 s. */
const READ_STEP = 80 * 1024;

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Reads a request's body READ_STEP bytes every 20 ms; resolves with the bytes read. */
function readSlowly(req: IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = 0;
    req.pause();
    const timer = setInterval(() => {
      let chunk: Buffer | null;
      let step = 0;
      while (step < READ_STEP && (chunk = req.read() as Buffer | null) !== null) {
        got += chunk.length;
        step += chunk.length;
      }
    }, 20);
    req.on('end', () => {
      clearInterval(timer);
      resolve(got);
    });
    req.on('error', (error) => {
      clearInterval(timer);
      reject(error);
    });
    req.on('close', () => clearInterval(timer));
  });
}

async function slowStore(): Promise<{ endpoint: string; received: number[] }> {
  const received: number[] = [];
  server = createServer((req, res) => {
    if (req.headers.expect === '100-continue') res.writeContinue();
    void readSlowly(req).then(
      (n) => {
        received.push(n);
        res.writeHead(200, { ETag: '"0123456789abcdef0123456789abcdef"', 'x-amz-request-id': 'slow-store' }).end();
      },
      () => res.destroy(),
    );
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { endpoint: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, received };
}

describe('an upload over a slow uplink', () => {
  it('completes while its bytes keep leaving, though sending it takes longer than the idle timeout', async () => {
    const { endpoint, received } = await slowStore();
    const client = createS3Client({ endpoint, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, maxAttempts: 1, timeouts: { idleMs: IDLE_MS } });
    try {
      const out = await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: new Uint8Array(BODY_BYTES) }));
      expect(out.ETag).toBe('"0123456789abcdef0123456789abcdef"');
      expect(received).toEqual([BODY_BYTES]);
    } finally {
      client.destroy();
    }
  }, 60_000);

  it('waits for the answer to a body the network took at once as long as it takes to leave at 256 kbit/s', async () => {
    // 512 KiB fit in loopback's buffers: the last slice is handed over at once. Towards a proxy on
    // the LAN they are still there, leaving over the uplink: 16 s at 256 kbit/s. The store here
    // reads them 12 s later, twice the idle timeout. That timeout is the production one's kind (6 s
    // or more: the SDK sets it 3 s into the request, after the body was handed over).
    const idleMs = 6_000;
    const body = 512 * 1024;
    let got = 0;
    server = createServer((req, res) => {
      req.pause();
      setTimeout(() => {
        req.on('data', (c: Buffer) => (got += c.length));
        req.on('end', () => res.writeHead(200, { ETag: '"0123456789abcdef0123456789abcdef"' }).end());
        req.resume();
      }, 12_000);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createS3Client({ endpoint, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, maxAttempts: 1, timeouts: { idleMs } });
    try {
      await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: new Uint8Array(body) }));
      expect(got).toBe(body);
    } finally {
      client.destroy();
    }
  }, 60_000);

  it('still fails on a connection where nothing moves', async () => {
    server = createServer((req) => req.pause()); // takes the connection, reads nothing, never answers
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const client = createS3Client({ endpoint, credentials: { accessKeyId: 'AK', secretAccessKey: 'SK' }, maxAttempts: 1, timeouts: { idleMs: IDLE_MS } });
    try {
      await expect(client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: new Uint8Array(BODY_BYTES) }))).rejects.toThrow(/timed out after 1000 ms of inactivity/);
    } finally {
      client.destroy();
    }
  }, 60_000);
});
