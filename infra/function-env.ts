import { PURGE_GRACE_EXTRA_MINUTES } from '../core/purge-watch.ts';
import { DEFAULT_WORKFLOW_CONFIG, lockWaitSeconds, type WorkflowConfig } from '../core/workflow-config.ts';
import type { DeploymentConfig } from './config.ts';
import { tiersByClass } from './lifecycle-tiers.ts';

// Environment values the CDK app derives from the deployment's configuration for its functions,
// each from the same source the rest of the stack is built from.

/**
 * PACK_TIERS of the functions that report a recording's archive state (catalogue, console; holds, for a case's members): the
 * packs' transitions, from the very tiers the bucket's lifecycle rules are built from.
 */
export function packTiersEnv(config: DeploymentConfig): string {
  return JSON.stringify(tiersByClass(config.lifecycle).recordings);
}

/**
 * The sites as the functions that read the fleet take them (FLEET_SITES: functions/deadman,
 * functions/fleet). A started window may take its longest lock wait (scheduled: retried every
 * 10 min for 4 h) plus the agent's job timeout before it counts as stuck, and the grace on top.
 * A retired site has no backup window scheduled (infra/workflows/build.ts), so none is watched.
 * A scheduled purge with no record of its start its longest lock wait plus an hour after its time
 * did not run (core/purge-watch.ts); a retired site's purge still runs and is watched.
 */
export function fleetSitesEnv(config: DeploymentConfig, workflow: WorkflowConfig = DEFAULT_WORKFLOW_CONFIG): string {
  const longest = Math.ceil((lockWaitSeconds(workflow, 'backup') + workflow.activityTimeoutSeconds) / 60);
  const purgeGrace = Math.ceil(lockWaitSeconds(workflow, 'purge') / 60) + PURGE_GRACE_EXTRA_MINUTES;
  return JSON.stringify(
    config.sites.map((s) => ({
      name: s.name,
      silentAfterMinutes: s.silentAfterMinutes,
      ...(s.retired ? { retired: s.retired } : {}),
      ...(s.schedule && !s.retired ? { backupCron: s.schedule.backupCron, windowGraceMinutes: s.windowGraceMinutes, windowMaxMinutes: longest + s.windowGraceMinutes } : {}),
      // A retired site's purge still runs (to the end of its retention), so it is watched too.
      ...(s.schedule ? { purgeCron: s.schedule.purgeCron, purgeGraceMinutes: purgeGrace } : {}),
    })),
  );
}

/**
 * RETIRED_SITES of the report function: `{ site: "YYYY-MM-DD" }`, the first day each retired site
 * no longer ships; its daily reports from that day on say RETIRED (core/report.ts).
 */
export function retiredSitesEnv(config: DeploymentConfig): string {
  return JSON.stringify(Object.fromEntries(config.sites.flatMap((s) => (s.retired ? [[s.name, s.retired]] : []))));
}

/**
 * SITE_TIME_ZONES of the report function: `{ site: "Area/City" }` for each site with its own
 * `timeZone`; its daily report judges its local day (core/report-keys.ts dayBounds). Others: UTC.
 */
export function siteTimeZonesEnv(config: DeploymentConfig): string {
  return JSON.stringify(Object.fromEntries(config.sites.flatMap((s) => (s.timeZone ? [[s.name, s.timeZone]] : []))));
}
