import { z } from 'zod';
import { composeAlert, formatDuration } from './alert-text.ts';
import type { Clock } from './clock.ts';
import { InvalidInputError, NotFoundError } from './errors.ts';
import { NAME_PATTERN, sitePrefix } from './layout.ts';
import type { Alert, CatalogueStore } from './ports.ts';
import { ARCHIVED_CLASSES, type RecallStatusRecord, type RecallStatusStore } from './recall-status.ts';
import type { WorkflowConfig } from './workflow-config.ts';

// Recall: a recording whose pack went to Deep Archive cannot be replayed until S3 restores a
// temporary copy (hours). The workflow asks for the restore, polls on a Wait state, and tells
// the requester when the recording plays again (or that it gave up). Packs in Glacier Instant
// Retrieval or Standard need nothing: the recall answers "available" at once.
// Each step writes the pack's recall status record (core/recall-status.ts) before it answers, so
// the console shows the state the workflow is in; the notice goes out after the write.

export interface ArchiveStatus {
  storageClass: string;
  /** Present once a restore was asked for: ongoing until the copy is readable, then its expiry. */
  restore?: { ongoing: boolean; expiresAt?: string };
}

export interface ArchiveStore {
  /** Storage class and restore state of key; undefined when absent. */
  archiveStatus(key: string): Promise<ArchiveStatus | undefined>;
  /** Asks for a readable copy for `days`. Idempotent: a restore already under way answers 'in-progress'. */
  requestRestore(key: string, days: number, tier: 'Standard' | 'Bulk'): Promise<'started' | 'in-progress'>;
}

export const recallRequestSchema = z
  .object({
    site: z.string().regex(NAME_PATTERN, 'must be a site name'),
    /** The recording asked for (its pack is looked up in the catalogue)… */
    rid: z.string().min(1).optional(),
    /** …or the pack itself. */
    packKey: z.string().min(1).optional(),
    /** Who asked: carried in the notice's message attributes so a subscription can route it. */
    requester: z.string().min(1).max(256),
  })
  .refine((r) => (r.rid === undefined) !== (r.packKey === undefined), { message: 'give exactly one of rid and packKey', path: ['rid'] });
export type RecallRequest = z.infer<typeof recallRequestSchema>;

export const recallStateSchema = z.object({
  site: z.string(),
  rid: z.string().optional(),
  packKey: z.string(),
  requester: z.string(),
  requestedAt: z.string(),
  storageClass: z.string(),
  state: z.enum(['available', 'restoring', 'gave-up']),
  polls: z.number().int().nonnegative(),
  availableUntil: z.string().optional(),
  notice: z.object({ subject: z.string(), message: z.string(), severity: z.string() }).optional(),
});
export type RecallState = z.infer<typeof recallStateSchema>;

export interface RecallDeps {
  catalogue: Pick<CatalogueStore, 'getRecording'>;
  archive: ArchiveStore;
  /** The recall status records the console and the catalogue API read. */
  statuses: RecallStatusStore;
  clock: Clock;
}

function recordOf(state: RecallState, now: Date): RecallStatusRecord {
  const { site, rid, packKey, requester, requestedAt, storageClass, polls, availableUntil } = state;
  return { site, ...(rid ? { rid } : {}), packKey, state: state.state, requester, requestedAt, storageClass, polls, ...(availableUntil ? { availableUntil } : {}), updatedAt: now.toISOString() };
}

function notice(state: Omit<RecallState, 'notice'>, now: Date, config: WorkflowConfig): Alert {
  const what = state.rid ? `recording ${state.rid} (pack ${state.packKey})` : `pack ${state.packKey}`;
  if (state.state === 'available') {
    return composeAlert({
      severity: 'info',
      site: state.site,
      subject: `Ferry ${state.site}: recall ready - ${state.rid ?? state.packKey.split('/').pop()}`,
      what: `nothing: ${what} asked for by ${state.requester} can be played and downloaded again${state.availableUntil ? ` until ${state.availableUntil}` : ''}`,
      since: state.requestedAt,
      now,
      todo: ['open it in the Ferry catalogue as usual'],
    });
  }
  return composeAlert({
    severity: 'warning',
    site: state.site,
    subject: `Ferry ${state.site}: recall not ready after ${formatDuration(config.recallPollSeconds * config.recallMaxPolls * 1000)}`,
    what: `the restore of ${what} asked for by ${state.requester} did not complete after ${state.polls} check(s)`,
    since: state.requestedAt,
    now,
    todo: ['look at the object in the S3 console (restore status); start the recall again if the restore request was lost'],
  });
}

function withNotice(state: Omit<RecallState, 'notice'>, now: Date, config: WorkflowConfig): RecallState {
  if (state.state === 'restoring') return state;
  const alert = notice(state, now, config);
  return { ...state, notice: { subject: alert.subject, message: alert.message, severity: alert.severity } };
}

async function packOf(deps: RecallDeps, request: RecallRequest): Promise<string> {
  if (request.packKey !== undefined) {
    if (!request.packKey.startsWith(sitePrefix('recordings', request.site)) || request.packKey.includes('..')) {
      throw new InvalidInputError(`pack ${request.packKey} is not a pack of site ${request.site}`);
    }
    return request.packKey;
  }
  const entry = await deps.catalogue.getRecording(request.site, request.rid!);
  if (!entry) throw new NotFoundError(`no recording ${request.rid} at site ${request.site}`);
  return entry.packKey;
}

/** First step: find the pack, and ask for a restore when its class needs one. */
export async function requestRecall(deps: RecallDeps, request: RecallRequest, config: WorkflowConfig): Promise<RecallState> {
  const now = deps.clock.now();
  const packKey = await packOf(deps, request);
  const status = await deps.archive.archiveStatus(packKey);
  if (!status) throw new NotFoundError(`pack ${packKey} is not in the bucket (purged?)`);
  const base = { site: request.site, ...(request.rid ? { rid: request.rid } : {}), packKey, requester: request.requester, requestedAt: now.toISOString(), storageClass: status.storageClass, polls: 0 };
  let state: RecallState;
  if (!ARCHIVED_CLASSES.has(status.storageClass) || (status.restore && !status.restore.ongoing)) {
    state = withNotice({ ...base, state: 'available', ...(status.restore?.expiresAt ? { availableUntil: status.restore.expiresAt } : {}) }, now, config);
  } else {
    if (!status.restore) await deps.archive.requestRestore(packKey, config.recallDays, config.recallTier);
    state = { ...base, state: 'restoring' };
  }
  // A new request (after a gave-up, or once a restored copy expired) takes the record over.
  await deps.statuses.put(recordOf(state, now));
  return state;
}

/** Each poll: restored yet? Gives up after recallMaxPolls checks. */
export async function checkRecall(deps: Pick<RecallDeps, 'archive' | 'statuses' | 'clock'>, state: RecallState, config: WorkflowConfig): Promise<RecallState> {
  const now = deps.clock.now();
  const status = await deps.archive.archiveStatus(state.packKey);
  if (!status) throw new NotFoundError(`pack ${state.packKey} disappeared while it was being restored`);
  const polls = state.polls + 1;
  const { notice: _old, ...rest } = state;
  const next =
    status.restore && !status.restore.ongoing
      ? withNotice({ ...rest, polls, state: 'available', storageClass: status.storageClass, ...(status.restore.expiresAt ? { availableUntil: status.restore.expiresAt } : {}) }, now, config)
      : withNotice({ ...rest, polls, storageClass: status.storageClass, state: polls >= config.recallMaxPolls ? 'gave-up' : 'restoring' }, now, config);
  // Only while the record is still this request's: a newer request of the same pack owns it.
  await deps.statuses.put(recordOf(next, now), { ifRequestedAt: state.requestedAt });
  return next;
}

/** ArchiveStore in memory: tests say which keys are archived and complete restores by hand. */
export class MemoryArchiveStore implements ArchiveStore {
  private readonly objects = new Map<string, ArchiveStatus>();
  readonly requests: { key: string; days: number; tier: string }[] = [];

  set(key: string, status: ArchiveStatus): void {
    this.objects.set(key, structuredClone(status));
  }

  /** Completes a pending restore: the copy is readable until `expiresAt`. */
  completeRestore(key: string, expiresAt: string): void {
    const o = this.objects.get(key);
    if (o) o.restore = { ongoing: false, expiresAt };
  }

  async archiveStatus(key: string): Promise<ArchiveStatus | undefined> {
    const o = this.objects.get(key);
    return o && structuredClone(o);
  }

  async requestRestore(key: string, days: number, tier: 'Standard' | 'Bulk'): Promise<'started' | 'in-progress'> {
    const o = this.objects.get(key);
    if (!o) throw new NotFoundError(`no object ${key}`);
    this.requests.push({ key, days, tier });
    if (o.restore?.ongoing) return 'in-progress';
    o.restore = { ongoing: true };
    return 'started';
  }
}

/** Starts the recall workflow (the deployed state machine, or the local runner). */
export interface RecallStarter {
  /** Not idempotent: each call starts an execution (a second recall of a restoring pack only polls and notifies again). */
  startRecall(request: RecallRequest): Promise<{ execution: string }>;
}
