import middy from '@middy/core';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { InvalidInputError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { workflowConfig } from '../../core/workflow-config.ts';
import { judgeWindow, startedRunRecord, verifyWindow, windowReportSchema, type RunOutcome, type RunStore, type VerifyResult, type WindowRun } from '../../core/window.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { siteName, taskConfigSchema, taskErrorSchema, taskErrors } from '../shared/task.ts';
import { workflowDeps } from '../shared/workflow-deps.ts';

// The backup window's own steps (dispatch is the agent's activity, not a function):
// start — the run record, state `started`, written before the lock wait (core/fleet.ts reads it);
// verify — did the manifests the agent reported arrive; record — FULL/PARTIAL/FAILED into the
// run records, and the alert text when one is due (the workflow publishes it).

const passthrough = z.object({}).passthrough();

const windowRunSchema = z
  .object({
    lock: passthrough.optional(),
    lockError: taskErrorSchema.optional(),
    heldBy: passthrough.nullable().optional(),
    // A malformed report already failed the verify step (its error is in `error`): judge without it.
    report: z
      .unknown()
      .optional()
      .transform((value) => {
        const parsed = windowReportSchema.safeParse(value);
        return parsed.success ? parsed.data : undefined;
      }),
    verify: passthrough.optional(),
    error: taskErrorSchema.optional(),
    release: passthrough.optional(),
    releaseError: taskErrorSchema.optional(),
  })
  .passthrough();

export const windowEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('start'), site: siteName, startedAt: z.string().datetime({ offset: true }), mode: z.enum(['scheduled', 'on-demand']), execution: z.string().optional() }),
  z.object({ action: z.literal('verify'), site: siteName, report: windowReportSchema }),
  z.object({
    action: z.literal('record'),
    site: siteName,
    startedAt: z.string().datetime({ offset: true }),
    mode: z.enum(['scheduled', 'on-demand']),
    execution: z.string().optional(),
    config: taskConfigSchema,
    run: windowRunSchema,
  }),
]);

export interface RecordResult {
  outcome: RunOutcome;
  reasons: string[];
  alert?: { subject: string; message: string; severity: string };
}

export interface WindowHandlerDeps {
  blobs: Pick<BlobStore, 'head'>;
  runs: RunStore;
  clock: Clock;
  log?: Log;
}

export function createHandler(deps: WindowHandlerDeps): Handler<unknown, VerifyResult | RecordResult | { state: 'started' }> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (raw: unknown): Promise<VerifyResult | RecordResult | { state: 'started' }> => {
    const event = windowEventSchema.parse(raw);
    if (event.action === 'start') {
      await deps.runs.putRun(startedRunRecord(event.site, event.startedAt, event.mode, event.execution));
      log('info', 'window started', { site: event.site, startedAt: event.startedAt, mode: event.mode });
      return { state: 'started' };
    }
    if (event.action === 'verify') {
      if (event.report.site !== event.site) throw new InvalidInputError(`the report is from site ${event.report.site}, the window is site ${event.site}'s`);
      const result = await verifyWindow(deps, event.site, event.report);
      log('info', 'window verified', { site: event.site, ...result, missing: result.missing.slice(0, 5) });
      return result;
    }
    const run = { ...(event.run as Omit<WindowRun, 'site' | 'startedAt' | 'mode'>), site: event.site, startedAt: event.startedAt, mode: event.mode, execution: event.execution } as WindowRun;
    const { record, alert } = judgeWindow(run, deps.clock.now(), workflowConfig(event.config));
    await deps.runs.putRun(record);
    log(record.outcome === 'FULL' ? 'info' : 'warn', 'window recorded', { ...record });
    return { outcome: record.outcome, reasons: record.reasons, ...(alert ? { alert: { subject: alert.subject, message: alert.message, severity: alert.severity } } : {}) };
  }).use(taskErrors({ log, fn: 'window' }));
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler(workflowDeps()));
export const createWindowHandler = createHandler;
