import { z } from 'zod';
import { heartbeatKeyPlausible, heartbeatPrefix, KEY_AGENT, newestFirstDigits, timeOfNewestFirst } from './heartbeat-key.ts';
import type { BlobStore } from './ports.ts';
import { readSmallObject } from './read-small.ts';
import { zodProblems } from './zod-problems.ts';

// A refused agent's record: an agent whose site failed over to another host (agent/site-takeover.ts)
// ships nothing and writes no heartbeat, so that it never becomes the site's newest and what the
// fleet calls the site's agent stays the one that ships. Its alert reaches only its own host
// (alerts.json, its hook, `agent status`), and a host just repaired often has no hook yet; so each
// refused pass also leaves one small object where the cloud looks:
//
//   heartbeats/{site}/refused/{T}-{agent id}.json, T = 9999999999999 − the hour's start (ms)
//
// Under the site's heartbeat prefix, so the agent's write-once role may add it (If-None-Match:
// `heartbeats/{site}/*`, infra/site-policies.ts), the fleet function may read it, and the bucket
// expires it with the heartbeats (31 days); but never a heartbeat: its third path segment is not a
// time, so every heartbeat listing passes it over (core/heartbeat-key.ts heartbeatKeyParts). One
// key per agent and hour: the passes of that hour after the first find it written (412) and write
// nothing more, and the newest sorts first, so the fleet reads a site's with one LIST page.

export const REFUSED_AGENT_FORMAT = 'ferry.refused-agent/1';

/**
 * How long after its last refused pass a refused agent is shown: the old host's cron still running
 * refreshes it every hour; once stopped (or the host down again), the line goes two days later.
 */
export const REFUSED_SHOW_HOURS = 48;

/** Refused agents read per site at most (their newest record each). */
export const REFUSED_AGENTS_READ = 8;

const HOUR = 3600_000;
const MAX_BYTES = 64 * 1024;

const iso = z.string().datetime({ offset: true });

export const refusedAgentSchema = z.object({
  format: z.literal(REFUSED_AGENT_FORMAT),
  site: z.string().min(1),
  /** This refused pass. */
  at: iso,
  /** The first pass of this state directory that was refused (taken-over.json written); absent when the directory's refusal predates it. */
  refusedSince: iso.optional(),
  /** The refused agent: its id, host and state directory. */
  agent: z.object({ id: z.string().min(1), host: z.string(), state: z.string() }),
  /** Its state directory's last heartbeat: when it last wrote (and shipped) as the site. */
  lastHeartbeat: iso,
  /** The agent that ships the site now, as the takeover found it. */
  shippedBy: z.object({ id: z.string().min(1), host: z.string(), since: iso }),
});
export type RefusedAgent = z.infer<typeof refusedAgentSchema>;

export function refusedAgentPrefix(site: string): string {
  return `${heartbeatPrefix(site)}refused/`;
}

/** The key of `agent`'s record for the hour of `at`. */
export function refusedAgentKey(site: string, agent: string, at: Date): string {
  const hour = Math.floor(at.getTime() / HOUR) * HOUR;
  return `${refusedAgentPrefix(site)}${newestFirstDigits(hour)}${KEY_AGENT.test(agent) ? `-${agent}` : ''}.json`;
}

/** The hour (ms) and agent id a record's key names; undefined for a key of another shape. */
export function refusedAgentKeyParts(key: string): { t: number; agent?: string } | undefined {
  const m = /\/refused\/(\d{13})(?:-([A-Za-z0-9-]{1,64}))?\.json$/.exec(key);
  return m ? { t: timeOfNewestFirst(m[1]!), ...(m[2] ? { agent: m[2] } : {}) } : undefined;
}

export async function readRefusedAgent(blobs: Pick<BlobStore, 'get'>, key: string): Promise<RefusedAgent> {
  const text = (await readSmallObject(blobs, key, MAX_BYTES, 'refused-agent record')).toString('utf8');
  const parsed = refusedAgentSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new TypeError(`refused-agent record ${key}: ${zodProblems(parsed.error).join('; ')}`);
  return parsed.data;
}

/** A record is believed when its agent and hour are its key's. */
function matchesKey(r: RefusedAgent, parts: { t: number; agent?: string }): boolean {
  const at = Date.parse(r.at);
  return at >= parts.t && at < parts.t + HOUR && (parts.agent === undefined || r.agent.id === parts.agent);
}

/**
 * Each agent refused as the site in the REFUSED_SHOW_HOURS before `now` (or in [from, to) when
 * given): its newest record there. One LIST (newest first, stopped at the window's start) and one
 * GET per agent; a record that cannot be read, or is not its key's, is named in `ignored`.
 */
export async function readRefusedAgents(blobs: Pick<BlobStore, 'list' | 'get'>, site: string, now: number, window: { from?: number; to?: number } = {}): Promise<{ refused: RefusedAgent[]; ignored: string[] }> {
  const from = window.from ?? now - REFUSED_SHOW_HOURS * HOUR;
  const newest = new Map<string, { key: string; parts: { t: number; agent?: string } }>();
  for await (const item of blobs.list(refusedAgentPrefix(site))) {
    const parts = refusedAgentKeyParts(item.key);
    if (!parts || !heartbeatKeyPlausible(parts.t, now)) continue;
    if (parts.t + HOUR <= from) break;
    if (window.to !== undefined && parts.t >= window.to) continue;
    if (!newest.has(parts.agent ?? '')) newest.set(parts.agent ?? '', { key: item.key, parts });
  }
  const refused: RefusedAgent[] = [];
  const ignored: string[] = [];
  const picked = [...newest.values()];
  if (picked.length > REFUSED_AGENTS_READ) ignored.push(`${picked.length - REFUSED_AGENTS_READ} more refused agent(s) of this site not read (at most ${REFUSED_AGENTS_READ})`);
  for (const { key, parts } of picked.slice(0, REFUSED_AGENTS_READ)) {
    try {
      const r = await readRefusedAgent(blobs, key);
      if (matchesKey(r, parts)) refused.push(r);
      else ignored.push(`${key} (its agent or time is not its key's)`);
    } catch (error) {
      ignored.push(`${key} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return { refused: refused.sort((a, b) => b.at.localeCompare(a.at)), ignored };
}

/**
 * Whether the refused state directory was replaced: a heartbeat written after the record, from its
 * host, by an agent that is neither it nor the one that took the site over (a failback with a new
 * state directory; the standby that took the old host's name is the taker, not a replacement).
 */
export function refusedReplaced(r: RefusedAgent, heartbeats: readonly { at: string; agent?: { id: string; host: string } }[]): boolean {
  const host = r.agent.host.toLowerCase();
  return heartbeats.some((h) => h.agent !== undefined && h.agent.host.toLowerCase() === host && h.agent.id !== r.agent.id && h.agent.id !== r.shippedBy.id && Date.parse(h.at) > Date.parse(r.at));
}

const hostText = (host: string) => host || 'an unnamed host';

/** What a refused agent's fleet row line (`critical: ` before it), daily report alert and the shipping agent's warning say of it. */
export function refusedAgentText(r: RefusedAgent): string {
  const since = r.refusedSince && r.refusedSince !== r.at ? `, refused since ${r.refusedSince}` : '';
  const taker = r.shippedBy.host && r.shippedBy.host.toLowerCase() === r.agent.host.toLowerCase() ? `another agent (id ${r.shippedBy.id}) on a host also named ${r.shippedBy.host}` : `the agent on ${hostText(r.shippedBy.host)} (id ${r.shippedBy.id})`;
  return (
    `the agent on ${hostText(r.agent.host)} (id ${r.agent.id}) came back with the state directory it had before ${r.lastHeartbeat} and was refused (last at ${r.at}${since}): ` +
    `it ships nothing while ${taker} ships the site since ${r.shippedBy.since}. Stop the old one (its cron line or service), or fail back (docs/restore.md, "Failing over, and back")`
  );
}
