import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../core/clock.ts';
import type { BlobStore, CatalogueStore } from '../core/ports.ts';
import { createHandler as createArtefactsHandler } from '../functions/artefacts/handler.ts';
import { createHandler as createCatalogueHandler } from '../functions/catalogue/handler.ts';
import { IngestFailedError, createHandler as createIngestHandler } from '../functions/ingest/handler.ts';
import { createHandler as createReplayHandler } from '../functions/replay/handler.ts';
import { stdoutAudit, type Audit } from '../functions/shared/audit.ts';
import { errorResponse } from '../functions/shared/errors.ts';
import { json, type HttpEvent, type HttpResult } from '../functions/shared/http.ts';
import { jsonLog, type Log } from '../functions/shared/log.ts';

// Local stand-in for API Gateway + Lambda: a plain node:http server that turns each request
// into an HTTP API v2 event, runs the same handlers the cloud runs, and pipes their result.
// Also POST /internal/s3-events, where the local S3's notifications can be forwarded, and the
// compliance officer's page (web/): GET / and its assets under /web/.

export interface ApiServerDeps {
  blobs: BlobStore;
  catalogue: CatalogueStore;
  audit?: Audit;
  clock?: Clock;
  log?: Log;
  /** Stores built with one function's own credentials (its role, through the local IAM gateway); default `blobs`/`catalogue`. */
  functions?: Partial<Record<'ingest' | 'catalogue' | 'replay' | 'artefacts', Pick<ApiServerDeps, 'blobs' | 'catalogue'>>>;
}

export interface ApiServer {
  url: string;
  /** Runs the ingest handler on an S3 event, as the S3 → Lambda trigger would. */
  ingest(event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
  'Access-Control-Allow-Headers': 'Range, If-Range, Authorization, Content-Type',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges, ETag, Content-Disposition',
};

type Route = { name: 'catalogue' | 'replay' | 'artefacts'; pathParameters: Record<string, string> };

const SEGMENT = '([^/]+)';
const ROUTES: { pattern: RegExp; name: Route['name']; params: string[] }[] = [
  { pattern: new RegExp(`^/sites/${SEGMENT}/recordings/?$`), name: 'catalogue', params: ['site'] },
  { pattern: new RegExp(`^/sites/${SEGMENT}/recordings/${SEGMENT}/?$`), name: 'catalogue', params: ['site', 'rid'] },
  { pattern: new RegExp(`^/sites/${SEGMENT}/recordings/${SEGMENT}/audio/?$`), name: 'replay', params: ['site', 'rid'] },
  { pattern: new RegExp(`^/sites/${SEGMENT}/artefacts/?$`), name: 'artefacts', params: ['site'] },
  { pattern: new RegExp(`^/sites/${SEGMENT}/sources/${SEGMENT}/restore-plan/?$`), name: 'artefacts', params: ['site', 'source'] },
];

function route(path: string): Route | undefined {
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    try {
      return { name: r.name, pathParameters: Object.fromEntries(r.params.map((p, i) => [p, decodeURIComponent(m[i + 1]!)])) };
    } catch {
      return undefined; // a malformed %-escape: no such route
    }
  }
  return undefined;
}

// Only these files are served, looked up by exact path: a request path never reaches the
// file system, so there is no traversal to defend against.
const WEB_DIR = new URL('../web/', import.meta.url);
const WEB_FILES = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/web/app.js', { file: 'app.js', type: 'text/javascript; charset=utf-8' }],
  ['/web/style.css', { file: 'style.css', type: 'text/css; charset=utf-8' }],
]);
const WEB_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; media-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Read per request, so an edited page shows on reload. */
async function webFile(asset: { file: string; type: string }, method: string): Promise<HttpResult> {
  if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: 'GET, HEAD' });
  const body = await readFile(new URL(asset.file, WEB_DIR));
  const headers = { 'Content-Type': asset.type, 'Content-Length': String(body.length), 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': WEB_CSP };
  return { statusCode: 200, headers, body: body.toString('utf8') };
}

/** The HTTP API v2 event API Gateway would build for this request. */
export function toHttpEvent(req: IncomingMessage, url: URL, pathParameters: Record<string, string>, body?: string): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  // API Gateway joins repeated parameters with commas.
  for (const [name, value] of url.searchParams) query[name] = name in query ? `${query[name]},${value}` : value;
  return {
    version: '2.0',
    routeKey: `${req.method} ${url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: req.method ?? 'GET', path: url.pathname, sourceIp: req.socket.remoteAddress, userAgent: headers['user-agent'] } },
  };
}

function send(req: IncomingMessage, res: ServerResponse, result: HttpResult): void {
  res.writeHead(result.statusCode, { ...result.headers, ...CORS });
  const { body } = result;
  if (req.method === 'HEAD') {
    if (body instanceof Readable) body.destroy();
    res.end();
    return;
  }
  if (typeof body === 'string') {
    res.end(body);
    return;
  }
  // A failure mid-stream cannot change the status any more: cut the connection so the
  // client sees a truncated body rather than a complete-looking one.
  body.on('error', () => res.destroy());
  res.on('close', () => body.destroy());
  body.pipe(res);
}

async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new Error(`request body over ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function startApiServer(deps: ApiServerDeps, opts: { port?: number; host?: string } = {}): Promise<ApiServer> {
  const log = deps.log ?? jsonLog;
  // Random per server, like the secret the stack generates for the deployment.
  const cursorKey = randomBytes(32).toString('base64url');
  const shared = { audit: deps.audit ?? stdoutAudit(), clock: deps.clock ?? systemClock, log, cursorKey };
  const as = (fn: keyof NonNullable<ApiServerDeps['functions']>) => deps.functions?.[fn] ?? deps;
  const handlers = {
    catalogue: createCatalogueHandler({ catalogue: as('catalogue').catalogue, ...shared }),
    replay: createReplayHandler({ catalogue: as('replay').catalogue, blobs: as('replay').blobs, audit: shared.audit, clock: shared.clock, log }),
    artefacts: createArtefactsHandler({ catalogue: as('artefacts').catalogue, ...shared }),
  };
  const ingestHandler = createIngestHandler({ blobs: as('ingest').blobs, catalogue: as('ingest').catalogue, log });

  async function ingestRoute(req: IncomingMessage): Promise<HttpResult> {
    let event: unknown;
    try {
      event = JSON.parse(await readBody(req));
    } catch (error) {
      return json(400, { error: 'InvalidInputError', message: `body must be an S3 event as JSON: ${(error as Error).message}` });
    }
    try {
      return json(200, await ingestHandler(event));
    } catch (error) {
      // Local tooling wants the detail (which manifest, why); the cloud handler's errors stay in logs.
      if (error instanceof IngestFailedError) return json(500, { error: error.name, message: error.message, failures: error.failures });
      return errorResponse(error, log);
    }
  }

  async function dispatch(req: IncomingMessage): Promise<HttpResult> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (url.pathname === '/internal/s3-events') {
      return method === 'POST' ? ingestRoute(req) : json(405, { error: 'MethodNotAllowed', message: 'use POST' }, { Allow: 'POST' });
    }
    const asset = WEB_FILES.get(url.pathname);
    if (asset) return webFile(asset, method);
    const matched = route(url.pathname);
    if (!matched) return json(404, { error: 'NotFound', message: `no route for ${method} ${url.pathname}` });
    if (method === 'OPTIONS') return { statusCode: 204, headers: { 'Access-Control-Max-Age': '600' }, body: '' };
    if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: 'GET, HEAD, OPTIONS' });
    return handlers[matched.name](toHttpEvent(req, url, matched.pathParameters));
  }

  const server = createServer((req, res) => {
    dispatch(req)
      .then((result) => send(req, res, result))
      .catch((error: unknown) => {
        if (res.headersSent) return res.destroy();
        send(req, res, errorResponse(error, log));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    ingest: (event) => ingestHandler(event),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
