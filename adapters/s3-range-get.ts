// Ranged GETs of an S3 object with nothing between the request and the socket but SigV4: for
// the replay function, whose every request is one ranged GET of a pack. The SDK's GetObject
// costs about 0.7–0.9 ms of CPU a call (its middleware stack resolved per command, endpoint
// rules, the response's schema-driven deserializer) against about 0.2–0.4 ms for the same
// signed request made here; at 50 players on two cores that difference is the replay
// function's queue. What stays the same as the SDK's: the signature (the SDK's own SignatureV4,
// the function role's credentials from the SDK's chain), S3's errors (its XML error body read
// and mapped by translateS3Error, so an archived pack is still an ArchivedError naming its
// class), retries of what is transient (network errors, 5xx, SlowDown) before any byte is
// given out, and keep-alive sockets. Nothing but GET goes through here.
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type { SignatureV4 } from '@smithy/signature-v4';
import { TransientError, messageOf } from '../core/errors.ts';
import type { BlobBody, BlobStore, ByteRange } from '../core/ports.ts';
import { sigV4Signer, type SigningCredentials } from './sigv4.ts';
import { checkRange, totalFromContentRange, translateS3Error } from './s3-blob-store.ts';

export interface S3RangeGetOptions {
  bucket: string;
  region: string;
  /** A custom endpoint (local stand-in, MinIO): path-style requests to it. Absent: AWS, virtual-hosted over HTTPS. */
  endpoint?: string;
  /** The SDK's credential chain when absent (in Lambda: the function role's, from its environment). */
  credentials?: SigningCredentials;
  /** Attempts a GET may take, the first included (the SDK's standard default: 3). */
  maxAttempts?: number;
  maxSockets?: number;
  /** How long a request may wait for its answer's head before it fails (and is retried). */
  headTimeoutMs?: number;
  /** Waits between attempts (ms) for attempt n (1-based); default: the SDK's full-jitter backoff. */
  backoff?: (attempt: number) => number;
}

const ERROR_BODY_LIMIT = 64 * 1024;
const DEFAULT_HEAD_TIMEOUT_MS = 60_000;
/** The SDK's standard retry strategy: full jitter on 100 ms × 2^n, at most 20 s. */
const sdkBackoff = (attempt: number) => Math.random() * Math.min(20_000, 100 * 2 ** attempt);

/** An S3 key escaped for the request path, '/' kept (RFC 3986, as S3 signs it). */
export function escapeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

/** One element of S3's XML error body (`<Error><Code>…</Code>…`), unescaped. */
function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match?.[1]?.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec !== undefined ? String.fromCodePoint(Number(dec)) : hex !== undefined ? String.fromCodePoint(parseInt(hex, 16)) : ENTITIES[name]!,
  );
}

/** An error shaped as the SDK's (name, status, S3's extra fields), for translateS3Error. */
function s3Error(status: number, headers: IncomingMessage['headers'], xml: string): Error {
  const code = xmlField(xml, 'Code') ?? (status === 404 ? 'NotFound' : `HTTP ${status}`);
  const error = new Error(xmlField(xml, 'Message') ?? `status ${status}`) as Error & Record<string, unknown>;
  error.name = code;
  error.$metadata = { httpStatusCode: status };
  error.$response = { headers: { 'content-range': headers['content-range'] } };
  const storageClass = xmlField(xml, 'StorageClass');
  if (storageClass !== undefined) error.StorageClass = storageClass;
  const actual = xmlField(xml, 'ActualObjectSize');
  if (actual !== undefined) error.ActualObjectSize = actual;
  return error;
}

function readBounded(response: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      if (size < limit) chunks.push(chunk);
      size += chunk.length;
    });
    response.on('end', () => resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8')));
    // A torn error body still says its status.
    response.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/**
 * Where a GET of the bucket goes: AWS virtual-hosted over HTTPS (path-style when the bucket's
 * name has dots, which S3's wildcard certificate does not cover, as the SDK does), a custom
 * endpoint path-style. `basePath` ends in '/': the escaped key follows it.
 */
export function requestTarget(o: Pick<S3RangeGetOptions, 'bucket' | 'region' | 'endpoint'>): { protocol: 'http:' | 'https:'; hostname: string; port: number | undefined; host: string; basePath: string } {
  const pathStyle = o.endpoint !== undefined || o.bucket.includes('.');
  const base = new URL(o.endpoint ?? (pathStyle ? `https://s3.${o.region}.amazonaws.com` : `https://${o.bucket}.s3.${o.region}.amazonaws.com`));
  const prefix = base.pathname.replace(/\/+$/, '');
  return {
    protocol: base.protocol === 'http:' ? 'http:' : 'https:',
    hostname: base.hostname,
    port: base.port ? Number(base.port) : undefined,
    host: base.host,
    basePath: pathStyle ? `${prefix}/${escapeKey(o.bucket)}/` : `${prefix}/`,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type RequestTarget = ReturnType<typeof requestTarget>;

export class S3RangeReader implements Pick<BlobStore, 'get'> {
  private readonly signer: SignatureV4;
  private readonly target: RequestTarget;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly request: typeof import('node:http').request;
  private readonly maxAttempts: number;
  private readonly headTimeoutMs: number;
  private readonly backoff: (attempt: number) => number;

  constructor(o: S3RangeGetOptions) {
    this.signer = sigV4Signer('s3', o.region, o.credentials);
    this.target = requestTarget(o);
    this.maxAttempts = Math.max(1, o.maxAttempts ?? 3);
    this.headTimeoutMs = o.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    this.backoff = o.backoff ?? sdkBackoff;
    // createRequire: the CommonJS face of node:http(s), whose import does not load the WebSocket client.
    const require = createRequire(import.meta.url);
    const mod = (this.target.protocol === 'http:' ? require('node:http') : require('node:https')) as typeof import('node:http');
    this.agent = new mod.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64 });
    this.request = mod.request;
  }

  /** Closes the kept-alive sockets. */
  destroy(): void {
    this.agent.destroy();
  }

  async get(key: string, range?: ByteRange): Promise<BlobBody> {
    if (range) checkRange(range);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(key, range);
      } catch (error) {
        const translated = translateS3Error(error, 'get', key);
        if (!(translated instanceof TransientError) || attempt >= this.maxAttempts) throw translated;
        await sleep(this.backoff(attempt));
      }
    }
  }

  private async attempt(key: string, range: ByteRange | undefined): Promise<BlobBody> {
    const { protocol, hostname, port, host, basePath } = this.target;
    const path = `${basePath}${escapeKey(key)}`;
    const signed = await this.signer.sign({
      method: 'GET',
      protocol,
      hostname,
      port,
      path,
      query: {},
      headers: {
        host,
        'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        ...(range ? { range: `bytes=${range.start}-${range.end}` } : {}),
      },
    });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = this.request(
        { protocol, hostname, port, path, method: 'GET', headers: signed.headers, agent: this.agent },
        (answer) => {
          request.setTimeout(0);
          resolve(answer);
        },
      );
      request.setTimeout(this.headTimeoutMs, () => request.destroy(Object.assign(new Error(`no answer in ${this.headTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      request.on('error', (error) => reject(Object.assign(error, { message: `GET ${key}: ${messageOf(error)}` })));
      request.end();
    });
    const status = response.statusCode ?? 0;
    if (status !== 200 && status !== 206) throw s3Error(status, response.headers, await readBounded(response, ERROR_BODY_LIMIT));
    const length = Number(response.headers['content-length'] ?? 0);
    const versionId = response.headers['x-amz-version-id'];
    return {
      body: response,
      size: totalFromContentRange(response.headers['content-range']) ?? length,
      length,
      contentType: response.headers['content-type'],
      etag: response.headers.etag,
      ...(typeof versionId === 'string' ? { versionId } : {}),
    };
  }
}
