import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, mkdtemp, readlink, realpath, rm, statfs, symlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Writable } from 'node:stream';
import { IntegrityError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { BlobStore } from '../core/ports.ts';
import { treeSnapshotManifestPrefix } from '../core/layout.ts';
import {
  TREE_INDEX_FORMAT,
  parseTreeSnapshotManifest,
  snapshotSummary,
  treeEntrySchema,
  treeIndexHeaderSchema,
  type SnapshotSummary,
  type TreeEntry,
  type TreeSnapshotManifest,
} from '../core/tree-manifest.ts';
import { readAll } from '../agent/recover.ts';
import { readJsonlGzFile } from '../agent/tree/jsonl-gz.ts';
import { entryPathBytes, treePathMatcher } from '../agent/tree/paths.ts';
import { formatBytes } from './progress.ts';
import { PartFile } from './tree-part-file.ts';
import { lstatOrUndefined, sha256Of } from './local-files.ts';

// `ferry restore tree` and `ferry snapshots list`, from the store alone (the manifests under
// manifests/{site}/trees/, the index, ranged GETs of the packs), so a DR site restores the
// primary's tree with its own read-only role and no API. Every file is written as `.part`,
// checked against its SHA-256 and only then renamed, with its mtime and mode; a re-run skips
// what is already there and verified. Nothing is written outside DIR: paths from the index are
// checked (no `..`, nothing absolute), no symbolic link in DIR is ever followed (every
// directory on the way is looked at, files are opened O_NOFOLLOW), and the snapshot's own
// links are created last, so no restored file is ever written through one.

export type Store = Pick<BlobStore, 'get' | 'list'>;

// The same refusal as `ferry restore fetch`: one class, one name operators match on.
export { InsufficientSpaceError } from './restore-fetch.ts';
import { InsufficientSpaceError } from './restore-fetch.ts';

/** Every snapshot manifest key of the site (or of one source), in key order (by day). */
async function manifestKeys(blobs: Store, site: string, source?: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const o of blobs.list(treeSnapshotManifestPrefix(site, source))) if (o.key.endsWith('.json')) keys.push(o.key);
  return keys;
}

export async function readManifest(blobs: Store, key: string): Promise<TreeSnapshotManifest> {
  return parseTreeSnapshotManifest(await readAll(blobs, key));
}

/** Every snapshot of the site (or of one source), oldest first. */
export async function listSnapshots(blobs: Store, site: string, source?: string): Promise<SnapshotSummary[]> {
  const out: SnapshotSummary[] = [];
  for (const key of await manifestKeys(blobs, site, source)) out.push(snapshotSummary(await readManifest(blobs, key), key));
  return out.sort((a, b) => a.takenAt.localeCompare(b.takenAt) || a.source.localeCompare(b.source));
}

const dayOf = (key: string) => /\/(\d{4}\/\d{2}\/\d{2})\/[^/]+$/.exec(key)?.[1] ?? '';

/**
 * The newest snapshot taken at or before `at`. Keys are grouped by the day they were taken, so
 * only the manifests of the newest day that has one at or before `at` are read.
 */
export async function findSnapshot(blobs: Store, site: string, source: string, at: Date): Promise<{ key: string; manifest: TreeSnapshotManifest } | undefined> {
  const limit = at.toISOString().slice(0, 10).replace(/-/g, '/');
  const byDay = new Map<string, string[]>();
  for (const key of await manifestKeys(blobs, site, source)) {
    const day = dayOf(key);
    if (day && day <= limit) byDay.set(day, [...(byDay.get(day) ?? []), key]);
  }
  for (const day of [...byDay.keys()].sort().reverse()) {
    let best: { key: string; manifest: TreeSnapshotManifest } | undefined;
    for (const key of byDay.get(day)!) {
      const manifest = await readManifest(blobs, key);
      if (Date.parse(manifest.takenAt) <= at.getTime() && (!best || manifest.takenAt > best.manifest.takenAt)) best = { key, manifest };
    }
    if (best) return best;
  }
  return undefined;
}

/** Downloads the snapshot's index to a temporary file and checks its size and SHA-256 before anything trusts it. */
async function fetchIndex(blobs: Store, manifest: TreeSnapshotManifest): Promise<{ file: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tree-index-'));
  const file = join(dir, 'index.jsonl.gz');
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const { body } = await blobs.get(manifest.index.key);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(body, tap, createWriteStream(file));
    const sha = hash.digest('hex');
    if (size !== manifest.index.size || sha !== manifest.index.sha256) {
      throw new IntegrityError(`the index ${manifest.index.key} is ${size} bytes sha256 ${sha.slice(0, 12)}…, its manifest says ${manifest.index.size} bytes sha256 ${manifest.index.sha256.slice(0, 12)}…: refused`);
    }
    return { file, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** The entries of a verified index file, each checked against the schema, in snapshot order. */
async function* entries(file: string, manifest: TreeSnapshotManifest): AsyncGenerator<TreeEntry> {
  let header = true;
  let count = 0;
  let expected = 0;
  for await (const line of readJsonlGzFile(file)) {
    if (header) {
      const h = treeIndexHeaderSchema.safeParse(line);
      if (!h.success || h.data.snapshotId !== manifest.snapshotId) throw new IntegrityError(`the index of ${manifest.snapshotId} does not start with a ${TREE_INDEX_FORMAT} header for it`);
      expected = h.data.entries;
      header = false;
      continue;
    }
    const e = treeEntrySchema.safeParse(line);
    if (!e.success) throw new IntegrityError(`entry ${count + 1} of the index of ${manifest.snapshotId} is not valid: ${e.error.issues[0]?.message}`);
    count++;
    yield e.data;
  }
  if (header || count !== expected) throw new IntegrityError(`the index of ${manifest.snapshotId} holds ${count} entries, its header says ${expected}`);
}

/** The path's components, refused when any would climb out of DIR or is not a plain name. */
export function safeComponents(entry: Pick<TreeEntry, 'path' | 'pathBytes'>): Buffer[] {
  const bytes = entryPathBytes(entry);
  const bad = (why: string) => new InvalidInputError(`refusing path ${JSON.stringify(entry.path)} from the index: ${why}`);
  if (bytes.length === 0 || bytes[0] === 0x2f) throw bad('it is absolute or empty');
  if (bytes.includes(0)) throw bad('it holds a NUL byte');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i < bytes.length && bytes[i] !== 0x2f) continue;
    const part = bytes.subarray(start, i);
    const text = part.toString('latin1');
    if (text === '' || text === '.' || text === '..') throw bad('it holds an empty, "." or ".." component');
    parts.push(part);
    start = i + 1;
  }
  return parts;
}

const SLASH = Buffer.from('/');
const join2 = (a: Buffer, b: Buffer) => Buffer.concat([a, SLASH, b]);
const show = (b: Buffer) => b.toString('utf8');

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
}

/** Directories of DIR checked (or made) already; each is a real directory, never a link. */
class DirGuard {
  private readonly known = new Set<string>();
  constructor(private readonly root: Buffer) {}

  /** The directory's path in DIR when this restore checked or made it, else undefined. */
  seen(parts: Buffer[]): Buffer | undefined {
    const path = Buffer.concat([this.root, ...parts.flatMap((p) => [SLASH, p])]);
    return this.known.has(path.toString('latin1')) ? path : undefined;
  }

  async ensure(parts: Buffer[]): Promise<Buffer> {
    let path = this.root;
    for (const part of parts) {
      path = join2(path, part);
      const id = path.toString('latin1');
      if (this.known.has(id)) continue;
      const st = await lstatOrUndefined(path);
      if (!st) await mkdir(path, { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
      else if (!st.isDirectory()) throw new InvalidInputError(`refusing to restore below ${show(path)}: it is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}, and is never followed or replaced`);
      const again = await lstat(path);
      if (!again.isDirectory()) throw new InvalidInputError(`refusing to restore below ${show(path)}: it is not a directory`);
      this.known.add(id);
    }
    return path;
  }
}

/** Free bytes where DIR is, or would be created (the nearest directory above it that exists). */
async function freeBytesAt(target: string): Promise<number> {
  for (let path = target; ; path = dirname(path)) {
    const st = await lstat(path).catch(() => undefined);
    if (st) {
      const fs = await statfs(path);
      return Number(fs.bavail) * Number(fs.bsize);
    }
    if (dirname(path) === path) throw new InvalidInputError(`no existing directory above ${target}`);
  }
}

/**
 * The entry's mtime as seconds for utimes. Half a microsecond above the millisecond: the
 * seconds are a double, and 1796267982.195 held as 1796267982.194999981 would land a
 * millisecond early.
 */
const timeOf = (entry: TreeEntry) => (Date.parse(entry.mtime) + 0.0005) / 1000;

function applyMeta(path: Buffer, entry: TreeEntry): Promise<void> {
  const t = timeOf(entry);
  return chmod(path, entry.mode & 0o7777).then(() => utimes(path, t, t));
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
 * are skipped), writing each into its own `.part`, verified and renamed as soon as its last byte
 * is in. A run stopped half way leaves the files before it complete and verified (a re-run keeps
 * them) and at most one `.part` (a re-run writes it again).
 */
async function restoreRun(blobs: Store, manifest: TreeSnapshotManifest, files: { entry: TreeEntry; final: Buffer }[], onBytes: (n: number) => void): Promise<void> {
  const first = files[0]!.entry;
  const last = files.at(-1)!.entry;
  const key = packKeyOf(manifest, first);
  for (const f of files) packKeyOf(manifest, f.entry);
  if (first.size === 0) {
    // Empty content needs no bytes from any pack (a run holds it alone).
    await (await PartFile.open(first, files[0]!.final)).commit();
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
        current ??= await PartFile.open(e, files[i]!.final);
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

/** Files whose content lies close together in one pack are fetched with one ranged GET of at most this many bytes. */
export const RUN_MAX_BYTES = 8 * 1024 * 1024;
/** Bytes between two members' data that a run reads through (tar headers and padding are 512 to 1,535). */
const RUN_MAX_GAP = 64 * 1024;

/** Bytes still to fetch (files not already in DIR at their size), for the free-space check: a re-run needs less. */
async function stillNeeded(file: string, manifest: TreeSnapshotManifest, root: Buffer | undefined, included: (path: string) => boolean) {
  let needed = 0;
  let filesTotal = 0;
  let bytesTotal = 0;
  for await (const e of entries(file, manifest)) {
    const parts = safeComponents(e);
    if (e.type !== 'file' || !included(e.path)) continue;
    filesTotal++;
    bytesTotal += e.size;
    const st = root ? await lstatOrUndefined(Buffer.concat([root, ...parts.flatMap((p) => [SLASH, p])])) : undefined;
    if (!st || !st.isFile() || st.size !== e.size) needed += e.size;
  }
  return { needed, filesTotal, bytesTotal };
}

/** One restore's writing: files (a few at a time), then links, then directory times. */
class TreeWriter {
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
    const stretches: { entry: TreeEntry; final: Buffer }[][] = [];
    let kept = true;
    for (const { entry: e, parts } of run) {
      const final = join2(await this.guard.ensure(parts.slice(0, -1)), parts.at(-1)!);
      const st = await lstatOrUndefined(final);
      if (st && !st.isFile()) throw new InvalidInputError(`refusing ${show(final)}: it is a ${st.isSymbolicLink() ? 'symbolic link' : 'non-regular file'}, and is never followed or replaced`);
      if (st && st.size === e.size && (await sha256Of(final)) === e.sha256) {
        this.report.files.present++;
        this.bytesDone += e.size;
        await applyMeta(final, e);
        this.done(e);
        kept = true;
        continue;
      }
      if (kept) stretches.push([]);
      stretches.at(-1)!.push({ entry: e, final });
      kept = false;
    }
    for (const fetch of stretches) {
      if (fetch[0]!.entry.size > 0) this.report.gets++;
      await restoreRun(this.opts.blobs, this.opts.manifest, fetch, (n) => {
        this.bytesDone += n;
        this.report.bytesDownloaded += n;
      });
      for (const { entry: e, final } of fetch) {
        this.report.files.restored++;
        await applyMeta(final, e);
        this.done(e);
      }
    }
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

/** Restores the snapshot (or the included part of it) into `to`; see the header for the guarantees. */
export async function restoreTree(opts: TreeRestoreOptions): Promise<TreeRestoreReport> {
  const { blobs, manifest } = opts;
  const target = resolve(opts.to);
  const existing = await lstat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new InvalidInputError(`${target} exists and is not a directory`);
  const filtered = (opts.include?.length ?? 0) > 0;
  const included = filtered ? treePathMatcher(opts.include!) : () => true;
  const index = await fetchIndex(blobs, manifest);
  try {
    const { needed, filesTotal, bytesTotal } = await stillNeeded(index.file, manifest, existing ? Buffer.from(await realpath(target)) : undefined, included);
    const free = opts.freeBytes ?? (await freeBytesAt(target));
    if (needed > free) {
      throw new InsufficientSpaceError(`not enough disk space in ${target}: the snapshot needs ${formatBytes(needed)} more (${filesTotal} file(s), ${formatBytes(bytesTotal)} in all), only ${formatBytes(free)} is free. Nothing was written.`);
    }
    await mkdir(target, { recursive: true });
    const guard = new DirGuard(Buffer.from(await realpath(target)));
    const report: TreeRestoreReport = { snapshotId: manifest.snapshotId, takenAt: manifest.takenAt, dir: target, files: { restored: 0, present: 0 }, dirs: 0, symlinks: 0, bytesDownloaded: 0, gets: 0, problems: [] };
    const writer = new TreeWriter(opts, guard, report, { filesTotal, bytesTotal });
    for await (const e of entries(index.file, manifest)) {
      if (writer.failed) break;
      const parts = safeComponents(e);
      // With --include, only the directories that hold what is included are made (on the way).
      if (e.type === 'dir') {
        if (!filtered) await guard.ensure(parts);
        writer.dirs.push({ parts, entry: e });
      }
      else if (e.type === 'symlink' && included(e.path)) writer.links.push({ parts, entry: e });
      else if (e.type === 'file' && included(e.path)) await writer.file(e, parts);
    }
    await writer.drain();
    await writer.createLinks();
    await writer.finishDirs();
    return report;
  } finally {
    await index.cleanup();
  }
}

/** Streams one file of the snapshot to `out`, then checks its SHA-256 (IntegrityError when it does not match). */
export async function streamTreeFile(blobs: Store, manifest: TreeSnapshotManifest, path: string, out: NodeJS.WritableStream): Promise<TreeEntry> {
  const wanted = path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const index = await fetchIndex(blobs, manifest);
  try {
    for await (const e of entries(index.file, manifest)) {
      if (e.path !== wanted) continue;
      if (e.type !== 'file') throw new InvalidInputError(`${wanted} is a ${e.type === 'dir' ? 'directory' : 'symbolic link'} in snapshot ${manifest.snapshotId}, not a file`);
      const hash = createHash('sha256');
      if (e.size > 0) {
        const key = manifest.packs[e.pack ?? -1]?.key;
        if (!key || e.offset === undefined) throw new IntegrityError(`the index entry of ${e.path} does not say where its content is`);
        const { body } = await blobs.get(key, { start: e.offset, end: e.offset + e.size - 1 });
        const tap = new Transform({
          transform(chunk: Buffer, _e, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        await pipeline(body, tap, out as Writable, { end: false });
      }
      const sha = hash.digest('hex');
      if (sha !== e.sha256) throw new IntegrityError(`${e.path} streamed out does not match its SHA-256 (got ${sha.slice(0, 12)}…, expected ${e.sha256?.slice(0, 12)}…): discard what was written`);
      return e;
    }
    throw new NotFoundError(`no ${wanted} in snapshot ${manifest.snapshotId} (${manifest.takenAt})`);
  } finally {
    await index.cleanup();
  }
}
