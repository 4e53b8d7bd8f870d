import { EARLIEST_CALL_MS, EARLIEST_CALL_TIME } from './call-time.ts';
import type { MetadataInput } from './metadata.ts';
import { timeZoneOffsetMs } from './time-format.ts';

// A call's times once its fields are read: the one of start, end and duration that is missing,
// a call across the autumn change, a start after its file was written, a clock that was not set.

const HOUR_MS = 3_600_000;

/**
 * A call's start and end of the hour the clocks go back are read one by one (each the occurrence
 * its file's time points to): a call that ran across the change can come out ending before it
 * started. Then the reading that puts the end after the start is the call's: the end in the later
 * occurrence, or else the start in the earlier one. Returns the fixed times, or undefined.
 */
function acrossTheChange(start: number, end: number, timeZone: string): { start: number; end: number } | undefined {
  if (!(end < start) || start - end > HOUR_MS) return undefined;
  const wall = (t: number) => t + timeZoneOffsetMs(t, timeZone);
  if (wall(end + HOUR_MS) === wall(end) && end + HOUR_MS >= start) return { start, end: end + HOUR_MS };
  if (wall(start - HOUR_MS) === wall(start) && start - HOUR_MS <= end) return { start: start - HOUR_MS, end };
  return undefined;
}

/** Any two of start, end and duration give the third; with neither time, the file's mtime is the end. */
export function deriveTimes(meta: Record<string, string | number>, input: MetadataInput, issues: string[], timeZone = 'UTC'): void {
  const ms = (k: 'start' | 'end') => (typeof meta[k] === 'string' ? Date.parse(meta[k]) : undefined);
  const duration = typeof meta.durationSec === 'number' ? meta.durationSec : undefined;
  if (meta.start === undefined && meta.end === undefined && !Number.isNaN(input.mtime.getTime())) {
    meta.end = input.mtime.toISOString();
    issues.push(`${input.fileName}: no start or end time; end taken from the file's mtime`);
  }
  let start = ms('start');
  let end = ms('end');
  const fixed = start !== undefined && end !== undefined ? acrossTheChange(start, end, timeZone) : undefined;
  if (fixed) {
    [start, end] = [fixed.start, fixed.end];
    [meta.start, meta.end] = [new Date(start).toISOString(), new Date(end).toISOString()];
    issues.push(`${input.fileName}: the call ran across the hour the clocks went back (${timeZone}): read as ${meta.start} to ${meta.end}, so that it ends after it starts`);
  }
  if (start !== undefined && end !== undefined) {
    const apart = (end - start) / 1000;
    if (end < start) issues.push(`${input.fileName}: end ${meta.end} is before start ${meta.start}`);
    else if (duration === undefined) meta.durationSec = apart;
    else if (Math.abs(duration - apart) > Math.max(2, apart * 0.01)) {
      // The recorder's own start and end win over a duration in another unit (milliseconds) or of another leg.
      issues.push(`${input.fileName}: duration ${duration} s disagrees with its start and end (${apart} s apart): the times are kept`);
      meta.durationSec = apart;
    }
  } else if (duration !== undefined && start !== undefined) {
    meta.end = new Date(start + Math.round(duration * 1000)).toISOString();
  } else if (duration !== undefined && end !== undefined) {
    meta.start = new Date(end - Math.round(duration * 1000)).toISOString();
  }
}

/** How far a call's start may be after its file's last write before the two clocks are said to disagree. */
const START_AFTER_FILE_SLACK_MS = 5 * 60_000;

/**
 * A call cannot start after its recording was last written: when it does by more than a few
 * minutes, the recorder's clock or the zone its local times are read in is wrong (a Kolkata
 * recorder's local times read as UTC start 5 h 30 late). Named, not changed: which clock is right
 * is for the administrator to say.
 */
export function startAfterFile(meta: Record<string, string | number>, input: MetadataInput, timeZone: string, issues: string[]): void {
  const start = typeof meta.start === 'string' ? Date.parse(meta.start) : Number.NaN;
  const written = input.mtime.getTime();
  if (!(written >= EARLIEST_CALL_MS) || !(start - written > START_AFTER_FILE_SLACK_MS)) return;
  const hours = ((start - written) / 3_600_000).toFixed(1);
  issues.push(
    `${input.fileName}: start ${meta.start} is ${hours} h after the file was last written (${input.mtime.toISOString()}): ` +
      `the recorder's clock or metadata.timezone (${timeZone}) is wrong`,
  );
}

/** A call dated before EARLIEST_CALL_TIME is catalogued at when the agent read it, and the time it had is named. */
export function unsetClock(meta: Record<string, string | number>, input: MetadataInput, issues: string[]): void {
  const given = typeof meta.start === 'string' ? meta.start : typeof meta.end === 'string' ? meta.end : undefined;
  const ms = given === undefined ? Number.NaN : Date.parse(given);
  if (!(ms < EARLIEST_CALL_MS)) return;
  const readAt = input.readAt ?? new Date();
  const duration = typeof meta.durationSec === 'number' ? meta.durationSec : undefined;
  meta.start = readAt.toISOString();
  if (duration === undefined) delete meta.end;
  else meta.end = new Date(readAt.getTime() + Math.round(duration * 1000)).toISOString();
  issues.push(
    `${input.fileName}: its time ${given} is before ${EARLIEST_CALL_TIME.slice(0, 4)}: the recorder's clock was not set; ` +
      `catalogued at ${meta.start}, when the agent read it (retention counts from then)`,
  );
}
