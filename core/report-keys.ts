import { createHash } from 'node:crypto';
import { AlreadyExistsError } from './errors.ts';
import type { BlobStore } from './ports.ts';
import { timeZoneOffsetMs, wallTimeToInstant } from './time-format.ts';

// Where the cloud keeps what it says about a site: daily reports, monthly attestations, scrub
// and drill results. Outside the agent's data classes (core/layout.ts), so no site's
// write-once agent role can write or replace them; each record is written once under a new key.

export const REPORTS_PREFIX = 'reports/';

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MONTH = /^\d{4}-\d{2}$/;

export function assertDay(day: string): void {
  if (!DAY.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`)) || new Date(`${day}T00:00:00Z`).toISOString().slice(0, 10) !== day) {
    throw new RangeError(`date "${day}" must be a calendar day written YYYY-MM-DD`);
  }
}

export function assertMonth(month: string): void {
  if (!MONTH.test(month) || Number(month.slice(5)) < 1 || Number(month.slice(5)) > 12) throw new RangeError(`month "${month}" must be written YYYY-MM (01-12)`);
}

const dayPath = (day: string) => day.replaceAll('-', '/');
const stamp = (at: string) => at.replace(/[-:.]/g, '');

/** `reports/{site}/daily/{yyyy}/{mm}/{dd}/{generatedAt}.json`: one per run (a re-run adds, never replaces). */
export function dailyReportKey(site: string, day: string, generatedAt: string): string {
  return `${REPORTS_PREFIX}${site}/daily/${dayPath(day)}/${stamp(generatedAt)}.json`;
}

export function dailyReportPrefix(site: string, day: string): string {
  return `${REPORTS_PREFIX}${site}/daily/${dayPath(day)}/`;
}

/** `reports/{site}/attest/{yyyy}/{mm}/{generatedAt}.{json|md|csv}`. */
export function attestationKey(site: string, month: string, generatedAt: string, ext: 'json' | 'md' | 'csv'): string {
  return `${REPORTS_PREFIX}${site}/attest/${month.replace('-', '/')}/${stamp(generatedAt)}.${ext}`;
}

/** `reports/{site}/scrub/{yyyy}/{mm}/{dd}/{startedAt}.json`: one per `ferry verify` run (or scheduled scrub). */
export function scrubKey(site: string, startedAt: string): string {
  return `${scrubPrefix(site, startedAt.slice(0, 10))}${stamp(startedAt)}.json`;
}

/** The scrub results of a site, of one day (YYYY-MM-DD) or one month (YYYY-MM) when given. */
export function scrubPrefix(site: string, day?: string): string {
  return `${REPORTS_PREFIX}${site}/scrub/${day === undefined ? '' : `${dayPath(day)}/`}`;
}

/** `reports/{site}/drills/{yyyy}/{mm}/{dd}/{source}-{startedAt}.json`. */
export function drillKey(site: string, source: string, startedAt: string): string {
  return `${drillPrefix(site, startedAt.slice(0, 10))}${source}-${stamp(startedAt)}.json`;
}

export function drillPrefix(site: string, day: string): string {
  return `${REPORTS_PREFIX}${site}/drills/${dayPath(day)}/`;
}

/** Writes a record once: a key that exists already gets a `-{n}` suffix, never an overwrite. */
export async function putOnce(blobs: Pick<BlobStore, 'put'>, key: string, body: Uint8Array, contentType: string): Promise<string> {
  const dot = key.lastIndexOf('.');
  for (let n = 0; n < 20; n++) {
    const candidate = n === 0 ? key : `${key.slice(0, dot)}-${n}${key.slice(dot)}`;
    try {
      await blobs.put(candidate, body, { contentType, ifNoneMatch: true });
      return candidate;
    } catch (error) {
      if (!(error instanceof AlreadyExistsError)) throw error;
    }
  }
  throw new AlreadyExistsError(`${key} and 19 suffixed keys already exist`);
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The day's bounds in ms: midnight to the next midnight in `timeZone` (a site's own zone; UTC when
 * not given), so 23 or 25 hours on a day the clocks change. A midnight the clocks skip starts the
 * day at the change. Refuses a day that is not a calendar day.
 */
export function dayBounds(day: string, timeZone = 'UTC'): { start: number; end: number } {
  assertDay(day);
  const wall = Date.parse(`${day}T00:00:00.000Z`);
  if (timeZone === 'UTC') return { start: wall, end: wall + 24 * 3_600_000 };
  return { start: wallTimeToInstant(wall, timeZone), end: wallTimeToInstant(wall + 24 * 3_600_000, timeZone) };
}

/** The calendar day (YYYY-MM-DD) an instant falls on in `timeZone`. */
export function dayIn(instantMs: number, timeZone = 'UTC'): string {
  return new Date(instantMs + timeZoneOffsetMs(instantMs, timeZone)).toISOString().slice(0, 10);
}

/** The day a site's report judges: the one asked for, or yesterday in the site's own zone (a day that has ended there). */
export function siteReportDay(now: Date, timeZone: string, asked?: string): string {
  if (asked !== undefined) return asked;
  return new Date(Date.parse(`${dayIn(now.getTime(), timeZone)}T00:00:00.000Z`) - 86_400_000).toISOString().slice(0, 10);
}

/** The UTC days (YYYY-MM-DD) that [start, end) touches: the dated prefixes (UTC) a local day's objects are under. */
export function utcDaysCovering(start: number, end: number): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${new Date(start).toISOString().slice(0, 10)}T00:00:00.000Z`); t < end; t += 24 * 3_600_000) days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

/** Whether an ISO time falls in [start, end) (ms): a report's day, or the part of it judged. */
export function within(iso: string, start: number, end: number): boolean {
  const t = Date.parse(iso);
  return t >= start && t < end;
}
