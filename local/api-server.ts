import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { presignReplayLink } from '../adapters/replay-link.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { RECORDING_ID_PATTERN } from '../core/ids.ts';
import type { RecallRequest, RecallStarter } from '../core/recall.ts';
import { json, type HttpResult } from '../functions/shared/http.ts';
import { jsonLog, type Log } from '../functions/shared/log.ts';
import { siteSchema } from '../functions/shared/params.ts';
import { API_POST_ROUTES, API_ROUTES, RECALL_ROUTE, type ApiFunction } from '../core/api-routes.ts';
import type { FrontDoorAccess } from './api-access.ts';
import { readBody, startHttpEndpoint, toHttpEvent, type HttpEndpoint, type LocalIdentity, type RouteDef, type RouteHandler } from './http-endpoint.ts';

// Local stand-in for the catalogue API (API Gateway HTTP API, IAM authorization on every
// route): the functions the cloud runs (in the local cloud, their deployed bundles:
// local/api-functions.ts), behind SigV4 verification (service execute-api) and, with the
// local IAM, the evaluation of execute-api:Invoke on the route (local/api-access.ts).
// It also serves the compliance officer's page (web/): GET / and its assets under /web/, and the
// fleet page (GET /fleet.html, which reads GET /fleet). A page cannot sign requests, so it uses
// a local session instead: a random token, handed out in the page's address by `ferry start`,
// sent back as `X-Ferry-Session`; with it, the page may search, read the fleet and ask for
// presigned replay links (GET /local/replay-link). Replay is elsewhere.
// The console routes (/console/…, core/console-access.ts) go to the console function, which
// verifies the caller's Cognito token itself (the local Cognito stand-in's, local/cognito-server.ts).
// The recall route (POST) reaches the catalogue function, which starts the recall workflow,
// only for a site whose local recall workflow runs (`recallWired`); otherwise it answers 501,
// as the deployed function without a workflow does. Its GET (the recall status) always reaches it.

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface ApiServerDeps {
  /** The functions behind the routes, as API Gateway's Lambda integration invokes them. */
  /** `fleet` absent: no GET /fleet (a front door for the catalogue routes only); `console` absent: no /console routes; `holds` absent: no legal hold routes. */
  functions: { catalogue: RouteHandler; artefacts: RouteHandler; fleet?: RouteHandler; console?: RouteHandler; holds?: RouteHandler };
  /** The keys SigV4 signatures are checked against when there is no `iam`. */
  credentials: LocalCredentials[];
  /** IAM: the keys are the deployment's principals, each request evaluated against their policies. */
  iam?: FrontDoorAccess;
  region: string;
  /** The page's session: its token, and where (and as whom) replay links are minted. */
  session?: { token: string; replayUrl: string; credentials: LocalCredentials };
  /**
   * Whether a site's recall workflow runs, asked per request (orchestration comes and goes with
   * `ferry start`); false: the recall route answers 501, as the deployed function does without
   * one. Absent: every recall reaches the catalogue function.
   */
  recallWired?: (site: string) => boolean;
  /** The console's sign-in (the Cognito stand-in): config.json is served from it and the API's own URL. */
  consoleSignIn?: Omit<ConsoleWebConfig, 'apiUrl'>;
  clock?: Clock;
  log?: Log;
}

const SEGMENT = '([^/]+)';

// Only these files are served, looked up by exact path: a request path never reaches the
// file system, so there is no traversal to defend against.
const WEB_DIR = new URL('../web/', import.meta.url);
const WEB_FILES = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/web/app.js', { file: 'app.js', type: 'text/javascript; charset=utf-8' }],
  ['/web/style.css', { file: 'style.css', type: 'text/css; charset=utf-8' }],
  ['/fleet.html', { file: 'fleet.html', type: 'text/html; charset=utf-8' }],
  ['/web/fleet.js', { file: 'fleet.js', type: 'text/javascript; charset=utf-8' }],
  ['/web/shared.js', { file: 'shared.js', type: 'text/javascript; charset=utf-8' }],
]);

// The compliance console (web/console.html): served from web/ with the files beside it, as the
// deployment's CloudFront serves web/ at its root, and with the config.json the deploy writes.
// A module split out of console.js is listed here too, or the page does not start locally.
const CONSOLE_MODULES = [
  'console.js', 'console-api.js', 'console-ui.js', 'console-signin.js', 'console-search.js', 'console-search-status.js',
  'console-call.js', 'console-holds.js', 'console-cases.js', 'console-erasures.js', 'console-audit.js', 'console-zone.js', 'console-steps.js',
];
const CONSOLE_FILES = new Map([
  ['/web/console.html', { file: 'console.html', type: 'text/html; charset=utf-8' }],
  ['/web/console.css', { file: 'console.css', type: 'text/css; charset=utf-8' }],
  ...CONSOLE_MODULES.map((file) => [`/web/${file}`, { file, type: 'text/javascript; charset=utf-8' }] as const),
]);

/** What the console page reads from `config.json` (infra/console.ts writes the deployed one). */
export interface ConsoleWebConfig {
  region: string;
  /** The API base the console routes hang under (`{apiUrl}console/…`), ending in `/`. */
  apiUrl: string;
  userPoolId: string;
  clientId: string;
  issuer: string;
  /** Where InitiateAuth is posted (Cognito's regional endpoint; locally the stand-in). */
  cognitoEndpoint: string;
}

/** The console page's policy: as the deployment's (infra/console.ts consoleCsp), with the local origins. */
function consoleCsp(config: ConsoleWebConfig, replayOrigin: string): string {
  const api = new URL(config.apiUrl).origin;
  const cognito = new URL(config.cognitoEndpoint).origin;
  return [
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:",
    `connect-src 'self' ${api} ${cognito} ${replayOrigin}; media-src 'self' ${replayOrigin}`,
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  ].join('; ');
}

function csp(replayOrigin: string): string {
  return [
    "default-src 'none'; script-src 'self'; style-src 'self'",
    `connect-src 'self' ${replayOrigin}; media-src 'self' ${replayOrigin}`,
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  ].join('; ');
}

/** Read per request, so an edited page shows on reload. */
async function webFile(asset: { file: string; type: string }, method: string, policy: string): Promise<HttpResult> {
  if (method !== 'GET' && method !== 'HEAD') {
    return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: 'GET, HEAD' });
  }
  const body = await readFile(new URL(asset.file, WEB_DIR));
  const headers = {
    ...{ 'Content-Type': asset.type, 'Content-Length': String(body.length), 'Cache-Control': 'no-cache' },
    ...{ 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': policy },
  };
  return { statusCode: 200, headers, body: body.toString('utf8') };
}

const linkSchema = z
  .object({
    site: siteSchema,
    rid: z.string({ required_error: 'is required' }).regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)'),
    download: z.enum(['1', '0'], { message: 'must be 1 or 0' }).optional(),
  })
  .strict('unknown parameter (allowed: site, rid, download)');

/** GET /local/replay-link?site&rid[&download=1]: a five-minute presigned GET and HEAD pair for the page. */
async function replayLink(session: NonNullable<ApiServerDeps['session']>, region: string, url: URL, clock: Clock): Promise<HttpResult> {
  const parsed = linkSchema.safeParse(Object.fromEntries(url.searchParams));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join('.') || ('keys' in issue ? String((issue as { keys: string[] }).keys[0]) : 'query');
    return json(400, { error: 'InvalidInputError', message: `${name}: ${issue.message}` });
  }
  const { site, rid, download } = parsed.data;
  const base = { replayUrl: session.replayUrl, region, site, rid, download: download === '1' };
  const signing = { credentials: session.credentials, now: clock.now() };
  const [get, head] = await Promise.all([
    presignReplayLink({ ...base, ...signing }),
    presignReplayLink({ ...base, ...signing, method: 'HEAD' }),
  ]);
  return json(200, { url: get, head, expiresInSeconds: 300 });
}

/** A site's local recall workflow (local/stepfunctions.ts) as the recall starter the catalogue function takes. */
export function localRecallStarter(workflows: {
  runRecall(input: RecallRequest): { executionArn: string; done: Promise<unknown> };
}): RecallStarter {
  return {
    async startRecall(request) {
      const execution = workflows.runRecall(request);
      // The outcome reaches the requester through the workflow's notifier, as in the cloud.
      execution.done.catch(() => undefined);
      return { execution: execution.executionArn };
    },
  };
}

/** Secret access key by access key id, for SigV4 verification. */
export function secretsOf(credentials: LocalCredentials[]): Map<string, string> {
  return new Map(credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
}

function sameToken(given: string | string[] | undefined, token: string): boolean {
  return typeof given === 'string' && given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token));
}

/** A route path in API Gateway's syntax as a pattern: each `{name}` is one segment, a trailing slash is allowed. */
function routePattern(path: string): Pick<RouteDef, 'pattern' | 'params'> {
  return { pattern: new RegExp(`^${path.replace(/\{\w+\}/g, SEGMENT)}/?$`), params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!) };
}

/**
 * The API's routes as the deployment declares them (core/api-routes.ts), each to its function.
 * Every function of the table is named here; a route whose function is undefined is not served.
 * A GET-only route answers GET and HEAD (the endpoint's default); a route that takes POST
 * answers the methods declared.
 */
function apiRoutes(functions: { [F in ApiFunction]: RouteHandler | undefined }, handlerFor: (path: string, fn: RouteHandler) => RouteHandler): RouteDef[] {
  const gets: Record<string, ApiFunction> = API_ROUTES;
  const posts: Record<string, ApiFunction> = API_POST_ROUTES;
  const routes: RouteDef[] = [];
  for (const path of new Set([...Object.keys(gets), ...Object.keys(posts)])) {
    const [get, post] = [gets[path], posts[path]];
    if (get && post && get !== post) throw new Error(`${path}: GET and POST go to different functions (${get}, ${post}); one local route cannot serve both`);
    const fn = functions[(get ?? post)!];
    if (!fn) continue;
    const methods = post ? (get ? ['GET', 'POST'] : ['POST']) : undefined;
    routes.push({ ...routePattern(path), handler: handlerFor(path, fn), ...(methods ? { methods } : {}) });
  }
  return routes;
}

export async function startApiServer(deps: ApiServerDeps, opts: { port?: number; host?: string } = {}): Promise<HttpEndpoint> {
  const log = deps.log ?? jsonLog;
  const clock = deps.clock ?? systemClock;
  const { catalogue, artefacts, fleet } = deps.functions;
  const recall: RouteHandler = async (event) => {
    const site = event.pathParameters?.site ?? '';
    // GET is the recall status (the records the workflow wrote): answered wired or not.
    if (event.requestContext.http.method.toUpperCase() === 'GET') return catalogue(event);
    if (deps.recallWired && siteSchema.safeParse(site).success && !deps.recallWired(site)) {
      // Say which local cloud runs one: an officer on `ferry start --no-demo` was told only that
      // none ran, and the export that sent them here had said to recall the call.
      const message = `recall is not available here: no recall workflow runs for site ${site} on this local cloud (\`ferry start\` runs one for its demo site only, \`ferry start --no-demo\` none; restart with \`ferry start --keep\` to recall site demo's calls)`;
      return json(501, { error: 'NotImplemented', message });
    }
    return catalogue(event);
  };
  const routes = apiRoutes({ catalogue, artefacts, fleet, holds: deps.functions.holds }, (path, fn) => (path === RECALL_ROUTE ? recall : fn));
  const session = deps.session;
  const sessionIdentity = (req: IncomingMessage): LocalIdentity | undefined => {
    if (!session || !sameToken(req.headers['x-ferry-session'], session.token)) return undefined;
    const key = session.credentials.accessKeyId;
    return { accessKey: key, principal: `${key} (web page session)` };
  };
  const replayOrigin = session ? new URL(session.replayUrl).origin : '';
  const policy = csp(replayOrigin);
  const iam = deps.iam;
  // The endpoint's own URL, known once it listens: the console's config names it as the API.
  const self: { url?: string } = {};
  const consoleConfig = (): ConsoleWebConfig | undefined => deps.consoleSignIn && self.url ? { ...deps.consoleSignIn, apiUrl: `${self.url}/` } : undefined;

  const endpoint = await startHttpEndpoint({
    routes,
    auth: {
      service: 'execute-api',
      region: deps.region,
      secrets: iam ? iam.secrets() : secretsOf(deps.credentials),
      now: () => clock.now(),
    },
    authorize: iam && ((key, request) => iam.api(key, request.method, request.path)),
    log,
    sessionIdentity,
    async unauthenticated(req, url) {
      const method = req.method ?? 'GET';
      // The console routes take a Cognito token, not SigV4 (on AWS: the JWT authorizer, then
      // the function's own check; here the function's check alone, on the same token).
      const consoleFn = deps.functions.console;
      if (consoleFn && /^\/console(\/|$)/.test(url.pathname)) {
        if (method === 'OPTIONS') return { statusCode: 204, headers: { 'Access-Control-Max-Age': '600' }, body: '' };
        const event = toHttpEvent(req, url, {});
        // The console's POST bodies (holds, cases, exports), as API Gateway hands them on: text, at most 1 MiB.
        if (method === 'POST') {
          const body = await readBody(req, 1024 * 1024);
          if (body === undefined) return json(413, { error: 'PayloadTooLarge', message: 'body: larger than 1 MiB' });
          if (body.length) event.body = body;
        }
        return consoleFn(event);
      }
      const asset = WEB_FILES.get(url.pathname);
      if (asset) return webFile(asset, method, policy);
      const config = consoleConfig();
      const consoleAsset = config && CONSOLE_FILES.get(url.pathname);
      if (consoleAsset) return webFile(consoleAsset, method, consoleCsp(config, replayOrigin));
      if (config && url.pathname === '/web/config.json') {
        if (method !== 'GET' && method !== 'HEAD') return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: 'GET, HEAD' });
        return json(200, config, { 'Cache-Control': 'no-cache' });
      }
      if (url.pathname !== '/local/replay-link') return undefined;
      if (!session || !sessionIdentity(req)) {
        return json(403, { message: 'Missing Authentication Token' }, { 'x-amzn-ErrorType': 'MissingAuthenticationTokenException' });
      }
      if (method !== 'GET') return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed here` }, { Allow: 'GET' });
      return replayLink(session, deps.region, url, clock);
    },
    ...opts,
  });
  self.url = endpoint.url;
  return endpoint;
}
