import type { ArchiveStore } from '../../core/recall.ts';
import type { AuditLedger } from '../../core/audit-ledger.ts';
import type { Audit } from '../shared/audit.ts';
import middy from '@middy/core';
import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import type { HoldStore } from '../../core/hold-items.ts';
import type { ErasureStore } from '../../core/erasure-items.ts';
import type { ReplicaBucket } from '../../core/erasure-replica.ts';
import type { ObjectHolder } from '../../core/holds.ts';
import { RECORDING_ID_PATTERN } from '../../core/ids.ts';
import type { LockStore } from '../../core/lock.ts';
import type { PurgeTarget } from '../../core/retention.ts';
import type { BlobStore, CatalogueStore } from '../../core/ports.ts';
import { messageOf } from '../../core/errors.ts';
import { deletePurgeBatch, planPurge, PURGE_PRINCIPAL, type BatchResult, type ObjectDeleter, type PurgePlanResult } from '../../core/purge.ts';
import { settleOpenIntents, type PurgeIntentStore } from '../../core/purge-intents.ts';
import { purgeReport, type PurgeRun } from '../../core/purge-report.ts';
import type { PurgeRunStore } from '../../core/purge-watch.ts';
import { sitePurgeSchema, workflowConfig } from '../../core/workflow-config.ts';
import { asHandler, lazyHandler, type Handler } from '../shared/lambda.ts';
import { jsonLog, type Log } from '../shared/log.ts';
import { siteName, taskConfigSchema, taskErrorSchema, taskErrors } from '../shared/task.ts';
import { workflowDeps } from '../shared/workflow-deps.ts';

// The purge's steps: start (the run's record, read by the dead-man's switch: core/purge-watch.ts), plan (core/retention.ts over the manifests and legal holds), delete one
// batch (fenced by the lock token; held calls of a pack that otherwise goes are copied out
// first), report (the text the workflow publishes).

const targetSchema = z.object({
  key: z.string().min(1),
  then: z.string().min(1).optional(),
  kind: z.enum(['pack', 'full', 'segment', 'snapshot', 'tree-index', 'tree-pack']),
  /** Held calls to copy out before the pack goes (core/copy-out.ts). */
  keep: z.array(z.string().regex(RECORDING_ID_PATTERN)).min(1).optional(),
  /** Calls erased at a data subject's request (core/erasure-purge.ts): their requests are done once the pack is gone. */
  erase: z.array(z.string().regex(RECORDING_ID_PATTERN)).min(1).optional(),
  /** Erased calls another copy of which stays in a pack this purge keeps: their requests stay pending. */
  eraseLater: z.array(z.string().regex(RECORDING_ID_PATTERN)).min(1).optional(),
  keepHeld: z.boolean().optional(),
  /** `erasure`: the pack goes for an erasure alone; its audit record says so, not the retention's days. */
  rule: z.literal('erasure').optional(),
  /** A dead attempt at a pack an erasure deletes: its DR copy goes too (core/erasure-replica.ts). */
  replica: z.literal(true).optional(),
});
const batchSchema = z.object({
  index: z.number().int().nonnegative(),
  targets: z.array(targetSchema).min(1).max(1000),
  /** The site's retention the plan applied, for the audit records of the packs it deletes. */
  rule: z.object({ retentionDays: z.number().int().positive(), cutoff: z.string().datetime() }).optional(),
});

export const purgeEventSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('start'), site: siteName, startedAt: z.string().datetime({ offset: true }), execution: z.string().min(1) }),
  z.object({ action: z.literal('plan'), site: siteName, settings: sitePurgeSchema, maxTargets: z.number().int().positive(), batchObjects: z.number().int().positive().max(1000) }),
  z.object({ action: z.literal('delete'), site: siteName, token: z.number().int().positive(), batch: batchSchema }),
  z.object({
    action: z.literal('report'),
    site: siteName,
    startedAt: z.string().datetime({ offset: true }),
    execution: z.string().optional(),
    config: taskConfigSchema,
    run: z
      .object({ lockError: taskErrorSchema.optional(), heldBy: z.object({}).passthrough().nullable().optional(), plan: z.object({}).passthrough().optional(), deleted: z.array(z.object({}).passthrough()).optional(), error: taskErrorSchema.optional() })
      .passthrough(),
  }),
]);

export interface PurgeHandlerDeps {
  blobs: Pick<BlobStore, 'list' | 'get' | 'head' | 'put'>;
  catalogue: Pick<CatalogueStore, 'forgetPack' | 'forgetArtefact' | 'forgetSnapshot' | 'putSnapshot' | 'putRecordings' | 'putPack' | 'packKeysOf' | 'putCopies' | 'copiesOf' | 'getRecordings' | 'searchRecordings' | 'listArtefacts' | 'listArtefactSources'>;
  /** Data subjects' erasure requests: carried out by the plan and delete steps (core/erasure-purge.ts); absent, none is. */
  erasures?: Pick<ErasureStore, 'listErasures' | 'getErasure' | 'markDone' | 'noteWaiting'>;
  /** Legal holds: their own records, read by the planner. */
  holds: Pick<HoldStore, 'listHolds'>;
  /** Restores an archived pack whose held calls must be copied out. */
  archive?: Pick<ArchiveStore, 'requestRestore'>;
  /** The site's audit trail: a `purge-intent` record per object before it is deleted, a `purge` record once it is gone. */
  audit?: Audit;
  /** The purge's open intents (core/purge-intents.ts): settled by the plan step, kept by the delete step. */
  intents?: PurgeIntentStore;
  /** The trail as written (the audit ledger): a retry finds there the records an earlier attempt wrote, and writes none twice. */
  trail?: Pick<AuditLedger, 'head' | 'records'>;
  /** Legal hold ON on copied-out calls' new pack, OFF on the pack they leave. */
  holder: ObjectHolder;
  deleter: ObjectDeleter;
  /** The DR bucket (`replication`): an erasure's packs are deleted there too, first; absent, none is. */
  replica?: ReplicaBucket;
  locks: Pick<LockStore, 'heartbeat'>;
  /** Where each run's start is recorded. */
  purgeRuns: Pick<PurgeRunStore, 'putPurgeRun'>;
  clock: Clock;
  log?: Log;
}

type PurgeResult = { state: 'started' } | PurgePlanResult | BatchResult | { outcome: string; alert: { subject: string; message: string; severity: string } };

export function createHandler(deps: PurgeHandlerDeps): Handler<unknown, PurgeResult> {
  const log = deps.log ?? jsonLog;
  const chain = middy(async (raw: unknown): Promise<PurgeResult> => {
    const event = purgeEventSchema.parse(raw);
    if (event.action === 'start') {
      await deps.purgeRuns.putPurgeRun({ site: event.site, startedAt: event.startedAt, execution: event.execution });
      log('info', 'purge started', { site: event.site, startedAt: event.startedAt, execution: event.execution });
      return { state: 'started' };
    }
    if (event.action === 'plan') {
      const onTarget = (t: PurgeTarget) => log('info', 'purge planned deletion', { site: event.site, key: t.key, manifest: t.then, kind: t.kind, reason: t.reason });
      // What an earlier purge began and did not record the end of is recorded first (under the lock, before any batch of this one).
      const intents = deps.audit && deps.intents ? await settleOpenIntents({ audit: deps.audit, intents: deps.intents, blobs: deps.blobs, ...(deps.trail ? { trail: deps.trail } : {}), clock: deps.clock, principal: PURGE_PRINCIPAL }, event.site) : undefined;
      const planned = await planPurge(deps, { site: event.site, settings: event.settings, now: deps.clock.now(), maxTargets: event.maxTargets, batchObjects: event.batchObjects, onTarget });
      const plan = intents ? { ...planned, summary: { ...planned.summary, intents } } : planned;
      // Items dated in the future are kept and counted by no rule; a site clock ahead or forged manifests wrote them: said at warn.
      log(plan.summary.futureDated ? 'warn' : 'info', 'purge planned', { site: event.site, ...plan.summary, batches: plan.batches.length });
      return plan;
    }
    if (event.action === 'delete') {
      const copyOut = { blobs: deps.blobs, catalogue: deps.catalogue, holder: deps.holder, clock: deps.clock };
      const result = await deletePurgeBatch({ ...deps, copyOut }, event.site, event.token, event.batch);
      log(result.failedCount || result.retainedCount ? 'warn' : 'info', 'purge batch done', { site: event.site, ...result });
      return result;
    }
    const run = { ...(event.run as Omit<PurgeRun, 'site' | 'startedAt'>), site: event.site, startedAt: event.startedAt, execution: event.execution };
    const { outcome, alert, deleted } = purgeReport(run, deps.clock.now(), workflowConfig(event.config));
    log(outcome === 'DONE' && alert.severity === 'info' ? 'info' : 'warn', 'purge report', { site: event.site, outcome, severity: alert.severity });
    // The outcome on the run's record, for the fleet view; the report goes out whether or not it could be written.
    const ended = { site: event.site, startedAt: event.startedAt, execution: event.execution ?? '', outcome, reportedAt: deps.clock.now().toISOString(), deleted, ...(run.round ? { round: run.round } : {}) };
    await deps.purgeRuns.putPurgeRun(ended).catch((error: unknown) => log('error', 'purge outcome not recorded', { site: event.site, startedAt: event.startedAt, error: messageOf(error) }));
    return { outcome, alert: { subject: alert.subject, message: alert.message, severity: alert.severity } };
  }).use(taskErrors({ log, fn: 'purge' }));
  return asHandler(chain);
}

export const handler = lazyHandler(() => createHandler(workflowDeps()));
export const createPurgeHandler = createHandler;
