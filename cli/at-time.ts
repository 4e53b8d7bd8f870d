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

const DAY_MS = 86_400_000;

/**
 * This machine's offsets from UTC (minutes east) at which its clock showed a local date-time
 * `YYYY-MM-DDTHH:MM[:SS]`: one on most days, two in the hour the clocks go back (the first
 * occurrence's first), none in the hour they skip.
 */
function localOffsetsAt(local: string): number[] {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(local);
  if (!m) return [0];
  const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  const offsetAt = (ms: number) => -new Date(ms).getTimezoneOffset();
  const candidates = [...new Set([offsetAt(wall - DAY_MS), offsetAt(wall + DAY_MS)])];
  // Larger offset first: the same wall time came first with it (BST +01:00 before GMT).
  return candidates.filter((o) => offsetAt(wall - o * 60_000) === o).sort((a, b) => b - a);
}

/**
 * Throws InvalidInputError naming what is wrong with `at` (no zone, not a time), with examples;
 * returns it trimmed otherwise (`now`: this machine's time, in UTC). `offsetAt`: this machine's
 * offset(s) at a local time (tests): two in the hour the clocks go back, where the refusal names
 * both occurrences rather than one, and none in the hour they skip.
 * `option`: the option's name, as the refusal gives it.
 */
export function checkAtText(at: string, offsetAt: (local: string) => number | number[] = localOffsetsAt, now: () => Date = () => new Date(), option = '--at'): string {
  const text = at.trim();
  // `now` as `restore tree --at` takes it: this machine's time, sent with its zone.
  if (text.toLowerCase() === 'now') return now().toISOString();
  if (ZONE.test(text)) return canonicalAt(text, at, option);
  const m = LOCAL_TIME.exec(text);
  if (!m) throw new InvalidInputError(notATime(option, at));
  const local = `${m[1]}T${m[2] ?? '00:00:00'}`;
  const offsets = [offsetAt(local)].flat();
  if (offsets.length === 2) {
    const [first, second] = offsets.map((o) => `${local}${offsetText(o)}${o === 0 ? ' (UTC)' : ''}`);
    throw new InvalidInputError(`${option} needs a time zone, and ${local} happened twice on this machine's clock (the clocks went back that night): ${first} is the first, ${second} the second`);
  }
  if (offsets.length === 0) {
    throw new InvalidInputError(`${option} needs a time zone, and ${local} never showed on this machine's clock (the clocks went forward over it that night): give the instant meant with its offset, e.g. ${local}Z (UTC)`);
  }
  const mine = offsetText(offsets[0]!);
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
