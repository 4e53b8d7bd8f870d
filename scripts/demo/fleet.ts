import { HEARTBEAT_FORMAT, heartbeatKey, type Heartbeat, type HeartbeatSource } from '../../core/fleet.ts';
import type { FleetSiteConfig } from '../../core/fleet-read.ts';
import type { BlobStore } from '../../core/ports.ts';
import type { PurgeRunStore, PurgeWatchStore } from '../../core/purge-watch.ts';
import type { RunRecord, RunStore } from '../../core/window.ts';
import { REFUSED_AGENT_FORMAT, refusedAgentKey, type RefusedAgent } from '../../core/refused-agent.ts';

// A simulated fleet: what N sites' agents would have reported (their newest heartbeat, in the
// bucket where agents put it) and what the cloud recorded of their backup windows (runs in the
// catalogue table) and of their scheduled purges (each run's start, and the dead-man's switch's
// watch of a purge that did not run, the record of an old primary refused after a failover), with problems injected on chosen sites. The fleet page's browser test, its
// screenshot and the `fleet` benchmark read it back through the real readers.

export type SiteProblem = 'silent' | 'lost-batch' | 'stale-binlog' | 'failed-window' | 'loss-close' | 'purge-missed' | 'refused-agent';

export interface SimulatedSite {
  name: string;
  problem?: SiteProblem;
  /** EventBridge cron of the backup window; absent: on demand. A site with one gets a run just before now. */
  backupCron?: string;
  /** EventBridge cron of the purge; absent: not scheduled. A site with one ran its purge a day before now (purge-missed: eight days before, and the switch holds the one due a day ago missed). */
  purgeCron?: string;
  silentAfterMinutes?: number;
}

const MIN = 60;
const HOUR = 3600;

function at(now: Date, secondsAgo: number): string {
  return new Date(now.getTime() - secondsAgo * 1000).toISOString();
}

function sources(site: SimulatedSite, now: Date): HeartbeatSource[] {
  const recordings: HeartbeatSource = {
    name: 'contactstore',
    type: 'recordings',
    lastGood: { at: at(now, 8 * MIN), key: `manifests/${site.name}/recordings/p-last.json` },
    pendingBatches: 1,
    oldestPendingSeconds: 4 * MIN,
    timeToLossSeconds: 5 * 24 * HOUR,
  };
  const binlog: HeartbeatSource = { name: 'db', type: 'binlog', lastGood: { at: at(now, 3 * MIN), key: `logs/${site.name}/db/rtmbinlog.000042` }, rpoSeconds: 3 * MIN };
  if (site.problem === 'loss-close') Object.assign(recordings, { pendingBatches: 37, oldestPendingSeconds: 19 * HOUR, timeToLossSeconds: 6 * HOUR });
  if (site.problem === 'stale-binlog') Object.assign(binlog, { lastGood: { at: at(now, 4 * HOUR), key: binlog.lastGood!.key }, rpoSeconds: 4 * HOUR });
  return [recordings, binlog];
}

/** The heartbeat the site's agent would have written last (a silent site's is three hours old). */
export function simulatedHeartbeat(site: SimulatedSite, now: Date): Heartbeat {
  const when = site.problem === 'silent' ? at(now, 3 * HOUR) : at(now, 2 * MIN);
  const lost = site.problem === 'lost-batch' ? 1 : 0;
  return {
    format: HEARTBEAT_FORMAT,
    site: site.name,
    at: when,
    agentVersion: '0.1.0',
    sources: sources(site, new Date(when)),
    losses: lost ? 3 : 0,
    lastPass: { at: when, failed: 0, lost },
  };
}

function simulatedRun(site: SimulatedSite, now: Date): RunRecord {
  const failed = site.problem === 'failed-window';
  return {
    site: site.name,
    startedAt: at(now, 90),
    finishedAt: at(now, 30),
    outcome: failed ? 'FAILED' : 'FULL',
    mode: 'scheduled',
    reasons: failed ? ['the agent did not pick the job up within its timeout', 'no manifest reported for contactstore'] : [],
    ...{ packs: failed ? 0 : 12, recordings: failed ? 0 : 1200, bytes: failed ? 0 : 36_000_000, failed: 0, lost: 0, manifestsMissing: 0 },
  };
}

export interface SimulatedFleetStores {
  blobs: Pick<BlobStore, 'put'>;
  runs: Pick<RunStore, 'putRun'>;
  /** Where a site with a purgeCron gets its purge's run and the switch's watch of it. */
  purge?: { purgeRuns: Pick<PurgeRunStore, 'putPurgeRun'>; purgeWatch: Pick<PurgeWatchStore, 'putPurgeWatch'> };
}

/** The purge's start record and, for purge-missed, the switch's memory of the occurrence it alerted (a day ago). */
async function writeSimulatedPurge(purge: NonNullable<SimulatedFleetStores['purge']>, site: SimulatedSite & { purgeCron: string }, now: Date): Promise<void> {
  const missed = site.problem === 'purge-missed';
  const startedAt = at(now, (missed ? 8 : 1) * 24 * HOUR);
  // Reported 20 minutes after it started, as a weekly purge of a few packs is.
  const reportedAt = new Date(Date.parse(startedAt) + 20 * 60_000).toISOString();
  await purge.purgeRuns.putPurgeRun({ site: site.name, startedAt, execution: `arn:aws:states:eu-west-2:111122223333:execution:purge-${site.name}:sim`, outcome: 'DONE', reportedAt, deleted: 12 });
  const watched = { site: site.name, cron: site.purgeCron, since: at(now, 30 * 24 * HOUR) };
  await purge.purgeWatch.putPurgeWatch(missed ? { ...watched, alertedDue: at(now, 24 * HOUR) } : watched);
}

/** The record a refused agent leaves (agent/site-takeover.ts): the old primary pbx-1, back 20 min ago with its state directory of before a failover to pbx-2 three days ago. */
export function simulatedRefusal(site: SimulatedSite, now: Date): RefusedAgent {
  return {
    format: REFUSED_AGENT_FORMAT,
    site: site.name,
    at: at(now, 20 * MIN),
    refusedSince: at(now, 3 * HOUR),
    agent: { id: 'b0e1c2d3-0000-4000-8000-00000000a001', host: 'pbx-1', state: '/var/lib/ferry' },
    lastHeartbeat: at(now, 3 * 24 * HOUR + 2 * HOUR),
    shippedBy: { id: 'b0e1c2d3-0000-4000-8000-00000000b002', host: 'pbx-2', since: at(now, 3 * 24 * HOUR) },
  };
}

/** Writes every site's newest heartbeat, for a site with a schedule its latest window run, and for one with a purgeCron its purge's (given `purge`). */
export async function writeSimulatedFleet(deps: SimulatedFleetStores, sites: readonly SimulatedSite[], now: Date): Promise<void> {
  await Promise.all(
    sites.map(async (site) => {
      const heartbeat = simulatedHeartbeat(site, now);
      await deps.blobs.put(heartbeatKey(site.name, new Date(heartbeat.at)), Buffer.from(JSON.stringify(heartbeat)));
      if (site.backupCron) await deps.runs.putRun(simulatedRun(site, now));
      if (site.purgeCron && deps.purge) await writeSimulatedPurge(deps.purge, { ...site, purgeCron: site.purgeCron }, now);
      if (site.problem === 'refused-agent') {
        const refused = simulatedRefusal(site, now);
        await deps.blobs.put(refusedAgentKey(site.name, refused.agent.id, new Date(refused.at)), Buffer.from(JSON.stringify(refused)));
      }
    }),
  );
}

/** The sites as the fleet readers take them (the deployment's `sites`). */
export function fleetSitesOf(sites: readonly SimulatedSite[]): FleetSiteConfig[] {
  return sites.map((s) => ({ name: s.name, ...(s.silentAfterMinutes ? { silentAfterMinutes: s.silentAfterMinutes } : {}), ...(s.backupCron ? { backupCron: s.backupCron } : {}), ...(s.purgeCron ? { purgeCron: s.purgeCron } : {}) }));
}

const PROBLEMS: SiteProblem[] = ['silent', 'lost-batch', 'stale-binlog', 'failed-window', 'loss-close'];

/** `count` sites `site-01`…, every fourth with a problem (in the order above), every other one with a nightly window. */
export function simulatedFleet(count: number): SimulatedSite[] {
  return Array.from({ length: count }, (_, i) => {
    const problem = i % 4 === 0 ? PROBLEMS[(i / 4) % PROBLEMS.length] : undefined;
    const scheduled = i % 2 === 0 || problem === 'failed-window';
    return { name: `site-${String(i + 1).padStart(2, '0')}`, ...(problem ? { problem } : {}), ...(scheduled ? { backupCron: `${i % 60} 2 * * ? *` } : {}) };
  });
}
