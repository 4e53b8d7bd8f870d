import { DynamoExportStatusStore } from '../../adapters/dynamo-exports.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import { failedByInvocation, invocationRecordSchema } from '../../core/export-failure.ts';
import type { ExportStatus, ExportStatusStore } from '../../core/exports.ts';
import { baseClients, baseEnvSchema, parseEnv } from '../shared/deps.ts';
import { lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { zodProblems } from '../../core/zod-problems.ts';

// The export function's on-failure destination (infra/functions.ts): Lambda invokes it with the
// invocation record of an export invocation that failed (an unhandled error, a timeout, the
// runtime's exit or out of memory, an event dropped for its age), and it marks that export's
// record `failed` at once with the reason (core/export-failure.ts). The write is conditional on
// the record still running, so a record already done or failed stays as it is. A record that
// does not name an export (not a job the console sent) is logged and dropped: retrying it would
// not make it one. A store error throws, and Lambda retries this function's invocation.

export interface ExportFailedDeps {
  statuses: Pick<ExportStatusStore, 'get' | 'finish'>;
  clock: Clock;
  log?: Log;
}

/** What the destination did: the record it wrote, or why it wrote none. */
export type ExportFailedResult = { marked: ExportStatus } | { skipped: string };

export function createHandler(deps: ExportFailedDeps): Handler<unknown, ExportFailedResult> {
  return async (raw: unknown) => {
    const parsed = invocationRecordSchema.safeParse(raw);
    if (!parsed.success) {
      const problems = zodProblems(parsed.error, '(record)');
      deps.log?.('error', 'not an export invocation record; dropped', { problems });
      return { skipped: `not an export invocation record (${problems.join('; ')})` };
    }
    const record = parsed.data;
    const { site, exportId } = record.requestPayload;
    const stored = await deps.statuses.get(site, exportId);
    const failed = stored && failedByInvocation(stored, record, deps.clock.now());
    if (!failed) {
      const skipped = stored ? `export ${exportId} already ${stored.state}` : `no export ${exportId} in site ${site}`;
      deps.log?.('info', 'failed invocation of an export that is not running; nothing to mark', { site, exportId, skipped });
      return { skipped };
    }
    if (!(await deps.statuses.finish(failed))) {
      const now = await deps.statuses.get(site, exportId);
      return { skipped: `export ${exportId} ended meanwhile (${now?.state ?? 'removed'})` };
    }
    deps.log?.('error', 'export failed', { site, exportId, condition: record.requestContext.condition, error: failed.error });
    return { marked: failed };
  };
}

export function loadExportFailedDeps(env: Record<string, string | undefined>): ExportFailedDeps {
  const cfg = parseEnv(baseEnvSchema, env);
  const { doc } = baseClients(cfg);
  return { statuses: new DynamoExportStatusStore(doc, cfg.TABLE), clock: systemClock, log: jsonLog };
}

export const handler = lazyHandler(() => createHandler(loadExportFailedDeps(process.env)));
export const createExportFailedHandler = createHandler;
