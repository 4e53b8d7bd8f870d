import { DEFAULT_WORKFLOW_CONFIG, lockWaitSeconds, type WorkflowConfig } from '../core/workflow-config.ts';
import type { DeploymentConfig } from './config.ts';
import { tiersByClass } from './lifecycle-tiers.ts';

// Environment values the CDK app derives from the deployment's configuration for its functions,
// each from the same source the rest of the stack is built from.

/**
 * PACK_TIERS of the functions that report a recording's archive state (catalogue, console): the
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
 */
export function fleetSitesEnv(config: DeploymentConfig, workflow: WorkflowConfig = DEFAULT_WORKFLOW_CONFIG): string {
  const longest = Math.ceil((lockWaitSeconds(workflow, 'backup') + workflow.activityTimeoutSeconds) / 60);
  return JSON.stringify(
    config.sites.map((s) => ({
      name: s.name,
      silentAfterMinutes: s.silentAfterMinutes,
      ...(s.retired ? { retired: s.retired } : {}),
      ...(s.schedule && !s.retired ? { backupCron: s.schedule.backupCron, windowGraceMinutes: s.windowGraceMinutes, windowMaxMinutes: longest + s.windowGraceMinutes } : {}),
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
