import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { LifecycleConfig } from './config.ts';
import { transitionRules } from './lifecycle-tiers.ts';
import { HEARTBEAT_DAILY_KEEP_DAYS, HEARTBEAT_KEEP_DAYS } from '../core/fleet.ts';
import { classPrefix } from '../core/layout.ts';
import { EXPORTS_PREFIX } from '../core/exports.ts';

// Lifecycle rules of the data bucket: the tiers of lifecycle-tiers.ts (one rule per data class,
// filtered by the prefixes of core/layout.ts, shared with the local S3 stand-in) as CDK rules.

/** Transition rules per data class, plus one bucket-wide housekeeping rule (no transitions). */
export function lifecycleRules(config: LifecycleConfig): s3.LifecycleRule[] {
  const transitions: s3.LifecycleRule[] = transitionRules(config).map((rule) => ({
    id: rule.id,
    prefix: rule.prefix,
    transitions: rule.transitions.map((t) => ({ storageClass: new s3.StorageClass(t.storageClass), transitionAfter: Duration.days(t.afterDays) })),
  }));
  const housekeeping: s3.LifecycleRule = {
    id: 'housekeeping',
    // Orphaned parts of a pack whose agent died mid-upload (the agent also aborts what its journal knows).
    abortIncompleteMultipartUploadAfter: Duration.days(config.abortIncompleteMultipartDays),
    // Versions only become noncurrent through the purge (agents cannot overwrite or delete);
    // Object Lock still protects a locked version until its retention date passes.
    noncurrentVersionExpiration: Duration.days(config.noncurrentVersionExpirationDays),
  };
  const markers: s3.LifecycleRule = { id: 'expired-delete-markers', expiredObjectDeleteMarker: true };
  // One heartbeat per agent pass (at most every 5 min): only the newest matters to the fleet
  // status and the dead-man's switch; a month is kept for looking back. Versions under Object
  // Lock stay until their retention date, then go with the noncurrent versions.
  const heartbeats: s3.LifecycleRule = { id: 'expire-heartbeats', prefix: classPrefix('heartbeats'), expiration: Duration.days(HEARTBEAT_KEEP_DAYS) };
  // The first heartbeat of each UTC day an agent wrote, kept longer under a prefix of its own (the
  // rule above does not match `heartbeats-daily/`): a site silent past HEARTBEAT_KEEP_DAYS is still
  // "silent since" its last day on the fleet view, the dead-man's alert and the daily report.
  const dailyHeartbeats: s3.LifecycleRule = { id: 'expire-daily-heartbeats', prefix: classPrefix('heartbeats-daily'), expiration: Duration.days(HEARTBEAT_DAILY_KEEP_DAYS) };
  // Case exports hold personal data and are fetched within minutes (the link lives 300 s): the
  // bundle expires after exportsExpireDays, its noncurrent version (Object Lock permitting: the
  // export writes it with a retention that ends by then) a day later, a torn upload after a day.
  const exports: s3.LifecycleRule = {
    id: 'expire-exports',
    prefix: EXPORTS_PREFIX,
    expiration: Duration.days(config.exportsExpireDays),
    noncurrentVersionExpiration: Duration.days(1),
    abortIncompleteMultipartUploadAfter: Duration.days(1),
  };
  return [...transitions, housekeeping, markers, heartbeats, dailyHeartbeats, exports];
}
