// What the deployment's settings cost when they work against each other, as pure functions the
// configuration check (infra/config.ts) and `ferry cost estimate` (cli/cost-commands.ts) share:
// a retention inside Deep Archive's minimum, a Standard-IA transition the purge makes useless.
// No CDK and no zod here: the CLI and the local cloud load it without devDependencies.

/** S3 bills an object deleted from Deep Archive for at least this many days there. */
export const DEEP_ARCHIVE_MINIMUM_DAYS = 180;

/**
 * A pack purged at `retentionDays` that went to Deep Archive at `toDeepArchiveDays` must have
 * stayed there 180 days, or S3 bills the rest of the 180 as an early deletion on every pack.
 * Purging before the transition is fine: the pack never reaches Deep Archive.
 */
export function deepArchiveRetentionProblem(retentionDays: number, toDeepArchiveDays: number, purgeEveryDays = 0): string | undefined {
  const minimum = toDeepArchiveDays + DEEP_ARCHIVE_MINIMUM_DAYS;
  // A pack goes at the first purge after its calls are past retention, up to a purge interval
  // later, and S3 moves it at the midnight after the transition day: one day's margin.
  const latestBefore = toDeepArchiveDays - purgeEveryDays - 1;
  if (retentionDays <= latestBefore || retentionDays >= minimum) return undefined;
  const interval = purgeEveryDays > 0 ? ` the purge runs every ${purgeEveryDays} day(s) (purgeCron), so a pack goes up to ${purgeEveryDays} day(s) after its retention;` : '';
  return (
    `${retentionDays} days would delete packs within Deep Archive's ${DEEP_ARCHIVE_MINIMUM_DAYS}-day minimum storage duration ` +
    `(packs move there at ${toDeepArchiveDays} days (lifecycle.packsToDeepArchiveDays);${interval} ` +
    `S3 bills an early deletion as if kept ${DEEP_ARCHIVE_MINIMUM_DAYS} days): ` +
    `use at least ${minimum}, or at most ${latestBefore} to purge packs before they are archived`
  );
}

/**
 * The longest time between two runs of a purge schedule (EventBridge cron: minutes hours
 * day-of-month month day-of-week year), in days: every day 1, some days of the week 7 (the
 * conservative bound for a list), a day of the month 31, anything else a week.
 */
export function purgeIntervalDays(cron: string): number {
  const fields = cron.replace(/^cron\(|\)$/g, '').trim().split(/\s+/);
  const [, , dayOfMonth = '?', , dayOfWeek = '?'] = fields;
  if ((dayOfMonth === '*' || dayOfMonth === '?') && (dayOfWeek === '*' || dayOfWeek === '?')) return 1;
  if (/^\d+$/.test(dayOfMonth) || dayOfMonth === 'L') return 31;
  return 7;
}

/** The longest time between two runs of any schedule cron (the backup window's too), in days: as purgeIntervalDays. */
export const cronIntervalDays = purgeIntervalDays;

/** S3 bills an object moved out of or deleted from Standard-IA for at least this many days there. */
export const STANDARD_IA_MINIMUM_DAYS = 30;

/** What decides how long a site's purge keeps its full backups (and the log segments they need). */
export interface FullBackupKeeping {
  /** sites[].keepFullCycles: the newest fulls kept per source. */
  keepFullCycles: number;
  /** Days between two fulls (the backupCron's interval). */
  fullEveryDays: number;
  /** objectLock.defaultRetentionDays: nothing is deleted younger than this. */
  lockDays: number;
  /** Days between two purges (the purgeCron's interval). */
  purgeEveryDays: number;
}

/**
 * The ages, in days, at which a full backup is deleted: it may go once `keepFullCycles` newer
 * fulls exist and its lock has ended (`from`), and goes at the first purge after that, up to a
 * purge interval later (`to`). The log segments the oldest kept full needs go with it.
 */
export function fullBackupDeletedAt(k: FullBackupKeeping): { from: number; to: number } {
  const from = Math.max(k.keepFullCycles * k.fullEveryDays, k.lockDays);
  return { from, to: from + k.purgeEveryDays };
}

/** True when some fulls move to Standard-IA at `toIaDays` and are deleted within its minimum there. */
function transitionWasted(toIaDays: number, k: FullBackupKeeping): boolean {
  const { from, to } = fullBackupDeletedAt(k);
  return toIaDays <= to && from < toIaDays + STANDARD_IA_MINIMUM_DAYS;
}

/**
 * The default `lifecycle.backupsToIaDays`: the first day from 30 (S3's least) at which no site's
 * purge deletes a full within Standard-IA's minimum after its move. With the defaults (2 fulls a
 * night, a 30-day lock, a weekly purge: deleted at 30-37 days) that is 38, so none moves; a
 * longer lock or more fulls kept let them move earlier, where they then stay their 30 days.
 */
export function defaultBackupsToIaDays(sites: readonly FullBackupKeeping[]): number {
  let day = STANDARD_IA_MINIMUM_DAYS;
  while (sites.some((k) => transitionWasted(day, k))) day += 1;
  return day;
}

/**
 * A Standard-IA transition at `toIaDays` that the purge makes useless: some fulls move to
 * Standard-IA and are deleted within its 30-day minimum, so S3 bills each a transition and 30
 * days of Standard-IA for the days it spent there. Fine when every full is gone before the
 * transition, or every full stays 30 days past it.
 */
export function iaTransitionProblem(toIaDays: number, k: FullBackupKeeping, site: { index: number; name: string }): string | undefined {
  if (!transitionWasted(toIaDays, k)) return undefined;
  const { from, to } = fullBackupDeletedAt(k);
  const earliest = from - STANDARD_IA_MINIMUM_DAYS;
  const lower = earliest >= STANDARD_IA_MINIMUM_DAYS ? `, or at most ${earliest} (each full then stays its 30 days there)` : '';
  return (
    `${toIaDays} moves backups and logs to Standard-IA ${toIaDays <= k.lockDays ? 'before or as' : 'before'} site ${site.name}'s purge deletes them: ` +
    `it keeps ${k.keepFullCycles} full(s) (sites[${site.index}].keepFullCycles), one every ${k.fullEveryDays} day(s) (backupCron), ` +
    `under a ${k.lockDays}-day lock (objectLock.defaultRetentionDays), purged every ${k.purgeEveryDays} day(s) (purgeCron), ` +
    `so each full goes ${from}-${to} days after it is written, within Standard-IA's ${STANDARD_IA_MINIMUM_DAYS}-day minimum: ` +
    `S3 bills a transition and ${STANDARD_IA_MINIMUM_DAYS} days of Standard-IA for each. Use more than ${to}${lower}, or leave it out (the default avoids every site's deletions)`
  );
}
