import { z } from 'zod';
import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import { CASE_ID_PATTERN } from '../../core/holds.ts';
import { EXPORT_ID_PATTERN, MAX_CONSOLE_EXPORT_CALLS, runExport, type ExportJob, type ExportStatus, type RunExportDeps } from '../../core/exports.ts';
import { baseClients, baseEnvSchema, loadDeps, parseEnv } from '../shared/deps.ts';
import { lazyHandler, type Handler } from '../shared/lambda.ts';
import type { Log } from '../shared/log.ts';

// The console's case export, invoked asynchronously by the console function (InvocationType
// Event) with the job it checked and recorded as `running`: streams the bundle into the store
// under exports/ by multipart upload, audits it, and marks the record done (or failed, with the
// upload aborted). Lambda retries an asynchronous invocation that throws; this one never throws
// for the export's own failures (they end in the record), only when the record is unreachable.

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

export interface ExportHandlerDeps extends RunExportDeps {
  log?: Log;
}

export function createHandler(deps: ExportHandlerDeps): Handler<unknown, ExportStatus> {
  return async (raw: unknown) => {
    const job: ExportJob = exportJobSchema.parse(raw);
    const running = await deps.statuses.get(job.site, job.exportId);
    if (!running) throw new Error(`no status record for export ${job.exportId} of site ${job.site}`);
    // A retried invocation of an export that already ended does nothing again.
    if (running.state !== 'running') return running;
    const out = await runExport(deps, job, running);
    deps.log?.(out.state === 'done' ? 'info' : 'error', `export ${out.state}`, { site: job.site, exportId: job.exportId, calls: out.calls, bytes: out.bytes, ...(out.error ? { error: out.error } : {}) });
    return out;
  };
}

export function loadExportDeps(env: Record<string, string | undefined>): ExportHandlerDeps {
  const cfg = parseEnv(baseEnvSchema, env);
  const { doc } = baseClients(cfg);
  const base = loadDeps(env);
  return {
    catalogue: base.catalogue,
    blobs: base.blobs,
    store: base.blobs,
    statuses: new DynamoExportStatusStore(doc, cfg.TABLE),
    audit: async (event) => base.audit(event),
    clock: base.clock,
    log: base.log,
  };
}

export const handler = lazyHandler(() => createHandler(loadExportDeps(process.env)));
export const createExportHandler = createHandler;
