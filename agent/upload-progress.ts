import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// How far an upload of a backup, log segment or archive has got, for `agent status`: a nightly
// full over a slow uplink takes hours, and "in flight: 1 backup/log file" left the administrator
// to guess whether it moves and when it ends. Kept in the state directory (`uploads/{id}.json`,
// the agent runs from cron and status is another process), written as parts are stored, at most
// every few seconds, and removed when the upload ends. Advisory: not fsynced, and a write that
// fails (a full state disk) is skipped; a run killed mid-upload leaves it until the file is
// uploaded again (from its first byte: docs/operations.md), which starts it over.

export interface UploadProgressRecord {
  source: string;
  name: string;
  size: number;
  /** Bytes of the parts the store took so far. */
  sentBytes: number;
  startedAt: string;
  updatedAt: string;
}

const EVERY_MS = 5_000;

function progressFile(state: string, artefactId: string): string {
  return join(state, 'uploads', `${encodeURIComponent(artefactId)}.json`);
}

/** The writer of one upload's progress. */
export class UploadProgress {
  private sentBytes = 0;
  private writtenAt = 0;
  private readonly file: string;
  private readonly startedAt: string;

  constructor(
    state: string,
    artefactId: string,
    private readonly what: Pick<UploadProgressRecord, 'source' | 'name' | 'size'>,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.file = progressFile(state, artefactId);
    this.startedAt = this.now().toISOString();
    this.write();
  }

  /** A part of `bytes` was stored. */
  stored(bytes: number): void {
    this.sentBytes += bytes;
    if (this.now().getTime() - this.writtenAt >= EVERY_MS) this.write();
  }

  /** The upload ended (published, failed or abandoned): nothing left to show. */
  end(): void {
    rmSync(this.file, { force: true });
  }

  private write(): void {
    const at = this.now();
    const record: UploadProgressRecord = { ...this.what, sentBytes: this.sentBytes, startedAt: this.startedAt, updatedAt: at.toISOString() };
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

/** The progress an upload of `artefactId` recorded, if any. */
export function readUploadProgress(state: string, artefactId: string): UploadProgressRecord | undefined {
  try {
    return JSON.parse(readFileSync(progressFile(state, artefactId), 'utf8')) as UploadProgressRecord;
  } catch {
    return undefined;
  }
}
