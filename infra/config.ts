import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NAME_PATTERN } from '../core/layout.ts';
import { ALL_SITES_GROUP, siteGroup } from '../core/console-access.ts';
import { siteTreeRetentionSchema } from '../core/tree-retention.ts';
import { Cron } from '../core/fleet-cron.ts';
import { SEARCH_READ_LIMIT_DEFAULT } from '../core/catalogue-budget.ts';
import { cronIntervalDays, deepArchiveRetentionProblem, defaultBackupsToIaDays, iaTransitionProblem, purgeIntervalDays, type FullBackupKeeping } from './config-costs.ts';

import { deploymentLimitProblems, LOG_RETENTION_DAYS, NO_FUNCTION_URL_REGIONS, siteLimitProblems } from './config-limits.ts';

export { DEEP_ARCHIVE_MINIMUM_DAYS, deepArchiveRetentionProblem, purgeIntervalDays } from './config-costs.ts';
export { LOG_RETENTION_DAYS, NO_FUNCTION_URL_REGIONS, PROCESSING_RESOURCES, processingResources, STACK_RESOURCES_MAX, TRUST_POLICY_MAX, trustPolicySize } from './config-limits.ts';

// The deployment's configuration: sites, Object Lock, tiers, replication, log retention.
// Adding a site is one entry in `sites`. The CDK app reads it once (defaults below, or a JSON
// file named by `-c ferryConfig=path.json`), validates it, and lists every problem with its
// path (`sites[1].retentionDays: …`) so an operator fixes them all in one go.

const name = z.string().regex(NAME_PATTERN, 'must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit');
const days = (min: number) => z.number().int().min(min).max(36_500);

const logDays = z
  .number()
  .int()
  .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), { message: `CloudWatch keeps logs for one of ${LOG_RETENTION_DAYS.join(', ')} days; give one of them` });

/** An AWS account id or an IAM principal ARN (role, user, root). */
const principal = z.string().regex(/^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:(root|role\/[\w+=,.@/-]+|user\/[\w+=,.@/-]+))$/, 'must be a 12-digit account id or an IAM role/user/root ARN');
/** True for a time zone name the runtime (and so EventBridge Scheduler's IANA database) knows. */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** EventBridge Scheduler / EventBridge cron body: six fields, e.g. `0 2 * * ? *`. */
const cron = z.string().superRefine((value, ctx) => {
  // Parsed as the dead-man's switch and `ferry fleet status` parse it, with EventBridge's rules:
  // what they cannot read, or EventBridge would refuse at deploy time, is refused here.
  try {
    new Cron(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
});

/** True for a YYYY-MM-DD that names a day (not 2026-02-30). */
function isCalendarDay(day: string): boolean {
  const t = Date.parse(`${day}T00:00:00Z`);
  return Number.isFinite(t) && new Date(t).toISOString().startsWith(day);
}

/**
 * A site's `retired`: the first day (UTC) its recorder and agent no longer ship, YYYY-MM-DD. A date,
 * not `true`: the daily report names it, and the days before it are still judged as any other.
 */
const retiredDay = z
  .string({ invalid_type_error: 'must be the first day the site no longer ships, as "YYYY-MM-DD" (e.g. "2026-12-01"), not true: its reports from that day on say RETIRED and name it' })
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date "YYYY-MM-DD" (e.g. "2026-12-01"): the first day the site no longer ships')
  .refine((d) => !/^\d{4}-\d{2}-\d{2}$/.test(d) || isCalendarDay(d), { message: 'is no calendar day: give the first day the site no longer ships, "YYYY-MM-DD"' })
  // The deploy stops the site's backup windows at once, whatever the day: one planned ahead would lose them until then.
  .refine((d) => !isCalendarDay(d) || d <= new Date().toISOString().slice(0, 10), (d) => ({
    message: `${d} is after today (${new Date().toISOString().slice(0, 10)}): a deploy with \`retired\` stops the site's backup windows at once; deploy it on or after that day`,
  }));

export const siteSchema = z
  .object({
    name,
    /**
     * The first day (UTC) the site no longer ships (its recorder switched off for good). From that
     * day on it is not expected: fleet status says RETIRED, the dead-man's switch does not page for
     * it, its daily report says RETIRED, no backup window is scheduled, and its agent role is
     * denied everything (whoever kept its key or certificate reaches nothing). Its purge keeps its
     * schedule, so its calls are kept (searchable, playable, holdable) and deleted at the end of
     * their retention: remove the site from `sites` only once the purge has left nothing (docs/deploy.md).
     */
    retired: retiredDay.optional(),
    /**
     * The site's customer is gone (a managed-service provider's customer off-boarded): with
     * `retired`, its own people reach nothing any more (its officer-/listener- console groups grant
     * nothing; its officer, listener and DR roles are denied everything), while its calls are kept
     * to the end of their retention for the deployment's admin and officer-all (docs/deploy.md).
     */
    offboarded: z.literal(true, { errorMap: () => ({ message: 'must be true (or left out): the site\'s own people lose their access' }) }).optional(),
    /**
     * The site's own time zone (IANA, e.g. "Asia/Kolkata"; default UTC): its daily report judges
     * its local day, midnight to midnight there (23 or 25 hours when the clocks change), and says so.
     */
    timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "Asia/Kolkata", "Europe/London" or "UTC"').optional(),
    /** When the backup window and the purge run (UTC); absent means on demand only. */
    schedule: z.object({ backupCron: cron, purgeCron: cron }).strict().optional(),
    /** The dead-man's switch alerts when the site's agent sends no heartbeat for this long (core/fleet.ts). */
    silentAfterMinutes: z.number().int().min(10).max(7 * 24 * 60).default(90),
    /** The dead-man's switch alerts a scheduled window with no record this long after its time (it writes one as it starts). */
    windowGraceMinutes: z.number().int().min(5).max(24 * 60).default(60),
    /** Recordings younger than this are never purged. */
    retentionDays: days(1),
    /**
     * Full backups the purge keeps per source (the newest ones), with every log segment the
     * oldest of them needs; older fulls go at the first purge after their Object Lock ends.
     */
    keepFullCycles: z.number().int().min(1).max(1000).default(2),
    /** A pack attempt that never got a manifest is purged once older than this (default 7, core/orphan-sweep.ts). */
    orphanGraceDays: days(1).optional(),
    /**
     * Tree snapshots (file shares) the purge keeps per source: the newest always, plus the newest of
     * each of the last keepDaily days, keepWeekly ISO weeks and keepMonthly months (UTC; defaults
     * 14, 8, 12), and the snapshot a mass change started from for keepBeforeMassChangeDays after it
     * (90); unreferenced packs older than orphanGraceDays (7) go. `sources: { name: {…} }`
     * overrides any of them for one source. Absent: the defaults.
     */
    trees: siteTreeRetentionSchema.optional(),
    agent: z
      .object({
        /**
         * Who may assume the site's agent role. Default: this account (any identity in it that is
         * itself allowed sts:AssumeRole on the role), always with the external id below.
         */
        principal: principal.optional(),
        /** Required on every AssumeRole of the agent role; default `ferry-agent-{site}`. */
        externalId: z.string().min(2).max(1224).regex(/^[\w+=,.@:/-]+$/, 'must use only letters, digits and +=,.@:/-').optional(),
        /** IAM Roles Anywhere trust anchor: the agent host then authenticates with an X.509 certificate. */
        rolesAnywhereTrustAnchorArn: z.string().regex(/^arn:aws[a-z-]*:rolesanywhere:[a-z0-9-]+:\d{12}:trust-anchor\/[\w-]+$/, 'must be a Roles Anywhere trust anchor ARN').optional(),
      })
      .strict()
      .default({}),
    /** Who may assume the site's read-only DR role; none means the role exists but nobody can use it yet. */
    drReaders: z.array(principal).default([]),
    /** Who may assume the site's compliance officer role (search, replay, recall); none: principals tagged ferry-officer-site={site}. */
    officers: z.array(principal).default([]),
    /** Who may assume the site's listener role (search, play and recall its calls; nothing else); none: principals tagged ferry-listener-site={site}. */
    listeners: z.array(principal).default([]),
  })
  .strict();
export type SiteConfig = z.infer<typeof siteSchema>;

export const lifecycleSchema = z
  .object({
    packsToGlacierIrDays: days(30).default(30),
    packsToDeepArchiveDays: days(90).default(365),
    /**
     * Backups and logs go to Standard-IA (S3 requires at least 30 days in Standard first). Absent:
     * the first day from 30 on at which no scheduled site's purge deletes a full within Standard-IA's
     * 30-day minimum after its move (38 with 2 fulls, a 30-day lock and a weekly purge: none moves),
     * infra/config-costs.ts; a value given is checked against the same rule.
     */
    backupsToIaDays: days(30).optional(),
    archivesToIaDays: days(30).default(30),
    abortIncompleteMultipartDays: days(1).default(7),
    /** A noncurrent version (only the purge makes them) is kept this long, then expired. */
    noncurrentVersionExpirationDays: days(1).default(30),
    /**
     * Console case exports (exports/: personal data, a 300 s link) are deleted this many days after
     * they are written, with their status records (the table's TTL).
     */
    exportsExpireDays: days(1).max(365).default(7),
  })
  .strict()
  .refine((l) => l.packsToDeepArchiveDays >= l.packsToGlacierIrDays + 90, {
    message: 'packsToDeepArchiveDays must be at least 90 days after packsToGlacierIrDays (Glacier IR minimum storage duration)',
    path: ['packsToDeepArchiveDays'],
  });
/** The lifecycle as deployed: backupsToIaDays filled in from the sites when absent. */
export type LifecycleConfig = Omit<z.infer<typeof lifecycleSchema>, 'backupsToIaDays'> & { backupsToIaDays: number };

export const deploymentConfigSchema = z
  .object({
    /** Prefix of the stack names: `{prefix}-stateful`, `{prefix}-processing`. */
    stackPrefix: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,40}$/, 'must be a letter then letters, digits or dashes').default('Ferry'),
    /** Fixed environment; absent keeps the stacks environment-agnostic (synth needs no credentials). */
    env: z
      .object({
        account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id'),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region such as eu-west-1')
          .refine((r) => !NO_FUNCTION_URL_REGIONS.includes(r), (r) => ({
            message: `${r} has no Lambda function URLs, which replay (every listen, download and console link) is served by: the processing stack would fail to deploy there; choose a region that has them (eu-central-1 and eu-west-1 do)`,
          })),
      })
      .strict()
      .optional(),
    sites: z.array(siteSchema).min(1, 'at least one site is required'),
    /**
     * Who may assume the fleet reader role (GET /fleet: every site's status, no call data, no
     * object); none: principals of this account tagged ferry-fleet-reader=true.
     */
    fleetReaders: z.array(principal).default([]),
    objectLock: z
      .object({
        /** governance: privileged users (s3:BypassGovernanceRetention) can shorten it; compliance: nobody can, not even root. */
        mode: z.enum(['governance', 'compliance']).default('governance'),
        defaultRetentionDays: days(1).default(30),
      })
      .strict()
      .default({}),
    binlogs: z
      .object({
        /**
         * Object Lock days of a binlog partial (a whole-prefix snapshot of the active segment, sent
         * every partial interval), instead of objectLock.defaultRetentionDays: the agent role may set
         * this much and no more, on `logs/{site}/{source}/partial/` and their manifests only. A
         * superseded partial then goes at the first purge after it; 0: partials keep the bucket's
         * default (and cost its days: docs/operations.md, Binlog partials). At or above the default
         * it is 0: a lock as long as the default saves nothing.
         */
        partialLockDays: z.number().int().min(0).max(36_500).default(2),
      })
      .strict()
      .default({}),
    lifecycle: lifecycleSchema.default({}),
    replication: z
      .object({
        destinationBucketArn: z.string().regex(/^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket ARN'),
        kmsKeyArn: z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/, 'must be a KMS key ARN in the destination region'),
      })
      .strict()
      .optional(),
    /**
     * The scheduled reports (infra/reports.ts): the daily report of every site at `dailyHour`
     * o'clock and the monthly attestation on the 1st, both in `timeZone` (EventBridge Scheduler
     * takes the zone, so the hour holds across daylight saving); the day and month reported are
     * UTC. After the daily reports a scrub reads back a bounded sample of each site's objects
     * (docs/operations.md, Scrub: what it costs).
     */
    reports: z
      .object({
        timeZone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "Europe/London" or "UTC"').default('UTC'),
        dailyHour: z.number().int().min(0).max(23).default(6),
        /** Share of the objects the daily scrub lists (packs of up to 31 recent days, every artefact) it picks to read back whole, 0..1 (0: no scrub). */
        scrubSample: z.number().min(0).max(1).default(0.02),
        /** Days of each site's manifests the reconciler reads before each daily report, cataloguing again what the catalogue lacks (0: off). */
        reconcileDays: z.number().int().min(0).max(31).default(3),
        /** GiB each site's scrub reads at most a day: what it picks beyond is left for later days. */
        scrubMaxGiB: z.number().min(0).default(2),
        /**
         * Of those, GiB it may read from Glacier IR (charged per GB read, $0.03 in most regions).
         * 0: only packs not yet in Glacier IR (their first lifecycle.packsToGlacierIrDays days) are
         * picked; more: packs until lifecycle.packsToDeepArchiveDays are, and Glacier IR ones read up to this.
         */
        scrubGlacierIrGiB: z.number().min(0).default(0),
      })
      .strict()
      .default({}),
    /**
     * Catalogue searches (the API and the console): the most calls one search page or count reads
     * (core/catalogue-budget.ts). A filter on direction or duration is checked on every call of
     * the time range, so a rare one over a long range stops at this many and says so (a count
     * "at least N", a page what it found with a cursor to go on) instead of running past the
     * functions' timeout.
     */
    search: z
      .object({
        readLimit: z.number().int().min(100).max(1_000_000).default(SEARCH_READ_LIMIT_DEFAULT),
      })
      .strict()
      .default({}),
    logs: z
      .object({
        /** CloudWatch retention of the ingest function's logs. */
        functionRetentionDays: logDays.default(90),
        /** Catalogue and replay log groups hold the audit trail (every search, listen, download). */
        auditRetentionDays: logDays.default(731),
        /** S3 server access logs of the data bucket. */
        accessLogExpirationDays: days(1).default(365),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    // Limits AWS enforces at deploy time, after a synth that succeeded: said here, with the setting.
    for (const p of deploymentLimitProblems(config)) ctx.addIssue({ code: 'custom', ...p });
    // CloudFormation output and logical ids keep letters and digits only: leeds-cc and leedscc would be one.
    const ids = new Map<string, string>();
    const seen = new Set<string>();
    config.sites.forEach((site, i) => {
      const id = site.name.replace(/[^A-Za-z0-9]/g, '');
      const other = ids.get(id);
      if (other !== undefined && other !== site.name) ctx.addIssue({ code: 'custom', path: ['sites', i, 'name'], message: `"${site.name}" and "${other}" differ only by dashes: CloudFormation ids keep letters and digits, so the two sites' outputs and resources would clash; rename one` });
      ids.set(id, site.name);
      for (const p of siteLimitProblems(config.stackPrefix, site, i)) ctx.addIssue({ code: 'custom', ...p });
      if (seen.has(site.name)) ctx.addIssue({ code: 'custom', path: ['sites', i, 'name'], message: `site "${site.name}" is listed twice` });
      // The console's groups are officer-{site} and officer-all (every site): a site named `all` would hand its officers every site.
      if (siteGroup(site.name) === ALL_SITES_GROUP) ctx.addIssue({ code: 'custom', path: ['sites', i, 'name'], message: `"${site.name}" is reserved: its console group would be ${ALL_SITES_GROUP}, the group that sees every site, so its officers would see every site's calls; rename the site` });
      seen.add(site.name);
      // A recording under Object Lock cannot be purged: retention shorter than the lock is a promise the purge cannot keep.
      if (site.retentionDays < config.objectLock.defaultRetentionDays) {
        ctx.addIssue({
          code: 'custom',
          path: ['sites', i, 'retentionDays'],
          message: `must be at least objectLock.defaultRetentionDays (${config.objectLock.defaultRetentionDays}): locked objects cannot be purged earlier`,
        });
      }
      // Nothing else deletes a retired site's calls at the end of their retention: its purge must keep running on its own.
      if (site.retired !== undefined && !site.schedule) {
        ctx.addIssue({ code: 'custom', path: ['sites', i, 'retired'], message: `a retired site needs a schedule whose purgeCron runs its purge to the end of retention (its backupCron is not scheduled once retired); without one, nothing deletes its calls` });
      }
      if (site.offboarded && site.retired === undefined) {
        ctx.addIssue({ code: 'custom', path: ['sites', i, 'offboarded'], message: 'an off-boarded site must be retired too ("retired": the first day it no longer ships): its agent would still ship calls nobody of the site may see' });
      }
      const archiveProblem = deepArchiveRetentionProblem(site.retentionDays, config.lifecycle.packsToDeepArchiveDays, site.schedule ? purgeIntervalDays(site.schedule.purgeCron) : 0);
      if (archiveProblem) ctx.addIssue({ code: 'custom', path: ['sites', i, 'retentionDays'], message: archiveProblem });
    });
    const iaProblem = backupsIaProblem(config);
    if (iaProblem) ctx.addIssue({ code: 'custom', path: ['lifecycle', 'backupsToIaDays'], message: iaProblem });
  })
  .transform((config) => ({ ...config, binlogs: { partialLockDays: effectivePartialLockDays(config) }, lifecycle: { ...config.lifecycle, backupsToIaDays: config.lifecycle.backupsToIaDays ?? defaultBackupsToIaDays(scheduledKeeping(config).map((k) => k.keeping)) } }));

interface KeepingSource {
  sites: SiteConfig[];
  objectLock: { defaultRetentionDays: number };
}

/** How each scheduled, active site's purge keeps its fulls (a retired site ships no more backups). */
function scheduledKeeping(config: KeepingSource): { index: number; name: string; keeping: FullBackupKeeping }[] {
  return config.sites.flatMap((site, index) => {
    if (!site.schedule || site.retired !== undefined) return [];
    const keeping = { keepFullCycles: site.keepFullCycles, fullEveryDays: cronIntervalDays(site.schedule.backupCron), lockDays: config.objectLock.defaultRetentionDays, purgeEveryDays: purgeIntervalDays(site.schedule.purgeCron) };
    return [{ index, name: site.name, keeping }];
  });
}

/** A backupsToIaDays given that a scheduled site's purge makes useless: the first such site (one message for the deployment-wide setting). */
function backupsIaProblem(config: KeepingSource & { lifecycle: { backupsToIaDays?: number } }): string | undefined {
  const toIaDays = config.lifecycle.backupsToIaDays;
  if (toIaDays === undefined) return undefined;
  const problems = scheduledKeeping(config).flatMap(({ index, name, keeping }) => [iaTransitionProblem(toIaDays, keeping, { index, name })].filter((p) => p !== undefined));
  if (problems.length === 0) return undefined;
  return problems.length === 1 ? problems[0] : `${problems[0]} (and ${problems.length - 1} other site(s) alike)`;
}
/** binlogs.partialLockDays as deployed: 0 when it would not be shorter than the bucket's default lock. */
function effectivePartialLockDays(config: { binlogs: { partialLockDays: number }; objectLock: { defaultRetentionDays: number } }): number {
  return config.binlogs.partialLockDays < config.objectLock.defaultRetentionDays ? config.binlogs.partialLockDays : 0;
}

export type DeploymentConfigInput = z.input<typeof deploymentConfigSchema>;
export type DeploymentConfig = z.infer<typeof deploymentConfigSchema>;

/** Two demo sites, governance lock for 30 days, default tiers, no replication. */
export const DEFAULT_CONFIG: DeploymentConfigInput = {
  sites: [
    { name: 'site-a', retentionDays: 730, schedule: { backupCron: '0 2 * * ? *', purgeCron: '0 5 ? * SUN *' } },
    { name: 'site-b', retentionDays: 2555, schedule: { backupCron: '30 2 * * ? *', purgeCron: '0 6 ? * SUN *' } },
  ],
};

export class DeploymentConfigError extends Error {
  constructor(readonly problems: string[], options?: ErrorOptions) {
    super(`invalid Ferry deployment configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`, options);
    this.name = 'DeploymentConfigError';
  }
}

function pathOf(path: (string | number)[]): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${part}` : part), '');
}

/** Validates a configuration object; DeploymentConfigError lists every problem with its path. */
export function parseDeploymentConfig(input: unknown): DeploymentConfig {
  const parsed = deploymentConfigSchema.safeParse(input);
  if (!parsed.success) throw new DeploymentConfigError(parsed.error.issues.map((i) => `${pathOf(i.path) || '(root)'}: ${i.message}`));
  return parsed.data;
}

/** The configuration named by the `ferryConfig` context value (a JSON file path), or the defaults. */
export function loadDeploymentConfig(file: string | undefined, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): DeploymentConfig {
  if (file === undefined || file === '') return parseDeploymentConfig(DEFAULT_CONFIG);
  let text: string;
  try {
    text = read(file);
  } catch (cause) {
    throw new DeploymentConfigError([`${file}: cannot be read (${(cause as Error).message})`], { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new DeploymentConfigError([`${file}: not valid JSON (${(cause as Error).message})`], { cause });
  }
  return parseDeploymentConfig(json);
}
