import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { SiteTreeRetentionInput } from '../../core/tree-retention.ts';
import type { SitePurgeSettings } from '../../core/workflow-config.ts';
import { BackupWindowWorkflow } from './backup-window.ts';
import type { WorkflowCommonProps } from './common.ts';
import { PurgeWorkflow } from './purge.ts';
import { RecallWorkflow } from './recall.ts';

// The orchestration of a deployment: per site a backup window (bound to the site's activity)
// and a purge; one recall for all sites. The processing stack calls addWorkflows once.

export { BackupWindowWorkflow, type BackupWindowProps } from './backup-window.ts';
export { PurgeWorkflow, type PurgeProps } from './purge.ts';
export { RecallWorkflow, type RecallProps } from './recall.ts';
export type { AlertTarget, WorkflowCommonProps, WorkflowFunctions, WorkflowLogOptions } from './common.ts';
export { PURGE_STATES, RECALL_STATES, WINDOW_STATES } from './state-names.ts';

export interface WorkflowSite {
  name: string;
  activity: sfn.IActivity;
  /** Recordings younger than this are never purged. */
  retentionDays: number;
  /** Full backups kept per source (default 2). */
  keepFullCycles?: number;
  /** Tree snapshots kept per source (core/tree-retention.ts); absent: the defaults. */
  trees?: SiteTreeRetentionInput;
  /** Pack attempts with no manifest are purged once older than this (default: core/orphan-sweep.ts). */
  orphanGraceDays?: number;
  /** The bucket's default Object Lock retention: the purge plans nothing younger (it could not be deleted). */
  objectLockDays?: number;
  /** The shorter lock of binlog partials (binlogs.partialLockDays; absent or 0: objectLockDays). */
  partialLockDays?: number;
}

export type WorkflowsProps = Omit<WorkflowCommonProps, 'stateMachineName'> & {
  sites: WorkflowSite[];
  /** Prefix of the state machine names, e.g. `Ferry` → `Ferry-site-a-backup-window`; absent: CloudFormation names them. */
  namePrefix?: string;
};

export interface Workflows {
  sites: Record<string, { backupWindow: BackupWindowWorkflow; purge: PurgeWorkflow }>;
  recall: RecallWorkflow;
}

/** Builds every workflow of the deployment under `scope` (a construct named `Workflows`). */
export function addWorkflows(scope: Construct, props: WorkflowsProps): Workflows {
  const root = new Construct(scope, 'Workflows');
  const { sites: siteList, namePrefix, ...common } = props;
  const name = (suffix: string) => (namePrefix ? `${namePrefix}-${suffix}` : undefined);
  const sites: Workflows['sites'] = {};
  for (const site of siteList) {
    const scopeOfSite = new Construct(root, `Site-${site.name}`);
    const purge = {
      retentionDays: site.retentionDays,
      keepFullCycles: site.keepFullCycles ?? 2,
      ...(site.orphanGraceDays === undefined ? {} : { orphanGraceDays: site.orphanGraceDays }),
      ...(site.objectLockDays === undefined ? {} : { objectLockDays: site.objectLockDays }),
      ...(site.partialLockDays ? { partialLockDays: site.partialLockDays } : {}),
      ...(site.trees ? { trees: site.trees } : {}),
    } as SitePurgeSettings;
    sites[site.name] = {
      backupWindow: new BackupWindowWorkflow(scopeOfSite, 'BackupWindow', { ...common, site: site.name, activity: site.activity, stateMachineName: name(`${site.name}-backup-window`) }),
      purge: new PurgeWorkflow(scopeOfSite, 'Purge', { ...common, site: site.name, purge, stateMachineName: name(`${site.name}-purge`) }),
    };
  }
  return { sites, recall: new RecallWorkflow(root, 'Recall', { ...common, stateMachineName: name('recall') }) };
}
