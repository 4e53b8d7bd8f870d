import { Duration } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { classPrefix, DATA_CLASSES, type DataClass } from '../core/layout.ts';
import type { LifecycleConfig } from './config.ts';

// Lifecycle rules of the data bucket, one per data class, filtered by the prefixes of
// core/layout.ts. A Record over DataClass: a new data class does not compile until someone
// decides its tiers here.
//
// Only packs go to archive classes (restic's habit: data packs archive, metadata stays
// instantly readable). Manifests get no transition at all: they are the commit records
// ingest, replay and recovery read at any time.

export interface Tier {
  storageClass: s3.StorageClass;
  afterDays: number;
}

export function tiersByClass(config: LifecycleConfig): Record<DataClass, Tier[]> {
  return {
    recordings: [
      { storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, afterDays: config.packsToGlacierIrDays },
      { storageClass: s3.StorageClass.DEEP_ARCHIVE, afterDays: config.packsToDeepArchiveDays },
    ],
    manifests: [],
    backups: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, afterDays: config.backupsToIaDays }],
    logs: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, afterDays: config.backupsToIaDays }],
    archives: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, afterDays: config.archivesToIaDays }],
  };
}

/** Transition rules per data class, plus one bucket-wide housekeeping rule (no transitions). */
export function lifecycleRules(config: LifecycleConfig): s3.LifecycleRule[] {
  const tiers = tiersByClass(config);
  const transitions: s3.LifecycleRule[] = DATA_CLASSES.filter((dataClass) => tiers[dataClass].length > 0).map((dataClass) => ({
    id: `tier-${dataClass}`,
    prefix: classPrefix(dataClass),
    transitions: tiers[dataClass].map((t) => ({ storageClass: t.storageClass, transitionAfter: Duration.days(t.afterDays) })),
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
  return [...transitions, housekeeping, markers];
}
