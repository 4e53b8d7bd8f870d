import type { Alert } from '../core/ports.ts';
import type { AlertBook } from './state/alert-book.ts';
import type { HeartbeatWriter } from './heartbeat.ts';
import { refusedAgentText, REFUSED_SHOW_HOURS, type RefusedAgent } from '../core/refused-agent.ts';

// What the agent tells an operator about its pass's heartbeat (agent/heartbeat.ts), as the
// alerts it holds after each pass: another agent writing as this site, and the heartbeat (or the
// state directory's memory of it) not written. Each is undefined when all is well; the agent
// resolves it then, once a heartbeat went out.

type HeldAlert = Omit<Alert, 'key'>;

/** Another agent wrote a heartbeat as this site: a copy of this one (its own id), or another site under this name (not the agent this one replaced). */
export function anotherAgentAlert(site: string, other: HeartbeatWriter['otherAgent']): HeldAlert | undefined {
  if (!other || other.replacedAt !== undefined) return undefined;
  return {
    severity: 'critical',
    site,
    subject: `another agent ships as site ${site}`,
    message: other.copy
      ? `An agent with this agent's own id, on ${other.host || 'another host'}, wrote a heartbeat as site ${site} at ${other.at} that this state directory did not write: a copy of it runs elsewhere (a cloned VM, a host moved but left running), or this directory was restored from an older backup. Two agents on one site ship its recordings twice and each hides the other's failures: stop the copy. After a restore from a backup this resolves by itself within the hour.`
      : `An agent on ${other.host || 'another host'} (id ${other.id}) wrote a heartbeat as site ${site} at ${other.at}. Two sites under one site name mix their recordings in one catalogue, and the fleet view sees one site where there are two: give each site its own \`site:\` (or, if this is the same site moved to a new host, stop the old agent).`,
    details: { otherHost: other.host, otherAgent: other.id, at: other.at },
  };
}

/**
 * An agent of this site refused since the site failed over (an old primary whose cron started it
 * with its state directory of before): it ships nothing and writes no heartbeat, and its own alert
 * reaches only its host, often without a hook yet. The agent that ships the site says it to its
 * own hook: a warning (nothing is mixed, the refusal holds), until the old host is dealt with.
 */
export function refusedAgentsAlert(site: string, refused: readonly RefusedAgent[] | undefined): HeldAlert | undefined {
  if (!refused?.length) return undefined;
  const hosts = [...new Set(refused.map((r) => r.agent.host || 'an unnamed host'))].join(', ');
  return {
    severity: 'warning',
    site,
    subject: `the agent on ${hosts} came back as site ${site} with a state directory of before the failover and was refused`,
    message: `${refused.map(refusedAgentText).join('\n')}\nIt ships nothing while refused. This resolves once that host has not been refused for ${REFUSED_SHOW_HOURS} hours (its cron line removed, its service stopped).`,
    details: { refused: refused.map((r) => ({ agent: r.agent.id, host: r.agent.host, state: r.agent.state, at: r.at, lastHeartbeat: r.lastHeartbeat })) },
  };
}

/**
 * The alerts a written heartbeat holds about the site's other agents: another one writing as the
 * site, the one this agent replaced, one refused since a failover. Resolved only by a heartbeat
 * that went out (`wrote`), the refused one only when the refused records were read.
 */
export async function holdOtherAgentAlerts(alerts: Pick<AlertBook, 'hold'>, site: string, writer: Pick<HeartbeatWriter, 'otherAgent' | 'refusedAgents'>, wrote: boolean): Promise<void> {
  await alerts.hold('site-name-shared', anotherAgentAlert(site, writer.otherAgent), site, `No other agent has written as site ${site} in the last hour.`, wrote);
  await alerts.hold('site-replaced-agent', replacedAgentAlert(site, writer.otherAgent), site, `The agent this one replaced has written no heartbeat as site ${site} in the last hour.`, wrote);
  await alerts.hold('site-refused-agent', refusedAgentsAlert(site, writer.refusedAgents), site, `No agent has been refused as site ${site} in the last ${REFUSED_SHOW_HOURS} hours.`, wrote && writer.refusedAgents !== undefined);
}

/**
 * How long a store that cannot be reached (the line down, not a refusal) goes unpaged, from the
 * last heartbeat that went out: a branch line that drops for minutes several times a day pages
 * nobody; one down for longer pages before the fleet view calls the site SILENT (90 min).
 */
export const UNREACHABLE_PAGE_MINUTES = 60;

/** The pass's heartbeat failed: the store refused it or could not be reached, or the state directory could not keep it (`wentOut`: the heartbeat itself did). */
export function heartbeatFailedAlert(site: string, writer: Pick<HeartbeatWriter, 'failure' | 'failedIn' | 'unreachableSince'>, wentOut: boolean, now: Date): HeldAlert | undefined {
  if (writer.failure === undefined) return undefined;
  const since = writer.failedIn === 'store' && writer.unreachableSince !== undefined ? Date.parse(writer.unreachableSince) : undefined;
  if (since !== undefined && now.getTime() - since < UNREACHABLE_PAGE_MINUTES * 60_000) return undefined;
  return {
    severity: 'critical',
    site,
    ...(writer.failedIn === 'state'
      ? {
          subject: 'the state directory cannot be written',
          message: `The agent could not save its heartbeat's memory (${writer.failure}); the heartbeat itself ${wentOut ? 'went out' : 'did not go out either'}. A state directory that cannot be written (its disk full, a mode changed) stops every pass: free space on its disk or fix its permissions.`,
        }
      : {
          subject: 'the heartbeat cannot be written to the store',
          message: `The agent could not write its heartbeat (${writer.failure})${since !== undefined ? `; the store has not been reached since the last heartbeat went out, at ${writer.unreachableSince}` : ''}. The cloud cannot see this site (the fleet view will call it SILENT), and nothing can ship while the store refuses this agent or cannot be reached: check cloud.endpoint, the network and the credentials.`,
        }),
    details: { error: writer.failure },
  };
}

/**
 * The agent this one replaced: its last heartbeat as this site was written before this state
 * directory began (a host rebuilt or reinstalled within the hour). Not a second agent, so no
 * page: said at info, until its heartbeat is an hour old. Should it write again, it is one, and
 * `anotherAgentAlert` pages.
 */
export function replacedAgentAlert(site: string, other: HeartbeatWriter['otherAgent']): HeldAlert | undefined {
  if (other?.replacedAt === undefined) return undefined;
  const host = other.host || 'another host';
  return {
    severity: 'info',
    site,
    subject: `this agent took over site ${site} from the agent on ${host}, whose last heartbeat was at ${other.at}`,
    message: `This state directory began at ${other.replacedAt} (a new or rebuilt host). The agent on ${host} (id ${other.id}) last wrote a heartbeat as site ${site} at ${other.at}, before then: it is taken as the agent this one replaced, not a second agent. If that agent still runs, stop it: its next heartbeat raises "another agent ships as site ${site}" (critical).`,
    details: { otherHost: other.host, otherAgent: other.id, at: other.at, stateBegan: other.replacedAt },
  };
}

/**
 * The state directory is older than this agent's last run (staleState): restored from a backup or a VM snapshot, or a copy runs elsewhere.
 * `read`: what was read of the store's manifests since (shippedSince); a read that stopped at its cap says so, and what it means.
 */
export function stateRestoredAlert(site: string, state: string, stale: { remembered: string; found: string }, read: { manifests: number; complete: boolean; unreadFrom?: string } | undefined): HeldAlert {
  const what = !read
    ? `The store's manifests since ${stale.remembered} could not be read: recordings shipped since and evicted from the recorder may be recorded lost though they are offsite (look them up in the catalogue before acting on such a loss).`
    : read.complete
      ? `The ${read.manifests} pack(s) the store lists since ${stale.remembered} were read, so what they hold is not called lost, and a batch holding any of it is asked about before it is sent (not sent again).`
      : `Only the first ${read.manifests} pack(s) the store lists since ${stale.remembered} were read (the most a pass reads): what they hold is not called lost, but packs filed from ${read.unreadFrom} on were not all read, so recordings shipped in them and evicted since may be recorded lost though they are offsite (look them up in the catalogue before acting on such a loss).`;
  return {
    severity: 'warning',
    site,
    subject: `the state directory of site ${site} is older than its agent's last run`,
    message: `The state directory (${state}) last wrote a heartbeat at ${stale.remembered}, but this agent (its id) wrote one at ${stale.found}: the directory was restored from a backup or rolled back, or a copy of it runs on another machine. ${what}`,
    details: { remembered: stale.remembered, found: stale.found, ...(read ? { manifests: read.manifests, complete: read.complete } : { manifests: 0, complete: false }), ...(read?.unreadFrom ? { unreadFrom: read.unreadFrom } : {}) },
  };
}
