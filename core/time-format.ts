// Time zones and time formats for metadata the recorder writes: offsets from Intl (DST follows
// the IANA database Node ships with), formats 'iso', 'epoch' (seconds) or yyyy/MM/dd/HH/mm/ss/SSS/XXX patterns.
// Pure: no Date.now, no process.env.

// ---------------------------------------------------------------------------------------------
// Time zones: offsets come from Intl, so DST follows the IANA database Node ships with.

const DAY_MS = 86_400_000;
const wallFormatters = new Map<string, Intl.DateTimeFormat>();

export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

function wallFormatter(timeZone: string): Intl.DateTimeFormat {
  let f = wallFormatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    wallFormatters.set(timeZone, f);
  }
  return f;
}

/** Offset of `timeZone` from UTC at an instant, in ms, positive east (BST: +3,600,000). */
export function timeZoneOffsetMs(instantMs: number, timeZone: string): number {
  if (timeZone === 'UTC') return 0;
  const parts: Record<string, number> = {};
  for (const p of wallFormatter(timeZone).formatToParts(new Date(instantMs))) parts[p.type] = Number(p.value);
  const wall = Date.UTC(parts.year ?? 0, (parts.month ?? 1) - 1, parts.day ?? 1, parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0);
  return wall - (instantMs - (((instantMs % 1000) + 1000) % 1000));
}

/**
 * The instant at which clocks in `timeZone` show `wallMs` (a wall time encoded as if it were UTC).
 * Ambiguous times (clocks going back) take the earlier instant; times that do not exist (clocks
 * going forward) are read with the offset before the change, i.e. moved forward — both as
 * Temporal's 'compatible' disambiguation does.
 */
export function wallTimeToInstant(wallMs: number, timeZone: string): number {
  const { valid, before } = wallTimeCandidates(wallMs, timeZone);
  return valid.length > 0 ? Math.min(...valid) : wallMs - before;
}

/** The instants at which clocks in `timeZone` show `wallMs`: two in the hour the clocks go back, none in the hour they skip. */
function wallTimeCandidates(wallMs: number, timeZone: string): { valid: number[]; before: number } {
  const before = timeZoneOffsetMs(wallMs - DAY_MS, timeZone);
  const after = timeZoneOffsetMs(wallMs + DAY_MS, timeZone);
  const valid = [...new Set([before, after].map((o) => wallMs - o))].filter((t) => timeZoneOffsetMs(t, timeZone) === wallMs - t);
  return { valid, before };
}

/**
 * What reading a local wall time met: `ambiguous` (the hour the clocks go back: `near`, the
 * file's time, chose the occurrence) or `skipped` (the hour the clocks skip: moved forward).
 * Set by the parsers for the metadata's issues; undefined for a time with an offset or an
 * ordinary local time.
 */
export interface WallTimeNote {
  kind?: 'ambiguous' | 'skipped';
}

/** ISO 8601 with the zone's numeric offset, e.g. `2024-03-31T10:15:00+01:00` (ms only when non-zero). */
export function formatIsoWithOffset(at: Date, timeZone: string): string {
  const offset = timeZoneOffsetMs(at.getTime(), timeZone);
  const local = new Date(at.getTime() + offset).toISOString().replace('Z', '').replace(/\.000$/, '');
  const minutes = Math.round(Math.abs(offset) / 60_000);
  const hh = Math.floor(minutes / 60).toString().padStart(2, '0');
  const mm = (minutes % 60).toString().padStart(2, '0');
  return `${local}${offset < 0 ? '-' : '+'}${hh}:${mm}`;
}

// ---------------------------------------------------------------------------------------------
// Time formats: 'iso', 'epoch' (seconds) or a pattern of yyyy MM dd HH mm ss SSS XXX tokens.

interface Wall {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  ms: number;
  offsetMs?: number;
}
/**
 * `near`: an instant the time is known to be at or before (a call's start is before its file's
 * last write), used only to choose between the two occurrences of a local time in the hour the
 * clocks go back; `note` is told when the local time was ambiguous or did not exist.
 */
export type TimeParser = (text: string, timeZone: string, near?: number, note?: WallTimeNote) => number | undefined;

const PATTERN_TOKENS: Record<string, string> = {
  yyyy: '(\\d{4})',
  SSS: '(\\d{3})',
  XXX: '(Z|[+-]\\d{2}:?\\d{2})',
  MM: '(\\d{2})',
  dd: '(\\d{2})',
  HH: '(\\d{2})',
  mm: '(\\d{2})',
  ss: '(\\d{2})',
};
const TOKEN_ORDER = ['yyyy', 'SSS', 'XXX', 'MM', 'dd', 'HH', 'mm', 'ss'];

function offsetOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (/^z$/i.test(text)) return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(text);
  if (!m || Number(m[3] ?? 0) > 59 || Number(m[2]) > 23) return Number.NaN;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0)) * 60_000;
}

/** Checks the calendar (no 31 February, no 25:00) and returns the instant. */
function instantOf(w: Wall, timeZone: string, near?: number, note?: WallTimeNote): number | undefined {
  const daysInMonth = new Date(Date.UTC(w.y, w.mo, 0)).getUTCDate();
  if (w.mo < 1 || w.mo > 12 || w.d < 1 || w.d > daysInMonth || w.h > 23 || w.mi > 59 || w.s > 59) return undefined;
  if (w.offsetMs !== undefined && Number.isNaN(w.offsetMs)) return undefined;
  const wall = Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s, w.ms);
  if (w.offsetMs !== undefined) return wall - w.offsetMs;
  if (timeZone === 'UTC') return wall;
  const { valid, before } = wallTimeCandidates(wall, timeZone);
  if (valid.length === 1) return valid[0];
  if (note) note.kind = valid.length === 0 ? 'skipped' : 'ambiguous';
  if (valid.length === 0) return wall - before;
  // The later occurrence when the earlier would put the time more than an hour before `near` and
  // the later one is not after it, give or take the minutes a recorder's clock and the file
  // server's stamping the mtime may disagree (a call ending at 01:33:30 in the second 01:xx hour,
  // its file stamped 01:33:28, ends then: not an hour before it started).
  const [first, second] = [Math.min(...valid), Math.max(...valid)];
  return near !== undefined && second <= near + NEAR_SLACK_MS ? second : first;
}

/** How far a time may be after `near` (the file's mtime) and still be read as the later occurrence of a repeated hour. */
const NEAR_SLACK_MS = 5 * 60_000;

const fraction = (digits: string | undefined): number => (digits ? Math.round(Number(`0.${digits}`) * 1000) : 0);
const ISO_EXTENDED = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const ISO_BASIC = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(?:(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?:\d{2})?)?$/i;

function parseIso(text: string, timeZone: string, near?: number, note?: WallTimeNote): number | undefined {
  const m = ISO_EXTENDED.exec(text) ?? ISO_BASIC.exec(text);
  if (!m) return undefined;
  const n = (i: number) => Number(m[i] ?? 0);
  return instantOf({ y: n(1), mo: n(2), d: n(3), h: n(4), mi: n(5), s: n(6), ms: fraction(m[7]), offsetMs: offsetOf(m[8]) }, timeZone, near, note);
}

function parseEpochSeconds(text: string): number | undefined {
  return /^-?\d+(\.\d+)?$/.test(text) ? Math.round(Number(text) * 1000) : undefined;
}

/** Compiles a time format, or says what is wrong with it. */
export function compileTimeFormat(format: string): { ok: true; parse: TimeParser } | { ok: false; error: string } {
  if (format === 'iso') return { ok: true, parse: (t, tz, near, note) => parseIso(t.trim(), tz, near, note) };
  if (format === 'epoch') return { ok: true, parse: (t) => parseEpochSeconds(t.trim()) };
  const order: string[] = [];
  let source = '';
  for (let i = 0; i < format.length; ) {
    const token = TOKEN_ORDER.find((t) => format.startsWith(t, i));
    if (token) {
      if (order.includes(token)) return { ok: false, error: `time format "${format}" has "${token}" twice` };
      order.push(token);
      source += PATTERN_TOKENS[token];
      i += token.length;
    } else if (format[i] === "'") {
      const end = format.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `time format "${format}" has an unclosed quote` };
      source += escapeRegExp(format.slice(i + 1, end));
      i = end + 1;
    } else if (/[A-Za-z]/.test(format[i] ?? '') && format[i] !== 'T') {
      return { ok: false, error: `time format "${format}" has an unknown letter "${format[i]}" at ${i} (tokens: ${TOKEN_ORDER.join(' ')}; quote literals as 'text'; or use 'iso' or 'epoch')` };
    } else {
      source += escapeRegExp(format[i] ?? '');
      i += 1;
    }
  }
  const missing = ['yyyy', 'MM', 'dd'].filter((t) => !order.includes(t));
  if (missing.length > 0) return { ok: false, error: `time format "${format}" lacks ${missing.join(', ')}` };
  const re = new RegExp(`^${source}$`);
  const parse: TimeParser = (text, timeZone, near, note) => {
    const m = re.exec(text.trim());
    if (!m) return undefined;
    const get = (t: string) => {
      const i = order.indexOf(t);
      return i < 0 ? undefined : m[i + 1];
    };
    const n = (t: string) => Number(get(t) ?? 0);
    return instantOf({ y: n('yyyy'), mo: n('MM'), d: n('dd'), h: n('HH'), mi: n('mm'), s: n('ss'), ms: n('SSS'), offsetMs: offsetOf(get('XXX')) }, timeZone, near, note);
  };
  return { ok: true, parse };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

