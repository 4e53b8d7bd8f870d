import type { Cron } from './fleet-cron.ts';
import type { RunRecord } from './window.ts';

// A site's backup windows as the fleet view judges them: one that should have started and has no
// record (missed), one that started and has not finished (stuck).

/** Default of a site's `windowGraceMinutes`: how long after its scheduled time a window may take to start before it counts as not run. */
export const WINDOW_GRACE_MINUTES = 60;
/** Default of a site's `windowMaxMinutes`: how long a started window may take (lock wait, job, record) before it counts as stuck. */
export const WINDOW_MAX_MINUTES = 6 * 60;

/**
 * The scheduled time of a window that should have started by now (its time plus the grace) and
 * has no record at or after it. The window writes its record as it starts, so a window that is
 * waiting on the site lock (a purge holds it; scheduled windows wait up to 4 h) has a record and
 * is not missed, however long it waits.
 */
export function missedWindow(cron: Cron, lastRun: Pick<RunRecord, 'startedAt'> | undefined, now: Date, graceMinutes = WINDOW_GRACE_MINUTES): Date | undefined {
  const due = cron.previous(new Date(now.getTime() - graceMinutes * 60_000));
  if (!due) return undefined;
  // A run started from a minute before the schedule on counts (EventBridge may fire early by seconds).
  if (lastRun && Date.parse(lastRun.startedAt) >= due.getTime() - 60_000) return undefined;
  return due;
}

/** The start of a window whose record says it started and that has not finished within `maxMinutes`. */
export function stuckWindow(lastRun: RunRecord | undefined, now: Date, maxMinutes = WINDOW_MAX_MINUTES): string | undefined {
  if (!lastRun || (lastRun.state ?? 'finished') === 'finished') return undefined;
  return now.getTime() - Date.parse(lastRun.startedAt) > maxMinutes * 60_000 ? lastRun.startedAt : undefined;
}
