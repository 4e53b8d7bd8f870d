// A fault-injecting HTTP proxy between an S3 client and the local stand-in, for tests: loopback
// only, bodies bounded, decisions drawn from a seeded generator. It can answer 500 InternalError
// or 503 SlowDown without forwarding, reset the connection before forwarding, forward and then
// reset (the store did the work, the client never hears of it), or forward a torn body with its
// length adjusted (the store accepts it unless it checks Content-MD5). It can play two AWS rules
// for a stand-in that does not enforce them: If-None-Match: * on an existing key answers 412, and
// a Content-MD5 that does not match the body answers 400 BadDigest; or play a store that checks
// no checksum at all, by not forwarding them.
import { createHash } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRng } from '../../scripts/demo/audio.ts';

export const FAULT_KINDS = ['error-500', 'slow-down-503', 'reset-before', 'reset-after', 'torn-body'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** What a fault is matched against: the method, the path (bucket and key) and the query. */
export interface ProxiedRequest {
  method: string;
  /** `/{bucket}/{key}`, decoded. */
  path: string;
  query: URLSearchParams;
  /** The S3 operation as far as the proxy can tell. */
  operation: 'put' | 'uploadPart' | 'createMultipart' | 'completeMultipart' | 'abortMultipart' | 'listMultipart' | 'other';
}

export interface FaultProxyOptions {
  /** The stand-in's endpoint; must be on loopback. */
  target: string;
  /** Seed of the generator that draws random faults (same seed, same sequence of draws). */
  seed: number;
  /** Probability that a request gets a random fault (0 = only scripted faults). */
  rate?: number;
  /** Kinds random faults are drawn from; default all. */
  kinds?: readonly FaultKind[];
  /** Answer 412 to If-None-Match: * on an existing key (AWS S3 does); default true. */
  enforceIfNoneMatch?: boolean;
  /** Answer 400 BadDigest to a body that does not match its Content-MD5 (AWS S3 does); default false. */
  checkContentMd5?: boolean;
  /**
   * Play a store that checks no checksum (older stand-ins, some S3-compatible stores): Content-MD5
   * and x-amz-checksum-* headers are not forwarded, so a torn body is stored and answered 200.
   */
  storeIgnoresChecksums?: boolean;
  /** Largest request body accepted (413 beyond); default 16 MiB. */
  maxBodyBytes?: number;
}

export interface InjectedFault {
  kind: FaultKind | 'precondition-412' | 'bad-digest-400';
  method: string;
  path: string;
  operation: ProxiedRequest['operation'];
}

export interface FaultProxy {
  endpoint: string;
  /** Every fault injected (or rule enforced), in order; bounded to the last 10,000. */
  readonly injected: InjectedFault[];
  /** Requests received, by operation (faulted ones included). */
  readonly counts: Record<ProxiedRequest['operation'], number>;
  /** The next `times` requests that match get `kind`, whatever the rate. */
  script(kind: FaultKind, match: (r: ProxiedRequest) => boolean, times?: number): void;
  /** Changes the random fault rate (0 stops random faults, e.g. to check the store afterwards). */
  setRate(rate: number): void;
  close(): Promise<void>;
}

const MAX_LOG = 10_000;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function operationOf(method: string, query: URLSearchParams): ProxiedRequest['operation'] {
  if (method === 'PUT') return query.has('uploadId') ? 'uploadPart' : 'put';
  if (method === 'POST' && query.has('uploads')) return 'createMultipart';
  if (method === 'POST' && query.has('uploadId')) return 'completeMultipart';
  if (method === 'DELETE' && query.has('uploadId')) return 'abortMultipart';
  if (method === 'GET' && query.has('uploads')) return 'listMultipart';
  return 'other';
}

function s3Error(res: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

interface Upstream {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** Sends the request upstream; `probe` sends a bodiless look-up of the proxy's own instead. */
function forward(target: URL, req: IncomingMessage, body: Buffer, probe?: { path: string; method: 'HEAD' | 'GET' }): Promise<Upstream> {
  const method = probe?.method ?? req.method ?? 'GET';
  const headers: Record<string, string | string[] | undefined> = { ...req.headers, host: target.host, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  if (probe) {
    delete headers['if-none-match'];
    delete headers['content-md5'];
    delete headers['content-type'];
  }
  return new Promise((resolve, reject) => {
    const out = request({ host: target.hostname, port: target.port, method, path: probe?.path ?? req.url, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    out.on('error', reject);
    out.end(probe ? undefined : body);
  });
}

/**
 * If-None-Match: * as S3 checks it: the key exists. For a complete, S3 first answers NoSuchUpload
 * to an upload that is no longer open (the retry of a complete whose answer was lost).
 */
async function preconditionFails(target: URL, req: IncomingMessage, url: URL, r: ProxiedRequest): Promise<boolean> {
  if (r.operation !== 'put' && r.operation !== 'completeMultipart') return false;
  if (r.operation === 'completeMultipart') {
    const [, bucket = '', ...key] = url.pathname.split('/');
    const listing = `/${bucket}?uploads&prefix=${encodeURIComponent(decodeURIComponent(key.join('/')))}`;
    const open = await forward(target, req, Buffer.alloc(0), { path: listing, method: 'GET' });
    if (!open.body.toString('utf8').includes(`<UploadId>${url.searchParams.get('uploadId') ?? ''}</UploadId>`)) return false;
  }
  return (await forward(target, req, Buffer.alloc(0), { path: url.pathname, method: 'HEAD' })).status === 200;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  if (!LOOPBACK.has(target.hostname)) throw new Error(`fault proxy forwards to loopback only, not ${target.hostname}`);
  const random = createRng(options.seed);
  const kinds = options.kinds ?? FAULT_KINDS;
  const limit = options.maxBodyBytes ?? 16 * 1024 * 1024;
  let rate = options.rate ?? 0;
  const scripted: { kind: FaultKind; match: (r: ProxiedRequest) => boolean; remaining: number }[] = [];
  const injected: InjectedFault[] = [];
  const counts: FaultProxy['counts'] = { put: 0, uploadPart: 0, createMultipart: 0, completeMultipart: 0, abortMultipart: 0, listMultipart: 0, other: 0 };
  const log = (kind: InjectedFault['kind'], r: ProxiedRequest) => {
    injected.push({ kind, method: r.method, path: r.path, operation: r.operation });
    if (injected.length > MAX_LOG) injected.splice(0, injected.length - MAX_LOG);
  };

  const pick = (r: ProxiedRequest): FaultKind | undefined => {
    const script = scripted.find((s) => s.remaining > 0 && s.match(r));
    if (script) {
      script.remaining--;
      return script.kind;
    }
    // Always two draws per request, so one request's fault does not shift the next one's.
    const hit = random() < rate;
    const kind = kinds[Math.floor(random() * kinds.length)];
    return hit ? kind : undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const method = req.method ?? 'GET';
    const r: ProxiedRequest = { method, path: decodeURIComponent(url.pathname), query: url.searchParams, operation: operationOf(method, url.searchParams) };
    counts[r.operation]++;
    let body = await readBody(req, limit);
    if (body === undefined) return s3Error(res, 413, 'EntityTooLarge', `request body over ${limit} bytes`);
    const fault = pick(r);
    if (fault) log(fault, r);
    if (fault === 'error-500') return s3Error(res, 500, 'InternalError', 'injected fault');
    if (fault === 'slow-down-503') return s3Error(res, 503, 'SlowDown', 'injected fault');
    if (fault === 'reset-before') return void req.socket.destroy();
    if (fault === 'torn-body' && body.length > 1) body = body.subarray(0, Math.floor(body.length * (0.25 + random() * 0.5)));
    if (req.headers['if-none-match'] === '*' && (options.enforceIfNoneMatch ?? true) && (await preconditionFails(target, req, url, r))) {
      return log('precondition-412', r), s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    const md5 = req.headers['content-md5'];
    if (options.checkContentMd5 && typeof md5 === 'string' && createHash('md5').update(body).digest('base64') !== md5) {
      return log('bad-digest-400', r), s3Error(res, 400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
    }
    if (options.storeIgnoresChecksums) {
      for (const h of Object.keys(req.headers)) if (h === 'content-md5' || h.startsWith('x-amz-checksum-')) delete req.headers[h];
    }
    const up = await forward(target, req, body);
    if (fault === 'reset-after') return void req.socket.destroy();
    res.writeHead(up.status, up.headers);
    res.end(up.body);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) s3Error(res, 502, 'ProxyError', error instanceof Error ? error.message : String(error));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    counts,
    script: (kind, match, times = 1) => void scripted.push({ kind, match, remaining: times }),
    setRate: (next) => void (rate = next),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
