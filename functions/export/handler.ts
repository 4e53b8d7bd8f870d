import { z } from 'zod';
import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import { CASE_ID_PATTERN } from '../../core/holds.ts';
import { EXPORT_ID_PATTERN, MAX_CONSOLE_EXPORT_CALLS, runExport, type ExportJob, type ExportStatus, type RunExportDeps } from '../../core/exports.ts';
import { judgeOverdue, startedDeadline } from '../../core/export-deadline.ts';
import { baseClients, baseEnvSchema, loadDeps, parseEnv } from '../shared/deps.ts';
import { lazyHandler, type Handler } from '../shared/lambda.ts';
import type { Log } from '../shared/log.ts';

// The console's case export, invoked asynchronously by the console function (InvocationType
// Event) with the job it checked and recorded as `running`: streams the bundle into the store
// under exports/ by multipart upload, audits it, and marks the record done (or failed, with the
// upload aborted). It takes the job first (a conditional write of startedAt and its deadline),
// so a second delivery of the same event does nothing: one export id, at most one bundle. It is
// deployed with no retry (infra/functions.ts); an invocation that dies leaves the record running
// until its deadline, when the console judges it failed (core/export-deadline.ts). It never
// throws for the export's own failures (they end in the record), only when the record is unreachable.

export const exportJobSchema = z
  .object({
    site: z.string().min(1),
    exportId: z.string().regex(EXPORT_ID_PATTERN),
    rids: z.array(z.string().regex(RECORDING_ID_PATTERN)).min(1).max(MAX_CONSOLE_EXPORT_CALLS),
    caseId: z.string().regex(CASE_ID_PATTERN).optional(),
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

export function createHandler(deps: ExportHandlerDeps): Handler<unknown, ExportStatus> {
  return async (raw: unknown) => {
    const job: ExportJob = exportJobSchema.parse(raw);
    const stored = await deps.statuses.get(job.site, job.exportId);
    if (!stored) throw new Error(`no status record for export ${job.exportId} of site ${job.site}`);
    // A second delivery of a job, or one that ended (or was judged failed), does nothing again.
    if (stored.state !== 'running' || stored.startedAt !== undefined) return stored;
    const now = deps.clock.now();
    const overdue = judgeOverdue(stored, now);
    if (overdue) return (await deps.statuses.finish(overdue)) ? overdue : ((await deps.statuses.get(job.site, job.exportId)) ?? overdue);
    const running: ExportStatus = { ...stored, startedAt: now.toISOString(), deadline: startedDeadline(now, deps.timeoutSeconds) };
    if (!(await deps.statuses.claim(running))) return (await deps.statuses.get(job.site, job.exportId)) ?? stored;
    const out = await runExport(deps, job, running);
    deps.log?.(out.state === 'done' ? 'info' : 'error', `export ${out.state}`, { site: job.site, exportId: job.exportId, calls: out.calls, bytes: out.bytes, ...(out.error ? { error: out.error } : {}) });
    return out;
  };
}

export function loadExportDeps(env: Record<string, string | undefined>): ExportHandlerDeps {
  const cfg = parseEnv(exportEnvSchema, env);
  const { doc } = baseClients(cfg);
  const base = loadDeps(env);
  return {
    catalogue: base.catalogue,
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
