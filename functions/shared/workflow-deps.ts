import { z } from 'zod';
import { dynamoLockStore } from '../../adapters/dynamo-lock.ts';
import { DynamoRunStore } from '../../adapters/dynamo-runs.ts';
import { DynamoPurgeRunStore } from '../../adapters/dynamo-purge-runs.ts';
import { DynamoPurgeIntentStore } from '../../adapters/dynamo-purge-intents.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import type { PurgeIntentStore } from '../../core/purge-intents.ts';
import type { PurgeRunStore } from '../../core/purge-watch.ts';
import { S3ArchiveStore } from '../../adapters/s3-archive.ts';
import { DynamoRecallStatusStore } from '../../adapters/dynamo-recalls.ts';
import type { RecallStatusStore } from '../../core/recall-status.ts';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { S3ObjectHolder } from '../../adapters/s3-legal-hold.ts';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3ObjectDeleter } from '../../adapters/s3-purge.ts';
import type { HoldStore } from '../../core/hold-items.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import { MirroredErasureStore, type ErasureStore } from '../../core/erasure-items.ts';
import type { ObjectHolder } from '../../core/holds.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { LockStore } from '../../core/lock.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import type { ObjectDeleter } from '../../core/purge.ts';
import type { ReplicaBucket } from '../../core/erasure-replica.ts';
import type { ArchiveStore } from '../../core/recall.ts';
import type { RunStore } from '../../core/window.ts';
import { jsonLog, type Log } from './log.ts';
import { auditFromEnv, baseClients, baseEnvSchema, parseEnv } from './deps.ts';
import type { Audit } from './audit.ts';

// Composition root of the workflow functions (lock, window, purge, recall): reads the
// environment and builds the clients once per cold start, on the first invocation.

export interface WorkflowDeps {
  blobs: BlobStore;
  catalogue: CatalogueStore;
  locks: LockStore;
  runs: RunStore;
  /** The purge's record of each run (PURGERUN# items). */
  purgeRuns: PurgeRunStore;
  /** The purge's open intents (core/purge-intents.ts). */
  intents: PurgeIntentStore;
  deleter: ObjectDeleter;
  /** The DR bucket the data bucket replicates to (`replication`: DR_BUCKET, DR_REGION, set on the purge only): an erasure reaches it. */
  replica?: ReplicaBucket;
  holds: HoldStore;
  /** Erasure requests the purge carries out (written to the bucket first, then the table). */
  erasures: ErasureStore;
  holder: ObjectHolder;
  archive: ArchiveStore;
  statuses: RecallStatusStore;
  /** The sites' audit trail: the purge records each deletion there. */
  audit: Audit;
  /** The trail as written (the audit ledger, `AUDIT_TRAIL=chain`): a retried purge step finds there what it recorded already. */
  trail?: DynamoAuditLedger;
  clock: Clock;
  log: Log;
}

const envSchema = baseEnvSchema.extend({
  /** 'false' for stores without versioning (stand-ins); default: versions when talking to AWS. */
  PURGE_DELETE_VERSIONS: z.enum(['true', 'false']).optional(),
  /** The DR bucket (`replication`) and its region: the purge deletes an erasure's packs there too. */
  DR_BUCKET: z.string().min(3, 'the DR bucket name must be at least 3 characters').optional(),
  DR_REGION: z.string().min(1).optional(),
});

export function loadWorkflowDeps(env: Record<string, string | undefined>): WorkflowDeps {
  const cfg = parseEnv(envSchema, env);
  const clients = baseClients(cfg);
  const { s3, doc, blobs, catalogue } = clients;
  const versions = cfg.PURGE_DELETE_VERSIONS === undefined ? cfg.AWS_ENDPOINT_URL_S3 === undefined : cfg.PURGE_DELETE_VERSIONS === 'true';
  // The DR bucket's own region (another region than the data bucket's, by design): its own client.
  const replica = cfg.DR_BUCKET
    ? { name: cfg.DR_BUCKET, deleter: new S3ObjectDeleter(createS3Client({ region: cfg.DR_REGION ?? cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_S3 }), cfg.DR_BUCKET, { versions }) }
    : undefined;
  return {
    blobs,
    catalogue,
    locks: dynamoLockStore(doc, cfg.TABLE, systemClock),
    runs: new DynamoRunStore(doc, cfg.TABLE),
    purgeRuns: new DynamoPurgeRunStore(doc, cfg.TABLE),
    intents: new DynamoPurgeIntentStore(doc, cfg.TABLE),
    deleter: new S3ObjectDeleter(s3, cfg.BUCKET, { versions }),
    ...(replica ? { replica } : {}),
    holds: new DynamoHoldStore(doc, cfg.TABLE),
    erasures: new MirroredErasureStore(new DynamoErasureStore(doc, cfg.TABLE), blobs),
    holder: new S3ObjectHolder(s3, cfg.BUCKET),
    archive: new S3ArchiveStore(s3, cfg.BUCKET),
    statuses: new DynamoRecallStatusStore(doc, cfg.TABLE),
    audit: auditFromEnv(cfg, clients),
    ...(cfg.AUDIT_TRAIL === 'chain' ? { trail: new DynamoAuditLedger(clients.lean, cfg.TABLE) } : {}),
    clock: systemClock,
    log: jsonLog,
  };
}

let cached: WorkflowDeps | undefined;

/** The process's deps, built on first use and kept for the life of the execution environment. */
export function workflowDeps(): WorkflowDeps {
  cached ??= loadWorkflowDeps(process.env);
  return cached;
}
