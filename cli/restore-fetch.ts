import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { IntegrityError, InvalidInputError, messageOf } from '../core/errors.ts';
import type { BlobStore } from '../core/ports.ts';
import { renderApplyScript } from '../core/restore-commands.ts';
import { planRestore, type PlanFile, type RestorePlan } from '../core/restore-plan.ts';
import { formatBytes } from './progress.ts';
import { lstatOrUndefined, sha256Of } from './local-files.ts';

// `ferry restore fetch`: downloads a plan's files into DIR, straight from S3 (the DR role
// reads another site's prefixes), and writes restore-plan.json and apply.sh beside them.
// Free space is checked before anything is written. Each file streams to `<name>.part`, is
// hashed whole as it is written, and takes its final name only once its SHA-256 matches: a final
// name always holds verified bytes. Bytes come as ranged GETs of 8 MiB, several in flight ahead
// of the writer (in plan order, across files), and are written in order. An existing `.part` is
// resumed with ranged GETs from its end. Names come from
// the catalogue, so they are checked: no separators, no `..`, no option-like names, and no
// symbolic link in DIR is ever followed.

export const PLAN_FILE = 'restore-plan.json';
export const APPLY_SCRIPT = 'apply.sh';
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
}

const RESERVED = new Set([PLAN_FILE, APPLY_SCRIPT]);

/** A plan file name must be one plain entry of DIR. */
export function checkLocalName(name: unknown): string {
  const bad = (why: string) => new InvalidInputError(`refusing file name ${JSON.stringify(name)}: ${why}`);
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 255) throw bad('not a file name of 1-255 bytes');
  if (name === '.' || name === '..' || name.split(/[\\/]/).includes('..')) throw bad('it would escape the target directory');
  if (/[\\/]/.test(name) || /^[A-Za-z]:/.test(name)) throw bad('a path, not a plain file name');
  if (/[\x00-\x1f\x7f]/.test(name)) throw bad('it holds control characters');
  if (name.startsWith('-')) throw bad('it would read as a command option');
  if (name.endsWith('.part') || RESERVED.has(name)) throw bad('reserved for the fetch itself');
  return name;
}

/** An artefact name is a path relative to its source root: never absolute, never climbing out. */
export function checkArtefactName(name: string): void {
  if (/^([\\/]|[A-Za-z]:)/.test(name) || name.split(/[\\/]/).includes('..')) {
    throw new InvalidInputError(`refusing artefact name ${JSON.stringify(name)}: it would escape the target directory`);
  }
}

/** Re-plans from the entries the API returned: commands are rebuilt here, never taken as text from the network. */
export function localPlan(plan: RestorePlan): RestorePlan {
  const now = new Date(Math.max(Date.now(), Date.parse(plan.at)));
  const again = planRestore([plan.full, ...plan.segments], { at: plan.at, now, site: plan.site, source: plan.source, logSource: plan.logSource, fullOnly: plan.segments.length === 0 });
  if (!again.ok) throw new InvalidInputError(`the plan received is inconsistent: ${again.reason}`);
  for (const a of [again.full, ...again.segments]) checkArtefactName(a.name);
  const names = new Set<string>();
  for (const f of again.files) {
    checkLocalName(f.name);
    if (names.has(f.name)) throw new InvalidInputError(`the plan names ${f.name} twice`);
    names.add(f.name);
    if (!/^[0-9a-f]{64}$/.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) throw new InvalidInputError(`the plan's entry for ${f.name} has no valid size and SHA-256`);
  }
  return again;
}

interface FileState {
  file: PlanFile;
  final: string;
  part: string;
  present: boolean;
  /** Bytes of a usable .part. */
  have: number;
}

/** What is already in DIR for each file; refuses symbolic links and final files that differ from the plan. */
async function inspect(dir: string | undefined, files: PlanFile[], target: string): Promise<FileState[]> {
  const states: FileState[] = [];
  for (const file of files) {
    const final = join(target, file.name);
    const part = `${final}.part`;
    const [fs, ps] = dir ? await Promise.all([lstatOrUndefined(final), lstatOrUndefined(part)]) : [undefined, undefined];
    for (const [path, st] of [[final, fs], [part, ps]] as const) {
      if (st && !st.isFile()) throw new InvalidInputError(`refusing ${path}: it is a ${st.isSymbolicLink() ? 'symbolic link' : 'non-regular file'}, and is never followed or replaced`);
    }
    let present = false;
    if (fs) {
      present = fs.size === file.size && (await sha256Of(final)) === file.sha256;
      if (!present) throw new InvalidInputError(`${final} exists and does not match the plan (${file.size} bytes, sha256 ${file.sha256.slice(0, 12)}…): move it away first`);
    }
    states.push({ file, final, part, present, have: ps && ps.size <= file.size ? ps.size : 0 });
  }
  return states;
}

/** Free bytes where DIR is (or would be created). */
async function freeBytesAt(target: string): Promise<number> {
  for (let path = target; ; path = dirname(path)) {
    const st = await lstatOrUndefined(path);
    if (st) {
      const fs = await statfs(path);
      return Number(fs.bavail) * Number(fs.bsize);
    }
    if (dirname(path) === path) throw new InvalidInputError(`no existing directory above ${target}`);
  }
}

/** Bytes per ranged GET, and GETs in flight at most: memory holds at most their product. */
export interface FetchTuning {
  rangeBytes: number;
  inFlight: number;
  /** Bytes written to a .part between two flushes to disk started in the background (0: only the final fsync). */
  flushBytes: number;
}

/**
 * What `aws s3 cp` does by default (8 MiB chunks, 10 requests), a little leaner: 64 MiB of ranges
 * in memory at most. A large file is flushed to disk as it is written (fdatasync every 64 MiB,
 * one at a time, while the download goes on): with much RAM the kernel would otherwise keep a
 * whole 1 GB file dirty and write it all during the final fsync, after the network is done.
 */
export const FETCH_TUNING: FetchTuning = { rangeBytes: 8 * 1024 * 1024, inFlight: 8, flushBytes: 64 * 1024 * 1024 };

interface Range {
  key: string;
  start: number;
  end: number;
}

/**
 * One range, whole, in memory, as the chunks the store sent (kept as they came: copying 8 MiB
 * into one buffer cost a memcpy of every byte and a large allocation per range). A short or long
 * answer is an error (the range is fetched again on resume).
 */
async function readRange(blobs: FetchOptions['blobs'], r: Range): Promise<Buffer[]> {
  const { body } = await blobs.get(r.key, { start: r.start, end: r.end });
  const expected = r.end - r.start + 1;
  const chunks: Buffer[] = [];
  let at = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    at += chunk.length;
    if (at > expected) throw new Error(`the store sent more than the ${expected} bytes asked for (bytes ${r.start}-${r.end})`);
    chunks.push(chunk);
  }
  if (at !== expected) throw new Error(`the store sent ${at} of the ${expected} bytes asked for (bytes ${r.start}-${r.end})`);
  return chunks;
}

/**
 * The plan's missing bytes as ranged GETs in plan order, up to `inFlight` ahead of the writer, so
 * a large file and a run of small ones both keep the store busy. Files are still written one after
 * the other, each range in order: a .part is always a prefix of its file, and an error stops the
 * fetch at the file it hit (ranges fetched ahead for later files are dropped, never written).
 */
class RangeReader {
  private readonly ranges: Range[] = [];
  private readonly ahead = new Map<number, Promise<Buffer[]>>();
  private started = 0;
  /** Index of the first range of each file state. */
  private readonly first = new Map<FileState, { from: number; to: number }>();

  constructor(states: FileState[], private readonly blobs: FetchOptions['blobs'], private readonly tuning: FetchTuning) {
    for (const s of states) {
      const from = this.ranges.length;
      if (!s.present) for (let start = s.have; start < s.file.size; start += tuning.rangeBytes) this.ranges.push({ key: s.file.key, start, end: Math.min(s.file.size, start + tuning.rangeBytes) - 1 });
      this.first.set(s, { from, to: this.ranges.length });
    }
  }

  /** The ranges of `state`, in order, each once its bytes are here. */
  async *of(state: FileState): AsyncGenerator<Buffer[]> {
    const { from, to } = this.first.get(state)!;
    for (let i = from; i < to; i++) {
      while (this.started < this.ranges.length && this.started < i + this.tuning.inFlight) {
        const p = readRange(this.blobs, this.ranges[this.started]!);
        p.catch(() => undefined); // an error is reported when its range is reached, not before
        this.ahead.set(this.started++, p);
      }
      const p = this.ahead.get(i)!;
      this.ahead.delete(i);
      yield await p;
    }
  }
}

/** Appends the file's missing ranges to its .part, hashing the whole file on the way (a resumed .part's bytes first); returns the SHA-256. */
async function download(state: FileState, reader: RangeReader, flushBytes: number, onBytes: (n: number) => void): Promise<string> {
  const { part } = state;
  const hash = createHash('sha256');
  if (state.have > 0) {
    const prefix = await open(part, constants.O_RDONLY | constants.O_NOFOLLOW);
    const into = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        callback();
      },
    });
    await pipeline(prefix.createReadStream({ end: state.have - 1 }), into); // the stream closes the handle
  }
  // O_NOFOLLOW: a symbolic link planted as the .part after inspection is refused, not followed.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (state.have > 0 ? constants.O_APPEND : constants.O_TRUNC);
  let handle: FileHandle;
  try {
    handle = await open(part, flags, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new InvalidInputError(`refusing ${part}: it is a symbolic link, and is never followed`, { cause: error });
    throw error;
  }
  // One background flush at a time; its failure is the download's, reported before the final fsync.
  let flushing: Promise<void> | undefined;
  let flushError: unknown;
  let unflushed = 0;
  try {
    for await (const chunks of reader.of(state)) {
      const { bytesWritten } = await handle.writev(chunks);
      let length = 0;
      for (const chunk of chunks) {
        hash.update(chunk);
        length += chunk.length;
      }
      // A short write (a full disk) leaves a .part that is still a prefix: stop here, resumable.
      if (bytesWritten !== length) throw new Error(`wrote ${bytesWritten} of ${length} bytes to ${part}`);
      onBytes(length);
      unflushed += length;
      if (flushBytes > 0 && unflushed >= flushBytes && !flushing) {
        unflushed = 0;
        flushing = handle.datasync().then(
          () => void (flushing = undefined),
          (error: unknown) => void ((flushError ??= error), (flushing = undefined)),
        );
      }
    }
    await flushing;
    if (flushError) throw flushError;
    await handle.sync();
  } finally {
    await flushing;
    await handle.close();
  }
  return hash.digest('hex');
}

/** The .part holds the whole file and `sha256` (hashed as its bytes were written) is the plan's: it takes its final name. */
async function verifyAndPublish(state: FileState, sha256: string): Promise<void> {
  const { file, final, part } = state;
  const st = await lstat(part);
  if (st.size !== file.size) throw new IntegrityError(`${part} holds ${st.size} of ${file.size} bytes: run the fetch again to resume`);
  if (sha256 !== file.sha256) {
    await rm(part, { force: true });
    throw new IntegrityError(`${file.name} does not match its SHA-256 (got ${sha256.slice(0, 12)}…, expected ${file.sha256.slice(0, 12)}…): refused, nothing kept under its name`);
  }
  if (await lstatOrUndefined(final)) throw new InvalidInputError(`${final} appeared during the fetch: refusing to replace it`);
  await rename(part, final);
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

/** Fetches every file of the plan into dir, verified; writes restore-plan.json and apply.sh. */
export async function fetchPlan(opts: FetchOptions): Promise<FetchReport> {
  const plan = localPlan(opts.plan);
  const target = resolve(opts.dir);
  const existing = await lstatOrUndefined(target);
  if (existing && !existing.isDirectory() && !existing.isSymbolicLink()) throw new InvalidInputError(`${target} exists and is not a directory`);
  const dir = existing ? await realpath(target) : undefined;
  const states = await inspect(dir, plan.files, dir ?? target);

  const needed = states.reduce((sum, s) => sum + (s.present ? 0 : s.file.size - s.have), 0) + METADATA_ALLOWANCE;
  const free = opts.freeBytes ?? (await freeBytesAt(target));
  if (needed > free) {
    throw new InsufficientSpaceError(`not enough disk space in ${target}: the plan needs ${formatBytes(needed)} more (${plan.files.length} file(s), ${formatBytes(plan.totalBytes)} in all), only ${formatBytes(free)} is free. Nothing was written.`);
  }
  await mkdir(target, { recursive: true });

  const report: FetchReport = { dir: target, files: [], bytesDownloaded: 0, planFile: join(target, PLAN_FILE), script: join(target, APPLY_SCRIPT) };
  let bytesDone = states.reduce((sum, s) => sum + (s.present ? s.file.size : s.have), 0);
  const tuning = { ...FETCH_TUNING, ...opts.tuning };
  const reader = new RangeReader(states, opts.blobs, tuning);
  for (const [index, state] of states.entries()) {
    const progress = () => opts.onProgress?.({ file: state.file.name, index, files: states.length, bytesDone, bytesTotal: plan.totalBytes });
    if (!state.present) {
      let sha256: string;
      try {
        sha256 = await download(state, reader, tuning.flushBytes, (n) => {
          bytesDone += n;
          report.bytesDownloaded += n;
          progress();
        });
      } catch (error) {
        if (error instanceof InvalidInputError || error instanceof IntegrityError) throw error;
        throw new IntegrityError(`fetching ${state.file.name} was interrupted (${messageOf(error)}): run the same command again to resume`, { cause: error });
      }
      await verifyAndPublish(state, sha256);
    }
    progress();
    report.files.push({ name: state.file.name, size: state.file.size, status: state.present ? 'present' : state.have > 0 ? 'resumed' : 'fetched' });
  }
  await writeVerbatim(report.planFile, `${JSON.stringify(plan, null, 2)}\n`, 0o644);
  await writeVerbatim(report.script, renderApplyScript(plan.steps, { site: plan.site, source: plan.source, at: plan.at, stopAt: plan.stopAt }), 0o755);
  return report;
}
