import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { caseCallsPresent, checkExportRequest, ERASED_AT_REQUEST, MISSING_FROM_ARCHIVE } from '../../core/case-export.ts';
import type { Clock } from '../../core/clock.ts';
import { ErasedError, InvalidInputError, NotFoundError } from '../../core/errors.ts';
import type { ErasureStore } from '../../core/erasure-items.ts';
import { judgeOverdue, requestedDeadline } from '../../core/export-deadline.ts';
import {
  endExport,
  EXPORT_ID_PATTERN,
  exportKey,
  MAX_CONSOLE_EXPORT_CALLS,
  newExportId,
  type ExportStarter,
  type ExportStatus,
  type ExportStatusStore,
} from '../../core/exports.ts';
import type { HoldStore } from '../../core/hold-items.ts';
import { CASE_ID_PATTERN } from '../../core/holds.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import type { CatalogueStore } from '../../core/ports.ts';
import type { Audit } from '../shared/audit.ts';
import { json, jsonBody, type HttpEvent, type HttpResult } from '../shared/http.ts';

// The console's case export routes. POST checks everything a client can get wrong (the body,
// the case, every call) and answers 202 at once: the export itself runs in the export function,
// started asynchronously, because a large case outlives an API request (30 s). GET answers the
// status record and, once the bundle is complete, a download link presigned for 300 s by this
// function's role, which may read the exports/ prefix and nothing else of the bundle store.

/** Longest a bundle download link lives. */
export const EXPORT_LINK_SECONDS = 300;

/** Presigns a GET of a bundle (`exports/…`) that downloads as `filename`. */
export type BundleLinkMinter = (key: string, filename: string, expiresInSeconds: number) => Promise<string>;

export interface ConsoleExportDeps {
  statuses: ExportStatusStore;
  /** Absent where no export function is deployed: POST answers 501 NotImplemented. */
  starter?: ExportStarter;
  links: BundleLinkMinter;
  /** The export function's timeout (its CDK value): the record's deadline (core/export-deadline.ts). Default 900. */
  timeoutSeconds?: number;
  /** Days a bundle is kept (the exports/ lifecycle rule): the record's TTL. Default 7. */
  keepDays?: number;
  /** 8 hex digits for a new export id (tests fix it). */
  random?: () => string;
}

const rid = z.string().regex(RECORDING_ID_PATTERN, 'must be a recording id (r + 23 hex digits)');
const text = z.string({ required_error: 'is required', invalid_type_error: 'must be a string' }).trim().min(3, 'must be at least 3 characters (why the calls leave the archive)').max(1000, 'must be at most 1000 characters');
const startSchema = z
  .object({
    caseId: z.string().regex(CASE_ID_PATTERN, 'must be a case id: 1-64 letters, digits, dots, dashes or underscores').optional(),
    rids: z.array(rid).min(1, 'must list at least one recording id').max(MAX_CONSOLE_EXPORT_CALLS, `at most ${MAX_CONSOLE_EXPORT_CALLS} recordings per export`).optional(),
    reason: text,
  })
  .strict()
  .refine((v) => (v.caseId === undefined) !== (v.rids === undefined), { message: 'give exactly one of caseId or rids', path: ['rids'] });

interface Context {
  exports?: ConsoleExportDeps;
  holds: Pick<HoldStore, 'getCase'>;
  catalogue: Pick<CatalogueStore, 'getRecording'>;
  clock: Clock;
  /** The site's audit trail: every link to a finished bundle handed out is a download of its calls. */
  audit: Audit;
  /** Erasure requests: no link to a bundle holding a call erased since it was made. */
  erasures?: Pick<ErasureStore, 'erasedAmong'>;
}

const notDeployed = () => json(501, { error: 'NotImplemented', message: 'case export is not deployed here (no export function)' });

/**
 * The calls of the request: the case's members the archive still holds (those purged since are
 * named in the bundle's custody report), or the listed ones, every one of which must exist.
 */
async function callsOf(ctx: Context, site: string, input: { caseId?: string; rids?: string[] }): Promise<{ rids: string[]; missing: string[]; erased?: string[] }> {
  if (input.caseId !== undefined) {
    const record = await ctx.holds.getCase(site, input.caseId);
    if (!record) throw new NotFoundError(`caseId: no case ${input.caseId} in site ${site}`);
    if (record.members.length === 0) throw new InvalidInputError(`caseId: case ${input.caseId} has no calls to export`);
    if (record.members.length > MAX_CONSOLE_EXPORT_CALLS) throw new InvalidInputError(`caseId: case ${input.caseId} has ${record.members.length} calls; the console exports at most ${MAX_CONSOLE_EXPORT_CALLS} (use ferry case export)`);
    const { present, missing, erased } = await caseCallsPresent(ctx.catalogue, site, record.members);
    if (present.length === 0) throw new NotFoundError(`caseId: none of the ${record.members.length} call(s) of case ${input.caseId} is in the archive any more (${MISSING_FROM_ARCHIVE}${erased.length ? `; ${erased.length} ${ERASED_AT_REQUEST}` : ''})`);
    return { rids: present, missing, erased };
  }
  const rids = input.rids ?? [];
  for (const r of rids) if (!(await ctx.catalogue.getRecording(site, r))) throw new NotFoundError(`rids: no recording ${r} in site ${site}`);
  return { rids, missing: [] };
}

export async function startExport(ctx: Context, event: HttpEvent, site: string, officer: string): Promise<HttpResult> {
  const deps = ctx.exports;
  if (!deps?.starter) return notDeployed();
  const starter = deps.starter;
  const input = startSchema.parse(jsonBody(event));
  const { rids, missing, erased = [] } = await callsOf(ctx, site, input);
  const at = ctx.clock.now();
  checkExportRequest({ site, rids, caseId: input.caseId, reason: input.reason, principal: officer, at });
  const exportId = newExportId(at, deps.random ?? (() => randomBytes(4).toString('hex')));
  const status: ExportStatus = {
    site,
    exportId,
    state: 'running',
    requestedBy: officer,
    requestedAt: at.toISOString(),
    ...(input.caseId ? { caseId: input.caseId } : {}),
    reason: input.reason,
    calls: rids.length,
    rids,
    key: exportKey(site, exportId),
    bytes: 0,
    deadline: requestedDeadline(at, deps.timeoutSeconds ?? 900),
    ttl: Math.floor(at.getTime() / 1000) + (deps.keepDays ?? 7) * 86_400,
  };
  await deps.statuses.create(status);
  try {
    await starter.start({ site, exportId, rids, ...(input.caseId ? { caseId: input.caseId } : {}), ...(missing.length ? { missing } : {}), ...(erased.length ? { erased } : {}), reason: input.reason, principal: officer, at: status.requestedAt });
  } catch (error) {
    await deps.statuses.finish({ ...status, state: 'failed', error: 'the export could not be started', finishedAt: ctx.clock.now().toISOString() });
    throw error;
  }
  // Erased calls of the case are left out and said so here, as in the bundle's custody report.
  return json(202, { site, exportId, state: 'running', calls: rids.length, ...(input.caseId ? { caseId: input.caseId } : {}), ...(erased.length ? { erased } : {}) });
}

const statusParams = z.object({ exportId: z.string().regex(EXPORT_ID_PATTERN, 'must be an export id (exp-{yyyymmddThhmmssZ}-{8 hex})'), query: z.object({}).strict('unknown parameter (this route takes none)') });

/**
 * The record as the officer should see it: a running export past its deadline is judged failed
 * and that is persisted (conditionally: if the export ended meanwhile, its own end is answered).
 */
async function judged(statuses: ExportStatusStore, status: ExportStatus | undefined, now: Date): Promise<ExportStatus | undefined> {
  const failed = status && judgeOverdue(status, now);
  if (!failed) return status;
  return endExport(statuses, failed);
}

export async function exportStatus(ctx: Context, event: HttpEvent, site: string, rawId: string, officer: string): Promise<HttpResult> {
  const deps = ctx.exports;
  if (!deps) return notDeployed();
  const { exportId } = statusParams.parse({ exportId: rawId, query: event.queryStringParameters ?? {} });
  const status = await judged(deps.statuses, await deps.statuses.get(site, exportId), ctx.clock.now());
  if (!status) throw new NotFoundError(`no export ${exportId} in site ${site}`);
  const answer = {
    site,
    exportId,
    state: status.state,
    calls: status.calls,
    bytes: status.bytes,
    ...(status.caseId ? { caseId: status.caseId } : {}),
    reason: status.reason,
    requestedBy: status.requestedBy,
    requestedAt: status.requestedAt,
    ...(status.finishedAt ? { finishedAt: status.finishedAt } : {}),
    ...(status.sha256 ? { sha256: status.sha256 } : {}),
    ...(status.error ? { error: status.error } : {}),
  };
  if (status.state !== 'done') return json(200, answer);
  // The bundle is a copy of its calls: one erased since (the request made after the export) is
  // out of reach there too. The bundle itself stays under its Object Lock until the exports/
  // lifecycle rule expires it; no link to it is handed out meanwhile.
  const erased = status.rids?.length && ctx.erasures ? [...(await ctx.erasures.erasedAmong(site, status.rids))] : [];
  if (erased.length) {
    throw new ErasedError(`export ${exportId} holds call(s) ${erased.join(', ')} erased at a data subject's request since it was made (\`ferry erasures list\` names who asked and when): no link to it is handed out; the bundle expires by itself at the end of its retention. Export the case again: erased calls are left out`);
  }
  // A link to the bundle is a copy of every call in it, whoever asked for the export: recorded
  // (and durable) before the link is handed out, as a download of one call is.
  await ctx.audit({ at: ctx.clock.now().toISOString(), action: 'download', site, principal: officer, detail: { exportId, bundle: status.key, calls: status.calls, requestedBy: status.requestedBy, ...(status.sha256 ? { sha256: status.sha256 } : {}), ...(status.caseId ? { caseId: status.caseId } : {}) } });
  const filename = `${status.root ?? exportId}.tar`;
  const url = await deps.links(status.key, filename, EXPORT_LINK_SECONDS);
  const expiresAt = new Date(ctx.clock.now().getTime() + EXPORT_LINK_SECONDS * 1000).toISOString();
  return json(200, { ...answer, filename, url, expiresInSeconds: EXPORT_LINK_SECONDS, expiresAt });
}
