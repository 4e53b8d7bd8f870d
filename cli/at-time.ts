import { InvalidInputError } from '../core/errors.ts';

// `--at T` of the restore commands (and `--from`/`--to` of `calls search`): an ISO 8601 date-time with a zone, or `now`. A time without a
// zone means another instant on every machine (and at every site), so it is refused, and the
// refusal shows what to type: the same time with this machine's offset at that time (daylight
// saving), or UTC.

const ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;
const LOCAL_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?$/;

function offsetText(minutes: number): string {
  if (minutes === 0) return 'Z';
  const a = Math.abs(minutes);
  return `${minutes > 0 ? '+' : '-'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** This machine's offset from UTC (minutes east) at a local date-time `YYYY-MM-DDTHH:MM[:SS]`. */
function localOffsetAt(local: string): number {
  const here = new Date(local);
  return Number.isNaN(here.getTime()) ? 0 : -here.getTimezoneOffset();
}

/**
 * Throws InvalidInputError naming what is wrong with `at` (no zone, not a time), with examples;
 * returns it trimmed otherwise (`now`: this machine's time, in UTC). `offsetAt`: this machine's offset at a local time (tests).
 * `option`: the option's name, as the refusal gives it.
 */
export function checkAtText(at: string, offsetAt: (local: string) => number = localOffsetAt, now: () => Date = () => new Date(), option = '--at'): string {
  const text = at.trim();
  // `now` as `restore tree --at` takes it: this machine's time, sent with its zone.
  if (text.toLowerCase() === 'now') return now().toISOString();
  if (ZONE.test(text)) return canonicalAt(text, at, option);
  const m = LOCAL_TIME.exec(text);
  if (!m) throw new InvalidInputError(notATime(option, at));
  const local = `${m[1]}T${m[2] ?? '00:00:00'}`;
  const mine = offsetText(offsetAt(local));
  throw new InvalidInputError(`${option} needs a time zone, e.g. ${local}${mine === 'Z' ? 'Z (UTC, this machine\'s zone)' : `${mine} (this machine's offset then) or ${local}Z (UTC)`}`);
}

const notATime = (option: string, given: string) => `${option} ${JSON.stringify(given)} is not a time: give an ISO 8601 date-time with a zone, e.g. 2026-03-01T09:30:00Z (UTC) or 2026-03-01T10:30:00+01:00, or now`;

/**
 * A time with a zone in the one form the API takes (`2026-03-01T09:30:00Z`,
 * `2026-03-01T10:30:00+01:00`): a lower-case `z`, a space before the offset or between date and
 * time, and an offset without its colon are the same instant and are written so; anything else
 * that does not read as a time is refused here, naming it, rather than by the API.
 */
function canonicalAt(text: string, given: string, option: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:(z)|([+-])(\d{2}):?(\d{2}))$/i.exec(text);
  const canonical = m ? `${m[1]}T${m[2]!.length === 5 ? `${m[2]}:00` : m[2]}${m[3] ? 'Z' : `${m[4]}${m[5]}:${m[6]}`}` : undefined;
  if (canonical === undefined || Number.isNaN(Date.parse(canonical))) {
    throw new InvalidInputError(notATime(option, given));
  }
  return canonical;
}
