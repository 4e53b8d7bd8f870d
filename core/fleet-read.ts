import { composeAlert } from './alert-text.ts';
import { NotDeliveredError, messageOf } from './errors.ts';
import { readSitePurge, type FleetPurgeReadDeps } from './fleet-purge.ts';
import { judgeSite, LOSS_WARN_HOURS, sortFleet, type FleetRow, type FleetSiteInput } from './fleet.ts';
import { siteShipper, type FleetShipper } from './fleet-handover.ts';
import { heartbeatListing, latestHeartbeat, otherAgentsHeartbeats, type HeartbeatBlobs } from './heartbeat-read.ts';
import type { Alert, Notifier } from './ports.ts';
import { readRefusedAgents } from './refused-agent.ts';
import type { RunStore } from './window.ts';
import { readOverdueErasures } from './erasure-overdue.ts';
import type { ErasureStore } from './erasure-items.ts';

export { heartbeatAsOf, heartbeatListing, latestHeartbeat, readHeartbeat } from './heartbeat-read.ts';

// Reading the fleet (heartbeats from the bucket, window runs from the catalogue table) and the
// dead-man's switch built on it. Requests per site: one LIST page (heartbeat keys sort newest
// first) + one GET + one LIST of its refused agents' records (core/refused-agent.ts: one GET
// more per refused agent, a rare site has one) + one Query, run side by side, so 20 sites answer in the time of a few
// round trips, and one GET more for each other agent that wrote as the site in the last day;
// for the fleet view (not the switch), one LIST of its daily heartbeats (who ships it since when,
// core/fleet-handover.ts) and after a failover the pages back to the old host's last heartbeat; with `purge`, one Query more (the newest purge run) and, for a scheduled site, one GetItem (the
// dead-man's switch's watch of it); test/fleet/fleet.test.ts counts them.

export interface FleetSiteConfig {
  name: string;
  silentAfterMinutes?: number;
  backupCron?: string;
  windowGraceMinutes?: number;
  windowMaxMinutes?: number;
  /** The first day (YYYY-MM-DD) the site no longer ships: from then on RETIRED, never paged. */
  retired?: string;
  /** The site's purge schedule (EventBridge cron, UTC); absent: the purge is not scheduled. */
  purgeCron?: string;
}

export interface FleetReadDeps {
  blobs: HeartbeatBlobs;
  runs: Pick<RunStore, 'recentRuns'>;
  /** Where each site's purge runs and the switch's purge watch are read; absent, rows carry no purge (the switch's own pass reads them itself). */
  purge?: FleetPurgeReadDeps;
  /** Where each site's erasure requests are read (one Query): one pending for over a week is named on its row; absent, rows carry none (the dead-man's switch). */
  erasures?: Pick<ErasureStore, 'listErasures'>;
}

/**
 * What the site's heartbeats say: its newest (else, once the recent ones expired, the newest of
 * the daily ones), and the newest of every other agent that wrote as the site in the last
 * LOSS_WARN_HOURS, whose losses the row names too. One listing (two when the recent ones are gone).
 */
async function siteHeartbeats(blobs: HeartbeatBlobs, site: string, now: number, withShipper: boolean): Promise<Pick<FleetSiteInput, 'heartbeat' | 'heartbeatDaily' | 'otherAgents' | 'ignoredHeartbeats' | 'shipper' | 'shipperUnread'>> {
  const listing = heartbeatListing(blobs, site);
  const latest = await latestHeartbeat(listing, now);
  const ignoredOf = (ignored: string[]) => (ignored.length ? { ignoredHeartbeats: ignored } : {});
  if (!latest.heartbeat) {
    const daily = await latestHeartbeat(heartbeatListing(blobs, site, 'heartbeats-daily'), now);
    const ignored = ignoredOf([...latest.ignored, ...daily.ignored]);
    return daily.heartbeat ? { heartbeat: daily.heartbeat, heartbeatDaily: true, ...ignored } : ignored;
  }
  const others = await otherAgentsHeartbeats(listing, { from: now - LOSS_WARN_HOURS * 3600_000, now, except: latest.key });
  const ignored = [...latest.ignored, ...others.ignored];
  // Who ships it and who did before: not knowing it leaves the row judged by its heartbeats, saying
  // why (a warning): a failover it cannot see is not shown as a site shipped as ever.
  let shipper: FleetShipper | undefined;
  let shipperUnread: string | undefined;
  if (withShipper) {
    try {
      shipper = await siteShipper(blobs, site, latest.heartbeat, listing, now, others.heartbeats);
    } catch (error) {
      shipperUnread = messageOf(error);
    }
  }
  return { heartbeat: latest.heartbeat, ...(others.heartbeats.length ? { otherAgents: others.heartbeats } : {}), ...ignoredOf(ignored), ...(shipper ? { shipper } : {}), ...(shipperUnread !== undefined ? { shipperUnread } : {}) };
}

async function siteInput(deps: FleetReadDeps, site: FleetSiteConfig, now: Date, withShipper: boolean): Promise<FleetSiteInput> {
  const [heartbeats, refused, runs, purge, erasures] = await Promise.all([
    siteHeartbeats(deps.blobs, site.name, now.getTime(), withShipper),
    // Records that cannot be listed leave the row judged by its heartbeats, with a warning: never SILENT for it (the switch would page a site that writes).
    readRefusedAgents(deps.blobs, site.name, now.getTime()).catch((error: unknown) => ({ refused: [], ignored: [], problem: `cannot list the site's refused agents' records (an old primary back after a failover would be named here): ${messageOf(error)}` })),
    deps.runs.recentRuns(site.name, 1),
    deps.purge ? readSitePurge(deps.purge, site.name, site.purgeCron) : undefined,
    deps.erasures ? readOverdueErasures(deps.erasures, site.name, now.getTime()) : undefined,
  ]);
  const ignored = [...(heartbeats.ignoredHeartbeats ?? []), ...refused.ignored];
  return {
    site: site.name, silentAfterMinutes: site.silentAfterMinutes, backupCron: site.backupCron, windowGraceMinutes: site.windowGraceMinutes, windowMaxMinutes: site.windowMaxMinutes, ...(site.retired ? { retired: site.retired } : {}),
    ...heartbeats, ...(ignored.length ? { ignoredHeartbeats: ignored } : {}), ...(refused.refused.length ? { refusedAgents: refused.refused } : {}), ...('problem' in refused ? { refusedUnread: refused.problem } : {}), lastRun: runs[0], ...(purge ? { purge } : {}), ...(erasures ? { erasures } : {}),
  };
}

/**
 * One row per site, worst first. A site whose data cannot be read is reported SILENT with the reason, not dropped.
 * `shippedBy: false` leaves out who ships each site and who did before (a LIST of its daily heartbeats, and after a
 * failover the pages of its recent ones back to the old host's last): the dead-man's switch, which never says it.
 */
export async function readFleet(deps: FleetReadDeps, sites: readonly FleetSiteConfig[], now: Date, options: { shippedBy?: boolean } = {}): Promise<FleetRow[]> {
  const rows = await Promise.all(
    sites.map(async (site) => {
      try {
        return judgeSite(await siteInput(deps, site, now, options.shippedBy ?? true), now);
      } catch (error) {
        const row = judgeSite({ site: site.name, silentAfterMinutes: site.silentAfterMinutes, ...(site.retired ? { retired: site.retired } : {}) }, now);
        row.reasons = [...(row.state === 'RETIRED' ? row.reasons.slice(0, 1) : []), `cannot read the site's heartbeat or runs: ${messageOf(error)}`];
        return row;
      }
    }),
  );
  return sortFleet(rows);
}

// ---- dead-man's switch ----

/** What the switch remembers per site between its runs (kept in the catalogue table, not in memory). */
export interface DeadmanState {
  site: string;
  /** Open since; absent when the site is fine. */
  openSince?: string;
  lastSent?: string;
  /** The condition last alerted, e.g. "silent" or "missed 2026-12-03T02:00:00.000Z". */
  condition?: string;
}

export interface DeadmanStore {
  /** The site's state; undefined before the first run that saw it. */
  get(site: string): Promise<DeadmanState | undefined>;
  /** Replaces the site's state (idempotent). */
  put(state: DeadmanState): Promise<void>;
}

export class MemoryDeadmanStore implements DeadmanStore {
  readonly states = new Map<string, DeadmanState>();
  async get(site: string): Promise<DeadmanState | undefined> {
    const s = this.states.get(site);
    return s && { ...s };
  }
  async put(state: DeadmanState): Promise<void> {
    this.states.set(state.site, { ...state });
  }
}

export const DEADMAN_REPEAT_HOURS = 24;

export interface DeadmanOutcome {
  site: string;
  action: 'raised' | 'repeated' | 'resolved' | 'none';
  state: FleetRow['state'];
}

/** The dead-man condition of a row: the site is silent, or a scheduled window did not run. A retired site has none (nothing is expected of it). */
function condition(row: FleetRow): string | undefined {
  if (row.state === 'RETIRED') return undefined;
  if (row.state === 'SILENT') return 'silent';
  if (row.missedWindow) return `missed ${row.missedWindow}`;
  if (row.stuckWindow) return `stuck ${row.stuckWindow}`;
  return undefined;
}

function lastHeartbeatLine(row: FleetRow): string {
  if (!row.lastHeartbeat) return 'Last heartbeat: never';
  return `Last heartbeat: ${row.lastHeartbeat}${row.lastHeartbeatDaily ? " (the agent's last daily heartbeat: the later ones expired; it may have run up to a day after it)" : ''}`;
}

function deadmanAlert(row: FleetRow, since: string, now: Date, repeated: boolean): Alert {
  const silent = row.state === 'SILENT';
  const what = silent ? 'agent silent' : row.missedWindow ? 'backup window did not run' : 'backup window did not finish';
  const subject = `Ferry ${row.site}: ${what}${repeated ? ' (still)' : ''}`;
  const todo = silent
    ? [
        `check the Ferry agent on the site host of ${row.site}: is it running (its cron line, or \`systemctl status 'ferry-agent@*'\`), can it reach S3`,
        'there, `ferry agent status --config /etc/ferry/agent.yaml` shows its last pass, last error and open alerts; `ferry agent run --config /etc/ferry/agent.yaml --once` runs a pass and prints its log (docs/operations.md, "Looking at an agent")',
        "this alert resolves by itself when the agent's next heartbeat reaches the store",
      ]
    : [`look at the backup window's executions for ${row.site} (was the schedule disabled, did the state machine fail to start)`, 'start the backup window on demand'];
  const alert = composeAlert({ severity: 'critical', site: row.site, subject, what: row.reasons.join('; '), since, now, details: [lastHeartbeatLine(row)], todo });
  return { ...alert, key: `deadman:${row.site}` };
}

/**
 * One pass of the dead-man's switch over the rows: raises once per condition, repeats at most
 * every `repeatHours`, resolves (with a message) when the site is back. The state is written
 * after the notification: a crash in between sends the alert again at the next pass, never loses it.
 */
export async function runDeadman(deps: { store: DeadmanStore; notifier: Notifier }, rows: readonly FleetRow[], now: Date, repeatHours = DEADMAN_REPEAT_HOURS): Promise<DeadmanOutcome[]> {
  const out: DeadmanOutcome[] = [];
  const undelivered: string[] = [];
  for (const row of rows) {
    try {
      out.push(await deadmanPass(deps, row, now, repeatHours));
    } catch (error) {
      if (!(error instanceof NotDeliveredError)) throw error;
      // Not written to the state: the next pass sends it again. The other sites still get theirs.
      undelivered.push(`${row.site}: ${messageOf(error)}`);
      out.push({ site: row.site, action: 'none', state: row.state });
    }
  }
  if (undelivered.length > 0) throw new NotDeliveredError(`dead-man alert(s) not delivered: ${undelivered.join('; ')}`);
  return out;
}

async function deadmanPass(deps: { store: DeadmanStore; notifier: Notifier }, row: FleetRow, now: Date, repeatHours: number): Promise<DeadmanOutcome> {
  const state = (await deps.store.get(row.site)) ?? { site: row.site };
  const cond = condition(row);
  const nowIso = now.toISOString();
  if (!cond) {
    if (!state.openSince) return { site: row.site, action: 'none', state: row.state };
    const over = row.state === 'RETIRED' ? 'the site is retired (nothing is expected of it any more)' : state.condition === 'silent' ? 'agent heard from again' : state.condition?.startsWith('missed') ? 'a backup window ran since' : 'the backup window finished';
    await deps.notifier.notify({ severity: 'info', site: row.site, key: `deadman:${row.site}`, subject: `Ferry ${row.site}: resolved - ${over}`, message: `Site: ${row.site}\nThe condition "${state.condition}" raised ${state.openSince} is over (state now ${row.state}).` });
    await deps.store.put({ site: row.site });
    return { site: row.site, action: 'resolved', state: row.state };
  }
  const fresh = !state.openSince || state.condition !== cond;
  const due = fresh || !state.lastSent || now.getTime() - Date.parse(state.lastSent) >= repeatHours * 3600_000;
  if (!due) return { site: row.site, action: 'none', state: row.state };
  const since = fresh ? (row.state === 'SILENT' ? (row.lastHeartbeat ?? nowIso) : (row.missedWindow ?? row.stuckWindow ?? nowIso)) : state.openSince!;
  await deps.notifier.notify(deadmanAlert(row, since, now, !fresh));
  await deps.store.put({ site: row.site, openSince: fresh ? nowIso : state.openSince, lastSent: nowIso, condition: cond });
  return { site: row.site, action: fresh ? 'raised' : 'repeated', state: row.state };
}
