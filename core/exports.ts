import type { AuditEvent } from './audit-trail.ts';
import type { Clock } from './clock.ts';
import { writeCaseBundle, type ExportDeps } from './case-export.ts';
import { messageOf } from './errors.ts';
import { MultipartWriter, type MultipartStore } from './multipart-writer.ts';

// Case exports the console asks for, run asynchronously (an API request has 30 s, a large case
// takes minutes): the console checks the request, writes a `running` status record and starts
// the export function; the export streams the bundle (core/case-export.ts, the very format
// `ferry case export` writes) into a multipart upload under `exports/{site}/{exportId}.tar`,
// audits it and only then, with the upload completed, marks the record `done`. A failed export
// aborts its upload and marks the record `failed`: a half-written bundle is never visible, and
// the console mints a download link for a `done` record only.

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
  /** The bundle's object key (`exports/{site}/{exportId}.tar`). */
  key: string;
  /** The bundle's top directory, and so its download name (`{root}.tar`), once done. */
  root?: string;
  bytes: number;
  sha256?: string;
  error?: string;
  finishedAt?: string;
}

/** Export status records (DynamoDB `EXPORT#{site}` items; memory in tests). */
export interface ExportStatusStore {
  /** Writes a new record; AlreadyExistsError when the id is taken. */
  create(status: ExportStatus): Promise<void>;
  /** Replaces the record with its final state (done or failed). */
  finish(status: ExportStatus): Promise<void>;
  /** The record, or undefined when absent. */
  get(site: string, exportId: string): Promise<ExportStatus | undefined>;
}

/** What the console hands the export function. */
export interface ExportJob {
  site: string;
  exportId: string;
  rids: string[];
  caseId?: string;
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
  return `exports/${site}/${exportId}.tar`;
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
}

/** Runs one export to its end: `done` with the bundle's size and SHA-256, or `failed` with why. */
export async function runExport(deps: RunExportDeps, job: ExportJob, running: ExportStatus): Promise<ExportStatus> {
  const writer = new MultipartWriter(deps.store, running.key, { partSize: deps.partSize, contentType: 'application/x-tar' });
  writer.on('error', () => undefined);
  try {
    const summary = await writeCaseBundle(deps, { site: job.site, rids: job.rids, caseId: job.caseId, reason: job.reason, principal: job.principal, at: new Date(job.at) }, writer);
    const { bytes, sha256 } = await writer.commit();
    const bundle = `${summary.root}.tar`;
    await deps.audit({
      at: deps.clock.now().toISOString(),
      action: 'export',
      site: job.site,
      principal: job.principal,
      // As `ferry case export` records it (cli/case-commands.ts), with the console's export id.
      detail: { ...(job.caseId ? { case: job.caseId } : {}), exportId: job.exportId, reason: job.reason, bundle, sha256, bytes, rids: job.rids },
    });
    const done: ExportStatus = { ...running, state: 'done', root: summary.root, bytes, sha256, finishedAt: deps.clock.now().toISOString() };
    await deps.statuses.finish(done);
    return done;
  } catch (error) {
    await writer.abort().catch(() => undefined);
    const failed: ExportStatus = { ...running, state: 'failed', error: messageOf(error), finishedAt: deps.clock.now().toISOString() };
    await deps.statuses.finish(failed);
    return failed;
  }
}
