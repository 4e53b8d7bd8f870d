import { messageOf } from './errors.ts';
import type { PurgeOutcome, PurgeRunRecord, PurgeRunStore, PurgeWatchStore } from './purge-watch.ts';

// Each site's scheduled purge on the fleet view: its schedule, the newest run on record (the
// purge writes `PURGERUN#{site}` as its first state, core/purge-watch.ts) and whether the
// dead-man's switch holds a purge-missed alert open for it. The missed state is the switch's own
// memory (`DEADMAN#{site}, sk=purge`, its `alertedDue`), read, never judged again here: the fleet
// view and the pager say the same thing, and a site the switch has not yet watched long enough
// to owe a purge is not called missed by one and not the other.

/** The purge of one site as the fleet view shows it. */
export interface FleetPurge {
  /** The site's purge schedule (EventBridge cron, UTC); absent: not scheduled (on demand only). */
  cron?: string;
  /**
   * The newest purge run on record: when it started and which execution, and, once its report
   * step ran, how it ended (the report's outcome and what its round deleted). No outcome: still
   * running, or stopped before its report (then the workflow-failed notice told of it).
   */
  lastRun?: { startedAt: string; execution: string; outcome?: PurgeOutcome; reportedAt?: string; deleted?: number };
  /** The due time (UTC ISO) of the scheduled purge the dead-man's switch holds a purge-missed alert open for. */
  missedSince?: string;
  /** Why the purge state could not be read (the row's other columns are still read). */
  problem?: string;
}

export interface FleetPurgeReadDeps {
  purgeRuns: Pick<PurgeRunStore, 'lastPurgeRun'>;
  purgeWatch: Pick<PurgeWatchStore, 'getPurgeWatch'>;
}

/**
 * One site's purge: one Query (its newest run) and, for a scheduled site, one GetItem (the
 * switch's watch). A read that fails is the row's `problem`, not the row's failure: the
 * heartbeat and windows of the site are still shown and judged.
 */
export async function readSitePurge(deps: FleetPurgeReadDeps, site: string, cron: string | undefined): Promise<FleetPurge> {
  const scheduled = cron ? { cron } : {};
  try {
    const [last, watch] = await Promise.all([deps.purgeRuns.lastPurgeRun(site), cron ? deps.purgeWatch.getPurgeWatch(site) : undefined]);
    return {
      ...scheduled,
      ...(last ? { lastRun: lastRunOf(last) } : {}),
      ...(watch?.alertedDue ? { missedSince: watch.alertedDue } : {}),
    };
  } catch (error) {
    return { ...scheduled, problem: `cannot read the purge's runs or the dead-man's switch's watch of it: ${messageOf(error)}` };
  }
}

/** What a missed purge adds to a site's LATE reasons (a scheduled purge that did not run, as a window that did not). */
export function purgeLateReasons(purge: FleetPurge | undefined): string[] {
  if (!purge?.missedSince) return [];
  return [`the scheduled purge due ${purge.missedSince} did not run (purge-missed alert open): retention is not being enforced`];
}

function lastRunOf(last: PurgeRunRecord): NonNullable<FleetPurge['lastRun']> {
  const { startedAt, execution, outcome, reportedAt, deleted } = last;
  return { startedAt, execution, ...(outcome ? { outcome } : {}), ...(reportedAt ? { reportedAt } : {}), ...(deleted === undefined ? {} : { deleted }) };
}

/** What the purge adds to a site's warnings: its state could not be read, or its last run failed or could not start. */
export function purgeWarnReasons(purge: FleetPurge | undefined): string[] {
  if (purge?.problem) return [purge.problem];
  const last = purge?.lastRun;
  if (last?.outcome === 'FAILED') return [`the last purge (started ${last.startedAt}) FAILED: its report alert says why; retention is not enforced until a purge succeeds`];
  if (last?.outcome === 'NOT-STARTED') return [`the last purge (started ${last.startedAt}) could not start: the site's lock was held (its report alert names by whom)`];
  return [];
}

/** How the last run ended, in words: ": DONE, 12 object(s) deleted", ": FAILED", "" before its report. */
export function purgeOutcomeText(last: NonNullable<FleetPurge['lastRun']>): string {
  if (!last.outcome) return ' (no report yet)';
  return `: ${last.outcome}${last.deleted ? `, ${last.deleted} object(s) deleted` : ''}`;
}

/** `2026-12-05 03:00 UTC`. */
const utcMinutes = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/**
 * The purge in plain words, one line (the CLI's): "purge: last ran 2026-12-05 03:00 UTC (schedule …)",
 * "purge: MISSED since 2026-12-06 03:00 UTC (…)", "purge: not scheduled".
 */
export function purgeLine(purge: FleetPurge): string {
  if (purge.problem) return 'purge: unknown (its state could not be read: see the reason below)';
  const last = purge.lastRun ? `last ran ${utcMinutes(purge.lastRun.startedAt)}${purgeOutcomeText(purge.lastRun)}` : 'never ran (none on record)';
  if (!purge.cron) return `purge: not scheduled${purge.lastRun ? ` (${last}, on demand)` : ''}`;
  if (purge.missedSince) return `purge: MISSED since ${utcMinutes(purge.missedSince)} (${last}; schedule cron(${purge.cron}))`;
  return `purge: ${last} (schedule cron(${purge.cron}))`;
}
