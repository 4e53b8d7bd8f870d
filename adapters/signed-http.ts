// One SigV4-signed HTTP request with nothing between it and the socket but the signature, and
// the retries around it: what the hot paths of the functions use instead of an SDK call (replay's
// ranged GETs, adapters/s3-range-get.ts; the catalogue's reads and the audit's writes,
// adapters/dynamo-lean.ts). An SDK call costs 0.5–0.9 ms of CPU (its middleware stack resolved
// per command, endpoint rules, schema-driven serializers) against 0.2–0.4 ms for the same request
// made here; on a function serving one request after another that difference is its queue. The
// signature is the SDK's own SignatureV4 with the SDK's credential chain (in Lambda: the role's).
import type { Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type { SignatureV4 } from '@smithy/signature-v4';
import { messageOf, TransientError } from '../core/errors.ts';
import { sigV4Signer, type SigningCredentials } from './sigv4.ts';

/** Where requests go: the scheme, the host and the port of a service endpoint. */
export interface HttpTarget {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  /** `hostname[:port]`, as the Host header says it. */
  host: string;
}

export function targetOf(url: string): HttpTarget & { pathname: string } {
  const base = new URL(url);
  return {
    protocol: base.protocol === 'http:' ? 'http:' : 'https:',
    hostname: base.hostname,
    port: base.port ? Number(base.port) : undefined,
    host: base.host,
    pathname: base.pathname,
  };
}

/** The domain of a region's AWS endpoints (the China regions have their own). */
export function awsDomain(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

export interface SignedHttpOptions {
  service: 's3' | 'dynamodb';
  region: string;
  target: HttpTarget;
  /** The SDK's credential chain when absent. */
  credentials?: SigningCredentials;
  maxSockets?: number;
  /** How long a request may wait for its answer's head before it fails (as a network error, so it is retried). */
  headTimeoutMs?: number;
}

/** What a client on SignedHttp is configured with (the range reader, LeanDynamo). */
export interface SignedClientOptions {
  region: string;
  /** A custom endpoint (a local stand-in, MinIO); absent: the service's AWS endpoint over HTTPS. */
  endpoint?: string;
  /** The SDK's credential chain when absent (in Lambda: the function role's, from its environment). */
  credentials?: SigningCredentials;
  maxSockets?: number;
  /** How long a request may wait for its answer's head before it fails (and is retried). */
  headTimeoutMs?: number;
  /** Attempts a request may take and the waits between them (the SDK's defaults). */
  retry?: RetryOptions;
}

/** The SignedHttp of a client configured with `o`, sending to `target`. */
export function signedHttpFor(service: SignedHttpOptions['service'], o: SignedClientOptions, target: HttpTarget): SignedHttp {
  return new SignedHttp({
    service,
    region: o.region,
    target,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.maxSockets ? { maxSockets: o.maxSockets } : {}),
    ...(o.headTimeoutMs ? { headTimeoutMs: o.headTimeoutMs } : {}),
  });
}

export interface SignedRequest {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers: Record<string, string>;
  body?: string | Uint8Array;
  /** Names the request in a network error's message. */
  what: string;
}

const DEFAULT_HEAD_TIMEOUT_MS = 60_000;

export class SignedHttp {
  private readonly signer: SignatureV4;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly request: typeof import('node:http').request;
  private readonly headTimeoutMs: number;

  constructor(private readonly o: SignedHttpOptions) {
    // S3 takes x-amz-content-sha256 (set by the caller); DynamoDB is signed as its SDK signs it.
    this.signer = sigV4Signer(o.service, o.region, o.credentials, { applyChecksum: false });
    this.headTimeoutMs = o.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT_MS;
    // createRequire: the CommonJS face of node:http(s), whose import does not load the WebSocket client.
    const require = createRequire(import.meta.url);
    const mod = (o.target.protocol === 'http:' ? require('node:http') : require('node:https')) as typeof import('node:http');
    this.agent = new mod.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64 });
    this.request = mod.request;
  }

  /** Signs and sends the request; resolves with the answer once its head has come (any status). */
  async send(r: SignedRequest): Promise<IncomingMessage> {
    const { protocol, hostname, port, host } = this.o.target;
    const signed = await this.signer.sign({
      method: r.method,
      protocol,
      hostname,
      port,
      path: r.path,
      query: {},
      headers: { host, ...r.headers, ...(r.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(r.body)) }) },
      ...(r.body === undefined ? {} : { body: r.body }),
    });
    return new Promise<IncomingMessage>((resolve, reject) => {
      const request = this.request({ protocol, hostname, port, path: r.path, method: r.method, headers: signed.headers, agent: this.agent }, (answer) => {
        request.setTimeout(0);
        resolve(answer);
      });
      request.setTimeout(this.headTimeoutMs, () => request.destroy(Object.assign(new Error(`no answer in ${this.headTimeoutMs} ms`), { code: 'ETIMEDOUT' })));
      request.on('error', (error) => reject(Object.assign(error, { message: `${r.what}: ${messageOf(error)}` })));
      request.end(r.body);
    });
  }

  /** Closes the kept-alive sockets. */
  destroy(): void {
    this.agent.destroy();
  }
}

export interface RetryOptions {
  /** Attempts, the first included (the SDK's standard default: 3). */
  maxAttempts?: number;
  /** The wait (ms) before attempt n + 1 after attempt n failed; default: the SDK's full-jitter backoff. */
  backoff?: (attempt: number) => number;
}

/** The SDK's standard retry strategy: full jitter on 100 ms × 2^n, at most 20 s. */
const sdkBackoff = (attempt: number) => Math.random() * Math.min(20_000, 100 * 2 ** attempt);

/**
 * `attempt` until it succeeds, or fails with what `translate` does not make a TransientError,
 * or `maxAttempts` are spent; rejects with the translated error.
 */
export async function retrying<T>(attempt: () => Promise<T>, translate: (error: unknown) => Error, o: RetryOptions = {}): Promise<T> {
  const maxAttempts = Math.max(1, o.maxAttempts ?? 3);
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      const translated = translate(error);
      if (!(translated instanceof TransientError) || n >= maxAttempts) throw translated;
      await new Promise((resolve) => setTimeout(resolve, (o.backoff ?? sdkBackoff)(n)));
    }
  }
}

/** A response body as text, at most `limit` bytes of it (an error's body; a torn one gives what came). */
export function readText(response: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      if (size < limit) chunks.push(chunk);
      size += chunk.length;
    });
    response.on('end', () => resolve(Buffer.concat(chunks).subarray(0, limit).toString('utf8')));
    response.on('error', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** A whole response body (a DynamoDB answer), failing when the connection ends before it. */
export function readAll(response: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    response.on('data', (chunk: Buffer) => chunks.push(chunk));
    response.on('end', () => resolve(Buffer.concat(chunks)));
    response.on('error', reject);
    response.on('aborted', () => reject(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' })));
  });
}
