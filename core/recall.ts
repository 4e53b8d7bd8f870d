import { z } from 'zod';
import { causeText, composeAlert, formatDuration, type TaskError } from './alert-text.ts';
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

/** The recall execution's state when a step failed: its input, the state so far (once the request answered), the error. */
export const failedRecallSchema = z
  .object({
    site: z.string().optional(),
    rid: z.string().optional(),
    packKey: z.string().optional(),
    requester: z.string().optional(),
    recall: recallStateSchema.optional(),
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).passthrough().optional(),
  })
  .passthrough();
export type FailedRecall = z.infer<typeof failedRecallSchema>;

/** What the failure step answers: the notice and the attributes its publish carries (kind=recall, site, requester). */
export interface RecallFailure {
  site: string;
  requester: string;
  notice: { subject: string; message: string; severity: string };
  /** Whether the pack's status record now says gave-up. */
  recorded: boolean;
}

/** The pack of a recall whose request failed, when it can still be told (best effort: the lookup may be what failed). */
async function failedPack(deps: Pick<RecallDeps, 'catalogue'>, run: FailedRecall, site: string): Promise<string | undefined> {
  if (run.packKey !== undefined) return run.packKey.startsWith(sitePrefix('recordings', site)) && !run.packKey.includes('..') ? run.packKey : undefined;
  if (run.rid === undefined) return undefined;
  return (await deps.catalogue.getRecording(site, run.rid).catch(() => undefined))?.packKey;
}

/** Where, for whom and what a failed recall was: from the state so far, else from its input. */
function failedRecallFacts(run: FailedRecall): { site: string; requester: string; rid?: string; packKey?: string; name: string } {
  const state = run.recall;
  const site = state?.site ?? (run.site !== undefined && NAME_PATTERN.test(run.site) ? run.site : '-');
  const rid = state?.rid ?? run.rid;
  const packKey = state?.packKey ?? run.packKey;
  const name = rid ?? packKey?.split('/').pop() ?? 'unknown';
  return { site, requester: state?.requester ?? run.requester ?? 'unknown', ...(rid ? { rid } : {}), ...(packKey ? { packKey } : {}), name };
}

/** Sets the pack's record to gave-up; false when another request owns it or the pack is not known. */
async function recordGaveUp(deps: Pick<RecallDeps, 'catalogue' | 'statuses'>, run: FailedRecall, site: string, requester: string, now: Date): Promise<boolean> {
  const state = run.recall;
  if (state) return deps.statuses.put(recordOf({ ...state, state: 'gave-up' }, now), { ifRequestedAt: state.requestedAt });
  const packKey = site === '-' ? undefined : await failedPack(deps, run, site);
  if (packKey === undefined) return false;
  const requestedAt = now.toISOString();
  const record = recordOf({ site, ...(run.rid ? { rid: run.rid } : {}), packKey, requester, requestedAt, storageClass: 'unknown', state: 'gave-up', polls: 0 }, now);
  // Its own requestedAt is on no stored record: written only where the pack has none.
  return deps.statuses.put(record, { ifRequestedAt: requestedAt });
}

/**
 * Marks a recall whose request or check failed for good as given up, so the console stops
 * showing "restoring", and writes the requester's notice. A failed check owns the record only
 * while it is still its request's (a newer request took it over otherwise); a failed request
 * wrote no record, so it writes one only where the pack has none. A record that cannot be
 * written is said in the notice; the notice is answered either way.
 */
export async function failRecall(deps: Pick<RecallDeps, 'catalogue' | 'statuses' | 'clock'>, run: FailedRecall, execution?: string): Promise<RecallFailure> {
  const now = deps.clock.now();
  const { site, requester, rid, packKey, name } = failedRecallFacts(run);
  const error: TaskError = run.error ?? { Error: 'RecallFailed', Cause: 'the recall failed' };
  let recorded = false;
  let unrecorded: string | undefined;
  try {
    recorded = await recordGaveUp(deps, run, site, requester, now);
  } catch (e) {
    unrecorded = e instanceof Error ? e.message : String(e);
  }
  const alert = composeAlert({
    severity: 'warning',
    site,
    subject: `Ferry ${site}: recall failed - ${name}`,
    what: `the recall of ${rid ? `recording ${rid}` : `pack ${packKey ?? '(unknown)'}`} asked for by ${requester} failed: ${causeText(error)} (${error.Error})`,
    since: run.recall?.requestedAt ?? now.toISOString(),
    now,
    details: unrecorded ? [`The recall status record could not be set to gave-up: ${unrecorded}`] : [],
    todo: ['request the recall again (console, or `ferry calls recall SITE/ID`); if it fails again, ask an operator to read this execution and the recall function log'],
    ...(execution ? { execution } : {}),
  });
  return { site, requester, notice: { subject: alert.subject, message: alert.message, severity: alert.severity }, recorded };
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
