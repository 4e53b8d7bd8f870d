import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Alert, BlobStore } from '../core/ports.ts';
import { heartbeatListing, readHeartbeat, type HeartbeatBlobs, type ListedHeartbeat } from '../core/heartbeat-read.ts';
import { HEARTBEAT_KEEP_DAYS, heartbeatKeyPlausible } from '../core/heartbeat-key.ts';
import { readJsonFile, writeFileAtomic } from './state/atomic-file.ts';
import { emptyReport, type CycleReport } from './agent-types.ts';
import type { AlertBook } from './state/alert-book.ts';
import type { Logger } from './log.ts';
import { REFUSED_AGENT_FORMAT, refusedAgentKey, type RefusedAgent } from '../core/refused-agent.ts';
import { AlreadyExistsError } from '../core/errors.ts';
import { heartbeatMemoryFile, SHARED_SITE_WINDOW_MS, type HeartbeatMemory } from './heartbeat-memory.ts';

// A site failed over: its old host (or a copy of its state directory) comes back, and its cron
// starts the agent with the state directory it had before the failover, while another agent
// ships the site from the secondary host. Shipping then would publish the old host's share as
// the site's newest snapshot and its old server's binlogs beside the new server's: a restore
// "of the latest" would give the state before the failover. The agent finds it from the site's
// heartbeats: this state directory has written none for more than an hour (its last is the newest
// under its id: one put back from a VM snapshot wrote later ones before it went back), another
// agent began writing as the site after its last one, and had written none before it (in the month the
// heartbeats are kept; two agents running side by side are the other case, `another agent ships
// as site`, however long both were off in between). It ships nothing then, and says what to do.

export interface TakenOver {
  /** The agent that ships the site now. */
  id: string;
  host: string;
  /** Its first heartbeat after this state directory's last (as far as the listing reaches), and its newest. */
  since: string;
  newest: string;
  /** This state directory's last heartbeat. */
  lastOwn: string;
  /** The first pass refused (when taken-over.json was written); absent from a file written before it was kept. */
  refusedSince?: string;
}

/** The agent a heartbeat names (undefined when it cannot be read). */
const agentOf = async (blobs: HeartbeatBlobs, key: string) => (await readHeartbeat(blobs, key).catch(() => undefined))?.agent;

/** The id of the agent that wrote a listed heartbeat: from its key, or read from it (the keys of agents before it was kept there). */
const idOf = async (blobs: HeartbeatBlobs, h: ListedHeartbeat) => h.agent ?? (await agentOf(blobs, h.key))?.id;

/**
 * Whether `agent` wrote as the site before `before` (in the HEARTBEAT_KEEP_DAYS before it), from
 * the site's daily heartbeats (the first each agent writes in a UTC day, kept a year): an agent
 * that shipped before this state directory's last heartbeat runs beside it, however long the two
 * were both off since (hosts switched off hours apart, cron passes a day apart), and took nothing over.
 */
async function wroteBefore(blobs: HeartbeatBlobs, site: string, agent: string, before: number, now: number): Promise<boolean> {
  for await (const h of heartbeatListing(blobs, site, 'heartbeats-daily').keys()) {
    if (!heartbeatKeyPlausible(h.t, now) || h.t >= before) continue;
    if (h.t < before - HEARTBEAT_KEEP_DAYS * 86_400_000) return false;
    if ((await idOf(blobs, h)) === agent) return true;
  }
  return false;
}

/** Whether another agent took the site over after this state directory's last heartbeat. Undefined when not, or when it cannot tell. */
export async function siteTakenOver(store: Partial<Pick<BlobStore, 'list' | 'get'>>, site: string, state: string, now: number): Promise<TakenOver | undefined> {
  const memory = readJsonFile<HeartbeatMemory>(heartbeatMemoryFile(state));
  if (!memory?.agentId || !memory.lastWritten || !store.list || !store.get) return undefined;
  const blobs = { list: store.list.bind(store), get: store.get.bind(store) };
  let lastOwn = Date.parse(memory.lastWritten);
  // Silent for less than the hour (a pass interval, a reboot): another agent's heartbeats since are a second agent's, not a takeover.
  const silent = () => now - lastOwn > SHARED_SITE_WINDOW_MS;
  if (!silent()) return undefined;
  let other: { id: string; host: string; since: number; newest: number } | undefined;
  try {
    for await (const h of heartbeatListing(blobs, site).keys()) {
      if (!heartbeatKeyPlausible(h.t, now)) continue;
      if (h.t < lastOwn - SHARED_SITE_WINDOW_MS) break;
      const id = await idOf(blobs, h);
      if (id === undefined) continue;
      // This agent's own id after its last heartbeat: written by this directory before it was put
      // back from an older copy (a VM snapshot), or by a copy of it running elsewhere (staleState).
      // The site was shipped under this id until then: the newest such heartbeat is the one another
      // agent took over after, if any did (newest first: the other heartbeats seen so far are after it).
      if (id === memory.agentId) {
        if (h.t > lastOwn) {
          lastOwn = h.t;
          if (!silent()) return undefined;
        }
        continue;
      }
      if (h.t > lastOwn) {
        if (!other) other = { id, host: (await agentOf(blobs, h.key))?.host ?? '', since: h.t, newest: h.t };
        else if (id === other.id) other.since = h.t;
        continue;
      }
      // The newest other agent wrote in the hour before this directory's last heartbeat too: they ran side by side.
      if (other && id === other.id) return undefined;
    }
  } catch {
    return undefined;
  }
  if (!other) return undefined;
  if (await wroteBefore(blobs, site, other.id, lastOwn, now).catch(() => true)) return undefined; // cannot tell: not taken over
  return { id: other.id, host: other.host, since: new Date(other.since).toISOString(), newest: new Date(other.newest).toISOString(), lastOwn: new Date(lastOwn).toISOString() };
}

/**
 * The critical alert of a pass that ships nothing because the site is shipped from another host now.
 * `ownHost` is this machine's name: when the other agent's heartbeats carry the same one (a standby
 * that took the primary's name, a rebuilt host that mounts its old state directory again), the alert
 * says it is another agent on a host of that name, not "the agent on" this host's own name.
 */
export function siteTakenOverAlert(site: string, state: string, t: TakenOver, ownHost: string = hostname()): Omit<Alert, 'key'> {
  const host = t.host || 'another host';
  const sameName = t.host !== '' && t.host.toLowerCase() === ownHost.toLowerCase();
  const who = sameName ? `another agent (id ${t.id}) on a host also named ${t.host}` : `the agent on ${host}`;
  const itIs = sameName
    ? `another agent (id ${t.id}, not this state directory's) ships the site (its newest heartbeat ${t.newest}). It ran on a host named ${t.host}, as this one is named, but it is not this agent: a standby that took this host's name at a failover, or this host rebuilt with a new state directory while this old one was mounted again, or another agent was started as this site. `
    : `the agent on ${host} (id ${t.id}) ships the site (its newest heartbeat ${t.newest}): the site was moved to that host (a failover), or that agent was started as this site. `;
  return {
    severity: 'critical',
    site,
    subject: `site ${site} is shipped by ${who} since ${t.since}: this agent shipped nothing`,
    message:
      `This state directory (${state}) last wrote a heartbeat as site ${site} at ${t.lastOwn}; since ${t.since} ${itIs}` +
      `Shipping from here would publish this host's older share and its old server's binlogs as the site's newest, so nothing was shipped. ` +
      `If that agent is the site now, stop this one (its cron line or service). To fail back to this host, stop that agent first, restore the database and the share from the cloud, ` +
      `then start this agent with a new, empty state directory (\`state:\` in its configuration) and take a full (docs/restore.md, "Failing over, and back"). ` +
      `If that agent should never have shipped as site ${site} (a test host, a copied configuration) and this host's database and share are the site's, restore nothing: stop that agent, then start this one with a new, empty state directory and take a full.`,
    details: { otherAgent: t.id, otherHost: t.host, ...(sameName ? { otherHostSameName: true } : {}), since: t.since, newest: t.newest, lastOwn: t.lastOwn },
  };
}

/**
 * `taken-over.json` in the state directory: the takeover once found, kept, so the directory is
 * refused at every run whatever the site's heartbeats say later (the bucket expires them after
 * HEARTBEAT_KEEP_DAYS: the other agent stopped, the old share would become the newest again).
 */
export const takenOverFile = (state: string) => join(state, 'taken-over.json');

/**
 * The record of this refused pass in the site's heartbeat prefix (core/refused-agent.ts), so the
 * fleet view and the daily report say the old host came back: one key per hour, If-None-Match
 * (the passes of an hour after the first find it written). Never a heartbeat: the site's newest
 * heartbeat stays the agent that ships it. A record that cannot be written is logged.
 */
async function recordRefusal(deps: { store: Partial<Pick<BlobStore, 'put'>>; config: { site: string; state: string }; log: Pick<Logger, 'error'> }, over: TakenOver, now: Date): Promise<void> {
  const { site, state } = deps.config;
  const agentId = readJsonFile<HeartbeatMemory>(heartbeatMemoryFile(state))?.agentId;
  if (!deps.store.put || !agentId) return;
  const record: RefusedAgent = {
    format: REFUSED_AGENT_FORMAT,
    site,
    at: now.toISOString(),
    ...(over.refusedSince ? { refusedSince: over.refusedSince } : {}),
    agent: { id: agentId, host: hostname(), state },
    lastHeartbeat: over.lastOwn,
    shippedBy: { id: over.id, host: over.host, since: over.since },
  };
  try {
    await deps.store.put(refusedAgentKey(site, agentId, now), Buffer.from(JSON.stringify(record)), { ifNoneMatch: true, contentType: 'application/json' });
  } catch (error) {
    if (error instanceof AlreadyExistsError) return; // this hour's is written
    deps.log.error('the refusal is not recorded in the store: the fleet view does not show this host came back until a later pass records it', { error: error instanceof Error ? error.message : String(error) });
  }
}

/**
 * The first pass of a process whose site another agent took over (siteTakenOver): nothing ships,
 * the critical alert is raised (held in alerts.json, `agent status` shows it), the refusal is
 * recorded where the fleet view reads it (recordRefusal), the pass fails. Undefined when the site
 * is not taken over: the pass goes on.
 */
export async function takenOverPass(deps: { store: Partial<Pick<BlobStore, 'list' | 'get' | 'put'>>; config: { site: string; state: string }; log: Pick<Logger, 'error'> }, alerts: Pick<AlertBook, 'raise'>, now: Date): Promise<CycleReport | undefined> {
  const { site, state } = deps.config;
  const kept = readJsonFile<TakenOver>(takenOverFile(state));
  const found = kept?.id ? undefined : await siteTakenOver(deps.store, site, state, now.getTime());
  const over = kept?.id ? kept : found && { ...found, refusedSince: now.toISOString() };
  if (!over) return undefined;
  if (!kept?.id) {
    try {
      writeFileAtomic(takenOverFile(state), JSON.stringify(over));
    } catch (error) {
      deps.log.error('the takeover found is not saved in the state directory: the next run looks again', { error: error instanceof Error ? error.message : String(error) });
    }
  }
  const alert = siteTakenOverAlert(site, state, over);
  deps.log.error(alert.subject, alert.details ?? {});
  await alerts.raise('site-taken-over', alert);
  await recordRefusal(deps, over, now);
  return { ...emptyReport(), failed: 1 };
}
