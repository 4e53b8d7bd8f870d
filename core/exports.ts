import type { AuditEvent } from './audit-trail.ts';
import type { Clock } from './clock.ts';
import { writeCaseBundle, type ExportDeps } from './case-export.ts';
import { messageOf } from './errors.ts';
import { judgeOverdue } from './export-deadline.ts';
import { MultipartWriter, type MultipartStore } from './multipart-writer.ts';

// Case exports the console asks for, run asynchronously (an API request has 30 s, a large case
// takes minutes): the console checks the request, writes a `running` status record and starts
// the export function; the export streams the bundle (core/case-export.ts, the very format
// `ferry case export` writes) into a multipart upload under `exports/{site}/{exportId}.tar`,
// audits it and only then, with the upload completed, marks the record `done`. A failed export
// aborts its upload and marks the record `failed`: a half-written bundle is never visible, and
// the console mints a download link for a `done` record only.

/** Where bundles are written; its own lifecycle rule expires them (infra/lifecycle.ts). */
export const EXPORTS_PREFIX = 'exports/';
export const EXPORT_ID_PATTERN = /^exp-\d{8}T\d{6}Z-[0-9a-f]{8}$/;
/** Most calls one console export may name (the command takes more: core/case-export.ts). */
export const MAX_CONSOLE_EXPORT_CALLS = 1000;

export type ExportState = 'running' | 'done' | 'failed';

export interface ExportStatus {
  site: string;
  exportId: string;
  state: ExportState;
  requestedBy: string;
  requestedAt: string;
  caseId?: string;
  reason: string;
  /** Number of calls in the bundle. */
  calls: number;
  /**
   * The calls in the bundle (absent on records written before they were kept): a link to a
   * finished bundle is refused once one of them is erased at a data subject's request.
   */
  rids?: string[];
  /** The bundle's object key (`exports/{site}/{exportId}.tar`). */
  key: string;
  /** The bundle's top directory, and so its download name (`{root}.tar`), once done. */
  root?: string;
  bytes: number;
  sha256?: string;
  error?: string;
  finishedAt?: string;
  /** When the export function took the job (absent until it does: a second delivery then does nothing). */
  startedAt?: string;
  /**
   * ISO time past which a `running` record is judged `failed` (core/export-deadline.ts): the
   * invocation died (timeout, out of memory, crash, dropped). Absent on records written before
   * deadlines: then judged from requestedAt.
   */
  deadline?: string;
  /** Epoch seconds when the table's TTL removes the record, as the bundle's lifecycle rule expires it. */
  ttl?: number;
}

/** Export status records (DynamoDB `EXPORT#{site}` items; memory in tests). */
export interface ExportStatusStore {
  /** Writes a new record; AlreadyExistsError when the id is taken. */
  create(status: ExportStatus): Promise<void>;
  /**
   * Replaces the record with `status` if the stored one is still `running` and not yet taken by
   * an export function (conditional write). False when it is not: another delivery of the same
   * job took it, or it ended. Idempotent for the first caller only, by design.
   */
  claim(status: ExportStatus): Promise<boolean>;
  /**
   * Replaces the record with its final state (done or failed) if the stored one is still
   * `running` (conditional write). False when it already ended: a late finisher never flips a
   * record judged failed, and the judge never overwrites a finished one.
   */
  finish(status: ExportStatus): Promise<boolean>;
  /** The record, or undefined when absent. */
  get(site: string, exportId: string): Promise<ExportStatus | undefined>;
}

/** What the console hands the export function. */
export interface ExportJob {
  site: string;
  exportId: string;
  rids: string[];
  caseId?: string;
  /** Calls of the case no longer in the archive: named in the custody report. */
  missing?: string[];
  /** Calls of the case erased at a data subject's request (core/erasures.ts): left out, named in the custody report. */
  erased?: string[];
  reason: string;
  principal: string;
  /** ISO time the officer asked: the bundle's stamp and `exportedAt`. */
  at: string;
}

/** Starts an export without waiting for it (an asynchronous Lambda invocation). */
export interface ExportStarter {
  start(job: ExportJob): Promise<void>;
}

export function exportKey(site: string, exportId: string): string {
  return `${EXPORTS_PREFIX}${site}/${exportId}.tar`;
}

/** `exp-{yyyymmddThhmmssZ}-{8 hex}`: sortable by time, unguessable enough to never collide. */
export function newExportId(at: Date, random: () => string): string {
  return `exp-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${random()}`;
}

export interface RunExportDeps extends ExportDeps {
  store: MultipartStore;
  statuses: ExportStatusStore;
  /** Appends the `export` event to the audit trail; the bundle is published only after it. */
  audit(event: AuditEvent): Promise<void>;
  clock: Clock;
  partSize?: number;
  /**
   * Days the bundle is kept (the exports/ lifecycle rule): its Object Lock retention ends then
   * rather than at the bucket's default, so the rule can delete it. Absent: the bucket's default.
   */
  keepDays?: number;
}

/** Ends the record with `status` unless it already ended; answers the record as stored after. */
export async function endExport(statuses: ExportStatusStore, status: ExportStatus): Promise<ExportStatus> {
  if (await statuses.finish(status)) return status;
  return (await statuses.get(status.site, status.exportId)) ?? status;
}

/** Throws when the record was judged failed (or the deadline passed) while the bundle was written: it must not be published. */
async function checkStillRunning(deps: RunExportDeps, job: ExportJob): Promise<void> {
  const stored = await deps.statuses.get(job.site, job.exportId);
  if (!stored || stored.state !== 'running') throw new Error(`the export was ${stored ? `already ${stored.state}` : 'removed'} before its bundle was complete; nothing was published`);
  const overdue = judgeOverdue(stored, deps.clock.now());
  if (overdue) throw new Error(overdue.error);
}

/**
 * Runs one export to its end: `done` with the bundle's size and SHA-256, or `failed` with why.
 * Answers the record as stored at the end: a record judged failed while this ran stays failed
 * (its upload aborted before completion, or, in the instant between check and completion, a
 * bundle left unlinked that the exports/ lifecycle rule expires).
 */
export async function runExport(deps: RunExportDeps, job: ExportJob, running: ExportStatus): Promise<ExportStatus> {
  const retainUntil = deps.keepDays === undefined ? undefined : new Date(new Date(job.at).getTime() + deps.keepDays * 86_400_000);
  const writer = new MultipartWriter(deps.store, running.key, { partSize: deps.partSize, contentType: 'application/x-tar', ...(retainUntil ? { retainUntil } : {}) });
  writer.on('error', () => undefined);
  let ended: ExportStatus;
  try {
    const summary = await writeCaseBundle(deps, { site: job.site, rids: job.rids, caseId: job.caseId, ...(job.missing?.length ? { missing: job.missing } : {}), ...(job.erased?.length ? { erased: job.erased } : {}), reason: job.reason, principal: job.principal, at: new Date(job.at) }, writer);
    await checkStillRunning(deps, job);
    const { bytes, sha256 } = await writer.commit();
    const bundle = `${summary.root}.tar`;
    await deps.audit({
      at: deps.clock.now().toISOString(),
      action: 'export',
      site: job.site,
      principal: job.principal,
      // As `ferry case export` records it (cli/case-commands.ts), with the console's export id.
      detail: { ...(job.caseId ? { case: job.caseId } : {}), exportId: job.exportId, reason: job.reason, bundle, sha256, bytes, rids: job.rids, ...(job.missing?.length ? { missing: job.missing } : {}), ...(job.erased?.length ? { erased: job.erased } : {}) },
    });
    ended = { ...running, state: 'done', root: summary.root, bytes, sha256, finishedAt: deps.clock.now().toISOString() };
  } catch (error) {
    await writer.abort().catch(() => undefined);
    ended = { ...running, state: 'failed', error: messageOf(error), finishedAt: deps.clock.now().toISOString() };
  }
  return endExport(deps.statuses, ended);
}
