import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openNoFollow } from './local-files.ts';

// The record of which byte ranges of a `.part` are whole, kept beside it as `NAME.part.ranges`
// while `ferry restore fetch` writes ranges at their offsets as they arrive. The rule: the record
// may lag the data, never lead it. A range is appended only after its bytes were written and
// flushed to disk (fdatasync), so a crash, a kill -9 or a store error can lose a claim, never
// make one that is false. Each line carries a check bound to the plan's file (size and SHA-256),
// so a torn or corrupted line, or a record left by another file, claims nothing: its ranges are
// fetched again. The whole file's SHA-256 is still checked before its final name, whatever the
// record said.

export const RECORD_SUFFIX = '.ranges';

/** Bytes start..end, both included. */
export interface Interval {
  start: number;
  end: number;
}

/** What a record is bound to: the plan's file. */
export interface RecordOwner {
  size: number;
  sha256: string;
}

const header = (owner: RecordOwner) => `ferry-ranges 1 ${owner.size} ${owner.sha256}\n`;
const check = (owner: RecordOwner, start: number, end: number) => createHash('sha256').update(`${owner.sha256} ${owner.size} ${start} ${end}`).digest('hex').slice(0, 16);
const line = (owner: RecordOwner, r: Interval) => `${r.start} ${r.end} ${check(owner, r.start, r.end)}\n`;

/** Sorted, with touching and overlapping intervals merged. */
export function merge(intervals: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const r of [...intervals].sort((a, b) => a.start - b.start)) {
    const last = out.at(-1);
    if (last && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** The bytes of 0..size-1 that `done` (merged) does not hold, as ranges of at most `rangeBytes`. */
export function missingRanges(done: Interval[], size: number, rangeBytes: number): Interval[] {
  const out: Interval[] = [];
  const gap = (from: number, to: number) => {
    for (let start = from; start <= to; start += rangeBytes) out.push({ start, end: Math.min(to, start + rangeBytes - 1) });
  };
  let at = 0;
  for (const r of done) {
    if (r.start > at) gap(at, r.start - 1);
    at = Math.max(at, r.end + 1);
  }
  if (at < size) gap(at, size - 1);
  return out;
}

/**
 * The whole ranges a record's text claims, merged. Undefined when the text is not a record of
 * this file (another version, another file, a torn header): nothing of the `.part` is then
 * trusted. A line that does not check, or that reaches past the `.part`'s length, is dropped.
 */
export function parseRecord(text: string, owner: RecordOwner, partSize: number): Interval[] | undefined {
  const want = header(owner);
  if (!text.startsWith(want)) return undefined;
  const claims: Interval[] = [];
  for (const l of text.slice(want.length).split('\n')) {
    const m = /^(\d{1,16}) (\d{1,16}) ([0-9a-f]{16})$/.exec(l);
    if (!m) continue;
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (start > end || end >= owner.size || end >= partSize || m[3] !== check(owner, start, end)) continue;
    claims.push({ start, end });
  }
  return merge(claims);
}

/** The record's text, or undefined when there is none; a symbolic link is never followed. */
export async function readRecord(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    handle = await openNoFollow(path, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return await readFile(handle, 'utf8');
  } finally {
    await handle.close();
  }
}

async function syncDir(path: string): Promise<void> {
  const dir = await open(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Appends whole ranges to a `.part`'s record. One writer per record; appends are serialized by the caller. */
export class RangeRecord {
  private handle: FileHandle | undefined;

  private constructor(
    readonly path: string,
    private readonly owner: RecordOwner,
    /** The record on disk already starts with its header. */
    private created: boolean,
  ) {}

  /**
   * The record of a fetch starting with `done` whole. A record already on disk is replaced
   * atomically (written beside, fsynced, renamed, directory fsynced) before any byte of the
   * `.part` is written, so none of its old lines can come to claim a range written later.
   * With no record on disk, the record is created at the first append.
   */
  static async start(path: string, owner: RecordOwner, done: Interval[], onDisk: boolean): Promise<RangeRecord> {
    const record = new RangeRecord(path, owner, onDisk);
    if (onDisk) {
      const tmp = `${path}.new`;
      const h = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
      try {
        await h.writeFile(header(owner) + done.map((r) => line(owner, r)).join(''));
        await h.sync();
      } finally {
        await h.close();
      }
      await rename(tmp, path);
      await syncDir(path);
    }
    return record;
  }

  /** Claims `ranges` whole: call only once their bytes are written and flushed. Not fsynced: the record may lag. */
  async append(ranges: Interval[]): Promise<void> {
    if (ranges.length === 0) return;
    let text = merge(ranges).map((r) => line(this.owner, r)).join('');
    if (!this.handle) {
      const fresh = this.created ? 0 : constants.O_CREAT | constants.O_TRUNC;
      this.handle = await open(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | fresh, 0o644);
      if (!this.created) text = header(this.owner) + text;
      this.created = true;
    }
    await this.handle.write(text);
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
