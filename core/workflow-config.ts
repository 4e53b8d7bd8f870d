import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { zodProblems } from './config.ts';
import { siteTreeRetentionSchema } from './tree-retention.ts';

// The orchestration's numbers, as data: the CDK constructs write them into the state machine
// definitions (Retry intervals and attempts, heartbeat and timeout seconds, task parameters)
// and the local runner executes those same definitions, shortening pauses only on request.
// Defaults are the Cisco CVP rules: a scheduled backup retries every 10 min for up to 4 h, a
// purge every 10 min for up to 6 h, a lock over 12 h old is cleared.

const positive = z.number().int().positive();

export const workflowConfigSchema = z
  .object({
    /** Pause between two attempts to take a busy lock. */
    lockRetryIntervalSeconds: positive.default(600),
    /** Retries of a scheduled backup window's acquire (24 × 10 min = 4 h). */
    backupLockMaxAttempts: z.number().int().min(0).max(99_999_999).default(24),
    /** Retries of a purge's acquire (36 × 10 min = 6 h). */
    purgeLockMaxAttempts: z.number().int().min(0).max(99_999_999).default(36),
    /** A lock with no sign of life for longer than this is cleared on the next acquire. */
    staleLockHours: z.number().positive().default(12),
    /** The agent must heartbeat at least this often while it runs a window's job. */
    activityHeartbeatSeconds: positive.default(300),
    /** A window's job must finish (including waiting for the agent to pick it up) within this. */
    activityTimeoutSeconds: positive.default(6 * 3600),
    /** Objects per DeleteObjects call of the purge (S3 allows 1000; a pack and its manifest count as two). */
    purgeBatchSize: z.number().int().min(1).max(500).default(250),
    /** Deletions planned by one purge run; the rest waits for the next run (keeps the plan well under the 256 KB state limit). */
    purgeMaxTargets: z.number().int().min(1).max(1000).default(500),
    /**
     * Rounds (plan, delete) one purge execution runs while its plan was cut at purgeMaxTargets:
     * a site past retention by more than one plan catches up in one run, not one plan a week.
     */
    purgeMaxRounds: z.number().int().min(1).max(100).default(20),
    /** Delete batches in flight at once. */
    purgeConcurrency: z.number().int().min(1).max(10).default(2),
    /** Pause between two checks of a recall's restore. */
    recallPollSeconds: positive.default(3600),
    /** Checks before a recall is given up (72 × 1 h = 3 days; Deep Archive Bulk takes up to 48 h). */
    recallMaxPolls: positive.default(72),
    /** Days a restored copy stays readable. */
    recallDays: positive.default(7),
    recallTier: z.enum(['Standard', 'Bulk']).default('Standard'),
  })
  .strict();

export type WorkflowConfig = z.infer<typeof workflowConfigSchema>;
export type WorkflowConfigInput = z.input<typeof workflowConfigSchema>;

export const DEFAULT_WORKFLOW_CONFIG: WorkflowConfig = workflowConfigSchema.parse({});

/** Validates and completes a (partial) configuration; ConfigError lists every problem. */
export function workflowConfig(input: WorkflowConfigInput = {}): WorkflowConfig {
  const parsed = workflowConfigSchema.safeParse(input);
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  return parsed.data;
}

/** What the purge keeps at one site. */
export const sitePurgeSchema = z
  .object({
    /** Recordings whose call started less than this many days ago are kept. */
    retentionDays: z.number().int().min(1).max(36_500),
    /** Full backups kept per source (CVP and rostrvm keep 2 cycles by default), with every log segment the oldest of them needs. */
    keepFullCycles: z.number().int().min(1).max(1000).default(2),
    /** Tree snapshots kept per source (core/tree-retention.ts): daily, weekly, monthly, and the orphan grace period; absent: the defaults. */
    trees: siteTreeRetentionSchema.optional(),
    /** Pack attempts with no manifest are deleted once older than this (default 7: core/orphan-sweep.ts). */
    orphanGraceDays: z.number().int().min(1).max(3650).optional(),
    /**
     * The bucket's default Object Lock retention (objectLock.defaultRetentionDays): an object
     * written less than this long ago cannot be deleted yet, so the plan leaves it out (counted
     * as waiting for its lock) instead of planning a delete S3 refuses in every round. Absent: no lock known.
     */
    objectLockDays: z.number().int().min(0).max(36_500).optional(),
    /**
     * The Object Lock days of binlog partials and their manifests (binlogs.partialLockDays): a
     * superseded partial is planned once these are over. Absent or 0: partials have objectLockDays.
     */
    partialLockDays: z.number().int().min(0).max(36_500).optional(),
  })
  .strict();
export type SitePurgeSettings = z.infer<typeof sitePurgeSchema>;

export function lockWaitSeconds(config: WorkflowConfig, operation: 'backup' | 'purge'): number {
  return config.lockRetryIntervalSeconds * (operation === 'backup' ? config.backupLockMaxAttempts : config.purgeLockMaxAttempts);
}
