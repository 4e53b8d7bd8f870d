import middy from '@middy/core';
import { z } from 'zod';
import { alongsideAudit } from '../../core/alongside-audit.ts';
import { InvalidInputError, NotFoundError } from '../../core/errors.ts';
import { COUNT_LIMIT, countRecordings } from '../../core/catalogue-count.ts';
import { erasureGate } from '../../core/erasures.ts';
import type { CatalogueStore, ReadBudget } from '../../core/ports.ts';
import { archiveOf, recallStatus, ridSchema, startRecall, type RecallRouteDeps } from './recall.ts';
import { openCursor, sealCursor } from '../../core/paging.ts';
import { cloudDeps, cursorKeyFrom, recallStarterFromEnv, searchReadLimitFrom } from '../shared/deps.ts';
import { SEARCH_READ_LIMIT_DEFAULT, searchBudget } from '../../core/catalogue-budget.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { httpErrors } from '../shared/errors.ts';
import { queryEncoding } from '../shared/query-encoding.ts';
import { json, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import type { Log } from '../shared/log.ts';
import { cursorSchema, isoTime, limitSchema, searchParamsSchema, siteSchema } from '../shared/params.ts';
import { NAME_PATTERN } from '../../core/layout.ts';
import type { AuditReader } from '../../core/audit-query.ts';
import { auditView } from './audit-view.ts';

// Catalogue API: GET /sites/{site}/recordings?from&to&agent&number&callId&limit&cursor,
// GET /sites/{site}/recordings/{rid} (with its pack's `archive` state), POST and GET
// /sites/{site}/recordings/{rid}/recall (start the recall workflow for the recording's pack; its
// status: functions/catalogue/recall.ts) and GET /sites/{site}/snapshots?source&at&limit&cursor
// (tree snapshots, newest first; `limit=1&at=T` is the restore point of T). Validate, call the
// catalogue, audit, answer.

export interface CatalogueHandlerDeps extends RecallRouteDeps {
  catalogue: Pick<CatalogueStore, 'searchRecordings' | 'getRecording' | 'getPack' | 'listSnapshots'>;
  /** The audit trail's records, for GET …/audit (absent: that route answers 501). */
  auditTrail?: AuditReader;
  /** HMAC key of the listing cursors (the deployment's CURSOR_KEY). */
  cursorKey: string;
  /** Most catalogue entries a search page or count reads (SEARCH_READ_LIMIT); default SEARCH_READ_LIMIT_DEFAULT. */
  readLimit?: number;
  log?: Log;
}

/** The read budget of one request: the deployment's limit, and the function's remaining time. */
function budgetOf(deps: CatalogueHandlerDeps, context: unknown): ReadBudget {
  // Real time, as the function's remaining time is (not deps.clock, which a test may have set).
  return searchBudget(deps.readLimit ?? SEARCH_READ_LIMIT_DEFAULT, context);
}

/**
 * One page of the search. A page whose read budget ran out before it filled (a filter few calls
 * match, over a long range) answers what it found, at most `limit`, perhaps none, with the
 * cursor that goes on from where it stopped and `stopped: { read }`: never a timeout.
 */
async function search(deps: CatalogueHandlerDeps, event: HttpEvent, site: string, context: unknown): Promise<HttpResult> {
  const query = searchParamsSchema.parse(event.queryStringParameters ?? {});
  const { cursor, ...audited } = query;
  // The cursor is bound to the search and its order (no sort = `start`): another sort's is refused.
  const scope = { listing: 'recordings', site, query: { ...audited, sort: audited.sort ?? 'start' } };
  const inner = cursor === undefined ? undefined : openCursor(cursor, scope, deps.cursorKey);
  // The audit record is written while the Query runs (its ledger write would otherwise
  // double a page's latency); the page goes out once both are done.
  const record = deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: audited, principal: principalOf(event) });
  const page = await alongsideAudit(record, deps.catalogue.searchRecordings({ site, ...audited, cursor: inner, budget: budgetOf(deps, context) }));
  const cursorOut = page.cursor ? sealCursor(page.cursor, scope, deps.cursorKey) : null;
  return json(200, { items: page.items, cursor: cursorOut, ...(page.stopped ? { stopped: { read: page.read ?? 0 } } : {}) });
}

/**
 * GET …/recordings/count: how many calls the search's filters match, up to COUNT_LIMIT (`more`:
 * more than that), within the read budget (`stopped: { read }`: it ran out after reading that
 * many calls, `count` match among them, so "at least count"; a narrower time range finishes). The search's own parameters, `sort` taken and ignored (an order changes no
 * count); `limit` and `cursor` refused: a count has no pages. Audited as a search (it tells what
 * the catalogue holds as a search does), the count marked in its query.
 */
async function count(deps: CatalogueHandlerDeps, event: HttpEvent, site: string, context: unknown): Promise<HttpResult> {
  const raw = event.queryStringParameters ?? {};
  for (const name of ['limit', 'cursor']) {
    if (raw[name] !== undefined) throw new InvalidInputError(`${name}: a count has no pages; send the search's filters only`, { field: name });
  }
  const { sort: _sort, limit: _limit, cursor: _cursor, ...filters } = searchParamsSchema.parse(raw);
  const record = deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: { ...filters, count: 'yes' }, principal: principalOf(event) });
  const counted = await alongsideAudit(record, countRecordings(deps.catalogue, { site, ...filters }, COUNT_LIMIT, budgetOf(deps, context)));
  return json(200, { ...counted, limit: COUNT_LIMIT });
}

const snapshotsSchema = z
  .object({
    source: z.string().regex(NAME_PATTERN, 'must be a source name: 1-63 lowercase letters, digits or dashes').optional(),
    at: isoTime.optional(),
    limit: limitSchema,
    cursor: cursorSchema.optional(),
  })
  .strict('unknown parameter (allowed: source, at, limit, cursor)');

/** Tree snapshots of the site (file shares), newest first within a source; `at` keeps those taken at or before it. */
async function snapshots(deps: CatalogueHandlerDeps, event: HttpEvent, site: string): Promise<HttpResult> {
  const query = snapshotsSchema.parse(event.queryStringParameters ?? {});
  const { cursor, ...audited } = query;
  const scope = { listing: 'snapshots', site, query: audited };
  const inner = cursor === undefined ? undefined : openCursor(cursor, scope, deps.cursorKey);
  const record = deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, query: { snapshots: 'list', ...audited }, principal: principalOf(event) });
  const page = await alongsideAudit(record, deps.catalogue.listSnapshots({ site, ...audited, cursor: inner }));
  return json(200, { items: page.items, cursor: page.cursor ? sealCursor(page.cursor, scope, deps.cursorKey) : null });
}

async function getOne(deps: CatalogueHandlerDeps, event: HttpEvent, site: string, rawRid: string): Promise<HttpResult> {
  z.object({}).strict('unknown parameter (this route takes none)').parse(event.queryStringParameters ?? {});
  const rid = z.object({ rid: ridSchema }).parse({ rid: rawRid }).rid;
  const entry = await deps.catalogue.getRecording(site, rid);
  if (!entry) throw new NotFoundError(`no recording ${rid} in site ${site}`);
  const archive = await archiveOf(deps, entry);
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'search', site, rid, principal: principalOf(event) });
  return json(200, archive ? { ...entry, archive } : entry);
}

export function createHandler(deps: CatalogueHandlerDeps): Handler<HttpEvent, HttpResult> {
  const chain = middy(async (event: HttpEvent, context: unknown): Promise<HttpResult> => {
    const { site } = z.object({ site: siteSchema }).parse({ site: event.pathParameters?.site });
    // The whole path after the site names the route, never its last segment alone: a call id
    // `audit` (…/recordings/audit) is a lookup refused for its id, not the audit trail, which
    // a caller allowed GET …/recordings/* (a listener, an IAM policy's glob) may not read.
    const rest = /^(?:\/[^/]+)*?\/sites\/[^/]+(\/.*?)?\/?$/.exec(event.rawPath)?.[1] ?? '';
    const rid = event.pathParameters?.rid;
    const post = event.requestContext.http.method.toUpperCase() === 'POST';
    if (rest === '/snapshots') return snapshots(deps, event, site);
    if (rest === '/audit') return auditView(deps, event, site);
    if (rest === '/recordings/count') return count(deps, event, site, context);
    if (rest === '/recordings') return search(deps, event, site, context);
    if (rid !== undefined && /^\/recordings\/[^/]+\/recall$/.test(rest)) return post ? startRecall(deps, event, site, rid) : recallStatus(deps, event, site, rid);
    if (rid !== undefined && !post && /^\/recordings\/[^/]+$/.test(rest)) return getOne(deps, event, site, rid);
    throw new NotFoundError(`no catalogue route ${event.requestContext.http.method.toUpperCase()} ${event.rawPath}`);
  }).use(httpErrors({ log: deps.log })).use(queryEncoding());
  return asHandler(chain);
}

// The catalogue as readers see it: an erased call is not listed, and its lookup answers 410 (core/erasures.ts).
export const handler = lazyHandler(() => {
  const deps = cloudDeps();
  return createHandler({ ...deps, catalogue: erasureGate(deps.catalogue, deps.erasures), recall: recallStarterFromEnv(process.env), cursorKey: cursorKeyFrom(process.env), readLimit: searchReadLimitFrom(process.env) });
});

/** The same factory under a name that says which function it builds (for composition roots). */
export const createCatalogueHandler = createHandler;
