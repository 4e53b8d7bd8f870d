import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CompletedPart } from '../core/ports.ts';
import type { FileIdentity, RecordedPart, ResumeRecord } from './upload-resume.ts';

// How far an upload of a backup, log segment or archive has got, for `agent status`: a nightly
// full over a slow uplink takes hours, and "in flight: 1 backup/log file" left the administrator
// to guess whether it moves and when it ends. Kept in the state directory (`uploads/{id}.json`,
// the agent runs from cron and status is another process), written as parts are stored, at most
// every few seconds, and removed when the upload ends. It also records what a later run needs to
// go on with the upload after this one was killed (agent/upload-resume.ts): the upload id, the
// key, the part size, the file as opened and each part the store acknowledged. Not fsynced, and a
// write that fails (a full state disk) is skipped: a record that is lost, stale or torn costs
// parts sent again, or the upload started over, never a wrong object (the store checks each part).

export interface UploadProgressRecord {
  source: string;
  name: string;
  size: number;
  /** Bytes of the parts the store took so far. */
  sentBytes: number;
  startedAt: string;
  updatedAt: string;
  /** Bytes the store held from an earlier run when this one went on with the upload. */
  resumedAt?: number;
  /** Of sentBytes, those of parts found stored already (not sent by this run). */
  heldBytes?: number;
  /** What going on with the upload in a later run needs; set once the upload is open. */
  resume?: ResumeRecord;
  /** The run stopped without ending the upload (the line failed): when, and why; kept for the next run to go on with. */
  stoppedAt?: string;
  stopReason?: string;
}

/** The upload's resume facts known before it opens: its key and part size, the file as opened, and the record it goes on from. */
export interface UploadResumeFacts {
  key: string;
  partSize: number;
  file: FileIdentity;
  from?: ResumeRecord;
}

const EVERY_MS = 5_000;

function progressFile(state: string, artefactId: string): string {
  return join(state, 'uploads', `${encodeURIComponent(artefactId)}.json`);
}

/** The writer of one upload's progress. */
export class UploadProgress {
  private sentBytes = 0;
  private heldBytes = 0;
  private writtenAt = 0;
  private readonly file: string;
  private readonly startedAt: string;
  private uploadId: string | undefined;
  /** Parts the store acknowledged, by number (those of the record gone on from included). */
  private readonly parts = new Map<number, RecordedPart>();
  /** The run stopped and left the upload open for the next: the record stays. */
  private stop: { at: string; reason: string } | undefined;

  constructor(
    state: string,
    artefactId: string,
    private readonly what: Pick<UploadProgressRecord, 'source' | 'name' | 'size'>,
    private readonly now: () => Date = () => new Date(),
    private readonly facts?: UploadResumeFacts,
  ) {
    this.file = progressFile(state, artefactId);
    this.startedAt = this.now().toISOString();
    // Going on with an upload: the record names it and its parts from the first write, so a run
    // killed before the upload is taken up again leaves the next one the same to go on with.
    if (facts?.from) this.started(facts.from.uploadId);
    else this.write();
  }

  /** The upload is open (created, or gone on with): recorded at once, before any part is sent. */
  started(uploadId: string): void {
    this.uploadId = uploadId;
    this.parts.clear();
    const from = this.facts?.from;
    if (from?.uploadId === uploadId) for (const p of from.parts) this.parts.set(p.n, p);
    this.write();
  }

  /** A part of `bytes` was stored (acknowledged by the store, or `held` by it from an earlier run). */
  stored(bytes: number, part?: CompletedPart & { md5: string; held?: true }): void {
    this.sentBytes += bytes;
    if (part?.held) this.heldBytes += bytes;
    if (part) this.parts.set(part.partNumber, { n: part.partNumber, size: bytes, md5: part.md5, etag: part.etag });
    if (this.now().getTime() - this.writtenAt >= EVERY_MS) this.write();
  }

  /**
   * The run stops without ending the upload (agent/upload-keep.ts): the record is written now,
   * with every part the store took, and stays for the next run to go on with. The bytes the store
   * holds, since when the upload is under way and how many times the line stopped it; undefined when it holds none (nothing worth keeping: the record ends as any other).
   */
  stopped(reason: string): { stored: number; since: string; stops: number } | undefined {
    if (this.uploadId === undefined || this.parts.size === 0) return undefined;
    this.stop = { at: this.now().toISOString(), reason };
    this.write();
    const { since, stops } = this.resumeFields().resume!;
    return { stored: [...this.parts.values()].reduce((n, p) => n + p.size, 0), since: since!, stops: stops ?? 1 };
  }

  /** The upload ended (published, failed or abandoned): nothing left to show; a stopped one's record stays. */
  end(): void {
    if (!this.stop) rmSync(this.file, { force: true });
  }

  private resumeFields(): Pick<UploadProgressRecord, 'resumedAt' | 'heldBytes' | 'resume'> {
    const { facts, uploadId } = this;
    if (!facts || uploadId === undefined) return {};
    const same = facts.from?.uploadId === uploadId ? facts.from : undefined;
    const from = same ? { resumedAt: same.parts.reduce((n, p) => n + p.size, 0), heldBytes: this.heldBytes } : {};
    const parts = [...this.parts.values()].sort((a, b) => a.n - b.n);
    // Since when the upload is under way, over every run that went on with it, and how many times the line stopped it (each attempt counts).
    const stops = (same?.stops ?? 0) + (this.stop ? 1 : 0);
    const across = { since: same?.since ?? this.startedAt, ...(stops > 0 ? { stops } : {}) };
    return { ...from, resume: { uploadId, key: facts.key, partSize: facts.partSize, file: facts.file, parts, ...across } };
  }

  private write(): void {
    const at = this.now();
    const stop = this.stop ? { stoppedAt: this.stop.at, stopReason: this.stop.reason } : {};
    const record: UploadProgressRecord = { ...this.what, sentBytes: this.sentBytes, startedAt: this.startedAt, updatedAt: at.toISOString(), ...this.resumeFields(), ...stop };
    try {
      mkdirSync(join(this.file, '..'), { recursive: true });
      writeFileSync(`${this.file}.tmp`, `${JSON.stringify(record)}\n`);
      renameSync(`${this.file}.tmp`, this.file);
      this.writtenAt = at.getTime();
    } catch {
      // Advisory: a full or read-only state disk is alerted by the pass, not by this.
    }
  }
}

/** Forgets the progress an upload of `artefactId` recorded (its upload was aborted, or published). */
export function removeUploadProgress(state: string, artefactId: string): void {
  rmSync(progressFile(state, artefactId), { force: true });
}

/** The artefact ids of every upload progress file in the state directory. */
export function recordedUploads(state: string): string[] {
  try {
    return readdirSync(join(state, 'uploads')).filter((f) => f.endsWith('.json')).map((f) => decodeURIComponent(f.slice(0, -'.json'.length)));
  } catch {
    return [];
  }
}

/** The progress an upload of `artefactId` recorded, if any. */
export function readUploadProgress(state: string, artefactId: string): UploadProgressRecord | undefined {
  try {
    return JSON.parse(readFileSync(progressFile(state, artefactId), 'utf8')) as UploadProgressRecord;
  } catch {
    return undefined;
  }
}
