import { z } from 'zod';
import { createDynamoClients, createS3Client } from '../../adapters/aws-clients.ts';
import { DynamoCatalogue } from '../../adapters/dynamo-catalogue.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { S3RangeReader } from '../../adapters/s3-range-get.ts';
import { S3WriteOnce } from '../../adapters/s3-write-once.ts';
import { LeanDynamo, type DocumentSender } from '../../adapters/dynamo-lean.ts';
import { createSfnClient } from '../../adapters/sfn-activity-client.ts';
import { SfnRecallStarter } from '../../adapters/sfn-recall-starter.ts';
import { systemClock, type Clock } from '../../core/clock.ts';
import { ConfigError } from '../../core/errors.ts';
import { SEARCH_READ_LIMIT_DEFAULT } from '../../core/catalogue-budget.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import type { RecallStarter } from '../../core/recall.ts';
import { DynamoPurgeIntentStore } from '../../adapters/dynamo-purge-intents.ts';
import { DynamoAuditLedger } from '../../adapters/dynamo-audit-ledger.ts';
import { DynamoRecallStatusStore } from '../../adapters/dynamo-recalls.ts';
import { DynamoErasureStore } from '../../adapters/dynamo-erasures.ts';
import type { ErasureStore } from '../../core/erasure-items.ts';
import type { PackTier, RecallStatusStore } from '../../core/recall-status.ts';
import { auditTrailReader, type AuditReader } from '../../core/audit-query.ts';
import { chainAudit, stdoutAudit, type Audit } from './audit.ts';
import { jsonLog, type Log } from './log.ts';
import { zodProblems } from '../../core/zod-problems.ts';

// Composition root of the functions: the only place that reads the environment and builds
// SDK clients, once per cold start (on the first invocation, never at import time).

export interface FunctionDeps {
  blobs: BlobStore;
  catalogue: CatalogueStore;
  audit: Audit;
  /** The durable trail's records, read by the audit view (GET …/audit). */
  auditTrail: AuditReader;
  /** Recall status records (written by the recall workflow), read by the recall status routes. */
  recalls: Pick<RecallStatusStore, 'get'>;
  /** Erasure requests (core/erasures.ts): the readers' catalogue is gated by them (erasureGate). */
  erasures: ErasureStore;
  /** The packs' lifecycle tiers (PACK_TIERS): a recording's archive state is predicted from them; absent, not reported. */
  packTiers?: PackTier[];
  clock: Clock;
  log: Log;
}

const packTiersSchema = z.array(z.object({ storageClass: z.string().min(1), afterDays: z.number().int().positive() }).strict());

/** An environment variable holding JSON of `schema`; `message` names what it must be. */
export function jsonVariable<S extends z.ZodTypeAny>(schema: S, message: string) {
  return z.string().transform((s, ctx): z.infer<S> => {
    try {
      return schema.parse(JSON.parse(s));
    } catch {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
  });
}

/** What every function reads from its environment; a function with more extends it. */
export const baseEnvSchema = z.object({
  BUCKET: z.string().min(3, 'the data bucket name is required'),
  TABLE: z.string().min(3, 'the catalogue table name is required'),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_S3: z.string().url().optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.string().url().optional(),
  /** `chain`: audit events go to the durable hash-chained trail (and the log); absent: the log only. */
  AUDIT_TRAIL: z.enum(['chain', 'log']).optional(),
  /** JSON: the packs' lifecycle transitions (infra/lifecycle-tiers.ts), `[{ storageClass, afterDays }]`. */
  PACK_TIERS: jsonVariable(packTiersSchema, 'must be a JSON array of { storageClass, afterDays }').optional(),
});

/** Parses the environment; ConfigError lists every problem. */
export function parseEnv<S extends z.ZodTypeAny>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  return parsed.data;
}

/** The SDK clients and the two stores every function uses, from the parsed environment. */
export function baseClients(cfg: z.infer<typeof baseEnvSchema>) {
  const s3 = createS3Client({ region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_S3 });
  const { doc } = createDynamoClients({ region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_DYNAMODB });
  const lean = leanDynamo(cfg, doc);
  return { s3, doc, lean, blobs: new S3BlobStore(s3, cfg.BUCKET), catalogue: new DynamoCatalogue(lean, cfg.TABLE) };
}

/**
 * The region and endpoint signed requests go to: the function's region, or us-east-1 for a custom
 * endpoint given without one (the stand-ins); undefined when neither is known (never in Lambda).
 */
function signedTarget(cfg: z.infer<typeof baseEnvSchema>, endpoint: string | undefined): { region: string; endpoint?: string } | undefined {
  const region = cfg.AWS_REGION ?? (endpoint === undefined ? undefined : 'us-east-1');
  return region === undefined ? undefined : { region, ...(endpoint === undefined ? {} : { endpoint }) };
}

/**
 * Where the audit seals copy each record write-once: signed PUTs (adapters/s3-write-once.ts), the
 * same bucket, endpoint, region and role credentials as the S3 client; the S3 client itself when
 * no region is known (never in Lambda).
 */
function sealWriter(cfg: z.infer<typeof baseEnvSchema>, blobs: S3BlobStore): Pick<BlobStore, 'put'> {
  const target = signedTarget(cfg, cfg.AWS_ENDPOINT_URL_S3);
  return target ? new S3WriteOnce({ bucket: cfg.BUCKET, ...target }) : blobs;
}

/**
 * The catalogue's reads and the audit's writes (GetItem, Query, PutItem) as signed requests
 * (adapters/dynamo-lean.ts), everything else through the document client: the same table,
 * endpoint, region and role credentials.
 */
function leanDynamo(cfg: z.infer<typeof baseEnvSchema>, doc: DocumentSender): DocumentSender {
  const target = signedTarget(cfg, cfg.AWS_ENDPOINT_URL_DYNAMODB);
  // Without a region (never in Lambda) the SDK resolves one from the shared config: it stays in charge.
  return target ? new LeanDynamo(target, doc) : doc;
}

/**
 * Ranged GETs of the bucket without the SDK's per-call machinery (adapters/s3-range-get.ts), for
 * the replay function: the same bucket, endpoint, region and role credentials as the S3 client.
 */
export function rangeReaderFromEnv(env: Record<string, string | undefined>): S3RangeReader {
  const cfg = parseEnv(baseEnvSchema, env);
  const target = signedTarget(cfg, cfg.AWS_ENDPOINT_URL_S3);
  if (target === undefined) throw new ConfigError(['AWS_REGION: is required to address the bucket (Lambda sets it)']);
  return new S3RangeReader({ bucket: cfg.BUCKET, ...target });
}

/**
 * The audit sink a function's environment asks for: the site's durable hash chain (ledger, then
 * a write-once seal) when the stack set AUDIT_TRAIL=chain (every function in
 * AUDIT_CHAIN_WRITERS), else the log. Every function that records access builds it here.
 */
export function auditFromEnv(cfg: z.infer<typeof baseEnvSchema>, clients: Pick<ReturnType<typeof baseClients>, 'blobs' | 'lean'>): Audit {
  return cfg.AUDIT_TRAIL === 'chain' ? chainAudit({ ledger: new DynamoAuditLedger(clients.lean, cfg.TABLE), blobs: sealWriter(cfg, clients.blobs) }) : stdoutAudit();
}

export function loadDeps(env: Record<string, string | undefined>): FunctionDeps {
  const cfg = parseEnv(baseEnvSchema, env);
  const { blobs, catalogue, doc, lean } = baseClients(cfg);
  const ledger = new DynamoAuditLedger(lean, cfg.TABLE);
  return {
    blobs,
    catalogue,
    audit: auditFromEnv(cfg, { blobs, lean }),
    auditTrail: auditTrailReader({ ledger, blobs, intents: new DynamoPurgeIntentStore(doc, cfg.TABLE) }),
    recalls: new DynamoRecallStatusStore(doc, cfg.TABLE),
    erasures: new DynamoErasureStore(lean, cfg.TABLE),
    ...(cfg.PACK_TIERS ? { packTiers: cfg.PACK_TIERS } : {}),
    clock: systemClock,
    log: jsonLog,
  };
}

/** The recall workflow the catalogue function starts (RECALL_STATE_MACHINE_ARN, set by the stack); undefined when not deployed. */
export function recallStarterFromEnv(env: Record<string, string | undefined>): RecallStarter | undefined {
  const cfg = parseEnv(recallEnvSchema, env);
  if (!cfg.RECALL_STATE_MACHINE_ARN) return undefined;
  const sfn = createSfnClient({ region: cfg.AWS_REGION, endpoint: cfg.AWS_ENDPOINT_URL_SFN });
  return new SfnRecallStarter(sfn, cfg.RECALL_STATE_MACHINE_ARN);
}

const recallEnvSchema = z.object({
  RECALL_STATE_MACHINE_ARN: z
    .string()
    .regex(/^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[\w-]+$/, 'must be a state machine ARN')
    .optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_SFN: z.string().url().optional(),
});

/** The HMAC key of the listing cursors, from CURSOR_KEY (a secret generated for the deployment). */
export function cursorKeyFrom(env: Record<string, string | undefined>): string {
  return parseEnv(z.object({ CURSOR_KEY: z.string().min(32, 'the cursor key (at least 32 characters) is required') }), env).CURSOR_KEY;
}

/**
 * SEARCH_READ_LIMIT: the most catalogue entries one search page or count reads (the deployment's
 * search.readLimit, infra/config.ts); absent, SEARCH_READ_LIMIT_DEFAULT.
 */
export function searchReadLimitFrom(env: Record<string, string | undefined>): number {
  return parseEnv(z.object({ SEARCH_READ_LIMIT: z.coerce.number().int().min(100, 'must be a whole number of at least 100').default(SEARCH_READ_LIMIT_DEFAULT) }), env).SEARCH_READ_LIMIT;
}

let cached: FunctionDeps | undefined;

/** The process's deps, built on first use and kept for the life of the execution environment. */
export function cloudDeps(): FunctionDeps {
  cached ??= loadDeps(process.env);
  return cached;
}
