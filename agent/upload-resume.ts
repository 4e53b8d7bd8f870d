import { stat } from 'node:fs/promises';
import type { BlobStore, CompletedPart } from '../core/ports.ts';
import { InvalidInputError, NotFoundError, messageOf } from '../core/errors.ts';
import type { Logger } from './log.ts';
import { readUploadProgress, removeUploadProgress, type UploadResumeFacts } from './upload-progress.ts';

// What lets a multipart upload of a backup, log segment or archive go on in a later run instead
// of starting again from its first byte (a 1.5 GB full over a 3 Mbit/s uplink takes about 70
// minutes; a site that reboots nightly would never get one offsite). The running agent records,
// in its upload progress file (agent/upload-progress.ts), the upload id, the object key, the part
// size, the source file as it was opened, and each part the store acknowledged (number, size,
// MD5 and the ETag the store gave it). Nothing is listed at the store: the agent's role may not
// ListMultipartUploads on AWS (IAM cannot scope it to a site, infra/site-policies.ts), and the
// record holds what a ListParts would say (which the role may ask, as AbortOwnUploads grants it).
//
// A later shipping of the same artefact (the same key: it names the content's SHA-256) reads the
// file from byte 0 again, so every part's MD5 and the object's SHA-256 are computed from the disk;
// a part whose size and MD5 equal the recorded ones is not sent again, any other is. The upload is
// completed with the ETags (and, where the store checks them, the SHA-256s) of the bytes read now,
// so the store itself checks every part it kept (InvalidPart when one differs): a stale or wrong
// record cannot put other bytes into the object, it only makes the upload start over.

/** The source file as the shipping opened it. */
export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  dev: number;
  ino: number;
}

/** A part the store acknowledged: its number, size, MD5 (hex) and the ETag the store answered. */
export interface RecordedPart {
  n: number;
  size: number;
  md5: string;
  etag: string;
}

/** What an upload's progress file records for it to be resumed. */
export interface ResumeRecord {
  uploadId: string;
  key: string;
  partSize: number;
  file: FileIdentity;
  parts: RecordedPart[];
  /** When the upload began, over every run that went on with it. */
  since?: string;
  /** How many times a failed line stopped it and left it open (each attempt of a run counts, agent/upload-keep.ts). */
  stops?: number;
}

/** An open upload handed to the uploader: its id and the parts the store holds, by number. */
export interface ResumePlan {
  uploadId: string;
  parts: ReadonlyMap<number, RecordedPart>;
}

/** What the shipping of one artefact expects of a record it would resume. */
export interface ResumeExpectation {
  key: string;
  partSize: number;
  file: FileIdentity;
  /** The object carries its own Object Lock date (a binlog partial's short lock), fixed when its upload was created. */
  ownLock?: true;
}

/**
 * The plan to resume `record` with, or why it cannot be: another key (other content), another part
 * size, a file that is not the one the upload was started from. A store that checks neither
 * part MD5s nor part SHA-256s at completion could not tell a wrong part from a right one: never.
 */
export function planResume(record: Partial<ResumeRecord> | undefined, expected: ResumeExpectation, store: { md5ETags: boolean; verifiesChecksums: boolean }): { plan: ResumePlan } | { reason: string } {
  if (!record || typeof record.uploadId !== 'string' || !Array.isArray(record.parts) || !record.file) return { reason: 'no readable record of its parts' };
  if (!store.md5ETags && !store.verifiesChecksums) return { reason: 'the store checks neither part MD5s nor part checksums at completion' };
  // Its retain-until date was set when the upload began, from that day: completed a run (or days)
  // later, the object would be locked for less than partialLockDays, perhaps until a date past.
  if (expected.ownLock) return { reason: 'the object carries its own retention date, set when its upload began: completed now it would be locked for less than it should' };
  if (record.key !== expected.key) return { reason: `it was of another key (${record.key})` };
  if (record.partSize !== expected.partSize) return { reason: `its part size was ${record.partSize} bytes, now ${expected.partSize}` };
  const changed = fileChange(record.file, expected.file);
  if (changed) return { reason: `the file changed since (${changed})` };
  if (record.parts.length === 0) return { reason: 'no part of it was recorded stored' };
  const parts = new Map<number, RecordedPart>();
  for (const p of record.parts) {
    if (!Number.isInteger(p?.n) || !Number.isInteger(p.size) || typeof p.md5 !== 'string' || typeof p.etag !== 'string') return { reason: 'its record of parts is unreadable' };
    parts.set(p.n, p);
  }
  return { plan: { uploadId: record.uploadId, parts } };
}

/**
 * How `now` differs from the file an upload was started from; undefined when it is the same file,
 * unchanged. The device number is not compared: a reboot (the very interruption resuming is for)
 * may give the same file another one (an NFS or SMB mount's is assigned as it is mounted, a
 * device-mapper volume's as it is activated). What keeps other bytes out of the object is the key
 * (the content's SHA-256, hashed again) and each kept part's MD5, checked by the store.
 */
export function fileChange(was: FileIdentity, now: FileIdentity): string | undefined {
  const fields = ['path', 'size', 'mtimeMs', 'ino'] as const;
  const differs = fields.filter((f) => was[f] !== now[f]);
  return differs.length === 0 ? undefined : differs.map((f) => `${f} ${was[f]} → ${now[f]}`).join(', ');
}

/**
 * The completed part to list for part `partNumber` when the store already holds these very bytes
 * (same size, same MD5 as recorded); undefined when the part must be sent. Listed with the MD5
 * computed now as its ETag where the store's ETags are MD5s (else with the ETag it gave), and
 * with the SHA-256 computed now, so the store checks what it kept against the bytes read now.
 */
export function heldPart(plan: ResumePlan | undefined, partNumber: number, size: number, md5: Buffer, sha256: string | undefined, md5ETags: boolean): CompletedPart | undefined {
  const recorded = plan?.parts.get(partNumber);
  const hex = md5.toString('hex');
  if (!recorded || recorded.size !== size || recorded.md5 !== hex) return undefined;
  return { partNumber, etag: md5ETags ? `"${hex}"` : recorded.etag, ...(sha256 === undefined ? {} : { sha256 }) };
}

/**
 * The store no longer has the resumed upload as recorded: gone (NoSuchUpload: the bucket's
 * lifecycle rule aborted it, or something else did) or a part not as listed (InvalidPart). The
 * shipping then uploads afresh from byte 0.
 */
export function resumeLost(error: unknown): string | undefined {
  for (let e = error as { name?: string; message?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e.name === 'NoSuchUpload' || e instanceof NotFoundError) return 'the upload is gone at the store (aborted, or expired by the bucket lifecycle rule)';
    if (e.name === 'InvalidPart' || (e instanceof InvalidInputError && /\bInvalidPart\b/.test(e.message ?? ''))) return 'the store holds a part other than recorded (InvalidPart)';
  }
  return undefined;
}

/** What one shipping's upload resumes from: the record and its plan, when the record holds. */
export type ResumeFacts = UploadResumeFacts & { plan?: ResumePlan };

/**
 * The resume facts of an artefact's upload about to start: with the plan to go on with the upload
 * an earlier run left open, when its record holds for this key, part size and file. One that does
 * not is aborted (and said why): it is uploaded afresh.
 */
export async function openResume(ctx: { store: Pick<BlobStore, 'abortMultipart' | 'features'>; state: string; log?: Logger }, artefactId: string, expected: ResumeExpectation): Promise<ResumeFacts> {
  const from = readUploadProgress(ctx.state, artefactId)?.resume;
  if (!from) return expected;
  const verdict = planResume(from, expected, { md5ETags: ctx.store.features.md5ETags ?? false, verifiesChecksums: ctx.store.features.verifiesChecksums });
  if ('plan' in verdict) {
    const bytes = from.parts.reduce((n, p) => n + p.size, 0);
    ctx.log?.info('going on with the upload an earlier run left open: parts the store holds are not sent again', { key: expected.key, parts: from.parts.length, bytes });
    return { ...expected, from, plan: verdict.plan };
  }
  await discardUpload(ctx, artefactId, from);
  ctx.log?.info('the upload an earlier run left open is not gone on with: uploading afresh from the first byte', { key: expected.key, reason: verdict.reason });
  return expected;
}

/** Aborts a recorded upload (gone already is fine) and forgets its record. */
export async function discardUpload(ctx: { store: Pick<BlobStore, 'abortMultipart'>; state: string }, artefactId: string, record: Pick<ResumeRecord, 'key' | 'uploadId'> | undefined): Promise<void> {
  if (record && typeof record.key === 'string' && typeof record.uploadId === 'string') {
    await ctx.store.abortMultipart(record.key, record.uploadId).catch((error: unknown) => {
      if (!(error instanceof NotFoundError)) throw error;
    });
  }
  removeUploadProgress(ctx.state, artefactId);
}

/**
 * After an interruption: the upload of an artefact left in flight that a later shipping can go on
 * with (its record readable and of this key, its file still as the upload started from);
 * undefined when it is to be aborted as any other. The journal need not name the upload: a run
 * killed while it hashed the file again, before it went on with the upload, saw it begin in an
 * earlier run; but when the journal names uploads, the record's must be one of them.
 */
export async function resumableAfterInterruption(state: string, art: { artefactId: string; key: string; uploads: string[] }, log: Logger): Promise<string | undefined> {
  const record = readUploadProgress(state, art.artefactId)?.resume;
  const known = art.uploads.length === 0 || art.uploads.includes(record?.uploadId ?? '');
  // Nothing to go on with when no part was recorded stored: aborted as any other.
  if (!record || record.key !== art.key || !known || !record.file || !(record.parts?.length > 0)) return undefined;
  try {
    const st = await stat(record.file.path);
    const changed = fileChange(record.file, { path: record.file.path, size: st.size, mtimeMs: Math.trunc(st.mtimeMs), dev: st.dev, ino: st.ino });
    if (changed) {
      log.info('the file of an interrupted upload changed: the upload is aborted', { artefact: art.artefactId, changed });
      return undefined;
    }
  } catch (error) {
    // Gone: nothing to go on with. Unreadable here (the shipping may open it otherwise): it checks again.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    log.info('the file of an interrupted upload cannot be looked at now: kept for the shipping to judge', { artefact: art.artefactId, error: messageOf(error) });
  }
  return record.uploadId;
}
