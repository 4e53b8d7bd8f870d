import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { IntegrityError, InvalidInputError, messageOf } from '../core/errors.ts';
import type { BlobStore } from '../core/ports.ts';
import { renderApplyScript } from '../core/restore-commands.ts';
import type { PlanFile, RestorePlan } from '../core/restore-plan.ts';
import { APPLY_SCRIPT, PLAN_FILE, localPlan } from './received-plan.ts';
import { checkTarget } from './fetch-target.ts';
import { formatBytes } from './progress.ts';
import { diskIsFull, freeBytesAt, lstatOrUndefined, sha256Of } from './local-files.ts';
import { HoldBudget, PartFile, RangeBuffers, type PartTarget } from './part-file.ts';
import { PrefixHashes } from './prefix-hash.ts';
import { RECORD_SUFFIX, missingRanges, parseRecord, readRecord, type Interval } from './range-record.ts';

// `ferry restore fetch`: downloads a plan's files into DIR, straight from S3 (the DR role
// reads another site's prefixes), and writes restore-plan.json and apply.sh beside them.
// Free space is checked before anything is written. Bytes come as ranged GETs of 8 MiB, several
// in flight (in plan order, across files); each range is written into `<name>.part` at its offset
// as it arrives (with O_DIRECT where it can be, `restore-fetch-direct.ts`), and recorded whole in
// `<name>.part.ranges` once flushed (`range-record.ts`), so a resumed fetch GETs only the ranges
// not recorded. Each file is hashed in order as its whole prefix grows (`part-file.ts`; on a hash
// thread, `prefix-hash.ts`), fsynced, and takes its
// final name only once its SHA-256 matches: a final name always holds verified bytes. Names come
// from the catalogue, so they are checked: no separators, no `..`, no option-like names, and no
// symbolic link in DIR is ever followed.

export { APPLY_SCRIPT, PLAN_FILE, checkArtefactName, checkLocalName, localPlan } from './received-plan.ts';
/** Room for restore-plan.json and apply.sh. */
const METADATA_ALLOWANCE = 1024 * 1024;

export class InsufficientSpaceError extends InvalidInputError {
  override readonly name: string = 'InsufficientSpaceError';
}

export interface FetchProgress {
  file: string;
  index: number;
  files: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface FetchOptions {
  plan: RestorePlan;
  dir: string;
  blobs: Pick<BlobStore, 'get'>;
  /** Free bytes to assume instead of asking the file system (tests: FERRY_TEST_FREE_BYTES). */
  freeBytes?: number;
  onProgress?: (p: FetchProgress) => void;
  /** Range size and GETs in flight (default FETCH_TUNING). */
  tuning?: Partial<FetchTuning>;
  /** The plan was asked for without its logs (`--log-source none`): its note says they were left out on request. */
  logsLeftOut?: boolean;
  /** Aborted (Ctrl-C, SIGTERM): no new range is asked for, what is written is flushed and recorded, and the fetch ends with InterruptedError. */
  signal?: AbortSignal;
}

/** The fetch was stopped by its caller (a signal); what it wrote is kept, and the same command resumes it. */
export class FetchInterruptedError extends Error {
  override readonly name = 'FetchInterruptedError';
}

export interface FetchedFile {
  name: string;
  size: number;
  /** fetched: downloaded whole; resumed: continued from a .part; present: already there and verified. */
  status: 'fetched' | 'resumed' | 'present';
}

export interface FetchReport {
  dir: string;
  files: FetchedFile[];
  bytesDownloaded: number;
  planFile: string;
  script: string;
  /** The plan's notes (what it restores and does not), shown with the files. */
  notes: string[];
}

/** A plan file and what DIR holds of it; as a PartTarget, its .part (with its record) to fetch into. */
interface FileState extends PartTarget {
  file: PlanFile;
  index: number;
  final: string;
  present: boolean;
}

/** A path in DIR that must be a regular file when it exists: never a link to follow. */
async function regularOrAbsent(path: string) {
  const st = await lstatOrUndefined(path);
  if (st && !st.isFile()) throw new InvalidInputError(`refusing ${path}: it is a ${st.isSymbolicLink() ? 'symbolic link' : 'non-regular file'}, and is never followed or replaced`);
  return st;
}

/** What is already in DIR for each file; refuses symbolic links and final files that differ from the plan. */
async function inspect(dir: string | undefined, files: PlanFile[], target: string): Promise<FileState[]> {
  const states: FileState[] = [];
  for (const [index, file] of files.entries()) {
    const final = join(target, file.name);
    const part = `${final}.part`;
    const record = `${part}${RECORD_SUFFIX}`;
    const [fs, ps, rs] = dir ? await Promise.all([regularOrAbsent(final), regularOrAbsent(part), regularOrAbsent(record)]) : [undefined, undefined, undefined];
    let present = false;
    if (fs) {
      present = fs.size === file.size && (await sha256Of(final)) === file.sha256;
      if (!present) throw new InvalidInputError(`${final} exists and does not match the plan (${file.size} bytes, sha256 ${file.sha256.slice(0, 12)}…): move it away first`);
      // Left by a fetch stopped between the rename and the record's removal.
      if (rs) await rm(record, { force: true });
    }
    // A .part without a record of this file (or with a torn header), or longer than the file, is fetched again whole.
    const text = !present && ps && rs && ps.size <= file.size ? await readRecord(record) : undefined;
    const done = (text !== undefined && parseRecord(text, file, ps!.size)) || [];
    states.push({ file, index, final, part, record, present, done, recordOnDisk: !present && rs !== undefined });
  }
  return states;
}

const bytesOf = (ranges: Interval[]) => ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0);

/**
 * Bytes per ranged GET and GETs in flight at most (memory holds at most their product for the
 * ranges being received), plus `holdBytes` of ranges written ahead of the hash and kept for it.
 */
export interface FetchTuning {
  rangeBytes: number;
  inFlight: number;
  /**
   * Bytes written to a .part between two flushes to disk started in the background; the ranges
   * written before a flush are recorded whole once it is done (0: only the final fsync, and
   * nothing recorded before the fetch stops).
   */
  flushBytes: number;
  /** Bytes of ranges written ahead of the hash kept in memory for it (across files); beyond, they are read back from the file. */
  holdBytes: number;
  /** Bytes of ranges received and waiting for their write, at most, before a new GET waits for the disk. */
  writeQueueBytes: number;
  /** Writes aligned ranges with O_DIRECT (not through the page cache) where the file system allows it. */
  direct: boolean;
}

/**
 * What `aws s3 cp` does by default (8 MiB chunks, 10 requests), a little leaner: 64 MiB of ranges
 * in flight. A large file is flushed to disk as it is written (fdatasync every 64 MiB, one at a
 * time, while the download goes on), which is also when its whole ranges are recorded: with much
 * RAM the kernel would otherwise keep a whole 1 GB file dirty and write it all during the final
 * fsync, after the network is done (written with O_DIRECT, the ranges are on the disk already
 * and a flush only commits them). Memory: at most rangeBytes × inFlight + writeQueueBytes +
 * holdBytes of ranges (192 MiB; a range counts once, so 128 MiB when none is held for the hash
 * while queued), plus 1 MiB of read-back buffer per .part reading back.
 */
export const FETCH_TUNING: FetchTuning = { rangeBytes: 8 * 1024 * 1024, inFlight: 8, flushBytes: 64 * 1024 * 1024, holdBytes: 64 * 1024 * 1024, writeQueueBytes: 64 * 1024 * 1024, direct: true };

/**
 * One range, whole, in `into` (a buffer of the pool, reused): read straight into it where the
 * store offers it (`readInto`: no chunk of the body's own), else copied into it as the store sends
 * it (the socket's chunks are garbage as soon as they are copied). A short or long answer is an
 * error (the range is fetched again on resume).
 */
async function readRange(blobs: FetchOptions['blobs'], key: string, r: Interval, into: Buffer): Promise<Buffer> {
  const got = await blobs.get(key, { start: r.start, end: r.end });
  const expected = r.end - r.start + 1;
  const target = into.subarray(0, expected);
  let at = 0;
  if (got.readInto) {
    try {
      at = await got.readInto(target);
    } catch (error) {
      if (error instanceof RangeError) throw new Error(`the store sent more than the ${expected} bytes asked for (bytes ${r.start}-${r.end})`, { cause: error });
      throw error;
    }
  } else {
    for await (const chunk of got.body as AsyncIterable<Buffer>) {
      if (at + chunk.length > expected) throw new Error(`the store sent more than the ${expected} bytes asked for (bytes ${r.start}-${r.end})`);
      at += chunk.copy(into, at);
    }
  }
  if (at !== expected) throw new Error(`the store sent ${at} of the ${expected} bytes asked for (bytes ${r.start}-${r.end})`);
  return target;
}

/** The .part holds the whole file and `sha256` (hashed in order as its prefix grew) is the plan's: it takes its final name. */
async function verifyAndPublish(state: FileState, sha256: string): Promise<void> {
  const { file, final, part, record } = state;
  const st = await lstat(part);
  if (st.size !== file.size) throw new IntegrityError(`${part} holds ${st.size} of ${file.size} bytes: run the fetch again to resume`);
  if (sha256 !== file.sha256) {
    await rm(record, { force: true });
    await rm(part, { force: true });
    throw new IntegrityError(`${file.name} does not match its SHA-256 (got ${sha256.slice(0, 12)}…, expected ${file.sha256.slice(0, 12)}…): refused, nothing kept under its name`);
  }
  if (await lstatOrUndefined(final)) throw new InvalidInputError(`${final} appeared during the fetch: refusing to replace it`);
  await rename(part, final);
  // After the rename: a record left by a crash here is removed by the next fetch (the final name is verified then).
  await rm(record, { force: true });
}

interface Job {
  state: FileState;
  range: Interval;
}

/**
 * Fetches the plan's missing ranges, `inFlight` GETs at a time in plan order (across files), each
 * written at its offset as soon as it is here; a file whose ranges are all written is fsynced,
 * checked and renamed in the background while the GETs go on. The first error stops new GETs;
 * the ranges in flight are still written, every open .part is flushed and its whole ranges
 * recorded, and the error of the earliest file in plan order is thrown.
 */
async function fetchRanges(states: FileState[], opts: FetchOptions, tuning: FetchTuning, onBytes: (s: FileState, n: number) => void): Promise<void> {
  const jobs: Job[] = [];
  const left = new Map<FileState, number>();
  for (const state of states) {
    if (state.present) continue;
    const ranges = missingRanges(state.done, state.file.size, tuning.rangeBytes);
    for (const range of ranges) jobs.push({ state, range });
    left.set(state, ranges.length);
  }
  const hold = new HoldBudget(tuning.holdBytes);
  const buffers = new RangeBuffers(tuning.rangeBytes);
  const hashes = new PrefixHashes();
  try {
    await fetchJobs(jobs, left, { opts, tuning, hold, buffers, hashes, onBytes });
  } finally {
    await hashes.close();
  }
}

interface FetchContext {
  opts: FetchOptions;
  tuning: FetchTuning;
  hold: HoldBudget;
  buffers: RangeBuffers;
  hashes: PrefixHashes;
  onBytes: (s: FileState, n: number) => void;
}

async function fetchJobs(jobs: Job[], left: Map<FileState, number>, { opts, tuning, hold, buffers, hashes, onBytes }: FetchContext): Promise<void> {
  const parts = new Map<FileState, Promise<PartFile>>();
  const partOf = (state: FileState) => {
    let p = parts.get(state);
    if (!p) {
      p = PartFile.open(state, tuning.flushBytes, hold, hashes, { direct: tuning.direct, buffers });
      p.catch(() => undefined); // reported by whoever awaits it
      parts.set(state, p);
    }
    return p;
  };
  const failures: { state: FileState; error: unknown }[] = [];
  const finished = new Set<FileState>();
  const publishing: Promise<void>[] = [];
  const publish = (state: FileState) => {
    const p = (async () => {
      const sha256 = await (await partOf(state)).finish();
      finished.add(state);
      await verifyAndPublish(state, sha256);
    })();
    publishing.push(p.catch((error: unknown) => void failures.push({ state, error })));
  };
  for (const [state, n] of left) if (n === 0) publish(state);

  // A GET's slot is free once its bytes are here: their write goes on behind it (a write can wait
  // seconds behind a flush on a busy disk), up to `writeQueueBytes` of ranges waiting for the disk.
  const writing = new Set<Promise<void>>();
  let queued = 0;
  const write = (state: FileState, range: Interval, bytes: Buffer, release: () => void) => {
    const length = range.end - range.start + 1;
    queued += length;
    const w = (async () => {
      try {
        const part = await partOf(state).catch((error: unknown) => {
          release();
          throw error;
        });
        await part.write(range, bytes, release);
        onBytes(state, length);
        const n = left.get(state)! - 1;
        left.set(state, n);
        if (n === 0 && failures.length === 0) publish(state);
      } catch (error) {
        failures.push({ state, error });
      }
    })().finally(() => {
      queued -= length;
      writing.delete(w);
    });
    writing.add(w);
  };
  let next = 0;
  const signal = opts.signal;
  const onAbort = () => {
    const open = jobs[next]?.state ?? jobs.at(-1)?.state;
    if (open && failures.length === 0) failures.push({ state: open, error: new FetchInterruptedError('interrupted') });
  };
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const worker = async () => {
    while (next < jobs.length && failures.length === 0) {
      while (queued > tuning.writeQueueBytes && writing.size > 0) await Promise.race(writing);
      if (next >= jobs.length || failures.length > 0) break;
      const { state, range } = jobs[next++]!;
      const buffer = buffers.take(range.end - range.start + 1);
      let once = false;
      const release = () => {
        if (once) return;
        once = true;
        buffers.give(buffer);
      };
      try {
        void partOf(state);
        write(state, range, await readRange(opts.blobs, state.file.key, range, buffer), release);
      } catch (error) {
        release();
        failures.push({ state, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, tuning.inFlight) }, worker));
  while (writing.size > 0) await Promise.all(writing);
  await Promise.all(publishing);
  signal?.removeEventListener('abort', onAbort);
  if (failures.length === 0) return;

  for (const [state, p] of parts) {
    if (finished.has(state)) continue;
    await p.then((part) => part.abort()).catch(() => undefined); // the first failure is what is reported
  }
  const interrupted = failures.find((f) => f.error instanceof FetchInterruptedError);
  if (interrupted) throw new FetchInterruptedError('interrupted: what was fetched is kept (flushed and recorded); run the same command again to resume');
  const { state, error } = failures.reduce((a, b) => (b.state.index < a.state.index ? b : a));
  if (error instanceof InvalidInputError || error instanceof IntegrityError) throw error;
  // A full disk needs room before a re-run, which its free-space check would refuse otherwise.
  const advice = diskIsFull(error) ? 'free space in the target directory (what is fetched is kept), then run the same command again to resume' : 'run the same command again to resume';
  throw new IntegrityError(`fetching ${state.file.name} was interrupted (${messageOf(error)}): ${advice}`, { cause: error });
}

async function writeVerbatim(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.part`;
  const handle = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  const st = await lstatOrUndefined(path);
  if (st && !st.isFile()) throw new InvalidInputError(`refusing ${path}: not a regular file`);
  await rename(tmp, path);
}

/**
 * apply.sh and restore-plan.json exist in DIR only for a fetch that finished: an earlier fetch's
 * (another --at, another source) would otherwise outlive this one when it stops half way, and
 * `./apply.sh` would restore that other time saying 'restore plan applied'.
 */
async function removeStaleScript(dir: string): Promise<void> {
  for (const name of [APPLY_SCRIPT, PLAN_FILE]) {
    const path = join(dir, name);
    const st = await lstatOrUndefined(path);
    if (st && !st.isDirectory()) await rm(path);
  }
}

/** A plan that replays no log segment gives the full's state, not T's (an archive plan is the archives covering T). */
export const fullAsTaken = (plan: RestorePlan): boolean => plan.segments.length === 0 && plan.full.role !== 'archive';

/** Fetches every file of the plan into dir, verified; writes restore-plan.json and apply.sh. */
export async function fetchPlan(opts: FetchOptions): Promise<FetchReport> {
  const plan = localPlan(opts.plan, { logsLeftOut: opts.logsLeftOut ?? false });
  const target = resolve(opts.dir);
  const existing = await lstatOrUndefined(target);
  if (existing && !existing.isDirectory() && !existing.isSymbolicLink()) throw new InvalidInputError(`${target} exists and is not a directory`);
  const dir = existing ? await realpath(target) : undefined;
  const othersNote = await checkTarget(dir, target, plan);
  const states = await inspect(dir, plan.files, dir ?? target);

  const needed = states.reduce((sum, s) => sum + (s.present ? 0 : s.file.size - bytesOf(s.done)), 0) + METADATA_ALLOWANCE;
  const free = opts.freeBytes ?? (await freeBytesAt(target));
  if (needed > free) {
    throw new InsufficientSpaceError(`not enough disk space in ${target}: the plan needs ${formatBytes(needed)} more (${plan.files.length} file(s), ${formatBytes(plan.totalBytes)} in all, and ${formatBytes(METADATA_ALLOWANCE)} kept for ${PLAN_FILE} and ${APPLY_SCRIPT}), only ${formatBytes(free)} is free. Nothing was written.`);
  }
  await mkdir(target, { recursive: true });
  await removeStaleScript(target);

  const report: FetchReport = { dir: target, files: [], bytesDownloaded: 0, planFile: join(target, PLAN_FILE), script: join(target, APPLY_SCRIPT), notes: othersNote ? [...plan.notes, othersNote] : plan.notes };
  let bytesDone = states.reduce((sum, s) => sum + (s.present ? s.file.size : bytesOf(s.done)), 0);
  const progress = (state: FileState) => opts.onProgress?.({ file: state.file.name, index: state.index, files: states.length, bytesDone, bytesTotal: plan.totalBytes });
  await fetchRanges(states, opts, { ...FETCH_TUNING, ...opts.tuning }, (state, n) => {
    bytesDone += n;
    report.bytesDownloaded += n;
    progress(state);
  });
  for (const state of states) {
    report.files.push({ name: state.file.name, size: state.file.size, status: state.present ? 'present' : state.done.length > 0 ? 'resumed' : 'fetched' });
  }
  if (states.length > 0) progress(states.at(-1)!);
  await writeVerbatim(report.planFile, `${JSON.stringify(plan, null, 2)}\n`, 0o644);
  await writeVerbatim(report.script, renderApplyScript(plan.steps, { site: plan.site, source: plan.source, at: plan.at, stopAt: plan.stopAt, files: plan.files, ...(fullAsTaken(plan) ? { fullAsTakenAt: plan.reachedAt } : {}) }), 0o755);
  return report;
}
