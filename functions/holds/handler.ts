import middy from '@middy/core';
import { z } from 'zod';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { CaseChangedError, type HoldRecord } from '../../core/hold-items.ts';
import { MirroredHoldStore } from '../../core/hold-mirror.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import { DynamoRecallStatusStore } from '../../adapters/dynamo-recalls.ts';
import { MirroredErasureStore, type ErasureStore } from '../../core/erasure-items.ts';
import { listErasures, requestErasure } from '../../core/erasures.ts';
import { ERASURE_STATUSES, ERASURES_PAGE_MAX } from '../../core/erasure-pages.ts';
import { S3ObjectHolder } from '../../adapters/s3-legal-hold.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import type { MemberTierDeps } from '../../core/case-members.ts';
import type { CaseChange, CaseChangeRecorder } from '../../core/case-changes.ts';
import { addCaseCalls, CASE_ID_PATTERN, createCase, membersDigest, listCases, listHolds, placeHold, releaseHold, showCase, type HoldDeps, type HoldOutcome } from '../../core/holds.ts';
import type { Audit } from '../shared/audit.ts';
import { auditFromEnv, baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';
import { httpErrors } from '../shared/errors.ts';
import { queryEncoding } from '../shared/query-encoding.ts';
import { UnderLegalHoldError } from '../../core/errors.ts';
import { json, jsonBody, principalOf, type HttpEvent, type HttpResult } from '../shared/http.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { siteSchema } from '../shared/params.ts';
import { systemClock } from '../../core/clock.ts';

// Legal hold API (thin: validation here, the rules in core/holds.ts):
//   POST /sites/{site}/holds                 {rid | caseId, reason, reference?}  place
//   POST /sites/{site}/holds/release         {rid | caseId, reason}              release
//   GET  /sites/{site}/holds?rid&history     active holds (and released ones with history=true)
//   POST /sites/{site}/cases                 {name, reason, reference?, caseId?, rids?}
//   GET  /sites/{site}/cases                 every case of the site
//   GET  /sites/{site}/cases/{case}
//   POST /sites/{site}/cases/{case}/calls    {rids}
//   POST /sites/{site}/erasures              {rid, reason, reference?}   a data subject's erasure request
//   GET  /sites/{site}/erasures?status&limit&cursor   erasure requests, newest first, a page at a time
// Every place and release is audited (actions `hold`, `release`), every case created and every
// addition of calls to one (`case-create`, `case-add`, before they are made), and every erasure request (`erase`).
// Erasure sits with holds because it is decided by the same people under the same rules: whoever may
// hold a site's calls may ask for one to be erased (refused while any hold stands; core/erasures.ts).

export interface HoldsHandlerDeps extends HoldDeps {
  /** The packs' tiers, pack and recall records: a case's members then carry their archive state (the console has them). */
  tiers?: MemberTierDeps;
  /** Erasure requests (core/erasure-items.ts); absent: the erasure routes answer 501. */
  erasures?: ErasureStore;
  audit: Audit;
  log?: Log;
}

const rid = z.string().regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)');
const caseId = z.string().regex(CASE_ID_PATTERN, 'must be a case id: 1-64 letters, digits, dots, dashes or underscores');
const text = (max: number) => z.string({ required_error: 'is required', invalid_type_error: 'must be a string' }).trim().min(1, 'is required').max(max, `must be at most ${max} characters`);
const target = { rid: rid.optional(), caseId: caseId.optional() };
const oneOf = (v: { rid?: string; caseId?: string }) => (v.rid === undefined) !== (v.caseId === undefined);
const oneOfIssue = { message: 'give exactly one of rid or caseId', path: ['rid'] };

const placeSchema = z.object({ ...target, reason: text(1000), reference: text(256).optional() }).strict().refine(oneOf, oneOfIssue);
const releaseSchema = z.object({ ...target, reason: text(1000), reference: text(256).optional() }).strict().refine(oneOf, oneOfIssue);
const listSchema = z
  .object({ rid: rid.optional(), history: z.enum(['true', 'false']).optional(), limit: z.string().regex(/^\d+$/, 'must be a whole number').optional(), cursor: z.string().min(1).optional() })
  .strict('unknown parameter (allowed: rid, history, limit, cursor)');
const caseSchema = z.object({ caseId: caseId.optional(), name: text(256), reason: text(1000), reference: text(256).optional(), rids: z.array(rid).max(1000).optional() }).strict();
const noQuery = z.object({}).strict('unknown parameter (this route takes none)');
const callsSchema = z.object({ rids: z.array(rid).min(1, 'must list at least one recording id').max(1000) }).strict();
const eraseSchema = z.object({ rid, reason: text(1000), reference: text(256).optional() }).strict();
const erasureListSchema = z
  .object({
    status: z.enum(ERASURE_STATUSES, { errorMap: () => ({ message: `must be ${ERASURE_STATUSES.join(' or ')}` }) }).optional(),
    limit: z.string().regex(/^\d{1,4}$/, `must be a whole number from 1 to ${ERASURES_PAGE_MAX}`).optional(),
    cursor: z.string().min(1, 'must not be empty').optional(),
  })
  .strict('unknown parameter (allowed: status, limit, cursor)');

function who(event: HttpEvent): string {
  return principalOf(event) ?? 'unknown';
}

/**
 * A case's hold or release names, in the trail, the case (the event's query), how many calls it
 * held or released, and its members by count and SHA-256 (membersDigest: the sorted rids, a line
 * each), not one by one: a record naming 15,000 rids is over DynamoDB's 400 KB item and fails
 * the request after the holds were placed. The case's member list is kept, each version
 * write-once, under `cases/{site}/{case}/` in the bucket; its digest ties this record to it.
 * Both are audited a part (a request) at a time, `remaining` saying how many members are still
 * to do: each part's records take effect when written (the purge honours hold records), so the
 * trail shows them then, also for a release or a hold given up half-way.
 */
function caseDetail(input: { caseId?: string }, out: HoldOutcome, done: 'placed' | 'released'): { detail?: Record<string, string | number> } {
  if (input.caseId === undefined) return {};
  const detail: Record<string, string | number> = { [done]: out.holds.length, members: out.members ?? 0, membersSha256: out.membersSha256 ?? '' };
  if (out.gone?.length) detail.gone = out.gone.length;
  if (out.remaining) detail.remaining = out.remaining;
  return { detail };
}

type Route = (deps: HoldsHandlerDeps, event: HttpEvent, site: string) => Promise<HttpResult>;

/**
 * Runs a case request; when it answers 409 because other requests kept changing the case
 * (CaseChangedError), the hold records it wrote before giving up stand (the purge honours them),
 * so the trail names them first: `audit` with them, then the 409.
 */
async function auditedIfRefused<T>(run: () => Promise<T>, audit: (holds: HoldRecord[]) => void | Promise<void>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof CaseChangedError && error.holds.length > 0) await audit(error.holds);
    throw error;
  }
}

/** The trail's record of a case place or release refused part-way: how many records it wrote, and why it stopped. */
const refusedDetail = (holds: HoldRecord[], done: 'placed' | 'released') => ({ detail: { [done]: holds.length, refused: 'CaseChangedError' } });

const place: Route = async (deps, event, site) => {
  const input = placeSchema.parse(jsonBody(event));
  const principal = who(event);
  const query = { ...(input.caseId ? { caseId: input.caseId } : {}), reason: input.reason, ...(input.reference ? { reference: input.reference } : {}) };
  const out = await auditedIfRefused(() => placeHold(deps, { site, ...input, principal }), (holds) => deps.audit({ at: deps.clock.now().toISOString(), action: 'hold', site, principal, query, ...refusedDetail(holds, 'placed') }));
  // The same matter's hold placed again changed nothing: 200 with the hold that stands, and no hold record in the trail.
  if (out.existing) return json(200, out);
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'hold', site, ...(input.rid ? { rid: input.rid } : {}), principal, query, ...caseDetail(input, out, 'placed') });
  // A case is held a part at a time: 202 while members remain (the console and the CLI ask again), 201 once it is on hold.
  return json(out.remaining ? 202 : 201, out);
};

const release: Route = async (deps, event, site) => {
  const input = releaseSchema.parse(jsonBody(event));
  const principal = who(event);
  const query = { ...(input.caseId ? { caseId: input.caseId } : {}), reason: input.reason, ...(input.reference ? { reference: input.reference } : {}) };
  const out = await auditedIfRefused(() => releaseHold(deps, { site, ...input, principal }), (holds) => deps.audit({ at: deps.clock.now().toISOString(), action: 'release', site, principal, query, ...refusedDetail(holds, 'released') }));
  await deps.audit({ at: deps.clock.now().toISOString(), action: 'release', site, ...(input.rid ? { rid: input.rid } : {}), principal, query, ...caseDetail(input, out, 'released') });
  // A case is released a part at a time: 202 while members remain (the console and the CLI ask again), 200 once it is released.
  return json(out.remaining ? 202 : 200, out);
};

const list: Route = async (deps, event, site) => {
  const q = listSchema.parse(event.queryStringParameters ?? {});
  return json(200, await listHolds(deps, site, { history: q.history === 'true', ...(q.rid ? { rid: q.rid } : {}), ...(q.limit ? { limit: Number(q.limit) } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) }));
};

/**
 * A case's creation and each addition of calls are audited before they are made (`case-create`,
 * `case-add`): the case (the event's query, with its reason and reference), who, and the calls
 * (`detail.rids`: those the case was created with or that were added, at most 1,000 a request;
 * `detail.members` and `detail.membersSha256`, the case's members after the change, as a case's
 * hold names them). A record that cannot be written fails the request and nothing is changed. A
 * write refused because another request changed the case is tried again from a fresh read: the
 * same change (the same calls onto the same members) is not recorded twice, a different one
 * (other calls, or onto members another request changed) is, after a record that the first was
 * not made, so that the last record's members are the case's; and a request that ends without making the change it recorded records that too
 * (`detail.refused`, naming why), before it answers.
 */
async function withCaseRecorder<T>(deps: HoldsHandlerDeps, site: string, principal: string, run: (recorder: CaseChangeRecorder) => Promise<T>): Promise<T> {
  const write = (change: CaseChange, refused?: unknown) => {
    const c = change.case;
    const query = { caseId: c.caseId, reason: c.reason, ...(c.reference ? { reference: c.reference } : {}) };
    const rids = change.kind === 'create' ? c.members : change.added;
    const what: Record<string, string | number> = change.kind === 'create' ? { name: c.name } : { added: rids.length };
    const why: Record<string, string> = refused === undefined ? {} : { refused: refused instanceof Error ? refused.name : 'Error' };
    return deps.audit({ at: deps.clock.now().toISOString(), action: change.kind === 'create' ? 'case-create' : 'case-add', site, principal, query, detail: { ...what, rids, members: c.members.length, membersSha256: membersDigest(c.members), ...why } });
  };
  // The same calls onto the same members: a case whose members another request changed meanwhile is recorded again, so each record's digest is the case's after it.
  const keyOf = (change: CaseChange) => `${change.kind}\n${(change.kind === 'create' ? change.case.members : change.added).join('\n')}\n${membersDigest(change.case.members)}`;
  let pending: { change: CaseChange; key: string; refused?: unknown } | undefined;
  const recorder: CaseChangeRecorder = {
    before: async (change) => {
      const key = keyOf(change);
      if (pending?.key === key) return void (pending.refused = undefined);
      if (pending?.refused !== undefined) await write(pending.change, pending.refused);
      pending = { change, key };
      await write(change);
    },
    refused: async (_change, error) => {
      if (pending) pending.refused = error;
    },
  };
  try {
    return await run(recorder);
  } finally {
    // Failed, or answered without the change it recorded (another request made it meanwhile: the same form sent twice).
    if (pending?.refused !== undefined) await write(pending.change, pending.refused);
  }
}

const newCase: Route = async (deps, event, site) => {
  const input = caseSchema.parse(jsonBody(event));
  const principal = who(event);
  return json(201, await withCaseRecorder(deps, site, principal, (recorder) => createCase(deps, { site, ...input, principal }, recorder)));
};

const allCases: Route = async (deps, event, site) => {
  noQuery.parse(event.queryStringParameters ?? {});
  return json(200, await listCases(deps, site));
};

function caseParam(event: HttpEvent): string {
  return z.object({ case: caseId }).parse({ case: event.pathParameters?.case }).case;
}

const getCase: Route = async (deps, event, site) => {
  noQuery.parse(event.queryStringParameters ?? {});
  return json(200, await showCase(deps, site, caseParam(event)));
};

const addCalls: Route = async (deps, event, site) => {
  const id = caseParam(event);
  const { rids } = callsSchema.parse(jsonBody(event));
  const principal = who(event);
  // A call held because it is in a held case is a hold, audited as one per call (at most a batch
  // a request; appended together, as the chain's group commit takes them).
  const audited = (holds: HoldRecord[]) => Promise.all(holds.map((h) => deps.audit({ at: deps.clock.now().toISOString(), action: 'hold', site, rid: h.rid, principal, query: { caseId: id, reason: h.reason } }))).then(() => undefined);
  const out = await withCaseRecorder(deps, site, principal, (recorder) => auditedIfRefused(() => addCaseCalls(deps, { site, caseId: id, rids, principal }, recorder), audited));
  if (out.case.held) await audited(out.holds);
  // Members of the held case still without its hold (an earlier request cut short): 202, send it again.
  return json(out.remaining ? 202 : 200, out);
};

const noErasures = () => json(501, { error: 'NotImplemented', message: 'erasure requests are not available here: this function has no erasure store' });

/** A data subject's erasure request: 201 recorded (audited `erase`), 200 the request that stands, 409 naming the hold, 404 not catalogued. */
const erase: Route = async (deps, event, site) => {
  const input = eraseSchema.parse(jsonBody(event));
  if (!deps.erasures) return noErasures();
  const principal = who(event);
  const asked = { reason: input.reason, ...(input.reference ? { reference: input.reference } : {}) };
  const out = await requestErasure({ ...deps, erasures: deps.erasures }, { site, ...input, principal }).catch(async (error: unknown) => {
    // A request withheld because the call is under legal hold (Art. 17(3)(e)) is evidence too:
    // the trail says who asked, the reference and which hold withheld it; nothing else is recorded.
    if (error instanceof UnderLegalHoldError) await deps.audit({ at: deps.clock.now().toISOString(), action: 'erase', site, rid: input.rid, principal, query: asked, detail: { status: 'refused', refused: error.message } });
    throw error;
  });
  if (out.existing) return json(200, out);
  const e = out.erasure;
  await deps.audit({ at: e.requestedAt, action: 'erase', site, rid: e.rid, principal, query: { reason: e.reason, ...(e.reference ? { reference: e.reference } : {}) }, detail: { status: e.status, call: e.call, pack: e.packKey } });
  return json(201, out);
};

/** A page of the site's erasure requests, newest first (`cursor` in the answer while more follow). */
const erasureList: Route = async (deps, event, site) => {
  const q = erasureListSchema.parse(event.queryStringParameters ?? {});
  if (!deps.erasures) return noErasures();
  return json(200, await listErasures({ erasures: deps.erasures }, site, { ...(q.limit ? { limit: Number(q.limit) } : {}), ...(q.cursor ? { cursor: q.cursor } : {}), ...(q.status ? { status: q.status } : {}) }));
};

/** The route of a request: method and the path after `/sites/{site}`. */
function routeOf(event: HttpEvent): Route | undefined {
  const method = event.requestContext.http.method.toUpperCase();
  const rest = event.rawPath.replace(/^\/sites\/[^/]+/, '').replace(/\/$/, '');
  if (rest === '/holds') return method === 'POST' ? place : method === 'GET' ? list : undefined;
  if (rest === '/holds/release') return method === 'POST' ? release : undefined;
  if (rest === '/cases') return method === 'POST' ? newCase : method === 'GET' ? allCases : undefined;
  if (/^\/cases\/[^/]+$/.test(rest)) return method === 'GET' ? getCase : undefined;
  if (/^\/cases\/[^/]+\/calls$/.test(rest)) return method === 'POST' ? addCalls : undefined;
  if (rest === '/erasures') return method === 'POST' ? erase : method === 'GET' ? erasureList : undefined;
  return undefined;
}

export function createHandler(deps: HoldsHandlerDeps): Handler<HttpEvent, HttpResult> {
  const chain = middy(async (event: HttpEvent): Promise<HttpResult> => {
    const { site } = z.object({ site: siteSchema }).parse({ site: event.pathParameters?.site });
    const route = routeOf(event);
    if (!route) return json(404, { error: 'NotFoundError', message: `no route ${event.requestContext.http.method} ${event.rawPath}` });
    return route(deps, event, site);
  }).use(httpErrors({ log: deps.log })).use(queryEncoding());
  return asHandler(chain);
}

export function loadHoldsDeps(env: Record<string, string | undefined>): HoldsHandlerDeps {
  const cfg = parseEnv(baseEnvSchema, env);
  const { s3, doc, blobs, catalogue, lean } = baseClients(cfg);
  // Holds and releases go to the site's audit chain (AUDIT_TRAIL=chain, as the stack sets it), as the console's do.
  // PACK_TIERS (as the console has it): a case's members carry their tier, read from pack and recall records.
  const tiers = cfg.PACK_TIERS ? { tiers: { packs: catalogue, recalls: new DynamoRecallStatusStore(doc, cfg.TABLE), tiers: cfg.PACK_TIERS, clock: systemClock } } : {};
  return { holds: new MirroredHoldStore(new DynamoHoldStore(doc, cfg.TABLE), blobs), erasures: new MirroredErasureStore(new DynamoErasureStore(doc, cfg.TABLE), blobs), catalogue, blobs, holder: new S3ObjectHolder(s3, cfg.BUCKET), clock: systemClock, audit: auditFromEnv(cfg, { blobs, lean }), log: jsonLog, ...tiers };
}

export const handler = lazyHandler(() => createHandler(loadHoldsDeps(process.env)));
export const createHoldsHandler = createHandler;
