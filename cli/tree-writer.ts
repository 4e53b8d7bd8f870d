import { chmod, lutimes, readlink, symlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { IntegrityError, InvalidInputError } from '../core/errors.ts';
import { InsufficientSpaceError } from './restore-fetch.ts';
import type { TreeEntry, TreeSnapshotManifest } from '../core/tree-manifest.ts';
import type { Store } from './tree-snapshots.ts';
import { PartFile, partSuffixOf, relKeyOf } from './tree-part-file.ts';
import { diskIsFull, lstatOrUndefined, sha256Of } from './local-files.ts';
import { applyMeta, join2, show, timeOf, type DirGuard } from './tree-restore-dir.ts';

// Writing a tree restore into DIR: files a few ranged GETs at a time (one GET per run of files
// that lie together in one pack), each as `.ferry-part`, checked against its SHA-256 and only then
// renamed; files already there and verified are kept (a re-run); links and directory times last.

export interface TreeRestoreProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  path: string;
}

export interface TreeRestoreOptions {
  blobs: Store;
  manifest: TreeSnapshotManifest;
  to: string;
  include?: string[];
  /** Free bytes to assume instead of asking the file system (tests). */
  freeBytes?: number;
  /** Ranged GETs under way at once (each fetches one run of files). */
  concurrency?: number;
  /** Largest ranged GET that fetches several files (default RUN_MAX_BYTES; 0: one GET per file, to measure what runs save). */
  runMaxBytes?: number;
  onProgress?: (p: TreeRestoreProgress) => void;
  /** Aborted (Ctrl-C, SIGTERM): no new file is started, what is under way finishes, and the restore ends with RestoreInterruptedError. */
  signal?: AbortSignal;
}

/** A restore stopped by its caller; the files written so far are whole and verified, and the same command goes on from them. */
export class RestoreInterruptedError extends Error {
  override readonly name = 'RestoreInterruptedError';
}

export interface TreeRestoreReport {
  snapshotId: string;
  takenAt: string;
  dir: string;
  files: { restored: number; present: number };
  dirs: number;
  symlinks: number;
  bytesDownloaded: number;
  /** Ranged GETs made: one per run of files that lie together in one pack (at most RUN_MAX_BYTES). */
  gets: number;
  /** Paths not restored, and why (an existing link or file in the way). */
  problems: { path: string; problem: string }[];
  /** Paths DIR already held that the snapshot does not (left as they were): how many, and the first 20. */
  notInSnapshot?: { count: number; paths: string[] };
  /** An unfinished restore of another snapshot that DIR held (its marker), which this one took the place of. */
  unfinishedBefore?: { snapshotId: string; takenAt: string; startedAt: string };
  /** Files DIR already held at a path of the snapshot with other content (another snapshot's, the operator's own), replaced by the snapshot's: how many, and the first 20. */
  replaced?: { count: number; paths: string[] };
  /** Paths the agent left out of the snapshot when it took it (unreadable, changing, special): how many, and the first 20 with why. Not restored. */
  leftOut?: {
    count: number;
    /** Each with the newest earlier snapshot that holds a file there, when one of those searched does: its --at restores it. */
    paths: { path: string; problem: string; earlier?: { snapshotId: string; takenAt: string } }[];
    /** How far back earlier snapshots were searched for the named paths (`more`: older ones were not, the limits of cli/tree-snapshots.ts). */
    searched: { looked: number; oldestLooked?: string; more: boolean; failed?: string };
  };
}

/** Where an entry's content is: its pack's key, checked before anything is fetched. */
function packKeyOf(manifest: TreeSnapshotManifest, entry: TreeEntry): string | undefined {
  const packKey = entry.pack === undefined ? undefined : manifest.packs[entry.pack]?.key;
  if (entry.sha256 === undefined || (entry.size > 0 && (packKey === undefined || entry.offset === undefined))) {
    throw new IntegrityError(`the index entry of ${entry.path} does not say where its content is`);
  }
  return packKey;
}

/**
 * Fetches the content of files that lie one after another in the same pack with ONE ranged GET
 * (from the first one's data to the last one's end; the tar headers and padding between them
 * are skipped), writing each into its own `.ferry-part`, verified and renamed as soon as its last byte
 * is in. A run stopped half way leaves the files before it complete and verified (a re-run keeps
 * them) and at most one `.ferry-part` (a re-run writes it again). `writing.path` is the file being written.
 */
async function restoreRun(blobs: Store, manifest: TreeSnapshotManifest, files: { entry: TreeEntry; final: Buffer; suffix: string }[], onBytes: (n: number) => void, writing: { path: string } = { path: '' }): Promise<void> {
  const first = files[0]!.entry;
  writing.path = first.path;
  const last = files.at(-1)!.entry;
  const key = packKeyOf(manifest, first);
  for (const f of files) packKeyOf(manifest, f.entry);
  if (first.size === 0) {
    // Empty content needs no bytes from any pack (a run holds it alone).
    await (await PartFile.open(first, files[0]!.final, files[0]!.suffix)).commit();
    return;
  }
  const { body } = await blobs.get(key!, { start: first.offset!, end: last.offset! + last.size - 1 });
  let pos = first.offset!;
  let i = 0;
  let current: PartFile | undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      for (let at = 0; at < chunk.length && i < files.length; ) {
        const e = files[i]!.entry;
        if (pos < e.offset!) {
          const skip = Math.min(e.offset! - pos, chunk.length - at);
          pos += skip;
          at += skip;
          continue;
        }
        writing.path = e.path;
        current ??= await PartFile.open(e, files[i]!.final, files[i]!.suffix);
        const take = Math.min(e.offset! + e.size - pos, chunk.length - at);
        await current.write(chunk.subarray(at, at + take));
        onBytes(take);
        pos += take;
        at += take;
        if (pos === e.offset! + e.size) {
          const done = current;
          current = undefined;
          i++;
          await done.commit();
        }
      }
    }
  } finally {
    if (current) await current.close();
  }
  if (i < files.length) throw new IntegrityError(`${key} ended before the content of ${files[i]!.entry.path} was complete: nothing kept under its name`);
}

/**
 * The SHA-256 of a file already in DIR. One an earlier run of this restore gave its stored mode
 * (0000, 0200…) is made readable to its owner first: it gets its stored mode again once verified
 * (applyMeta), and a re-run resumes instead of failing with EACCES.
 */
async function hashOwn(path: Buffer, st: Stats): Promise<string> {
  if ((st.mode & 0o400) === 0 && st.uid === process.getuid?.()) await chmod(path, (st.mode & 0o7777) | 0o600);
  return sha256Of(path);
}

/** Files whose content lies close together in one pack are fetched with one ranged GET of at most this many bytes. */
export const RUN_MAX_BYTES = 8 * 1024 * 1024;
/** Shown at most of the files DIR held with other content that the restore replaced (their count is exact). */
const REPLACED_SHOWN = 20;
/** Bytes between two members' data that a run reads through (tar headers and padding are 512 to 1,535). */
const RUN_MAX_GAP = 64 * 1024;

/** One restore's writing: files (a few at a time), then links, then directory times. */
export class TreeWriter {
  /** Directories to give their mode and mtime at the end; with --include, only those made on the way. */
  readonly dirs: { parts: Buffer[]; entry: TreeEntry }[] = [];
  readonly links: { parts: Buffer[]; entry: TreeEntry }[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private filesDone = 0;
  private bytesDone = 0;

  constructor(
    private readonly opts: TreeRestoreOptions,
    private readonly guard: DirGuard,
    readonly report: TreeRestoreReport,
    private readonly totals: { filesTotal: number; bytesTotal: number },
    /** The snapshot's paths a temporary name could meet (isPartLike): no temporary name is one (partSuffixOf). */
    private readonly partNames: ReadonlySet<string> = new Set(),
  ) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Files waiting to be fetched together (one pack, close together, in order). */
  private run: { entry: TreeEntry; parts: Buffer[] }[] = [];
  /** Queues a file; files that follow each other in one pack are fetched with one ranged GET. */
  async file(e: TreeEntry, parts: Buffer[]): Promise<void> {
    const prev = this.run.at(-1)?.entry;
    const joins =
      prev !== undefined &&
      e.size > 0 &&
      prev.size > 0 &&
      e.pack === prev.pack &&
      e.offset !== undefined &&
      prev.offset !== undefined &&
      e.offset >= prev.offset + prev.size &&
      e.offset - (prev.offset + prev.size) <= RUN_MAX_GAP &&
      e.offset + e.size - this.run[0]!.entry.offset! <= (this.opts.runMaxBytes ?? RUN_MAX_BYTES);
    if (!joins) await this.flush();
    this.run.push({ entry: e, parts });
  }

  /** Starts fetching the queued run; waits while as many runs as allowed are under way. */
  private async flush(): Promise<void> {
    if (this.run.length === 0) return;
    const run = this.run;
    this.run = [];
    const task: Promise<void> = this.writeRun(run)
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.inflight.delete(task));
    this.inflight.add(task);
    if (this.inflight.size >= (this.opts.concurrency ?? 8)) await Promise.race(this.inflight);
  }

  async drain(): Promise<void> {
    if (!this.failed) await this.flush();
    await Promise.all(this.inflight);
    if (this.failure !== undefined) throw this.failure;
  }

  private done(e: TreeEntry): void {
    this.filesDone++;
    this.opts.onProgress?.({ filesDone: this.filesDone, ...this.totals, bytesDone: this.bytesDone, path: e.path });
  }

  /** Files already there and verified are kept (a re-run); the rest of the run is fetched with one ranged GET per stretch between kept files. */
  private async writeRun(run: { entry: TreeEntry; parts: Buffer[] }[]): Promise<void> {
    const stretches: { entry: TreeEntry; final: Buffer; suffix: string }[][] = [];
    let kept = true;
    for (const { entry: e, parts } of run) {
      const final = join2(await this.guard.ensure(parts.slice(0, -1)), parts.at(-1)!);
      const st = await lstatOrUndefined(final);
      if (st && !st.isFile()) throw new InvalidInputError(`refusing ${show(final)}: it is a ${st.isSymbolicLink() ? 'symbolic link' : 'non-regular file'}, and is never followed or replaced`);
      if (st && st.size === e.size && (await hashOwn(final, st)) === e.sha256) {
        this.report.files.present++;
        this.bytesDone += e.size;
        await applyMeta(final, e);
        this.done(e);
        kept = true;
        continue;
      }
      // A file there with other bytes is not this restore's (it renames only verified files into
      // place): the operator's own, another snapshot's. It is replaced, and the report says so.
      if (st) this.noteReplaced(e.path);
      if (kept) stretches.push([]);
      stretches.at(-1)!.push({ entry: e, final, suffix: partSuffixOf(relKeyOf(parts), this.partNames) });
      kept = false;
    }
    for (const fetch of stretches) {
      if (fetch[0]!.entry.size > 0) this.report.gets++;
      const writing = { path: '' };
      await restoreRun(
        this.opts.blobs,
        this.opts.manifest,
        fetch,
        (n) => {
          this.bytesDone += n;
          this.report.bytesDownloaded += n;
        },
        writing,
      ).catch((error: unknown) => {
        throw diskFull(error, this.report.dir, writing.path) ?? error;
      });
      for (const { entry: e, final } of fetch) {
        this.report.files.restored++;
        await applyMeta(final, e);
        this.done(e);
      }
    }
  }

  private noteReplaced(path: string): void {
    const r = (this.report.replaced ??= { count: 0, paths: [] });
    if (r.count++ < REPLACED_SHOWN) r.paths.push(path);
  }

  /** Links last: no file of this restore is ever written through one. An existing path is left alone and reported. */
  async createLinks(): Promise<void> {
    for (const { parts, entry } of this.links) {
      const path = join2(await this.guard.ensure(parts.slice(0, -1)), parts.at(-1)!);
      const st = await lstatOrUndefined(path);
      if (st) {
        if (st.isSymbolicLink() && (await readlink(path, { encoding: 'buffer' })).toString('utf8') === entry.target) continue;
        this.report.problems.push({ path: entry.path, problem: 'something else is already there; the link was not created' });
        continue;
      }
      await symlink(entry.target ?? '', path);
      await lutimes(path, timeOf(entry), timeOf(entry));
      this.report.symlinks++;
    }
  }

  /** Directory modes and times last, deepest first: writing into a directory changes its mtime. */
  async finishDirs(): Promise<void> {
    for (const { parts, entry } of this.dirs.reverse()) {
      const path = this.guard.seen(parts);
      if (!path) continue;
      await applyMeta(path, entry);
      this.report.dirs++;
    }
  }
}

/**
 * A write that failed because the disk filled up (ENOSPC, EDQUOT) while restoring `path` into
 * `dir`, as an operator needs it: what to do before the re-run, which would otherwise stop at
 * its own free-space check; undefined for any other error.
 */
function diskFull(error: unknown, dir: string, path: string): InsufficientSpaceError | undefined {
  if (!diskIsFull(error)) return undefined;
  return new InsufficientSpaceError(`the disk holding ${dir} filled up (${(error as NodeJS.ErrnoException).code}) while restoring ${path}: free space there, then run the same command again to resume (the files restored whole are kept, checked again and not fetched twice; the file being written when the disk filled is fetched again from its start)`, { cause: error });
}
