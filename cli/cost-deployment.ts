import { ConfigError } from '../core/errors.ts';
import { cronIntervalDays, fullBackupDeletedAt, purgeIntervalDays } from '../infra/config-costs.ts';
import type { DeploymentConfig, SiteConfig } from '../infra/config.ts';

// What `ferry cost estimate` takes from the deployment rather than from its options: how long
// the site's purge really keeps backups. An option that contradicts the deployment is refused:
// an estimate of a retention nobody applies misleads the budget and the retention promise alike.

export interface BackupRetention {
  /** Days priced: the mean age at which the purge deletes a full. */
  days: number;
  /** What the estimate prints about it. */
  text: string;
}

/**
 * The site's backup retention: a full goes between `from` and `to` days (fullBackupDeletedAt),
 * priced at their mean (the purge day falls anywhere in the interval). `--backup-retention-days`
 * inside that range is taken as given; outside it, refused. A site without a schedule is purged
 * only on demand: the option is taken as given, else the least the purge would keep.
 */
export function backupRetention(deployment: DeploymentConfig, site: SiteConfig, given: number | undefined): BackupRetention {
  const index = deployment.sites.indexOf(site);
  const lockDays = deployment.objectLock.defaultRetentionDays;
  if (!site.schedule) {
    const least = Math.max(site.keepFullCycles, lockDays);
    const days = given ?? least;
    return { days, text: `${days} days (site ${site.name} has no schedule: its purge runs only on demand${given === undefined ? `; at the soonest ${least} days, ${site.keepFullCycles} daily full(s) (keepFullCycles) under a ${lockDays}-day lock` : ''})` };
  }
  const keeping = { keepFullCycles: site.keepFullCycles, fullEveryDays: cronIntervalDays(site.schedule.backupCron), lockDays, purgeEveryDays: purgeIntervalDays(site.schedule.purgeCron) };
  const { from, to } = fullBackupDeletedAt(keeping);
  const why = `${site.keepFullCycles} full(s) kept (sites[${index}].keepFullCycles), one every ${keeping.fullEveryDays} day(s), under a ${lockDays}-day lock, purged every ${keeping.purgeEveryDays} day(s)`;
  if (given !== undefined && (given < from || given > to)) {
    throw new ConfigError([
      `--backup-retention-days ${given} contradicts the deployment: site ${site.name}'s purge deletes each full ${from}-${to} days after it is written (${why}). ` +
        `Set sites[${index}].keepFullCycles to keep backups longer and estimate again, or leave the option out`,
    ]);
  }
  const days = given ?? (from + to) / 2;
  return { days, text: `${from}-${to} days, priced at ${days} (${why})` };
}
