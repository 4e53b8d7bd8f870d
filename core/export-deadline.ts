import type { ExportStatus } from './exports.ts';

// When a console export counts as dead. The export function runs asynchronously; an invocation
// that fails is reported to its on-failure destination, which ends the record at once
// (core/export-failure.ts), but a record Lambda could not deliver, or a destination that failed,
// would leave it saying `running` forever. Each record therefore carries a deadline,
// and a read past it judges the export `failed` and persists that with a conditional write (the
// same one a finishing export uses: whichever ends the record first wins, the other sees false).
//
// Deadlines: the console writes requestedAt + the longest the event may wait in Lambda's queue
// (the function's maxEventAge, after which Lambda drops it) + the function's timeout + a margin;
// the export function, when it takes the job, tightens it to startedAt + timeout + margin. An
// export past its deadline never publishes: it checks its record before completing the upload.

/** Longest an export's event may wait for a free execution environment (the function's maxEventAge). */
export const EXPORT_MAX_EVENT_AGE_SECONDS = 300;
/** Slack for clock skew and the status write after the function's timeout. */
export const EXPORT_DEADLINE_MARGIN_SECONDS = 120;

/** The deadline of an export requested at `requestedAt` and not yet taken by the export function. */
export function requestedDeadline(requestedAt: Date, timeoutSeconds: number): string {
  return new Date(requestedAt.getTime() + (EXPORT_MAX_EVENT_AGE_SECONDS + timeoutSeconds + EXPORT_DEADLINE_MARGIN_SECONDS) * 1000).toISOString();
}

/** The deadline of an export the function started at `startedAt`. */
export function startedDeadline(startedAt: Date, timeoutSeconds: number): string {
  return new Date(startedAt.getTime() + (timeoutSeconds + EXPORT_DEADLINE_MARGIN_SECONDS) * 1000).toISOString();
}

/** The record's deadline; a record written before deadlines existed gets the longest one (15 min timeout). */
export function deadlineOf(status: ExportStatus): Date {
  return new Date(status.deadline ?? requestedDeadline(new Date(status.requestedAt), 900));
}

/** True when a running export has outlived its deadline. */
export function isOverdue(status: ExportStatus, now: Date): boolean {
  return status.state === 'running' && now.getTime() > deadlineOf(status).getTime();
}

/** The `failed` record of an overdue export, with the reason an officer reads; undefined when not overdue. */
export function judgeOverdue(status: ExportStatus, now: Date): ExportStatus | undefined {
  if (!isOverdue(status, now)) return undefined;
  const from = new Date(status.startedAt ?? status.requestedAt).getTime();
  return failedForTime(status, Math.ceil((deadlineOf(status).getTime() - from) / 60_000), now);
}

/** The `failed` record of an export that did not finish within `minutes`, with the reason an officer reads. */
export function failedForTime(status: ExportStatus, minutes: number, now: Date): ExportStatus {
  return { ...status, state: 'failed', error: `the export did not finish within ${minutes} minutes; request it again`, finishedAt: now.toISOString() };
}
