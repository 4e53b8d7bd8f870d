import { normalizeNumber } from './catalogue-items.ts';
import type { CallMetadata } from './manifest.ts';
import type { MetadataField } from './metadata.ts';
import type { TimeParser, WallTimeNote } from './time-format.ts';

// A metadata field's value as the recorder wrote it, made one form (core/metadata.ts reads them):
// times to ISO UTC, durations to seconds, directions to inbound/outbound/internal, numbers
// without separators.

type Direction = NonNullable<CallMetadata['direction']>;
const DIRECTIONS: Record<string, Direction> = {
  in: 'inbound', i: 'inbound', inbound: 'inbound', incoming: 'inbound', inc: 'inbound',
  out: 'outbound', o: 'outbound', outbound: 'outbound', outgoing: 'outbound', outg: 'outbound',
  internal: 'internal', int: 'internal', intern: 'internal', local: 'internal',
  unknown: 'unknown',
};

function parseDuration(value: string | number): number | undefined {
  let sec: number | undefined;
  const text = String(value).trim();
  // Minutes:seconds may run past 99 minutes (`135:20`, a 2 h 15 min call) when no hour is written.
  const clock = /^(?:(\d+):)?(\d+):(\d{1,2}(?:\.\d+)?)$/.exec(text);
  const iso = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/i.exec(text);
  if (/^\d+(\.\d+)?$/.test(text)) sec = Number(text);
  else if (clock && Number(clock[3]) < 60 && (clock[1] === undefined || Number(clock[2]) < 60)) sec = Number(clock[1] ?? 0) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
  else if (iso && text.length > 2) sec = Number(iso[1] ?? 0) * 3600 + Number(iso[2] ?? 0) * 60 + Number(iso[3] ?? 0);
  return sec === undefined || !Number.isFinite(sec) ? undefined : Math.round(sec * 1000) / 1000;
}

/**
 * Phone numbers are stored in the form the catalogue searches them by (normalizeNumber: no
 * separators, `tel:` or trunk `(0)`, a leading '+' kept); other text stays (e.g. 'anonymous').
 */
function normaliseNumber(value: string): string | undefined {
  const compact = normalizeNumber(value);
  if (compact === '') return undefined;
  return /^\+?[0-9*#]+$/.test(compact) ? compact : value.trim().replace(/^tel:/i, '');
}

export interface Candidate {
  value: string | number | boolean;
  origin: string;
  parseTime: TimeParser;
}
type Normalised = { ok: true; value: string | number } | { ok: false; issue: string } | { ok: false; issue?: undefined };

/**
 * `fileMs`: the recording's mtime, which a call's start and end are at or before: it picks the
 * occurrence of a local time in the hour the clocks go back; `issues` is told when a local time
 * was ambiguous or did not exist (the hour the clocks skip).
 */
export function normalise(field: MetadataField, c: Candidate, timeZone: string, fileMs?: number, issues?: string[]): Normalised {
  const text = String(c.value).trim();
  const bad = (what: string): Normalised => ({ ok: false, issue: `${c.origin}: ${field} "${text}" is not ${what}` });
  switch (field) {
    case 'start':
    case 'end': {
      const note: WallTimeNote = {};
      const ms = c.parseTime(typeof c.value === 'number' ? String(c.value) : text, timeZone, fileMs !== undefined && Number.isFinite(fileMs) ? fileMs : undefined, note);
      if (ms === undefined || !Number.isFinite(ms)) return bad('a time');
      const at = new Date(ms).toISOString();
      if (note.kind === 'ambiguous') issues?.push(`${c.origin}: ${field} "${text}" is in the hour the clocks went back (${timeZone}): read as ${at}, the occurrence at or before the file's time`);
      if (note.kind === 'skipped') issues?.push(`${c.origin}: ${field} "${text}" does not exist in ${timeZone} (the hour the clocks skipped): read as ${at}`);
      return { ok: true, value: at };
    }
    case 'durationSec': {
      const sec = typeof c.value === 'number' ? (c.value >= 0 ? c.value : undefined) : parseDuration(text);
      return sec === undefined ? bad('a duration') : { ok: true, value: sec };
    }
    case 'direction': {
      if (text === '') return { ok: false };
      const d = DIRECTIONS[text.toLowerCase().replace(/[\s_-]/g, '')];
      return d ? { ok: true, value: d } : bad('a direction (inbound, outbound, internal)');
    }
    case 'caller':
    case 'called': {
      const n = normaliseNumber(text);
      return n === undefined ? { ok: false } : { ok: true, value: n };
    }
    default:
      return text === '' ? { ok: false } : { ok: true, value: text };
  }
}
