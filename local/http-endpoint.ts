import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { errorResponse } from '../functions/shared/errors.ts';
import { json, type HttpEvent, type HttpResult } from '../functions/shared/http.ts';
import type { Log } from '../functions/shared/log.ts';
import { verifySigV4, type SigV4Policy } from './sigv4-verify.ts';
import { listenLocal } from './listen.ts';

// One local HTTP endpoint standing in for an AWS front door (API Gateway with IAM
// authorization, or a Lambda Function URL with AWS_IAM auth): routes, SigV4 verification, the
// HTTP API v2 event the handlers receive (caller in requestContext.authorizer.iam), and the
// piping of their (possibly streamed) results.

export type RouteHandler = (event: HttpEvent) => Promise<HttpResult>;
export interface RouteDef {
  pattern: RegExp;
  params: string[];
  handler: RouteHandler;
  /** What the route answers besides OPTIONS (default GET and HEAD); other methods get 405. */
  methods?: readonly string[];
}

/** Who a request is from; undefined sends it on to SigV4 verification. */
export type LocalIdentity = { accessKey: string; principal: string };

/** IAM after the signature: who the key is and whether its policies allow this request (local/api-access.ts). */
export type Authorize = (
  accessKeyId: string,
  request: { method: string; path: string; pathParameters: Record<string, string> },
) => { allowed: true; principal: string } | { allowed: false; message: string };

export interface EndpointOptions {
  routes: RouteDef[];
  auth: SigV4Policy;
  /** Absent: a valid signature is enough (the caller is its key id). */
  authorize?: Authorize;
  log: Log;
  /** Answers requests outside the authenticated routes (the web page); undefined = not mine. */
  unauthenticated?: (req: IncomingMessage, url: URL) => Promise<HttpResult | undefined>;
  /** Another way in than SigV4 (the web page's local session). */
  sessionIdentity?: (req: IncomingMessage) => LocalIdentity | undefined;
  port?: number;
  host?: string;
}

export interface HttpEndpoint {
  url: string;
  stop(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Methods': 'GET, HEAD, POST, OPTIONS',
  'Access-Control-Allow-Headers':
    'Range, If-Range, Authorization, Content-Type, X-Amz-Date, X-Amz-Content-Sha256, X-Amz-Security-Token, X-Ferry-Session',
  'Access-Control-Expose-Headers': 'Content-Range, Content-Length, Accept-Ranges, ETag, Content-Disposition, X-Ferry-Cursor',
};

function match(routes: RouteDef[], path: string): { route: RouteDef; pathParameters: Record<string, string> } | undefined {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (!m) continue;
    try {
      return { route, pathParameters: Object.fromEntries(route.params.map((p, i) => [p, decodeURIComponent(m[i + 1]!)])) };
    } catch {
      return undefined; // a malformed %-escape: no such route
    }
  }
  return undefined;
}

/** The HTTP API v2 event API Gateway would build for this request. */
export async function readBody(req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function toHttpEvent(req: IncomingMessage, url: URL, pathParameters: Record<string, string>, identity?: LocalIdentity): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  // An own property for every name, `__proto__` included (as JSON.parse gives it in Lambda):
  // the handler sees, and refuses, whatever parameter the caller sent.
  const query: Record<string, string> = Object.create(null) as Record<string, string>;
  // API Gateway joins repeated parameters with commas.
  for (const [name, value] of url.searchParams) {
    const joined = Object.hasOwn(query, name) ? `${query[name]},${value}` : value;
    Object.defineProperty(query, name, { value: joined, enumerable: true, writable: true, configurable: true });
  }
  return {
    version: '2.0',
    routeKey: `${req.method} ${url.pathname}`,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    headers,
    queryStringParameters: Object.keys(query).length ? { ...query } : undefined,
    pathParameters,
    isBase64Encoded: false,
    requestContext: {
      http: { method: req.method ?? 'GET', path: url.pathname, sourceIp: req.socket.remoteAddress, userAgent: headers['user-agent'] },
      ...(identity ? { authorizer: { iam: { accessKey: identity.accessKey, userArn: identity.principal } } } : {}),
    },
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

export async function startHttpEndpoint(o: EndpointOptions): Promise<HttpEndpoint> {
  async function dispatch(req: IncomingMessage): Promise<HttpResult> {
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const own = await o.unauthenticated?.(req, url);
    if (own) return own;
    const matched = match(o.routes, url.pathname);
    if (!matched) return json(404, { error: 'NotFound', message: `no route for ${method} ${url.pathname}` });
    if (method === 'OPTIONS') return { statusCode: 204, headers: { 'Access-Control-Max-Age': '600' }, body: '' };
    const methods = matched.route.methods ?? ['GET', 'HEAD'];
    if (!methods.includes(method)) {
      const allow = [...methods, 'OPTIONS'].join(', ');
      return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: allow });
    }
    let identity = o.sessionIdentity?.(req);
    if (!identity) {
      const verdict = await verifySigV4({ method, rawPath, searchParams: url.searchParams, headers: req.headers }, o.auth);
      if (!verdict.ok) return json(403, { message: verdict.message }, { 'x-amzn-ErrorType': verdict.errorType });
      identity = { accessKey: verdict.accessKeyId, principal: verdict.accessKeyId };
      // IAM judges the path that is served (dot segments resolved, as the router and the
      // function see it), not the raw one the signature covers: `/sites/a/recordings/../../b/…`
      // is site b's route, and needs site b's grant.
      const access = o.authorize?.(verdict.accessKeyId, { method, path: url.pathname, pathParameters: matched.pathParameters });
      // Refused as API Gateway and Function URLs refuse an IAM denial.
      if (access && !access.allowed) return json(403, { message: access.message }, { 'x-amzn-ErrorType': 'AccessDeniedException' });
      if (access) identity = { accessKey: verdict.accessKeyId, principal: access.principal };
    }
    const event = toHttpEvent(req, url, matched.pathParameters, identity);
    // A POST's JSON body (the legal hold routes), as API Gateway hands it on: text, at most 1 MiB.
    if (method === 'POST') {
      const body = await readBody(req, 1024 * 1024);
      if (body === undefined) return { statusCode: 413, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: 'PayloadTooLarge', message: 'body: larger than 1 MiB' }) };
      if (body.length) event.body = body;
    }
    return matched.route.handler(event);
  }

  const server = createServer((req, res) => {
    dispatch(req)
      .then((result) => send(req, res, result))
      .catch((error: unknown) => {
        if (res.headersSent) return res.destroy();
        send(req, res, errorResponse(error, o.log));
      });
  });
  return listenLocal(server, { port: o.port, host: o.host });
}
