import type { SitePurgeSettings } from '../core/workflow-config.ts';
import type { DeploymentConfig, SiteConfig } from './config.ts';

// A site's purge settings as the deployment passes them to its purge workflow (the state
// machine's input), from the deployment file: the CDK app builds each site's purge from it, and
// `ferry purge plan --deployment` plans with the very same numbers, so a dry run and the purge
// that follows it cannot disagree on a rule (tree retention, the orphan grace, the partials' lock).

/** The purge settings of `site` in `config`, as its purge state machine is given them. */
export function deployedPurgeSettings(config: Pick<DeploymentConfig, 'objectLock' | 'binlogs'>, site: Pick<SiteConfig, 'retentionDays' | 'keepFullCycles' | 'orphanGraceDays' | 'trees'>): SitePurgeSettings {
  return {
    retentionDays: site.retentionDays,
    keepFullCycles: site.keepFullCycles ?? 2,
    ...(site.orphanGraceDays === undefined ? {} : { orphanGraceDays: site.orphanGraceDays }),
    objectLockDays: config.objectLock.defaultRetentionDays,
    ...(config.binlogs.partialLockDays ? { partialLockDays: config.binlogs.partialLockDays } : {}),
    ...(site.trees ? { trees: site.trees } : {}),
  } as SitePurgeSettings;
}
