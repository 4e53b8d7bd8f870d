// Helpers the Ferry pages share (call recordings, fleet status, compliance console): times in
// the browser's own zone, call durations, and reading a datetime-local field. Plain browser
// JavaScript, no dependencies; imported as an ES module by each page's script.

export const pad = (n) => String(n).padStart(2, '0');

/** The browser's time zone, as the pages name it beside every time they show. */
export function zoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'local time';
}

/** `yyyy-mm-dd hh:mm[:ss]` in the browser's zone, the wall clock alone (a datetime-local field's value); unreadable: as given. */
export function wallText(iso, { seconds = true } = {}) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${day} ${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
}

const HOUR_MS = 3_600_000;

/**
 * `yyyy-mm-dd hh:mm[:ss]` in the browser's zone; in the hour the clocks go back, which the wall
 * clock shows twice, with the offset (`02:30:00 UTC+11:00`, then `02:30:00 UTC+10:00`), so two
 * calls an hour apart never read as one time. An unreadable value is shown as given.
 */
export function localText(iso, options = {}) {
  const text = wallText(iso, options);
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return text;
  const repeated = wallText(ms - HOUR_MS, { seconds: true }) === wallText(ms, { seconds: true }) || wallText(ms + HOUR_MS, { seconds: true }) === wallText(ms, { seconds: true });
  if (!repeated) return text;
  const offset = -new Date(ms).getTimezoneOffset();
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
 * A datetime-local value (wall time in the browser's zone) as ISO UTC; throws a message naming the
 * field. A wall time of the hour the clocks go back, which happens twice, is its first occurrence,
 * or with `last` (the To of a range) its second: a range typed as 01:00 to 01:59 on that night
 * holds the calls of both hours, not the first alone.
 */
export function isoFromLocal(label, value, { last = false } = {}) {
  if (!value) return undefined;
  const date = new Date(value); // a date-time without offset is local time (its first occurrence)
  if (Number.isNaN(date.getTime())) throw new Error(`${label} is not a valid date and time.`);
  if (last) {
    const ms = date.getTime();
    const later = ms + (new Date(ms + 86_400_000).getTimezoneOffset() - date.getTimezoneOffset()) * 60_000;
    if (later > ms && wallText(later) === wallText(ms)) return new Date(later).toISOString();
  }
  return date.toISOString();
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
    b.textContent = text;
    if (dir) b.dir = dir;
    return b;
  };
  const parts = [[isolated(start)], ...(agent ? [[isolated(agent)]] : []), [isolated(caller ?? '?', 'ltr'), ' → ', isolated(called ?? '?', 'ltr')], ...rest.filter(Boolean).map((v) => [isolated(v)])];
  node.replaceChildren(...parts.flatMap((p, i) => (i === 0 ? p : [' · ', ...p])));
}
