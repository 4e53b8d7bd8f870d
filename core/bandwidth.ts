import { z } from 'zod';

// The bandwidth schedule (pure; the throttle is agent/bandwidth.ts). One bandwidth limit for everything the agent uploads (packs, artefacts, manifests), with a
// weekly schedule in the site's time zone: e.g. 2 MiB/s 08:00-18:00 Mon-Fri, unlimited
// otherwise. The limit is a token bucket shared by every upload stream: each body sent to the
// store (a single PUT or one multipart part) is handed to its connection a slice at a time, each
// slice waiting for its turn, so concurrent streams interleave, the line carries the limit second
// by second, and the limit is re-read from the schedule at every slice (a boundary crossed
// mid-part takes effect at once).

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, kbit: 125, Mbit: 125e3, Gbit: 125e6 };
const RATE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB|kbit|Mbit|Gbit)\/s$/;
const TIME = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;

/** Bytes per second, or undefined for "unlimited". */
export type Rate = number | undefined;

export function parseRate(text: string): Rate {
  if (text === 'unlimited') return undefined;
  const m = RATE.exec(text.trim());
  if (!m) {
    const near = nearRate(text);
    throw new Error(`"${text}" is not a rate${near ? ` (${near})` : ''}: write "unlimited" or e.g. "2MiB/s", "500KiB/s", "20Mbit/s"`);
  }
  const bytes = Number(m[1]) * (UNITS[m[2] as string] as number);
  if (!(bytes >= 1)) throw new Error(`"${text}" is below 1 byte per second`);
  return bytes;
}

const BIT_UNITS: Record<string, string> = { k: 'kbit', m: 'Mbit', g: 'Gbit' };
const BYTE_UNITS: Record<string, string> = { k: 'KB', m: 'MB', g: 'GB' };

/**
 * What a rate written in another usual way most likely means, said with the spelling the agent
 * reads: "10Mbps" → "10Mbit/s", "10MBps" or "10MB" → "10MB/s"; a unit whose case leaves bits or
 * bytes open ("10mb/s") is named as such rather than guessed.
 */
function nearRate(text: string): string | undefined {
  const t = text.trim();
  const bits = /^(\d+(?:\.\d+)?)\s*([kKmMgG])(bps|bits?\/s|bit)$/.exec(t);
  if (bits) return `did you mean "${bits[1]}${BIT_UNITS[bits[2]!.toLowerCase()]}/s"?`;
  const bytes = /^(\d+(?:\.\d+)?)\s*([kKmMgG])(i?)(Bps|B|B\/sec|B\/S)$/.exec(t);
  if (bytes) return `did you mean "${bytes[1]}${bytes[3] ? `${bytes[2]!.toUpperCase()}iB` : BYTE_UNITS[bytes[2]!.toLowerCase()]}/s"?`;
  if (/^\d+(?:\.\d+)?\s*[kKmMgG]i?b(\/s|ps)?$/.test(t)) return 'a lowercase b leaves bits or bytes open: write Mbit/s for bits, MB/s or MiB/s for bytes';
  if (/^\d+(?:\.\d+)?$/.test(t)) return 'a rate needs its unit';
  return undefined;
}

/** A rate as the configuration wrote it, spaced: "8Mbit/s" → "8 Mbit/s" (the operator's unit, not one converted to). */
export function writtenRate(text: string): string {
  const m = RATE.exec(text.trim());
  return m ? `${m[1]} ${m[2]}/s` : text.trim();
}

/** "Mon-Fri", "Sat,Sun", "Mon", "daily" → the set of weekday numbers (0 = Sunday). */
export function parseDays(text: string): Set<number> {
  if (text === 'daily' || text === 'Mon-Sun') return new Set([0, 1, 2, 3, 4, 5, 6]);
  const out = new Set<number>();
  for (const part of text.split(',').map((p) => p.trim())) {
    const [a, b] = part.split('-');
    const from = DAYS.indexOf(a as (typeof DAYS)[number]);
    const to = b === undefined ? from : DAYS.indexOf(b as (typeof DAYS)[number]);
    if (from < 0 || to < 0) throw new Error(`"${text}" is not a set of days: write e.g. "Mon-Fri", "Sat,Sun" or "daily"`);
    for (let d = from; ; d = (d + 1) % 7) {
      out.add(d);
      if (d === to) break;
    }
  }
  return out;
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** A rate; a bare number is refused naming its missing unit (is 10 bytes, megabits or mebibytes a second?). */
const rateText = z.preprocess(
  (v) => (typeof v === 'number' ? String(v) : v),
  z.string().superRefine((text, ctx) => {
  try {
    parseRate(text);
  } catch (error) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
  }
  }),
);

export const bandwidthSchema = z
  .object({
    /** IANA time zone the schedule's days and times are in (the site's). */
    timezone: z.string().refine(validTimeZone, (tz) => ({ message: `unknown time zone "${tz}" (use an IANA name such as Europe/London)` })).default('UTC'),
    /** The limit outside every scheduled window. */
    default: rateText.default('unlimited'),
    /** Windows in the week; the first one that covers an instant gives its limit. */
    schedule: z
      .array(
        z
          .object({
            days: z.string().superRefine((text, ctx) => {
              try {
                parseDays(text);
              } catch (error) {
                ctx.addIssue({ code: z.ZodIssueCode.custom, message: (error as Error).message });
              }
            }),
            from: z.string().regex(TIME, 'times look like "08:00"'),
            to: z.string().regex(TIME, 'times look like "18:00" (or "24:00" for midnight at the end of the day)'),
            limit: rateText,
          })
          .strict()
          .refine((w) => !TIME.test(w.from) || !TIME.test(w.to) || minutesOf(w.from) < minutesOf(w.to), {
            message: '"from" must be before "to"; write a window across midnight as two windows',
            path: ['to'],
          }),
      )
      .default([]),
  })
  .strict();
export type BandwidthConfig = z.infer<typeof bandwidthSchema>;

interface Window {
  days: Set<number>;
  from: number;
  to: number;
  limit: Rate;
  /** The limit as written in the configuration. */
  text: string;
}

/** A weekly limit schedule, compiled once: `limitAt` is a pure function of the instant. */
export class BandwidthSchedule {
  private readonly windows: Window[];
  private readonly fallback: Rate;
  /**
   * Made on first use: a formatter for a time zone loads the zone's rules, 30-50 ms of every
   * agent start, and a schedule without windows (the default) never asks the time of day.
   */
  private format?: Intl.DateTimeFormat;

  constructor(readonly config: BandwidthConfig) {
    this.fallback = parseRate(config.default);
    this.windows = config.schedule.map((w) => ({ days: parseDays(w.days), from: minutesOf(w.from), to: minutesOf(w.to), limit: parseRate(w.limit), text: w.limit }));
  }

  static unlimited(): BandwidthSchedule {
    return new BandwidthSchedule({ timezone: 'UTC', default: 'unlimited', schedule: [] });
  }

  /** Weekday (0 = Sunday) and minute of the day at `at` in the schedule's time zone. */
  local(at: Date): { day: number; minute: number } {
    this.format ??= new Intl.DateTimeFormat('en-US', { timeZone: this.config.timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    const parts = this.format.formatToParts(at);
    const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
    return { day: DAYS.indexOf(get('weekday') as (typeof DAYS)[number]), minute: Number(get('hour')) * 60 + Number(get('minute')) };
  }

  /** Bytes per second allowed at `at` (undefined: unlimited). */
  limitAt(at: Date): Rate {
    return this.windowAt(at)?.limit ?? this.fallback;
  }

  /** The window in force at `at`; undefined outside every window (the default applies). */
  private windowAt(at: Date): Window | undefined {
    if (this.windows.length === 0) return undefined;
    const { day, minute } = this.local(at);
    return this.windows.find((w) => w.days.has(day) && minute >= w.from && minute < w.to);
  }

  /** The limit in force at `at` as the configuration wrote it ("8 Mbit/s", "unlimited"). */
  writtenAt(at: Date): string {
    return writtenRate(this.windowAt(at)?.text ?? this.config.default);
  }

  /** The first instant after `at` at which the limit changes, and the new limit; undefined when it never does. */
  nextChange(at: Date): { at: Date; limit: Rate } | undefined {
    if (this.windows.length === 0) return undefined;
    const now = this.limitAt(at);
    // Boundaries are whole local minutes; stepping UTC minutes finds them across DST changes too.
    const start = Math.floor(at.getTime() / 60_000) * 60_000 + 60_000;
    for (let t = start; t <= start + 8 * 86_400_000; t += 60_000) {
      const limit = this.limitAt(new Date(t));
      if (limit !== now) return { at: new Date(t), limit };
    }
    return undefined;
  }

  /** "2 MiB/s until 2026-03-02 18:00 Europe/London, then unlimited", each limit in the unit the configuration wrote it in. */
  describe(at: Date): { limit: string; next?: { at: string; limit: string } } {
    const next = this.nextChange(at);
    return { limit: this.writtenAt(at), ...(next ? { next: { at: next.at.toISOString(), limit: this.writtenAt(next.at) } } : {}) };
  }
}
