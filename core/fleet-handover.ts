import { type HeartbeatSource, type Heartbeat } from './fleet.ts';
import { HEARTBEAT_KEEP_DAYS, heartbeatKeyPlausible, heartbeatMatchesKey } from './heartbeat-key.ts';
import { heartbeatListing, readHeartbeat, type HeartbeatBlobs, type HeartbeatListing } from './heartbeat-read.ts';

// Which host ships a site, since when, and which one shipped it before (a failover, a host
// rebuilt with a new state directory): the operator looking at the fleet the morning after a
// failover sees that the secondary ships the site, since the night, and what the old primary had
// offsite at its last word. From the site's daily heartbeats (the first each agent wrote in a UTC
// day, kept HEARTBEAT_DAILY_KEEP_DAYS): newest first, the current agent's run back to the first
// day another agent wrote, and only that other agent's; then that agent's last heartbeat from the
// site's recent ones (kept HEARTBEAT_KEEP_DAYS) when it is still there, else its last daily one.

/** Daily heartbeat keys read at most (one LIST page): a year of one agent a day fits. */
const DAILY_KEYS_READ = 1000;
/** The previous agent's last heartbeat this long after the current one's first: the two wrote side by side, no handover (less: clocks apart). */
const SIDE_BY_SIDE_MS = 3600_000;
/** Recent heartbeat keys walked at most looking for the previous agent's last one (a few LIST pages). */
const RECENT_KEYS_READ = 5000;

export interface FleetShipperBefore {
  host: string;
  id: string;
  /** Its last heartbeat as the site. */
  lastHeartbeat: string;
  /** `lastHeartbeat` is its last daily heartbeat (the later ones expired, or lie beyond what is read): it wrote as the site up to a day after it. */
  lastHeartbeatDaily?: true;
  /** What it had offsite then, per source. */
  sources: Pick<HeartbeatSource, 'name' | 'type' | 'lastGood'>[];
}

export interface FleetShipper {
  /** The host and agent id of the site's newest heartbeat. */
  host: string;
  id: string;
  /** Its first heartbeat as the site since another agent's last (its first daily heartbeat of that run, as far as they are kept). */
  since?: string;
  /** The agent that shipped the site before it, when one did (not while both write: that is the `another agent ships as site` alert). */
  before?: FleetShipperBefore;
}

const sourcesOf = (hb: Heartbeat) => hb.sources.map((s) => ({ name: s.name, type: s.type, ...(s.lastGood ? { lastGood: s.lastGood } : {}) }));

/** The newest heartbeat `agent` wrote at or after `from` in the recent listing, as far as RECENT_KEYS_READ reaches. */
async function lastOf(listing: HeartbeatListing, agent: string, from: number, now: number): Promise<Heartbeat | undefined> {
  let n = 0;
  for await (const item of listing.keys()) {
    if (++n > RECENT_KEYS_READ || item.t < from) return undefined;
    if (item.agent !== agent || !heartbeatKeyPlausible(item.t, now)) continue;
    const hb = await readHeartbeat(listing.blobs, item.key);
    return heartbeatMatchesKey(hb, item.t, agent) ? hb : undefined;
  }
  return undefined;
}

/**
 * Who ships the site (its newest heartbeat's agent), since when, and who shipped it before. `recent`
 * is the site's listing of recent heartbeats (shared with the other readers of the row); `known`
 * heartbeats already read (the other agents of the last day) are not read again.
 */
export async function siteShipper(blobs: HeartbeatBlobs, site: string, newest: Heartbeat, recent: HeartbeatListing, now: number, known: readonly Heartbeat[] = []): Promise<FleetShipper | undefined> {
  const agent = newest.agent;
  if (!agent) return undefined;
  let since: number | undefined;
  let before: { id: string; t: number; key: string } | undefined;
  let n = 0;
  for await (const item of heartbeatListing(blobs, site, 'heartbeats-daily').keys()) {
    if (++n > DAILY_KEYS_READ) break;
    if (!heartbeatKeyPlausible(item.t, now) || item.agent === undefined) continue;
    if (item.agent === agent.id) {
      // Written before the other agent's last day too: the two wrote side by side, nothing was handed over.
      if (before) return { host: agent.host, id: agent.id };
      since = item.t;
    } else if (since !== undefined) before ??= { id: item.agent, t: item.t, key: item.key };
    else return { host: agent.host, id: agent.id }; // another agent's daily heartbeat newer than this one's: both write now
  }
  const shipper: FleetShipper = { host: agent.host, id: agent.id, ...(since !== undefined ? { since: new Date(since).toISOString() } : {}) };
  if (!before) return shipper;
  const seen = known.find((h) => h.agent?.id === before.id);
  const recentLast = seen ?? (now - before.t < HEARTBEAT_KEEP_DAYS * 86_400_000 ? await lastOf(recent, before.id, before.t, now) : undefined);
  const last = recentLast ?? (await readHeartbeat(blobs, before.key));
  if (!heartbeatMatchesKey(last, Date.parse(last.at), before.id)) return shipper;
  // It wrote over an hour after this agent's first heartbeat of the run: the two shipped side by side (a second agent
  // started beside it), nothing was handed over. Within the hour it is a switchover of minutes, the old host's clock ahead.
  if (since !== undefined && Date.parse(last.at) >= since + SIDE_BY_SIDE_MS) return { host: agent.host, id: agent.id };
  shipper.before = { host: last.agent?.host ?? '', id: before.id, lastHeartbeat: last.at, ...(recentLast ? {} : { lastHeartbeatDaily: true as const }), sources: sourcesOf(last) };
  return shipper;
}

/** The row's words for it: `shipped by H since T; before it H2 (its last heartbeat T2: last copies …)`. */
export function shipperText(s: FleetShipper): string {
  const now = `shipped by the agent on ${s.host || 'an unnamed host'}${s.since ? ` since ${s.since}` : ''}`;
  if (!s.before) return now;
  const b = s.before;
  const copies = b.sources.map((src) => `${src.name} ${src.lastGood ? src.lastGood.at : 'none'}`).join(', ');
  const last = `${b.lastHeartbeatDaily ? 'its last daily heartbeat' : 'its last heartbeat'} ${b.lastHeartbeat}`;
  return `${now}; before it the agent on ${b.host || 'an unnamed host'} (id ${b.id}; ${last}${copies ? `, its last copies offsite: ${copies}` : ''})`;
}
