import { classPrefix, DATA_CLASSES, type DataClass } from '../core/layout.ts';
import type { LifecycleConfig } from './config.ts';

// The data bucket's tiers as plain data: which storage class each data class moves to, and
// when. infra/lifecycle.ts turns them into CDK lifecycle rules; the local S3 stand-in applies the
// very same rules (local/s3-process.ts), so the two cannot drift. No CDK import here: the local
// cloud runs without devDependencies.
//
// Only packs go to archive classes (restic's habit: data packs archive, metadata stays
// instantly readable). Manifests get no transition at all: they are the commit records
// ingest, replay and recovery read at any time.

/** S3 storage class names, as the S3 API spells them. */
export type TierStorageClass = 'GLACIER_IR' | 'DEEP_ARCHIVE' | 'STANDARD_IA';

export interface Tier {
  storageClass: TierStorageClass;
  afterDays: number;
}

export interface TransitionRule {
  id: string;
  prefix: string;
  transitions: Tier[];
}

/** A Record over DataClass: a new data class does not compile until someone decides its tiers here. */
export function tiersByClass(config: LifecycleConfig): Record<DataClass, Tier[]> {
  return {
    recordings: [
      { storageClass: 'GLACIER_IR', afterDays: config.packsToGlacierIrDays },
      { storageClass: 'DEEP_ARCHIVE', afterDays: config.packsToDeepArchiveDays },
    ],
    manifests: [],
    // One small object per agent pass, read newest first by the fleet status: instant class, no tiers.
    heartbeats: [],
    // One heartbeat a day per agent, read only once a site's recent ones expired: no tiers.
    'heartbeats-daily': [],
    backups: [{ storageClass: 'STANDARD_IA', afterDays: config.backupsToIaDays }],
    logs: [{ storageClass: 'STANDARD_IA', afterDays: config.backupsToIaDays }],
    archives: [{ storageClass: 'STANDARD_IA', afterDays: config.archivesToIaDays }],
    // File-share snapshot packs are shared by many snapshots and restored whole: instant reads, no archive tier.
    trees: [{ storageClass: 'STANDARD_IA', afterDays: config.archivesToIaDays }],
  };
}

/** One transition rule per data class that has tiers, filtered by the class prefix of core/layout.ts. */
export function transitionRules(config: LifecycleConfig): TransitionRule[] {
  const tiers = tiersByClass(config);
  return DATA_CLASSES.filter((dataClass) => tiers[dataClass].length > 0).map((dataClass) => ({
    id: `tier-${dataClass}`,
    prefix: classPrefix(dataClass),
    transitions: tiers[dataClass],
  }));
}
