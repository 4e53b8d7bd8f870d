import { heartbeatKeyPlausible, heartbeatMatchesKey, type Heartbeat } from './fleet.ts';
import type { ShippedTotals } from './fleet-shipped.ts';
import { readHeartbeat, type HeartbeatListing, type ListedHeartbeat } from './heartbeat-read.ts';
import { OTHER_AGENTS_READ } from './heartbeat-read.ts';

// What a site shipped in a day whatever its recordings' dates, for the daily report. The day's
// manifests cannot say it: a pack is dated (and filed) by its oldest recording, so the day a
// first install ships last month's 100,000 calls holds none of them. Every heartbeat carries
// what its agent shipped since its state directory began (`shipped`, core/fleet-shipped.ts), so
// per agent the day's share is its last heartbeat of the day less its last before the day.
//
// The bounds are heartbeats, not midnight: a pass that shipped writes one as it ends, a long
// pass one every few minutes (agent/pass-heartbeat.ts), so what shipped after the day's last
// heartbeat counts on the next day, each pack on exactly one day. Keys alone are listed (newest
// first) down to each agent's last heartbeat before the day; two GETs per agent.

export interface ShippedInDay extends ShippedTotals {
  /** Agents whose heartbeats of the day were counted. */
  agents: number;
  /**
   * Agents that wrote in the day whose heartbeats carry no totals, or whose last one before the
   * day does not (an agent before they were sent, or upgraded in the day): what they shipped is
   * not in the figures.
   */
  notCounted?: number;
  /** Agents that wrote in the day past the most read per site (OTHER_AGENTS_READ + 1, the newest read): what they shipped is not in the figures. */
  notRead?: number;
}

const ZERO: ShippedTotals = { packs: 0, recordings: 0, bytes: 0, artefacts: 0, artefactBytes: 0 };
const FIELDS = Object.keys(ZERO) as (keyof ShippedTotals)[];

/** Each agent's last heartbeat in [start, judged] and its last before `start` in the recent listing. */
async function agentBounds(listing: HeartbeatListing, start: number, judged: number, now: number) {
  const ends = new Map<string, ListedHeartbeat>();
  const bases = new Map<string, ListedHeartbeat>();
  for await (const item of listing.keys()) {
    if (!heartbeatKeyPlausible(item.t, now) || item.t > judged) continue;
    const agent = item.agent ?? '';
    if (item.t >= start) {
      if (!ends.has(agent)) ends.set(agent, item);
      continue;
    }
    if (ends.size === 0) break;
    if (ends.has(agent) && !bases.has(agent)) bases.set(agent, item);
    if (bases.size === ends.size) break;
  }
  return { ends, bases };
}

/** The last daily heartbeat before `start` of each agent in `agents` (its recent ones expired: a month silent). */
async function dailyBases(daily: HeartbeatListing, agents: Set<string>, start: number, now: number, bases: Map<string, ListedHeartbeat>): Promise<void> {
  if (agents.size === 0) return;
  for await (const item of daily.keys()) {
    const agent = item.agent ?? '';
    if (!heartbeatKeyPlausible(item.t, now) || item.t >= start || !agents.has(agent) || bases.has(agent)) continue;
    bases.set(agent, item);
    agents.delete(agent);
    if (agents.size === 0) return;
  }
}

/** The heartbeat under a listed key, or undefined when it cannot be read or is not its key's. */
async function readListed(listing: HeartbeatListing, item: ListedHeartbeat | undefined): Promise<Heartbeat | undefined> {
  if (!item) return undefined;
  try {
    const heartbeat = await readHeartbeat(listing.blobs, item.key);
    return heartbeatMatchesKey(heartbeat, item.t, item.agent) ? heartbeat : undefined;
  } catch {
    return undefined;
  }
}

/** One agent's share of the day: its totals at the day's end less those before it; undefined when its heartbeats cannot tell. */
function agentShare(end: Heartbeat | undefined, base: Heartbeat | undefined, hadBase: boolean): ShippedTotals | undefined {
  if (!end?.shipped) return undefined;
  // A base that carries no totals (an agent upgraded in the day) would count everything since it was installed.
  if (hadBase && !base?.shipped) return undefined;
  const from = base?.shipped ?? ZERO;
  // Totals that went down: its journal began again (a state directory rebuilt under the same id); counted from zero.
  const restarted = FIELDS.some((k) => end.shipped![k] < from[k]);
  return Object.fromEntries(FIELDS.map((k) => [k, end.shipped![k] - (restarted ? 0 : from[k])])) as unknown as ShippedTotals;
}

/**
 * What the site's agents shipped between `start` and `judged` (ms), from their heartbeats; undefined
 * when no agent wrote a heartbeat in it (nothing is known of the day). An agent with no heartbeat
 * before the day (a first install) counts from zero.
 */
export async function shippedInDay(listings: { recent: HeartbeatListing; daily: HeartbeatListing }, start: number, judged: number, now: number): Promise<ShippedInDay | undefined> {
  const { ends, bases } = await agentBounds(listings.recent, start, judged, now);
  if (ends.size === 0) return undefined;
  const agents = [...ends.keys()].slice(0, OTHER_AGENTS_READ + 1);
  await dailyBases(listings.daily, new Set(agents.filter((a) => !bases.has(a))), start, now, bases);
  const out: ShippedInDay = { ...ZERO, agents: 0 };
  let notCounted = 0;
  for (const agent of agents) {
    const base = bases.get(agent);
    const share = agentShare(await readListed(listings.recent, ends.get(agent)), await readListed(base && base.key.startsWith('heartbeats-daily/') ? listings.daily : listings.recent, base), base !== undefined);
    if (!share) {
      notCounted++;
      continue;
    }
    out.agents++;
    for (const k of FIELDS) out[k] += share[k];
  }
  const notRead = ends.size - agents.length;
  return { ...out, ...(notCounted > 0 ? { notCounted } : {}), ...(notRead > 0 ? { notRead } : {}) };
}
