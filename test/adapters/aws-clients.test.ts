import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';

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
