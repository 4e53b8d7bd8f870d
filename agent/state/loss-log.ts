import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { writeAllSync } from './atomic-file.ts';
import { ARCHIVE_AFTER_DAYS, ARCHIVE_FILE, COMPACT_ABOVE_BYTES, NO_ARCHIVE, archivable, archivedLosses, batchKeys, compactLosses, type ArchivedLosses } from './loss-archive.ts';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { RECENT_LOSS_PATHS } from '../../core/fleet.ts';

// Every loss the agent ever reported, in full: an append-only JSON-lines file in the state
// directory, fsynced before the loss counts as recorded. Nothing is ever deleted from it (each
// loss matters to somebody), but the old recordings losses move to an archive beside it that no
// pass reads, counted in the file's first line (loss-archive.ts): a pass reads the recent ones. A file version is recorded lost at most once, whatever
// restarts, crashes or repeated passes happen; the alert for a loss is marked delivered in the
// same file, so a loss recorded just before a crash is still alerted by the next process.

export interface LostFile {
  name: string;
  size: number;
  mtimeMs: number;
  /** Absolute path on the site when it was last seen. */
  path: string;
}

export interface LossEntry {
  /** Stable id of this loss record (alert receivers can deduplicate on it). */
  id: string;
  source: string;
  /** Batch directory (recordings) or file name (artefacts). */
  batch: string;
  kind: 'recordings' | 'artefact';
  files: LostFile[];
  reason: string;
  /** When the agent recorded the loss. */
  at: string;
  /** When the agent last saw these files on the site. */
  lastSeen?: string;
  /** What to do about it, when not the usual (the agent's errors, the link to the cloud). */
  advice?: string;
  /**
   * Recordings: batch directories no pass ever saw (the recorder's numbering jumped past them
   * between two passes). Each "file" is one batch directory; how many recordings it held is not known.
   */
  unseen?: true;
  /**
   * Recordings: a recording of each name and size had shipped from the batch before under
   * another file time (or a longer one, with `cutShort`). Offsite if the recorder only changed its
   * time; lost if it was replaced or restarted its numbering (only the content, gone, would tell).
   * Alerted as a warning; the heartbeat and the daily report count it apart from certain losses.
   */
  shippedBefore?: true;
  /**
   * Recordings (with `shippedBefore`): each was held back as shorter than the recording of its
   * name that shipped from the batch (a copy of the calls folder cut short) when the recorder
   * removed it. This shorter copy never shipped; the longer one is offsite, and holds the call
   * unless the short one was a new call under an old name. Alerted as a warning.
   */
  cutShort?: true;
  /**
   * The key of the open alert that is this loss's page (a binlog gap's, which names the same
   * segments): recorded and listed like any loss, not paged a second time by a loss alert.
   */
  pagedBy?: string;
}

/** An `alerted` line with `archived` is the count of what the archive holds (loss-archive.ts). */
type Line = { e: 'lost'; loss: LossEntry } | { e: 'alerted'; id: string; archived?: ArchivedLosses };

const fileKey = (source: string, batch: string, f: Pick<LostFile, 'name' | 'size' | 'mtimeMs'>) => `${source}\t${batch}\t${f.name}\t${f.size}\t${Math.trunc(f.mtimeMs)}`;

export class LossLog {
  private readonly file: string;
  private readonly archive: string;
  private fd: number | undefined;
  private entries: LossEntry[] = [];
  private known = new Set<string>();
  /** What the archive holds (the file's first line once it was compacted). */
  private archived: ArchivedLosses = NO_ARCHIVE;
  private readonly alerted = new Set<string>();
  /** The file ends in a torn line (a crash or a full disk mid-append): the next line starts on a line of its own. */
  private torn = false;

  constructor(directory: string, options: { readOnly?: boolean } = {}) {
    this.file = join(directory, 'losses.jsonl');
    this.archive = join(directory, ARCHIVE_FILE);
    const text = existsSync(this.file) ? readFileSync(this.file, 'utf8') : '';
    this.load(text);
    if (!options.readOnly) {
      mkdirSync(directory, { recursive: true });
      this.fd = openSync(this.file, 'a');
    }
  }

  /**
   * Once the file is past COMPACT_ABOVE_BYTES, moves what loss-archive.ts says may go to the
   * archive (a pass calls it once its undelivered alerts were sent); returns why it could not (a
   * full disk: the losses stay where they were, and the next pass tries again).
   */
  archiveOld(now: Date): string | undefined {
    if (this.fd === undefined) throw new Error('the loss log is open read-only');
    if (fstatSync(this.fd).size <= COMPACT_ABOVE_BYTES) return undefined;
    const before = new Date(now.getTime() - ARCHIVE_AFTER_DAYS * 86_400_000).toISOString();
    const moved = archivable(this.entries, this.alerted, before);
    if (moved.length === 0) return undefined;
    // The file is replaced: the next append goes to the new one.
    closeSync(this.fd);
    try {
      return this.compact(moved);
    } finally {
      this.fd = openSync(this.file, 'a');
    }
  }

  private compact(moved: LossEntry[]): string | undefined {
    const gone = new Set(moved);
    const kept = this.entries.filter((l) => !gone.has(l));
    const goneIds = new Set(moved.map((l) => l.id));
    const lines = [...kept.map((loss) => `${JSON.stringify({ e: 'lost', loss })}\n`), ...[...this.alerted].filter((id) => !goneIds.has(id)).map((id) => `${JSON.stringify({ e: 'alerted', id })}\n`)];
    try {
      this.archived = compactLosses(this.file, this.archive, this.archived, moved, lines);
    } catch (error) {
      return `the loss records older than ${ARCHIVE_AFTER_DAYS} days could not be moved to ${ARCHIVE_FILE} (${(error as Error).message}): they stay in losses.jsonl`;
    }
    this.entries = kept;
    this.known = new Set(kept.flatMap((l) => l.files.map((f) => fileKey(l.source, l.batch, f))));
    this.torn = false;
    return undefined;
  }

  private load(text: string): void {
    this.torn = text.length > 0 && !text.endsWith('\n');
    for (const line of text.split('\n')) {
      if (!line) continue;
      let ev: Line;
      try {
        ev = JSON.parse(line) as Line;
      } catch {
        continue; // a torn last line from a crash mid-append
      }
      this.apply(ev);
    }
  }

  private apply(ev: Line): void {
    if (ev.e === 'alerted') {
      if (ev.archived) this.archived = ev.archived;
      else this.alerted.add(ev.id);
      return;
    }
    if (ev.e !== 'lost') return;
    this.entries.push(ev.loss);
    for (const f of ev.loss.files) this.known.add(fileKey(ev.loss.source, ev.loss.batch, f));
  }

  private append(ev: Line): void {
    if (this.fd === undefined) throw new Error('the loss log is open read-only');
    // After a torn line, a newline first: glued to it, this record would be lost with it.
    const line = `${this.torn ? '\n' : ''}${JSON.stringify(ev)}\n`;
    this.torn = true;
    writeAllSync(this.fd, line);
    fsyncSync(this.fd);
    this.torn = false;
    this.apply(ev);
  }

  /** Whether this version of a file was already recorded lost. */
  has(source: string, batch: string, f: Pick<LostFile, 'name' | 'size' | 'mtimeMs'>): boolean {
    return this.known.has(fileKey(source, batch, f));
  }

  /**
   * Records the files not recorded before (idempotent: a second call for the same versions
   * records nothing and returns undefined). Durable when it returns.
   */
  record(loss: Omit<LossEntry, 'id'>): LossEntry | undefined {
    const files = loss.files.filter((f) => !this.has(loss.source, loss.batch, f));
    if (files.length === 0) return undefined;
    const id = `l${createHash('sha256').update(files.map((f) => fileKey(loss.source, loss.batch, f)).join('\n')).digest('hex').slice(0, 20)}`;
    const entry: LossEntry = { ...loss, id, files };
    this.append({ e: 'lost', loss: entry });
    return entry;
  }

  markAlerted(id: string): void {
    if (!this.alerted.has(id)) this.append({ e: 'alerted', id });
  }

  /** Losses whose alert was not delivered yet (recorded by a process that stopped before it could alert). */
  unalerted(): LossEntry[] {
    return this.entries.filter((l) => !this.alerted.has(l.id));
  }

  /** The losses in `losses.jsonl`: every loss of the last ARCHIVE_AFTER_DAYS, the newest KEEP_NEWEST, every artefact loss (the archive has the others). */
  all(): readonly LossEntry[] {
    return this.entries;
  }

  /** Every loss ever recorded, oldest first: the archive's, then the file's (`agent status --losses`). */
  *everything(): Generator<LossEntry> {
    yield* archivedLosses(this.archive, this.archived.archiveBytes);
    yield* this.entries;
  }

  /** How many loss records there are, the archived ones included. */
  records(): number {
    return this.archived.records + this.entries.length;
  }

  /** When the newest loss was recorded. */
  lastAt(): string | undefined {
    return this.entries.at(-1)?.at ?? (this.archived.lastAt || undefined);
  }

  /**
   * Versions of an artefact source lost (files, as `totals().lostArtefacts` counts them): one loss
   * record may hold several (a binlog gap of segments 3 to 5), so records are not counted.
   */
  lostVersions(source: string): number {
    return this.entries.reduce((n, l) => n + (l.kind === 'artefact' && l.source === source ? l.files.length : 0), 0);
  }

  totals(): { lostBatches: number; lostRecordings: number; lostArtefacts: number } {
    const batches = new Set<string>();
    let lostRecordings = 0;
    let lostArtefacts = 0;
    for (const l of this.entries) {
      if (l.kind === 'artefact') lostArtefacts += l.files.length;
      else if (!l.unseen) lostRecordings += l.files.length;
      for (const k of batchKeys(l)) batches.add(k);
    }
    return { lostBatches: this.archived.lostBatches + batches.size, lostRecordings: this.archived.lostRecordings + lostRecordings, lostArtefacts };
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A loss with its first paths, as the heartbeat names them (status.json's recent losses): `agent status --losses` has every one. */
export const withFirstPaths = (l: LossEntry): LossEntry & { filesInAll?: number } => (l.files.length > RECENT_LOSS_PATHS ? { ...l, files: l.files.slice(0, RECENT_LOSS_PATHS), filesInAll: l.files.length } : l);
