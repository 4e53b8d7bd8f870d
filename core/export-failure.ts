import { z } from 'zod';
import { EXPORT_ID_PATTERN, type ExportStatus } from './exports.ts';

// What ends a console export whose invocation died. The export function is invoked
// asynchronously with no retry; when an invocation fails (its handler throws, it times out, its
// runtime exits or runs out of memory, or its event waits too long in Lambda's queue) Lambda
// sends the invocation record to the function's on-failure destination (infra/functions.ts),
// which marks the record `failed` at once with the reason read here, instead of the officer
// waiting for the deadline (core/export-deadline.ts). The write is conditional on the record
// still running: a record already done or failed is never overwritten.

/**
 * The part of Lambda's invocation record (version 1.0) the destination reads. The record carries
 * more (timestamp, functionArn, approximateInvokeCount, statusCode, executedVersion); unknown
 * fields pass, so a field Lambda adds does not fail the destination.
 */
export const invocationRecordSchema = z.object({
  requestContext: z.object({ condition: z.string().min(1), requestId: z.string().optional() }),
  requestPayload: z.object({ site: z.string().min(1), exportId: z.string().regex(EXPORT_ID_PATTERN) }),
  responseContext: z.object({ functionError: z.string().optional() }).optional(),
  responsePayload: z.unknown().optional(),
});

export type InvocationRecord = z.infer<typeof invocationRecordSchema>;

/** Lambda's conditions for a failed asynchronous invocation. */
const EVENT_AGE_EXCEEDED = 'EventAgeExceeded';

function errorOf(payload: unknown): { errorType?: string; errorMessage?: string } {
  if (!payload || typeof payload !== 'object') return typeof payload === 'string' ? { errorMessage: payload } : {};
  const p = payload as Record<string, unknown>;
  return {
    ...(typeof p.errorType === 'string' ? { errorType: p.errorType } : {}),
    ...(typeof p.errorMessage === 'string' ? { errorMessage: p.errorMessage } : {}),
  };
}

/** The reason an officer reads for a failed invocation, from what Lambda reported. */
export function invocationFailureReason(record: InvocationRecord): string {
  if (record.requestContext.condition === EVENT_AGE_EXCEEDED) return 'the export function did not start in time (its request waited too long); request it again';
  const { errorType = '', errorMessage = '' } = errorOf(record.responsePayload);
  // Lambda reports an out-of-memory end as Runtime.OutOfMemory, or as the runtime killed (signal: killed).
  if (errorType === 'Runtime.OutOfMemory' || /signal: killed|out of memory/i.test(errorMessage)) return 'the export function ran out of memory; request it again, or export fewer calls at a time';
  if (/timed ?out/i.test(errorType) || /Task timed out after/i.test(errorMessage)) return 'the export function timed out; request it again, or export fewer calls at a time';
  const message = errorMessage.trim() || errorType || record.responseContext?.functionError || record.requestContext.condition;
  return `the export function failed: ${message.length > 500 ? `${message.slice(0, 500)}…` : message}`;
}

/** The `failed` record of a running export whose invocation failed; undefined when it already ended. */
export function failedByInvocation(status: ExportStatus, record: InvocationRecord, now: Date): ExportStatus | undefined {
  if (status.state !== 'running') return undefined;
  return { ...status, state: 'failed', error: invocationFailureReason(record), finishedAt: now.toISOString() };
}
