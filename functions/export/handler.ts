import { z } from 'zod';
import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { InvalidInputError } from '../../core/errors.ts';
import { erasureGate } from '../../core/erasures.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import { CASE_ID_PATTERN } from '../../core/holds.ts';
import { endExport, EXPORT_ID_PATTERN, MAX_CONSOLE_EXPORT_CALLS, runExport, type ExportJob, type ExportStatus, type RunExportDeps } from '../../core/exports.ts';
import { judgeOverdue, startedDeadline, failedForTime } from '../../core/export-deadline.ts';
import { baseClients, baseEnvSchema, loadDeps, parseEnv } from '../shared/deps.ts';
import { lazyHandler, type Handler } from '../shared/lambda.ts';
import type { Log } from '../shared/log.ts';
import { zodProblems } from '../../core/zod-problems.ts';

// The console's case export, invoked asynchronously by the console function (InvocationType
// Event) with the job it checked and recorded as `running`: streams the bundle into the store
// under exports/ by multipart upload, audits it, and marks the record done (or failed, with the
// upload aborted). It takes the job first (a conditional write of startedAt and its deadline),
// so a second delivery of the same event does nothing: one export id, at most one bundle. It is
// deployed with no retry (infra/functions.ts); an invocation that fails (throws, times out, runs
// out of memory) goes to its on-failure destination, functions/export-failed, which marks the
// record failed at once; one that dies unreported is judged failed at its deadline
// (core/export-deadline.ts). It never throws for the export's own failures (they end in the
// record), only when the record is unreachable or the job is not one the console sends.

export const exportJobSchema = z
  .object({
    site: z.string().min(1),
    exportId: z.string().regex(EXPORT_ID_PATTERN),
    rids: z.array(z.string().regex(RECORDING_ID_PATTERN)).min(1).max(MAX_CONSOLE_EXPORT_CALLS),
    caseId: z.string().regex(CASE_ID_PATTERN).optional(),
    missing: z.array(z.string().regex(RECORDING_ID_PATTERN)).max(MAX_CONSOLE_EXPORT_CALLS).optional(),
    erased: z.array(z.string().regex(RECORDING_ID_PATTERN)).max(MAX_CONSOLE_EXPORT_CALLS).optional(),
    reason: z.string().min(1),
    principal: z.string().min(1),
    at: z.string().datetime(),
  })
  .strict();

const exportEnvSchema = baseEnvSchema.extend({ EXPORT_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(900), EXPORT_KEEP_DAYS: z.coerce.number().int().min(1).max(365) });

export interface ExportHandlerDeps extends RunExportDeps {
  /** The function's own timeout (EXPORT_TIMEOUT_SECONDS, the CDK value): the deadline it claims. */
  timeoutSeconds: number;
  log?: Log;
}

/** Time left before Lambda stops the invocation (its context), or undefined outside Lambda. */
function remainingMs(context: unknown): number | undefined {
  const get = (context as { getRemainingTimeInMillis?: () => number } | undefined)?.getRemainingTimeInMillis;
  return typeof get === 'function' ? get.call(context) : undefined;
}

/** How long before Lambda's timeout the watchdog ends the record: time for one conditional write. */
export const WATCHDOG_MARGIN_MS = 15_000;

/**
 * Runs the export, but ends its record as failed WATCHDOG_MARGIN_MS before Lambda's timeout
 * kills the invocation, so the officer learns of a timeout at once instead of at the deadline.
 * The export left running then finds its record ended and publishes nothing (runExport checks it
 * before completing the upload); if Lambda kills it first, the exports/ rule aborts the upload.
 */
async function withWatchdog(deps: ExportHandlerDeps, running: ExportStatus, remaining: number | undefined, run: () => Promise<ExportStatus>): Promise<ExportStatus> {
  if (remaining === undefined) return run();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<ExportStatus>((resolve, reject) => {
    timer = setTimeout(() => {
      endExport(deps.statuses, failedForTime(running, Math.ceil(deps.timeoutSeconds / 60), deps.clock.now())).then(resolve, reject);
    }, Math.max(0, remaining - WATCHDOG_MARGIN_MS));
  });
  try {
    return await Promise.race([run(), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** The job, or an InvalidInputError naming every bad field (what the on-failure destination records as the reason). */
function parseJob(raw: unknown): ExportJob {
  const parsed = exportJobSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new InvalidInputError(`invalid export job: ${zodProblems(parsed.error, '(job)').join('; ')}`, { cause: parsed.error });
}

export function createHandler(deps: ExportHandlerDeps): Handler<unknown, ExportStatus> {
  return async (raw: unknown, context?: unknown) => {
    const job: ExportJob = parseJob(raw);
    const stored = await deps.statuses.get(job.site, job.exportId);
    if (!stored) throw new Error(`no status record for export ${job.exportId} of site ${job.site}`);
    // A second delivery of a job, or one that ended (or was judged failed), does nothing again.
    if (stored.state !== 'running' || stored.startedAt !== undefined) return stored;
    const now = deps.clock.now();
    const overdue = judgeOverdue(stored, now);
    if (overdue) return endExport(deps.statuses, overdue);
    const running: ExportStatus = { ...stored, startedAt: now.toISOString(), deadline: startedDeadline(now, deps.timeoutSeconds) };
    if (!(await deps.statuses.claim(running))) return (await deps.statuses.get(job.site, job.exportId)) ?? stored;
    const out = await withWatchdog(deps, running, remainingMs(context), () => runExport(deps, job, running));
    deps.log?.(out.state === 'done' ? 'info' : 'error', `export ${out.state}`, { site: job.site, exportId: job.exportId, calls: out.calls, bytes: out.bytes, ...(out.error ? { error: out.error } : {}) });
    return out;
  };
}

export function loadExportDeps(env: Record<string, string | undefined>): ExportHandlerDeps {
  const cfg = parseEnv(exportEnvSchema, env);
  const { doc } = baseClients(cfg);
  const base = loadDeps(env);
  return {
    // An erased call is never exported (core/erasures.ts): its lookup answers ErasedError.
    catalogue: erasureGate(base.catalogue, base.erasures),
    blobs: base.blobs,
    store: base.blobs,
    statuses: new DynamoExportStatusStore(doc, cfg.TABLE),
    audit: async (event) => base.audit(event),
    clock: base.clock,
    timeoutSeconds: cfg.EXPORT_TIMEOUT_SECONDS,
    keepDays: cfg.EXPORT_KEEP_DAYS,
    log: base.log,
  };
}

export const handler = lazyHandler(() => createHandler(loadExportDeps(process.env)));
export const createExportHandler = createHandler;
