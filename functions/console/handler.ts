import middy from '@middy/core';
import { z } from 'zod';
import { cognitoTokenVerifier, UnauthorizedError, type ConsoleCaller, type TokenVerifier } from '../../adapters/console-token.ts';
import { presignReplayLink } from '../../adapters/replay-link.ts';
import type { AuditReader } from '../../core/audit-query.ts';
import type { Clock } from '../../core/clock.ts';
import { closedSites, listenerGroup, matchConsoleRoute, REPLAY_LINK_SECONDS, siteAccess, siteGroup, type ConsoleRoute } from '../../core/console-access.ts';
import { NotFoundError } from '../../core/errors.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import type { RecordingPlace } from '../../core/replay.ts';
import type { RecallStarter } from '../../core/recall.ts';
import type { PackTier, RecallStatusStore } from '../../core/recall-status.ts';
import { S3ObjectHolder } from '../../adapters/s3-legal-hold.ts';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { MirroredHoldStore } from '../../core/hold-mirror.ts';
import { erasureGate } from '../../core/erasures.ts';
import { MirroredErasureStore } from '../../core/erasure-items.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { lambdaExportStarter, s3BundleLinks } from '../../adapters/export-links.ts';
import { createCatalogueHandler } from '../catalogue/handler.ts';
import { createHoldsHandler, type HoldsHandlerDeps } from '../holds/handler.ts';
import { exportStatus, startExport, type ConsoleExportDeps } from './exports.ts';
import type { Audit } from '../shared/audit.ts';
import { baseClients, baseEnvSchema, cloudDeps, cursorKeyFrom, jsonVariable, parseEnv, recallStarterFromEnv, searchReadLimitFrom } from '../shared/deps.ts';
import { errorResponse, httpErrors } from '../shared/errors.ts';
import { checkQueryEncoding } from '../shared/query-encoding.ts';
import { header, json, noBodyFields, type HttpEvent, type HttpResult } from '../shared/http.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { siteSchema } from '../shared/params.ts';

// The compliance console's API (routes: core/console-access.ts). Every request: the bearer
// token verified here (API Gateway's JWT authorizer checked it already; this is the second
// check, and the only one where no authorizer runs), the site checked against the caller's
// Cognito groups, server-side, before anything else is read or validated. Search, get, recall
// and the recall status are the catalogue function's own code, and holds, cases and erasure requests the holds function's, each
// run in process as the verified officer. Play and
// download links are minted here: the site's replay Function URL presigned with this
// function's role, the officer named in the signed query so replay's audit line says who.

export interface ReplayLinkRequest {
  site: string;
  rid: string;
  download: boolean;
  officer: string;
  /** Where the recording is (its catalogue entry): signed into the link so replay opens the range alongside its lookup. */
  place?: RecordingPlace;
}

/** Mints a short-lived replay link (a SigV4 presign of the site's replay URL) for an officer. */
export type ReplayLinkMinter = (request: ReplayLinkRequest) => Promise<string>;

export interface ConsoleHandlerDeps {
  verifier: TokenVerifier;
  /** The deployment's sites, in configuration order. */
  sites: string[];
  /** The off-boarded sites (CONSOLE_OFFBOARDED_SITES): only admin and officer-all see them (core/console-access.ts). */
  offboarded?: string[];
  catalogue: Pick<CatalogueStore, 'searchRecordings' | 'getRecording' | 'getPack' | 'listSnapshots'>;
  recall?: RecallStarter;
  /** Recall status records and the packs' lifecycle tiers (GET …/recall, a recording's `archive`): functions/catalogue/recall.ts. */
  recalls?: Pick<RecallStatusStore, 'get'>;
  packTiers?: PackTier[];
  /** The audit trail's records (GET …/audit); absent: that route answers 501. */
  auditTrail?: AuditReader;
  links: ReplayLinkMinter;
  /** Legal holds, cases and erasure requests (functions/holds runs with these, as the officer). */
  holds: Omit<HoldsHandlerDeps, 'clock' | 'audit' | 'log'>;
  /** Case exports (functions/console/exports.ts); absent: the export routes answer 501. */
  exports?: ConsoleExportDeps;
  audit: Audit;
  clock: Clock;
  cursorKey: string;
  /** Most catalogue entries a search page or count reads (SEARCH_READ_LIMIT; functions/catalogue). */
  readLimit?: number;
  log?: Log;
}

const ridSchema = z.string({ required_error: 'is required' }).regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)');
const noQuery = z.object({}).strict('unknown parameter (this route takes none)');

function unauthorized(message: string): HttpResult {
  return json(401, { error: 'UnauthorizedError', message }, { 'WWW-Authenticate': 'Bearer' });
}

/**
 * The answer for a site the caller may not see. An officer whose groups name some sites gets the
 * same 403 for a site of the deployment that is not theirs and for a name the deployment does not
 * have (a typo): whether a site exists is beyond what their groups let them see, so the answer
 * names their own sites instead, which is what tells a typo from a missing access. An officer who
 * sees every site (admin, officer-all) is told plainly that the deployment has no such site.
 */
function refusedSite(caller: ConsoleCaller, site: string, allowed: readonly string[], configured: readonly string[], closed: readonly string[]): HttpResult {
  if (closed.includes(site)) return json(403, { error: 'ForbiddenError', message: `${caller.username} may not see site ${site} any more: ${closedWords(site)}` });
  if (configured.length > 0 && configured.every((s) => allowed.includes(s))) {
    return json(404, { error: 'NotFoundError', message: `no site ${site} in this deployment (its sites: ${configured.join(', ')})` });
  }
  const yours = allowed.length ? `your sites: ${allowed.join(', ')}` : 'you may see no site yet';
  return json(403, {
    error: 'ForbiddenError',
    message: `${caller.username} may not see site ${site}: it is not one of your sites (${yours}; groups: ${caller.groups.join(', ') || 'none'}). Check the site's name; if it is right, ask your administrator to add you to group ${siteGroup(site)}`,
  });
}

/** What a former officer of an off-boarded site (one their own groups name, no other) is told when they ask for it. */
function closedWords(site: string): string {
  return `it was closed (off-boarded): its groups (${siteGroup(site)}, ${listenerGroup(site)}) open it to no one any more. Its calls are kept to the end of their retention; for one of them (a legal request), ask the administrator of this service, who can still find them`;
}

/** What a listener asked for that only an officer may do, in the words of the refusal. */
const OFFICER_ONLY: Record<ConsoleRoute['action'], string> = {
  me: '', sites: '', search: '', get: '', 'play-link': '', recall: '', 'recall-status': '',
  'download-link': 'download them',
  holds: 'see or change legal holds, cases and erasure requests',
  export: 'export them',
  'export-status': 'export them',
  audit: 'read the audit trail',
};

/** The answer for a route of a site the caller may only listen to (`listener-<site>`): what they may do, and the group the rest needs. */
function listenerRefused(caller: ConsoleCaller, site: string, action: ConsoleRoute['action']): HttpResult {
  return json(403, {
    error: 'ForbiddenError',
    message: `${caller.username} may search and listen to the calls of site ${site}, not ${OFFICER_ONLY[action]}: that needs group ${siteGroup(site)} (ask your administrator)`,
  });
}

/** The catalogue's or holds function's event for a console request: its path without `/console`, as the verified officer. */
function asOfficerEvent(event: HttpEvent, caller: ConsoleCaller, path: string, params: Record<string, string>): HttpEvent {
  return {
    ...event,
    rawPath: path,
    pathParameters: params,
    requestContext: { ...event.requestContext, authorizer: { jwt: { claims: { 'cognito:username': caller.username } } } },
  };
}

async function link(deps: ConsoleHandlerDeps, event: HttpEvent, caller: ConsoleCaller, site: string, rawRid: string, download: boolean) {
  const { rid } = z.object({ rid: ridSchema, query: noQuery }).parse({ rid: rawRid, query: event.queryStringParameters ?? {} });
  noBodyFields(event);
  const entry = await deps.catalogue.getRecording(site, rid);
  if (!entry) throw new NotFoundError(`no recording ${rid} in site ${site}`);
  const place = { packKey: entry.packKey, offset: entry.offset, length: entry.length };
  const url = await deps.links({ site, rid, download, officer: caller.username, place });
  const expiresAt = new Date(deps.clock.now().getTime() + REPLAY_LINK_SECONDS * 1000).toISOString();
  return json(200, { url, expiresInSeconds: REPLAY_LINK_SECONDS, expiresAt, kind: download ? 'download' : 'play' });
}

interface Delegates {
  catalogue: Handler<HttpEvent, HttpResult>;
  holds: Handler<HttpEvent, HttpResult>;
}

async function route(deps: ConsoleHandlerDeps, delegates: Delegates, event: HttpEvent, caller: ConsoleCaller, matched: { route: ConsoleRoute; params: Record<string, string> }, context: unknown): Promise<HttpResult> {
  const { route: r, params } = matched;
  const access = siteAccess(caller.groups, deps.sites, deps.offboarded);
  const allowed = [...access.keys()];
  // The off-boarded sites the caller's own groups name: said, as closed, to them alone.
  const closed = closedSites(caller.groups, deps.sites, deps.offboarded);
  if (r.action === 'me' || r.action === 'sites') {
    noQuery.parse(event.queryStringParameters ?? {});
    const told = closed.length > 0 ? { closed } : {};
    if (r.action === 'sites') return json(200, { sites: allowed.map((name) => ({ name, access: access.get(name) })), ...told });
    return json(200, { username: caller.username, groups: caller.groups, sites: allowed, access: Object.fromEntries(access), ...told });
  }
  const { site } = z.object({ site: siteSchema }).parse({ site: params.site });
  // Scope before anything else about the request: site B's officer learns nothing of site A.
  if (!allowed.includes(site)) {
    // A refused attempt at another site is kept, with who and what (PCI DSS 10.2: invalid logical access attempts).
    (deps.log ?? jsonLog)('warn', 'console access refused', { officer: caller.username, groups: caller.groups, site, route: r.action, method: event.requestContext?.http?.method, path: event.rawPath, known: deps.sites.includes(site) });
    return refusedSite(caller, site, allowed, deps.sites, closed);
  }
  if (access.get(site) === 'listener' && !r.listener) {
    (deps.log ?? jsonLog)('warn', 'console access refused', { officer: caller.username, groups: caller.groups, site, route: r.action, method: event.requestContext?.http?.method, path: event.rawPath, known: true, listener: true });
    return listenerRefused(caller, site, r.action);
  }
  const rid = params.rid ?? '';
  if (r.action === 'play-link' || r.action === 'download-link') return link(deps, event, caller, site, rid, r.action === 'download-link');
  const exportsContext = { exports: deps.exports, holds: deps.holds.holds, catalogue: deps.catalogue, clock: deps.clock, audit: deps.audit, ...(deps.holds.erasures ? { erasures: deps.holds.erasures } : {}) };
  if (r.action === 'export') return startExport(exportsContext, event, site, caller.username);
  if (r.action === 'export-status') return exportStatus(exportsContext, event, site, params.exportId ?? '', caller.username);
  const path = event.rawPath.replace(/^\/console/, '');
  const delegate = r.action === 'holds' ? delegates.holds : delegates.catalogue;
  const answer = await delegate(asOfficerEvent(event, caller, path, params), context);
  return r.action === 'recall-status' && access.get(site) === 'listener' ? withoutOthersRequester(answer, caller.username) : answer;
}

/**
 * A recall's status as a listener sees it: who asked for the recall is the audit trail's to say
 * (an officer recalling a call tells of an inquiry), so another's name is left out.
 */
function withoutOthersRequester(answer: HttpResult, username: string): HttpResult {
  if (answer.statusCode !== 200 || typeof answer.body !== 'string') return answer;
  const { requester, ...rest } = JSON.parse(answer.body) as { requester?: string };
  return requester === undefined || requester === username ? answer : { ...answer, body: JSON.stringify(rest) };
}

export function createHandler(deps: ConsoleHandlerDeps): Handler<HttpEvent, HttpResult> {
  const { recalls, packTiers } = deps;
  const catalogue = createCatalogueHandler({ catalogue: deps.catalogue, recall: deps.recall, recalls, packTiers, auditTrail: deps.auditTrail, audit: deps.audit, clock: deps.clock, cursorKey: deps.cursorKey, readLimit: deps.readLimit, log: deps.log });
  // A case's members show their tier as a call does (the catalogue's recording route): same records, same prediction.
  const tiers = recalls && packTiers ? { packs: deps.catalogue, recalls, tiers: packTiers, clock: deps.clock } : undefined;
  const holds = createHoldsHandler({ ...deps.holds, ...(tiers ? { tiers } : {}), clock: deps.clock, audit: deps.audit, log: deps.log });
  const chain = middy(async (event: HttpEvent, context: unknown): Promise<HttpResult> => {
    const authorization = header(event, 'authorization');
    const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
    if (!token) return unauthorized('sign in: the request needs an Authorization: Bearer <access token> header');
    let caller: ConsoleCaller;
    try {
      caller = await deps.verifier.verify(token);
    } catch (error) {
      if (error instanceof UnauthorizedError) return unauthorized(error.message);
      return errorResponse(error, deps.log);
    }
    // After sign-in, as the front door's JWT authorizer answers 401 before the function sees anything on AWS.
    checkQueryEncoding(event.rawQueryString);
    const method = event.requestContext.http.method.toUpperCase();
    const matched = matchConsoleRoute(method, event.rawPath);
    if (!matched) return json(404, { error: 'NotFoundError', message: `no console route ${method} ${event.rawPath}` });
    if ('allowed' in matched) {
      return json(405, { error: 'MethodNotAllowed', message: `${method} is not allowed on ${event.rawPath}` }, { Allow: matched.allowed.join(', ') });
    }
    return route(deps, { catalogue, holds }, event, caller, matched, context);
  }).use(httpErrors({ log: deps.log }));
  return asHandler(chain);
}

const consoleEnvSchema = z.object({
  CONSOLE_ISSUER: z.string().url('must be the user pool issuer URL'),
  CONSOLE_CLIENT_ID: z.string().min(1, 'the console app client id is required'),
  CONSOLE_JWKS_URI: z.string().url().optional(),
  /** JSON: site → that site's replay Function URL. */
  CONSOLE_REPLAY_URLS: jsonVariable(z.record(z.string().url()), 'must be a JSON object of site to replay URL'),
  /** JSON: the off-boarded sites (deployment config `offboarded`), seen by admin and officer-all only; absent: none. */
  CONSOLE_OFFBOARDED_SITES: jsonVariable(z.array(z.string()), 'must be a JSON array of site names').optional(),
  AWS_REGION: z.string().min(1, 'is required'),
  /** The export function (infra/functions.ts), invoked asynchronously for each case export. */
  EXPORT_FUNCTION_NAME: z.string().min(1).optional(),
  /** The export function's timeout and how long a bundle is kept (the CDK values): each record's deadline and TTL. */
  EXPORT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(900).default(900),
  EXPORT_KEEP_DAYS: z.coerce.number().int().min(1).max(36_500).default(7),
  AWS_ENDPOINT_URL_LAMBDA: z.string().url().optional(),
  AWS_ENDPOINT_URL_S3: z.string().url().optional(),
});

/** The composition root: Cognito verifier, replay URLs and sites from the environment the stack sets. */
export function consoleDepsFromEnv(env: Record<string, string | undefined>): ConsoleHandlerDeps {
  const cfg = parseEnv(consoleEnvSchema, env);
  const base = parseEnv(baseEnvSchema, env);
  const { s3, doc, catalogue, blobs } = baseClients(base);
  const replayUrls = cfg.CONSOLE_REPLAY_URLS;
  const links: ReplayLinkMinter = async ({ site, rid, download, officer, place }) => {
    const replayUrl = replayUrls[site];
    if (!replayUrl) throw new NotFoundError(`no replay URL for site ${site}`);
    return presignReplayLink({ replayUrl, region: cfg.AWS_REGION, site, rid, download, officer, place, expiresInSeconds: REPLAY_LINK_SECONDS });
  };
  const shared = cloudDeps();
  return {
    ...shared,
    // An erased call is not listed, and its entry, play and download links answer 410 (core/erasures.ts).
    catalogue: erasureGate(shared.catalogue, shared.erasures),
    verifier: cognitoTokenVerifier({ issuer: cfg.CONSOLE_ISSUER, clientId: cfg.CONSOLE_CLIENT_ID, jwksUri: cfg.CONSOLE_JWKS_URI }),
    sites: Object.keys(replayUrls),
    offboarded: cfg.CONSOLE_OFFBOARDED_SITES,
    links,
    holds: {
      holds: new MirroredHoldStore(new DynamoHoldStore(doc, base.TABLE), blobs),
      // As the holds function writes them: the table, and the bucket (what a catalogue rebuild puts back).
      erasures: new MirroredErasureStore(new DynamoErasureStore(doc, base.TABLE), blobs),
      catalogue,
      blobs,
      holder: new S3ObjectHolder(s3, base.BUCKET),
    },
    exports: {
      statuses: new DynamoExportStatusStore(doc, base.TABLE),
      ...(cfg.EXPORT_FUNCTION_NAME ? { starter: lambdaExportStarter({ functionName: cfg.EXPORT_FUNCTION_NAME, region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_LAMBDA }) } : {}),
      links: s3BundleLinks({ bucket: base.BUCKET, region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_S3 }),
      timeoutSeconds: cfg.EXPORT_TIMEOUT_SECONDS,
      keepDays: cfg.EXPORT_KEEP_DAYS,
    },
    recall: recallStarterFromEnv(env),
    cursorKey: cursorKeyFrom(env),
    readLimit: searchReadLimitFrom(env),
  };
}

export const handler = lazyHandler(() => createHandler(consoleDepsFromEnv(process.env)));

export const createConsoleHandler = createHandler;
