import { heartbeatKeyParts, heartbeatKeyPlausible, heartbeatMatchesKey, heartbeatPrefix, heartbeatSchema, type Heartbeat, type HeartbeatClass } from './fleet.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { zodProblems } from './zod-problems.ts';

// Reading a site's heartbeats (written by agent/heartbeat.ts under keys core/heartbeat-key.ts builds):
// the one that speaks for the site (the newest, or the one of a day), and the newest of every
// other agent that wrote as the site in a window, whose losses are the site's too (a failover
// host, a new state directory). One listing serves both: the keys name their agent, so each
// other agent costs one GET, never one per heartbeat.

export type HeartbeatBlobs = Pick<BlobStore, 'list' | 'get'>;

const MAX_HEARTBEAT_BYTES = 256 * 1024;

export async function readHeartbeat(blobs: HeartbeatBlobs, key: string): Promise<Heartbeat> {
  const text = (await readSmallObject(blobs, key, MAX_HEARTBEAT_BYTES, 'heartbeat')).toString('utf8');
  const parsed = heartbeatSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new TypeError(`heartbeat ${key}: ${zodProblems(parsed.error).join('; ')}`);
  return parsed.data;
}

export interface ListedHeartbeat {
  key: string;
  /** Its time, from the key. */
  t: number;
  /** The agent id its key names; undefined for the keys of agents before it was kept there. */
  agent?: string;
  /** When the store received it (LastModified). */
  received?: number;
}

/**
 * One listing of a site's heartbeat keys (newest first), walked by several readers in turn: each
 * starts again from the newest, what an earlier one listed is kept, and the store is asked for
 * more only past it. Keys of another shape are left out.
 */
export class HeartbeatListing {
  private readonly listed: ListedHeartbeat[] = [];
  private source: AsyncIterator<{ key: string; lastModified?: Date }> | undefined;
  private done = false;

  constructor(
    readonly blobs: HeartbeatBlobs,
    private readonly prefix: string,
    /** Keys a LIST request asks for (the store's default when undefined). */
    private readonly pageSize?: number,
  ) {}

  async *keys(): AsyncGenerator<ListedHeartbeat> {
    for (let i = 0; ; i++) {
      while (i >= this.listed.length) {
        if (this.done) return;
        this.source ??= this.blobs.list(this.prefix, this.pageSize === undefined ? undefined : { pageSize: this.pageSize })[Symbol.asyncIterator]();
        const next = await this.source.next();
        if (next.done) {
          this.done = true;
          return;
        }
        const parts = heartbeatKeyParts(next.value.key);
        if (parts) this.listed.push({ key: next.value.key, ...parts, ...(next.value.lastModified ? { received: next.value.lastModified.getTime() } : {}) });
      }
      yield this.listed[i]!;
    }
  }
}

/** The heartbeat listing of a site (its heartbeats of the last HEARTBEAT_KEEP_DAYS, or its daily ones). */
export function heartbeatListing(blobs: HeartbeatBlobs, site: string, dataClass: HeartbeatClass = 'heartbeats'): HeartbeatListing {
  return new HeartbeatListing(blobs, heartbeatPrefix(site, dataClass));
}

/** Keys listed past a heartbeat dated ahead of the reader's clock, looking for one the store received later. */
const AHEAD_SCAN_LIMIT = 1000;

export interface SiteHeartbeat {
  heartbeat?: Heartbeat;
  /** Its key. */
  key?: string;
  /** Keys passed over, each with why (at most 5). */
  ignored: string[];
}

/** Why a heartbeat is not believed: its time, or its agent id, is not its key's. */
const notItsKeys = (heartbeat: Heartbeat, item: ListedHeartbeat) => (Date.parse(heartbeat.at) !== item.t ? `its at ${heartbeat.at} is not its key's time` : `its agent ${heartbeat.agent?.id ?? '(none)'} is not its key's`);

const notLater = (item: ListedHeartbeat, ahead: { received: number } | undefined) => item.received === undefined || item.received <= ahead!.received;

/**
 * The site's newest heartbeat as of `now`; none when it has none. A heartbeat that does not
 * parse is an error naming its key. Keys dated more than a day ahead, and heartbeats whose `at`
 * (or agent id) is not their key's, are passed over and named in `ignored` (a key is its writer's
 * choice: one planted in the future would otherwise hide the site's real heartbeats for good).
 *
 * Keys sort by the agent's clock. After a clock that ran ahead is set right, the heartbeats
 * written under it still sort first for as long as it was ahead, and would hide the agent's
 * newer ones (a loss, an alert) behind "the clock is ahead". So when the newest key is dated
 * ahead of `now`, the first key at or before `now` is read too, and speaks for the site when the
 * store received it after every key dated ahead (the store's own clock, LastModified).
 */
export async function latestHeartbeat(listing: HeartbeatListing, now: number): Promise<SiteHeartbeat> {
  const ignored: string[] = [];
  let ahead: { heartbeat: Heartbeat; key: string; received: number } | undefined;
  let scanned = 0;
  const found = (heartbeat: Heartbeat | undefined, key: string | undefined): SiteHeartbeat => ({ ...(heartbeat ? { heartbeat, key } : {}), ignored });
  for await (const item of listing.keys()) {
    const { t, key } = item;
    if (!heartbeatKeyPlausible(t, now)) {
      if (ignored.length < 5) ignored.push(`${key} (dated ${new Date(Math.min(t, 8.64e15)).toISOString()}, more than a day ahead)`);
      continue;
    }
    if (ahead) {
      if (t > now) {
        // Another key of the clock that ran ahead: the latest the store received of them counts.
        if (item.received !== undefined) ahead.received = Math.max(ahead.received, item.received);
        if (++scanned < AHEAD_SCAN_LIMIT) continue;
        return found(ahead.heartbeat, ahead.key);
      }
      if (notLater(item, ahead)) return found(ahead.heartbeat, ahead.key);
    }
    const heartbeat = await readHeartbeat(listing.blobs, key);
    if (!heartbeatMatchesKey(heartbeat, t, item.agent)) {
      if (ignored.length < 5) ignored.push(`${key} (${notItsKeys(heartbeat, item)})`);
      continue;
    }
    if (ahead || t <= now || item.received === undefined) return found(heartbeat, key);
    ahead = { heartbeat, key, received: item.received };
  }
  return found(ahead?.heartbeat, ahead?.key);
}

/**
 * The heartbeat that speaks for the site as of `at`: the first written at or after it (it
 * carries the losses of the days before, and the backlog just after), else the last before it;
 * none when the site has none. Keys alone are listed up to it (newest first). `earlier` says
 * whether the listing holds a heartbeat before `at` at all: without one, the heartbeat chosen is
 * the first the listing holds, written after `at`.
 */
export async function heartbeatAsOf(listing: HeartbeatListing, at: number, now: number): Promise<{ heartbeat: Heartbeat; key: string; earlier: boolean } | undefined> {
  let after: string | undefined;
  let chosen: string | undefined;
  let earlier = false;
  for await (const item of listing.keys()) {
    if (!heartbeatKeyPlausible(item.t, now)) continue;
    if (item.t >= at) after = item.key;
    else {
      chosen = after ?? item.key;
      earlier = true;
      break;
    }
  }
  chosen ??= after;
  return chosen === undefined ? undefined : { heartbeat: await readHeartbeat(listing.blobs, chosen), key: chosen, earlier };
}

/** Whether the listing holds a heartbeat written before `at` (keys alone, newest first, up to the first one before it). */
export async function heartbeatBefore(listing: HeartbeatListing, at: number, now: number): Promise<boolean> {
  for await (const item of listing.keys()) if (heartbeatKeyPlausible(item.t, now) && item.t < at) return true;
  return false;
}

/**
 * Other agents read per site at most (a handful write as one site: a failover host, a state
 * directory moved or rebuilt); past it the newest agents are read and the rest named as not read.
 */
export const OTHER_AGENTS_READ = 8;

/**
 * The heartbeat of each agent other than `except`'s that wrote as the site since `from` (keys
 * alone tell them apart; the keys before agents named themselves there count as one agent), the
 * one chosen as heartbeatAsOf chooses for the site: the first at or after `at`, else the newest
 * before it (`at` absent: the newest). One GET per agent. A heartbeat that cannot be read or is
 * not its key's is passed over and named in `ignored`.
 */
export async function otherAgentsHeartbeats(listing: HeartbeatListing, opts: { from: number; now: number; at?: number; except?: string }): Promise<{ heartbeats: Heartbeat[]; ignored: string[] }> {
  const exceptAgent = opts.except === undefined ? undefined : (heartbeatKeyParts(opts.except)?.agent ?? '');
  const chosen = new Map<string, ListedHeartbeat>();
  for await (const item of listing.keys()) {
    if (item.t < opts.from) break;
    const agent = item.agent ?? '';
    if (!heartbeatKeyPlausible(item.t, opts.now) || agent === exceptAgent) continue;
    // Newest first: the first seen is the newest; an older one replaces it while it is still at or after `at`.
    if (!chosen.has(agent) || (opts.at !== undefined && item.t >= opts.at)) chosen.set(agent, item);
  }
  const picked = [...chosen.values()];
  const ignored: string[] = [];
  if (picked.length > OTHER_AGENTS_READ) ignored.push(`${picked.length - OTHER_AGENTS_READ} more agent(s) wrote as this site since ${new Date(opts.from).toISOString()}: their heartbeats were not read (at most ${OTHER_AGENTS_READ})`);
  const read = await Promise.all(
    picked.slice(0, OTHER_AGENTS_READ).map(async (item) => {
      try {
        const heartbeat = await readHeartbeat(listing.blobs, item.key);
        if (heartbeatMatchesKey(heartbeat, item.t, item.agent)) return heartbeat;
        ignored.push(`${item.key} (${notItsKeys(heartbeat, item)})`);
      } catch (error) {
        ignored.push(`${item.key} (${error instanceof Error ? error.message : String(error)})`);
      }
      return undefined;
    }),
  );
  return { heartbeats: read.filter((h): h is Heartbeat => h !== undefined), ignored };
}
