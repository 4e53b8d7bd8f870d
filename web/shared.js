// Helpers the Ferry pages share (call recordings, fleet status, compliance console): times in
// the browser's own zone (or one the console's officer chose), call durations, and reading a datetime-local field. Plain browser
// JavaScript, no dependencies; imported as an ES module by each page's script.

export const pad = (n) => String(n).padStart(2, '0');

// Control characters (C0, DEL, C1) and the Unicode controls that reorder or hide text (bidi
// marks, the Arabic letter mark included, overrides and isolates, zero-width characters, the BOM), as the CLI's printable escapes them:
// a caller's name, a file name or a reason written with U+202E would otherwise show reversed
// ("Bob<RLO> evil" read as "Bob live"), and an officer would read what is not stored.
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;
const NAMED = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/** Text from outside (call metadata, file names, reasons) as shown on a page: every control character visible as its escape (`\n`, `\x07`, `\u{202e}`). */
export function printable(value) {
  return String(value).replace(CONTROLS, (c) => NAMED[c] ?? (c.charCodeAt(0) <= 0xff ? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}` : `\\u{${c.charCodeAt(0).toString(16)}}`));
}

/**
 * Today's names of zones the browser's time-zone data (ICU) still names the old way: a Kolkata
 * site's agent config says Asia/Kolkata, and the page names it so, not Asia/Calcutta.
 */
const CURRENT_ZONE_NAMES = {
  'Asia/Calcutta': 'Asia/Kolkata', 'Europe/Kiev': 'Europe/Kyiv', 'Asia/Saigon': 'Asia/Ho_Chi_Minh', 'Asia/Katmandu': 'Asia/Kathmandu',
  'Asia/Rangoon': 'Asia/Yangon', 'Atlantic/Faeroe': 'Atlantic/Faroe', 'America/Godthab': 'America/Nuuk', 'Asia/Ulan_Bator': 'Asia/Ulaanbaatar',
};

/** A zone by its current IANA name. */
export const currentZoneName = (zone) => CURRENT_ZONE_NAMES[zone] ?? zone;

/** The browser's own time zone. */
export function browserZone() {
  return currentZoneName(Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC');
}

/** The zone the page shows and reads times in: the browser's, or one the officer chose (setZone). */
let chosenZone;
const formatters = new Map();

/**
 * Shows and reads every time in `zone` (an IANA name) from now on; undefined or the browser's own:
 * the browser's. An unknown name throws, naming it.
 */
export function setZone(zone) {
  if (zone && zone !== browserZone()) new Intl.DateTimeFormat('en-GB', { timeZone: zone }); // throws RangeError on an unknown zone
  chosenZone = zone && zone !== browserZone() ? zone : undefined;
}

/** The zone the page names beside every time it shows. */
export function zoneName() {
  return chosenZone ?? browserZone() ?? 'local time';
}

/** The wall clock in the page's zone at `ms`: year, month, day, hour, minute, second. */
function wallParts(ms) {
  const zone = zoneName();
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
    formatters.set(zone, f);
  }
  const parts = {};
  for (const p of f.formatToParts(new Date(ms))) parts[p.type] = Number(p.value);
  return { y: parts.year, mo: parts.month, d: parts.day, h: parts.hour % 24, mi: parts.minute, s: parts.second };
}

/** The page's zone's offset from UTC at `ms`, in minutes east. */
function offsetMinutes(ms) {
  const w = wallParts(ms);
  return Math.round((Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000) / 60_000);
}

/** `yyyy-mm-dd hh:mm[:ss]` in the page's zone, the wall clock alone (a datetime-local field's value); unreadable: as given. */
export function wallText(iso, { seconds = true } = {}) {
  const ms = new Date(iso).getTime();
  if (Number.isNaN(ms)) return String(iso);
  const w = wallParts(ms);
  return `${w.y}-${pad(w.mo)}-${pad(w.d)} ${pad(w.h)}:${pad(w.mi)}${seconds ? `:${pad(w.s)}` : ''}`;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * `yyyy-mm-dd hh:mm[:ss]` in the page's zone; in the hour the clocks go back, which the wall
 * clock shows twice, with the offset (`02:30:00 UTC+11:00`, then `02:30:00 UTC+10:00`), so two
 * calls an hour apart never read as one time. An unreadable value is shown as given.
 */
export function localText(iso, options = {}) {
  const text = wallText(iso, options);
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return text;
  const repeated = wallText(ms - HOUR_MS, { seconds: true }) === wallText(ms, { seconds: true }) || wallText(ms + HOUR_MS, { seconds: true }) === wallText(ms, { seconds: true });
  if (!repeated) return text;
  const offset = offsetMinutes(ms);
  return `${text} UTC${offset < 0 ? '-' : '+'}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
}

/** A call's length as `m:ss` or `h:mm:ss`, from its metadata; `—` when it has none. */
export function durationText(entry) {
  let seconds = entry.meta?.durationSec;
  if (seconds === undefined && entry.meta?.start && entry.meta?.end) seconds = (Date.parse(entry.meta.end) - Date.parse(entry.meta.start)) / 1000;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const whole = Math.round(seconds);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  return h > 0 ? `${h}:${pad(m)}:${pad(whole % 60)}` : `${m}:${pad(whole % 60)}`;
}

/**
 * A datetime-local value (wall time in the page's zone) as ISO UTC; throws a message naming the
 * field. A wall time of the hour the clocks go back, which happens twice, is its first occurrence,
 * or with `last` (the To of a range) its second: a range typed as 01:00 to 01:59 on that night
 * holds the calls of both hours, not the first alone. A wall time of the hour the clocks skip is
 * read with the offset after the change (a From of 02:30 finds a call at 03:10, just after 02:00
 * became 03:00), or with `last` moved forward.
 */
export function isoFromLocal(label, value, { last = false } = {}) {
  if (!value) return undefined;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(value);
  const wall = m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0), +(m[7] ?? '0').padEnd(3, '0')) : Number.NaN;
  if (!m || Number.isNaN(wall) || new Date(wall).getUTCDate() !== +m[3] || +m[4] > 23) throw new Error(`${label} is not a valid date and time.`);
  const before = offsetMinutes(wall - DAY_MS) * 60_000;
  const after = offsetMinutes(wall + DAY_MS) * 60_000;
  const valid = [...new Set([wall - before, wall - after])].filter((t) => offsetMinutes(t) * 60_000 === wall - t).sort((a, b) => a - b);
  // In the hour the clocks skip: From with the offset after the change (an hour earlier), To moved forward; the range holds every call from the change on.
  const ms = valid.length === 0 ? (last ? wall - before : wall - after) : last ? valid[valid.length - 1] : valid[0];
  return new Date(ms).toISOString();
}

/** Whether an instant's wall time in the browser's zone is one the clock shows twice (the hour the clocks go back). */
export function isRepeatedWallTime(iso) {
  return localText(iso) !== wallText(iso);
}

/**
 * A call's summary line (`start · agent · caller → called · …`) in `node`, each value in a
 * `<bdi>` of its own and the numbers left to right: an agent's name in Arabic or Hebrew would
 * otherwise turn the digits after it around, and show the call from the called number to the
 * caller. The text is the same as the values joined by ` · `.
 */
export function setSummary(node, { start, agent, caller, called, rest = [] }) {
  const isolated = (text, dir) => {
    const b = document.createElement('bdi');
    b.textContent = printable(text);
    if (dir) b.dir = dir;
    return b;
  };
  const parts = [[isolated(start)], ...(agent ? [[isolated(agent)]] : []), [isolated(caller ?? '?', 'ltr'), ' → ', isolated(called ?? '?', 'ltr')], ...rest.filter(Boolean).map((v) => [isolated(v)])];
  node.replaceChildren(...parts.flatMap((p, i) => (i === 0 ? p : [' · ', ...p])));
}
