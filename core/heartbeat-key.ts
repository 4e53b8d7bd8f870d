import { assertName, sitePrefix } from './layout.ts';

// A heartbeat's key: where a site's heartbeats are in the bucket, how a key is made and read back
// (core/heartbeat-read.ts lists them), and which keys a reader believes. core/fleet.ts, which
// judges what a heartbeat says, re-exports it all.
//
// Where the heartbeat lives: the agent's role may only ADD objects under its own site's
// prefixes (infra/site-policies.ts), so a heartbeat is a new small object per pass, PUT with
// If-None-Match, in its own data class `heartbeats/{site}/` (core/layout.ts): the site's role
// gets it from the same prefix list as every other class, lifecycle can treat it apart, and
// nothing that lists manifests (ingest, rebuild, purge) ever sees it. A catalogue API route
// would have given the write-once role its first execute-api grant and a second way in. The
// key holds the time inverted (newest sorts first) and the agent's id, so the cloud reads a
// site's latest heartbeat with one LIST page and one GET whatever the history, and each other
// agent's newest of a window with one GET more each.

/** Days the bucket keeps a heartbeat (lifecycle rule `expire-heartbeats`, infra/lifecycle.ts). */
export const HEARTBEAT_KEEP_DAYS = 31;
/**
 * Days the bucket keeps an agent's daily heartbeat (`heartbeats-daily/`, rule
 * `expire-daily-heartbeats`): the first heartbeat each agent writes in a UTC day is written there
 * too, so a site silent for longer than HEARTBEAT_KEEP_DAYS is still "silent since" its last day
 * (not "never heard from") for over a year.
 */
export const HEARTBEAT_DAILY_KEEP_DAYS = 400;
const INVERT_FROM = 9_999_999_999_999;

/** A time (ms) as the 13 digits that sort newest first in key order (9999999999999 − ms), and back. */
export const newestFirstDigits = (ms: number): string => String(INVERT_FROM - ms).padStart(13, '0');
export const timeOfNewestFirst = (digits: string): number => INVERT_FROM - Number(digits);

/** Where a heartbeat lives: every heartbeat (`heartbeats/`), or the first of each UTC day an agent wrote (`heartbeats-daily/`). */
export type HeartbeatClass = 'heartbeats' | 'heartbeats-daily';

export function heartbeatPrefix(site: string, dataClass: HeartbeatClass = 'heartbeats'): string {
  assertName('site', site);
  return sitePrefix(dataClass, site);
}

/** An agent id goes into its heartbeats' keys only when it is a key-safe word (the UUID every agent makes). */
export const KEY_AGENT = /^[A-Za-z0-9-]{1,64}$/;

/**
 * `heartbeats/{site}/{T}-{agent id}/{T}.json`, T = 9999999999999 − ms: newest first in key order,
 * and which agent wrote it is in the listing itself, so the cloud reads each agent's newest
 * heartbeat without reading the others (core/heartbeat-read.ts). The time comes first (the order)
 * and last (a reader of the earlier `{T}.json` keys finds it where it always did). Without an
 * agent id: `heartbeats/{site}/{T}.json`, the key of agents before it was kept.
 */
export function heartbeatKey(site: string, at: Date, options: { agent?: string; dataClass?: HeartbeatClass } = {}): string {
  const t = newestFirstDigits(at.getTime());
  const agent = options.agent !== undefined && KEY_AGENT.test(options.agent) ? options.agent : undefined;
  return `${heartbeatPrefix(site, options.dataClass)}${agent ? `${t}-${agent}/` : ''}${t}.json`;
}

/**
 * When the heartbeat under `key` was written, and by which agent id when the key says (from the
 * key alone); undefined for a key of another shape, and for one whose two times differ (it would
 * sort as one time and read as another: planted to stay first for good).
 */
export function heartbeatKeyParts(key: string): { t: number; agent?: string } | undefined {
  const m = /^[^/]+\/[^/]+\/(\d{13})(?:-([A-Za-z0-9-]{1,64})\/(\d{13}))?\.json$/.exec(key);
  if (!m) return undefined;
  if (m[3] !== undefined && m[3] !== m[1]) return undefined;
  return { t: timeOfNewestFirst(m[1]!), ...(m[2] ? { agent: m[2] } : {}) };
}

/** When the heartbeat under `key` was written (from the key alone); undefined for a key of another shape. */
export function heartbeatTimeOfKey(key: string): number | undefined {
  return heartbeatKeyParts(key)?.t;
}

/**
 * A heartbeat key dated further ahead than this is no agent's clock: the key of every heartbeat is
 * its writer's choice, and one planted far in the future (`…/0000000000000.json`) would be listed
 * first for good, hiding every real heartbeat of the site. Such keys are passed over.
 */
export const HEARTBEAT_MAX_AHEAD_MS = 24 * 3600_000;

/** Whether a heartbeat listed under a key of time `t` may speak for its site as of `now`. */
export function heartbeatKeyPlausible(t: number, now: number): boolean {
  return t - now <= HEARTBEAT_MAX_AHEAD_MS;
}

/** A heartbeat's own time must be its key's, and its agent id the key's when the key names one: one filed under another is not believed. */
export function heartbeatMatchesKey(heartbeat: { at: string; agent?: { id: string } }, t: number, agent?: string): boolean {
  return Date.parse(heartbeat.at) === t && (agent === undefined || heartbeat.agent?.id === agent);
}
