import { checkAtText } from './at-time.ts';
import { compileTimeFormat, formatIsoWithOffset, timeZoneOffsetMs, type WallTimeNote } from '../core/time-format.ts';

// `calls search --tz ZONE`: the times of a search in a site's own zone, for an officer elsewhere
// (in London, asked for "the call at 01:30 New York time"): the starts shown there with their
// offsets, and a --from/--to without an offset read there.

/** A call's start as the table shows it: UTC (`…Z`), or with --tz the wall time there with its offset (`2026-11-01 01:30:00-05:00`). */
export function startText(start: string, tz?: string): string {
  if (!tz) return start.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const at = new Date(start);
  return Number.isNaN(at.getTime()) ? start : formatIsoWithOffset(new Date(Math.floor(at.getTime() / 1000) * 1000), tz).replace('T', ' ');
}

/**
 * --from/--to read in --tz: a time with its own offset is taken as it says; one without is the
 * wall time there. In the hour the clocks go back (shown twice) --from is its first occurrence
 * and --to its second, so that a range within it holds the calls of both, and stderr says so;
 * in the hour the clocks skip, --from is read with the offset after the change and --to moved
 * forward (both an hour wider than the wall time), said on stderr too.
 */
export function searchTimeIn(text: string, tz: string, which: 'from' | 'to'): string {
  if (/(z|[+-]\d{2}:?\d{2})$/i.test(text.trim()) || text.trim().toLowerCase() === 'now') return checkAtText(text, undefined, undefined, `--${which}`);
  const note: WallTimeNote = {};
  const ms = ISO_TIME.parse(text.trim(), tz, which === 'to' ? Number.POSITIVE_INFINITY : undefined, note);
  if (ms === undefined) return checkAtText(text, undefined, undefined, `--${which}`);
  // A --from in the hour the clocks skip is read with the offset after the change (an hour earlier
  // than moved forward): the calls from the change on (03:10 after 02:00 became 03:00) are found.
  const DAY = 86_400_000;
  const at = new Date(note.kind === 'skipped' && which === 'from' ? ms + timeZoneOffsetMs(ms - DAY, tz) - timeZoneOffsetMs(ms + DAY, tz) : ms);
  if (note.kind === 'ambiguous') process.stderr.write(`ferry: --${which} ${text.trim()} happened twice in ${tz} (the clocks went back): read as ${formatIsoWithOffset(at, tz)}, its ${which === 'to' ? 'second' : 'first'} occurrence\n`);
  if (note.kind === 'skipped') process.stderr.write(`ferry: --${which} ${text.trim()} never showed in ${tz} (the clocks went forward over it): read as ${formatIsoWithOffset(at, tz)}\n`);
  return at.toISOString();
}

const ISO_TIME = (() => {
  const compiled = compileTimeFormat('iso');
  if (!compiled.ok) throw new Error(compiled.error);
  return compiled;
})();

