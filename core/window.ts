import { mapLimit } from './map-limit.ts';
import { z } from 'zod';
import { causeText, composeAlert, formatDuration, lockBusyAlert, type TaskError } from './alert-text.ts';
import { NAME_PATTERN, sitePrefix } from './layout.ts';
import type { HeldLock, LockGrant, ReleaseResult } from './lock.ts';
import type { Alert, BlobStore } from './ports.ts';
import type { WorkflowConfig } from './workflow-config.ts';

// The backup window's contracts and judgement:
//  - WindowJob: what the workflow hands the site's agent through its activity;
//  - WindowReport: what the agent's activity worker answers (SendTaskSuccess output);
//  - verifyWindow: did what the agent says it published arrive (its manifests, in S3);
//  - judgeWindow: FULL / PARTIAL / FAILED, the run record, and the alert when one is due.

const isoTime = z.string().datetime({ offset: true });
const count = z.number().int().nonnegative();

export const WINDOW_JOB_FORMAT = 'ferry.window-job/1';
export const WINDOW_REPORT_FORMAT = 'ferry.window-report/1';
/** Manifest keys listed in one report; beyond that the report says `manifestsTruncated`. Keeps the state small (256 KB limit). */
export const MAX_REPORTED_MANIFESTS = 500;

export const windowJobSchema = z.object({
  format: z.literal(WINDOW_JOB_FORMAT),
  site: z.string().regex(NAME_PATTERN),
  windowStartedAt: isoTime,
  mode: z.enum(['scheduled', 'on-demand']),
  lockToken: z.number().int().positive(),
  /** The workflow fails the job when no heartbeat came for this long. */
  heartbeatSeconds: z.number().int().positive(),
  execution: z.string().min(1),
});
export type WindowJob = z.infer<typeof windowJobSchema>;

export const windowReportSchema = z.object({
  format: z.literal(WINDOW_REPORT_FORMAT),
  site: z.string().regex(NAME_PATTERN),
  /** Agent clock. */
  startedAt: isoTime,
  finishedAt: isoTime,
  packs: count,
  recordings: count,
  bytes: count,
  /** Batches that could not be shipped (they stay in the backlog). */
  failed: count,
  /** Recordings deleted by the recorder before they were shipped. */
  lost: count,
  /** Keys of the manifests published in this job (the commit records). */
  manifests: z.array(z.string().min(1)).max(MAX_REPORTED_MANIFESTS),
  manifestsTruncated: z.boolean().default(false),
});
export type WindowReport = z.infer<typeof windowReportSchema>;
export type WindowReportInput = z.input<typeof windowReportSchema>;

/** What the agent's backup run produced, before it becomes a report. */
export interface BackupSummary {
  packs: number;
  recordings: number;
  bytes: number;
  failed: number;
  lost: number;
  /** Manifest keys published, when the runner tracks them. */
  manifests?: string[];
}

export function windowReport(site: string, startedAt: Date, finishedAt: Date, summary: BackupSummary): WindowReport {
  const manifests = summary.manifests ?? [];
  return {
    format: WINDOW_REPORT_FORMAT,
    site,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    packs: summary.packs,
    recordings: summary.recordings,
    bytes: summary.bytes,
    failed: summary.failed,
    lost: summary.lost,
    manifests: manifests.slice(0, MAX_REPORTED_MANIFESTS),
    manifestsTruncated: manifests.length > MAX_REPORTED_MANIFESTS,
  };
}

// ---- verify ----

export interface VerifyResult {
  /** Packs the agent says it published. */
  expected: number;
  /** Manifest keys it listed and that were checked. */
  checked: number;
  found: number;
  /** Listed manifests that are not in the store, or not under the site's prefix (first 20). */
  missing: string[];
  missingCount: number;
  /** Packs reported but not listed, when the list was not truncated (an agent bug or a torn report). */
  unaccounted: number;
  /** Packs reported but not checked because the list was truncated. */
  unchecked: number;
}

const MISSING_LISTED = 20;

/** Checks that every manifest the agent listed is in the store, under the site's own prefix. */
export async function verifyWindow(deps: { blobs: Pick<BlobStore, 'head'> }, site: string, report: WindowReport, concurrency = 8): Promise<VerifyResult> {
  const prefix = sitePrefix('manifests', site);
  const keys = [...new Set(report.manifests)];
  // A site's report can only vouch for its own prefix: anything else counts as not arrived.
  const present = await mapLimit(keys, concurrency, async (key) => key.startsWith(prefix) && (await deps.blobs.head(key)) !== undefined);
  const found = present.filter(Boolean).length;
  const missing = keys.filter((_, i) => !present[i]).sort();
  const listed = keys.length;
  return {
    expected: report.packs,
    checked: listed,
    found,
    missing: missing.slice(0, MISSING_LISTED),
    missingCount: missing.length,
    unaccounted: report.manifestsTruncated ? 0 : Math.max(0, report.packs - listed),
    unchecked: report.manifestsTruncated ? Math.max(0, report.packs - listed) : 0,
  };
}

// ---- judgement and record ----

export type RunOutcome = 'FULL' | 'PARTIAL' | 'FAILED';

/** Everything the window's state holds when it reaches the record step (absent parts did not happen). */
export interface WindowRun {
  site: string;
  startedAt: string;
  mode: 'scheduled' | 'on-demand';
  execution?: string;
  lock?: LockGrant;
  /** The acquire gave up (LockHeldError after the retries, or at once on demand). */
  lockError?: TaskError;
  /** Who held the lock when the acquire gave up (null: free again). */
  heldBy?: HeldLock | null;
  report?: WindowReport;
  verify?: VerifyResult;
  /** Dispatch or verify failed. */
  error?: TaskError;
  release?: ReleaseResult;
  releaseError?: TaskError;
}

/**
 * Where a window is: `started` (its record is written as it starts, before it waits on the site
 * lock, so a window waiting its turn is never mistaken for one that did not run), `finished`
 * (the record step replaced it with the outcome). Records written before this field existed are finished.
 */
export type RunState = 'started' | 'finished';

export interface RunRecord {
  site: string;
  startedAt: string;
  /** Absent while the window runs. */
  finishedAt?: string;
  /** RUNNING while the window runs (state `started`). */
  outcome: RunOutcome | 'RUNNING';
  state?: RunState;
  mode: WindowRun['mode'];
  /** One line per problem; empty for a clean FULL run. */
  reasons: string[];
  packs: number;
  recordings: number;
  bytes: number;
  failed: number;
  lost: number;
  manifestsMissing: number;
  lockToken?: number;
  execution?: string;
}

export interface WindowJudgement {
  record: RunRecord & { outcome: RunOutcome };
  alert?: Alert;
}

type AlertContext = { run: WindowRun; now: Date; config: WorkflowConfig };

function failedAlert(ctx: AlertContext, error: TaskError): Alert {
  const { run, now, config } = ctx;
  const cause = causeText(error);
  const base = { severity: 'critical' as const, site: run.site, since: run.startedAt, now, execution: run.execution };
  if (error.Error === 'States.HeartbeatTimeout') {
    return composeAlert({
      ...base,
      subject: `Ferry ${run.site}: backup window FAILED - agent stopped responding`,
      what: `the site's agent took the backup job, then sent no heartbeat for ${formatDuration(config.activityHeartbeatSeconds * 1000)} (crashed, killed, or lost its connection)`,
      todo: [`check the Ferry agent on the site host of ${run.site}: is \`ferry agent run\` running, what does its log say at that time`, 'once it runs again, start the backup window on demand'],
    });
  }
  if (error.Error === 'States.Timeout') {
    return composeAlert({
      ...base,
      subject: `Ferry ${run.site}: backup window FAILED - agent did not finish in time`,
      what: `the backup job was not finished within ${formatDuration(config.activityTimeoutSeconds * 1000)}: the agent never picked it up (not running, or cannot reach AWS) or the job took too long`,
      todo: [
        `check that \`ferry agent run\` is running at site ${run.site} with the activity configured, and that it can reach Step Functions (outbound HTTPS)`,
        'if it was busy with a large backlog, look at `ferry agent status`; then start the backup window on demand',
      ],
    });
  }
  const stage = run.report ? 'checking what arrived' : 'the agent ran the backup job';
  return composeAlert({
    ...base,
    subject: `Ferry ${run.site}: backup window FAILED`,
    what: `${stage} failed: ${error.Error}: ${cause}`,
    todo: [`look at the agent log at site ${run.site} and at the execution history`, 'fix the cause, then start the backup window on demand'],
  });
}

function partialReasons(report: WindowReport, verify: VerifyResult): string[] {
  const reasons: string[] = [];
  if (report.failed > 0) reasons.push(`${report.failed} batch(es) could not be shipped (they stay in the agent's backlog)`);
  if (report.lost > 0) reasons.push(`${report.lost} recording(s) were deleted by the recorder before they were shipped`);
  if (verify.missingCount > 0) reasons.push(`${verify.missingCount} manifest(s) reported by the agent are not in S3: ${verify.missing.slice(0, 5).join(', ')}${verify.missingCount > 5 ? ', …' : ''}`);
  if (verify.unaccounted > 0) reasons.push(`${verify.unaccounted} pack(s) reported without their manifest key`);
  return reasons;
}

function partialAlert(ctx: AlertContext, reasons: string[]): Alert {
  const { run, now } = ctx;
  const todo = ['failed batches are retried in the next window; if they keep failing, look at the agent log'];
  if (run.report && run.report.lost > 0) todo.push(`recordings were lost: the recorder deletes faster than Ferry ships; check \`ferry agent status\` (backlog) and the site's bandwidth`);
  if (ctx.run.verify && (ctx.run.verify.missingCount > 0 || ctx.run.verify.unaccounted > 0)) todo.push('missing manifests mean packs that are not usable: check the agent log for publish errors; the agent re-ships what it has not published');
  return composeAlert({ severity: 'warning', site: run.site, subject: `Ferry ${run.site}: backup window PARTIAL`, what: 'the backup window finished, but not everything arrived', since: run.startedAt, now, details: reasons.map((r) => `  * ${r}`), todo, execution: run.execution });
}

function outcomeOf(ctx: AlertContext): { outcome: RunOutcome; reasons: string[]; alert?: Alert } {
  const { run, now, config } = ctx;
  if (run.lockError) {
    const retried = run.mode === 'scheduled';
    const alert = lockBusyAlert({
      site: run.site,
      operation: 'backup',
      since: run.startedAt,
      now,
      retried,
      retryIntervalSeconds: config.lockRetryIntervalSeconds,
      maxAttempts: retried ? config.backupLockMaxAttempts : 0,
      staleLockHours: config.staleLockHours,
      heldBy: run.heldBy ?? undefined,
      execution: run.execution,
    });
    return { outcome: 'FAILED', reasons: [`missed: site lock busy (${causeText(run.lockError, 300)})`], alert };
  }
  if (run.error) return { outcome: 'FAILED', reasons: [`${run.error.Error}: ${causeText(run.error, 300)}`], alert: failedAlert(ctx, run.error) };
  if (!run.report || !run.verify) {
    const error = { Error: 'IncompleteRun', Cause: 'the run reached the record step without a report and a verification' };
    return { outcome: 'FAILED', reasons: [error.Cause], alert: failedAlert(ctx, error) };
  }
  const reasons = partialReasons(run.report, run.verify);
  return reasons.length ? { outcome: 'PARTIAL', reasons, alert: partialAlert(ctx, reasons) } : { outcome: 'FULL', reasons };
}

/** The window's outcome, its run record, and the alert due (failure, partial run, missed window, lost lock). */
export function judgeWindow(run: WindowRun, now: Date, config: WorkflowConfig): WindowJudgement {
  const ctx = { run, now, config };
  const { outcome, reasons, alert: outcomeAlert } = outcomeOf(ctx);
  let alert = outcomeAlert;
  if (run.release?.outcome === 'held-by-other') {
    // Exclusivity was broken: our lock was cleared as stale while we ran, and someone took it.
    const line = `the site lock was cleared as stale during the run and is now held by ${run.release.holder}: a purge or another window may have overlapped`;
    reasons.push(line);
    alert ??= composeAlert({ severity: 'warning', site: run.site, subject: `Ferry ${run.site}: backup window outlived its lock`, what: line, since: run.startedAt, now, todo: [`raise staleLockHours above the longest window (now ${config.staleLockHours} h) or shorten activityTimeoutSeconds`], execution: run.execution });
  }
  if (run.releaseError) reasons.push(`the lock was not released (${causeText(run.releaseError, 200)}): it is cleared once older than ${config.staleLockHours} h`);
  const r = run.report;
  const record: RunRecord & { outcome: RunOutcome } = {
    site: run.site,
    startedAt: run.startedAt,
    finishedAt: now.toISOString(),
    outcome,
    state: 'finished',
    mode: run.mode,
    reasons,
    packs: r?.packs ?? 0,
    recordings: r?.recordings ?? 0,
    bytes: r?.bytes ?? 0,
    failed: r?.failed ?? 0,
    lost: r?.lost ?? 0,
    manifestsMissing: (run.verify?.missingCount ?? 0) + (run.verify?.unaccounted ?? 0),
    ...(run.lock ? { lockToken: run.lock.token } : {}),
    ...(run.execution ? { execution: run.execution } : {}),
  };
  return alert ? { record, alert } : { record };
}

// ---- run records ----

/** The record a window writes as it starts (replaced by the record step under the same key). */
export function startedRunRecord(site: string, startedAt: string, mode: WindowRun['mode'], execution?: string): RunRecord {
  return { site, startedAt, outcome: 'RUNNING', state: 'started', mode, reasons: [], packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, manifestsMissing: 0, ...(execution ? { execution } : {}) };
}

/** Where a run record lives in the catalogue table: newest last in the site's partition. */
export function runItemKey(site: string, startedAt: string): { pk: string; sk: string } {
  return { pk: `RUN#${site}`, sk: startedAt };
}

export interface RunStore {
  /** Writes the record; the same site and startedAt again replaces it (a retried record step is harmless). */
  putRun(record: RunRecord): Promise<void>;
  /** The site's most recent runs, newest first. */
  recentRuns(site: string, limit: number): Promise<RunRecord[]>;
}

export class MemoryRunStore implements RunStore {
  private readonly runs = new Map<string, RunRecord>();

  async putRun(record: RunRecord): Promise<void> {
    this.runs.set(`${record.site}\u0000${record.startedAt}`, structuredClone(record));
  }

  async recentRuns(site: string, limit: number): Promise<RunRecord[]> {
    return [...this.runs.values()]
      .filter((r) => r.site === site)
      .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }
}
