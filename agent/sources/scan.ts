import { lstat } from 'node:fs/promises';
import { lstatSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { FileStamp } from '../journal.ts';
import { compareBatches } from './batch-order.ts';
import { UnreadableSourceError, messageOf } from '../../core/errors.ts';
import { shownName, utf8Name } from './names.ts';

// Walks a recordings root read-only. Batch directories sit `depth` levels below the root.
// Symbolic links are never followed (a link could lead out of the root or into a loop);
// they are reported once each. Nothing here opens a recording.

export interface ScannedBatch {
  /** Batch directory relative to the root, POSIX separators. */
  batch: string;
  dirMtimeMs: number;
  /** Every regular file in the directory (recordings and sidecars), by name; empty when `done`. */
  files: Map<string, FileStamp>;
  /** The caller's `isDone` said there is nothing left to do here; the file records were dropped. */
  done?: true;
}

export interface ScanOptions {
  depth: number;
  onWarning?: (message: string, path: string) => void;
  /**
   * A batch for which this returns true comes back without its file records: a tree of
   * batches already shipped then costs a few bytes a batch, not a record a file.
   */
  isDone?: (batch: string, files: ReadonlyMap<string, FileStamp>) => boolean;
}

type Entry = { name: string; kind: 'dir' | 'file' | 'link' | 'other' };

/**
 * One directory's entries, read synchronously: a batch directory of a few hundred names takes
 * one or two getdents calls of microseconds, where iterating a directory handle costs a promise
 * an entry and a thread-pool trip every few hundred (the lstats beside it are synchronous too).
 * Names are read as bytes: one that is not UTF-8 is told to `badName` (shown with its bytes)
 * and left out, never looked up under a name that is not its own (names.ts).
 */
function listDir(dir: string, badName?: (shown: string) => void): Entry[] {
  const out: Entry[] = [];
  for (const d of readdirSync(dir, { withFileTypes: true, encoding: 'buffer' })) {
    const bytes = d.name as unknown as Buffer;
    const name = utf8Name(bytes);
    if (name === undefined) {
      if (d.isFile() || d.isDirectory()) badName?.(shownName(bytes));
      continue;
    }
    out.push({ name, kind: d.isSymbolicLink() ? 'link' : d.isDirectory() ? 'dir' : d.isFile() ? 'file' : 'other' });
  }
  return out;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Why a path cannot be examined, for an operator: its error code (EACCES, EIO, …) or message. */
const whyNot = (error: unknown) => (error as NodeJS.ErrnoException).code ?? messageOf(error);

/**
 * What a scan tells its caller besides the batches. Every hook is optional: a scan without
 * them only lists.
 */
export interface ScanHooks {
  /** A link not followed, a stray file beside the batch directories (logged, not alerted). */
  warn?: (message: string, path: string) => void;
  /** A directory above the batches that cannot be listed: its batches are neither shipped nor lost this pass. */
  unreadable?: (rel: string, reason: string) => void;
  /** A name that is not UTF-8 (shown with its bytes): left out. */
  badName?: (rel: string) => void;
  /**
   * A recording where the agent never looks for one, so it would never be shipped: a file
   * `isRecording` names above the batch directories, or a directory inside a batch directory
   * with one somewhere below it (`example`, the first found). A `batchDepth` that does not
   * match the recorder's layout shows up here, not as a source that quietly ships nothing.
   */
  misplaced?: (path: string, example: string) => void;
  isRecording?: (name: string) => boolean;
}

/** `1 batch directory`, `3 batch directories`. */
export function batchDirectories(n: number): string {
  return `${n} batch director${n === 1 ? 'y' : 'ies'}`;
}

/**
 * The batch directories below root (`depth` levels down), in compareBatches order: one listing
 * per directory above the batches, nothing inside them. A directory evicted mid-listing is
 * simply absent. A directory above the batches that cannot be listed (permissions, I/O) is left
 * out and told to `unreadable` (its batches are neither shipped nor lost this pass), one whose
 * name is not UTF-8 to `badName`; the root's own `lost+found` (every file system's, root's
 * only) is not a batch.
 */
export async function listBatches(root: string, depth: number, hooks: ScanHooks = {}): Promise<string[]> {
  const { warn = () => undefined, unreadable, badName } = hooks;
  // Directories above batchDepth holding recordings themselves, beside batch directories at
  // batchDepth: the batches of the layout before a recorder upgrade moved its batches deeper
  // (000123/ beside 2026/12/000001/). They ship as batches, or setting batchDepth to the new
  // layout would strand the old batches unshipped. With no batch directory at batchDepth at all,
  // the depth is wrong, and they are told to `misplaced` as any recording above the batches.
  const shallower = new Map<string, string[]>();
  let level: string[] = [''];
  for (let d = 0; d < depth; d++) {
    const nextLevel: string[] = [];
    for (const rel of level) {
      let entries;
      try {
        entries = listDir(join(root, rel), (shown) => badName?.(rel ? posix.join(rel, shown) : shown));
      } catch (error) {
        if (isGone(error)) continue;
        if (rel === '' || !unreadable) throw error;
        unreadable(rel, `directory ${rel} cannot be listed (${whyNot(error)})`);
        continue;
      }
      for (const e of entries) {
        const childRel = rel ? posix.join(rel, e.name) : e.name;
        if (e.kind === 'dir' && d === 0 && e.name === 'lost+found') continue;
        if (e.kind === 'dir') nextLevel.push(childRel);
        else if (e.kind === 'link') warn('symbolic link not followed', childRel);
        else if (e.kind === 'file') fileAbove(rel, e.name, d === depth - 1, hooks, shallower);
      }
    }
    level = nextLevel.sort(compareBatches);
  }
  return withShallower(level, shallower, hooks);
}

/** A file in directory `rel` above the batch directories (`last`: the level just above them). */
function fileAbove(rel: string, name: string, last: boolean, hooks: ScanHooks, shallower: Map<string, string[]>): void {
  const childRel = rel ? posix.join(rel, name) : name;
  const recording = hooks.isRecording?.(name) === true;
  if (recording && rel !== '') {
    const files = shallower.get(rel);
    if (files) files.push(childRel);
    else shallower.set(rel, [childRel]);
  } else if (recording && hooks.misplaced) hooks.misplaced(childRel, childRel);
  else if (last) hooks.warn?.('file outside a batch directory ignored', childRel);
}

/**
 * The batch directories with the shallower ones that hold recordings, when any batch directory is
 * at the configured depth; else those told to `misplaced`. A directory with batch directories
 * below it (the month directory of 2026/12/000001/) is no batch of an older layout: a recording in
 * it (a call the recorder writes there and moves into its batch when it ends) is told to
 * `misplaced`, and the batches below it are not taken for directories inside a batch.
 */
function withShallower(level: string[], shallower: ReadonlyMap<string, string[]>, hooks: ScanHooks): string[] {
  if (shallower.size === 0) return level;
  const above = new Set<string>();
  for (const batch of level) for (let i = batch.indexOf('/'); i > 0; i = batch.indexOf('/', i + 1)) above.add(batch.slice(0, i));
  const batches = [...shallower.keys()].filter((rel) => level.length > 0 && !above.has(rel));
  for (const [rel, files] of shallower) if (!batches.includes(rel)) for (const file of files) hooks.misplaced?.(file, file);
  return batches.length === 0 ? level : [...level, ...batches].sort(compareBatches);
}

/**
 * The first recording below `dir` (relative to it), breadth first, links not followed; at most
 * `budget` entries are looked at, and a directory that cannot be listed is passed over.
 */
function firstRecordingBelow(dir: string, isRecording: (name: string) => boolean, budget = 10_000): string | undefined {
  const queue = [''];
  for (let q = 0; q < queue.length && budget > 0; q++) {
    const rel = queue[q] as string;
    let entries;
    try {
      entries = listDir(join(dir, rel));
    } catch {
      continue;
    }
    for (const e of entries) {
      if (--budget < 0) return undefined;
      const childRel = rel ? posix.join(rel, e.name) : e.name;
      if (e.kind === 'file' && isRecording(e.name)) return childRel;
      if (e.kind === 'dir') queue.push(childRel);
    }
  }
  return undefined;
}

/**
 * How many levels below the root the batch directories of the layout a recording was found in
 * lie (`example`, relative to the root): the depth of the directory holding it, unless that
 * directory has a directory with a recording below it too (a stray call in the month directory
 * of 2026/12/000001/): then it is no batch directory, and the depth is looked for below it.
 * Undefined when unsure (a directory that cannot be listed, a layout deeper than a few levels).
 */
export function layoutDepth(root: string, example: string, isRecording: (name: string) => boolean): number | undefined {
  let dir = posix.dirname(example) === '.' ? '' : posix.dirname(example);
  for (let hops = 0; hops < 8; hops++) {
    let entries;
    try {
      entries = listDir(join(root, dir));
    } catch {
      return undefined;
    }
    let deeper: string | undefined;
    for (const e of entries) {
      if (e.kind !== 'dir' || (dir === '' && e.name === 'lost+found')) continue;
      const found = firstRecordingBelow(join(root, dir, e.name), isRecording, 2_000);
      if (found === undefined) continue;
      deeper = posix.dirname(posix.join(dir, e.name, found));
      break;
    }
    if (deeper === undefined) return dir === '' ? 0 : dir.split('/').length;
    dir = deeper;
  }
  return undefined;
}

/** Lists batch directories below root and every file in them; a directory evicted mid-scan is simply absent. */
export async function scanBatches(root: string, options: ScanOptions): Promise<ScannedBatch[]> {
  const hooks = { warn: options.onWarning };
  const level = await listBatches(root, options.depth, hooks);
  const batches = await mapLimit(level, 8, async (rel) => {
    const b = await scanBatch(root, rel, hooks);
    return b && options.isDone?.(b.batch, b.files) ? { batch: b.batch, dirMtimeMs: b.dirMtimeMs, files: new Map(), done: true as const } : b;
  });
  return batches.filter((b): b is ScannedBatch => b !== undefined);
}

/**
 * One batch directory and the lstat of each file in it; undefined when the directory is gone.
 * UnreadableSourceError (naming the batch) when it, or a file in it, cannot be examined
 * (permissions, I/O): the batch is then neither shipped nor lost, and the caller alerts it. A
 * directory inside it holding recordings is told to `misplaced`.
 */
export async function scanBatch(root: string, rel: string, hooks: ScanHooks = {}): Promise<ScannedBatch | undefined> {
  const { warn = () => undefined, badName, misplaced, isRecording } = hooks;
  const dir = join(root, rel);
  let entries;
  let dirStat;
  try {
    dirStat = await lstat(dir);
    entries = listDir(dir, (shown) => badName?.(posix.join(rel, shown)));
  } catch (error) {
    if (isGone(error)) return undefined;
    throw new UnreadableSourceError(`batch directory ${rel} cannot be read (${whyNot(error)})`, rel, { cause: error });
  }
  const files = new Map<string, FileStamp>();
  const regular = entries.filter((e) => {
    if (e.kind === 'link') warn('symbolic link not followed', posix.join(rel, e.name));
    else if (e.kind === 'dir' && misplaced && isRecording) {
      const found = firstRecordingBelow(join(dir, e.name), isRecording);
      if (found !== undefined) misplaced(posix.join(rel, e.name), posix.join(rel, e.name, found));
    }
    return e.kind === 'file';
  });
  // Synchronous lstat: microseconds each on a local disk, where a thread-pool trip per file
  // costs many times that (a recorder root holds millions of files).
  const stamps = regular.map((e) => {
    try {
      const st = lstatSync(join(dir, e.name));
      return st.isFile() ? { name: e.name, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) } : undefined;
    } catch (error) {
      if (isGone(error)) return undefined;
      throw new UnreadableSourceError(`${posix.join(rel, e.name)} in batch directory ${rel} cannot be examined (${whyNot(error)})`, rel, { cause: error });
    }
  });
  for (const s of stamps) if (s) files.set(s.name, s);
  return { batch: rel, dirMtimeMs: Math.trunc(dirStat.mtimeMs), files };
}

/**
 * Whether `depth` matches where a recorder's recordings are, for `ferry agent check`: when the
 * newest `sample` batch directories hold no recording while recordings lie elsewhere (above
 * them, or in directories inside them), the problem, naming where they are and the depth that
 * would find them; undefined otherwise (stray recordings beside batches that do hold some are
 * the agent's alert to raise, not a configuration error).
 */
export async function batchDepthProblem(root: string, depth: number, isRecording: (name: string) => boolean, sample = 5): Promise<string | undefined> {
  // A recording below the batch directories says more about the layout than a stray one above them.
  let above: string | undefined;
  let below: string | undefined;
  // A directory above the batches that cannot be read is left out (the agent's run alerts it, naming it): judged over the others.
  const hooks: ScanHooks = { isRecording, unreadable: () => undefined, misplaced: (path, found) => (path === found ? (above ??= found) : (below ??= found)) };
  const batches = await listBatches(root, depth, hooks);
  let held = 0;
  for (const batch of batches.slice(-sample)) {
    const scanned = await scanBatch(root, batch, hooks).catch(() => undefined);
    for (const name of scanned?.files.keys() ?? []) if (isRecording(name)) held++;
  }
  const example = below ?? above;
  if (example === undefined || held > 0) return undefined;
  const found = layoutDepth(root, example, isRecording) ?? 0;
  const where = batches.length === 0 ? `no batch directory is ${depth} level${depth === 1 ? '' : 's'} below it` : `the newest batch directories hold none`;
  return `batchDepth ${depth} finds no recordings (${where}), but ${example} is one${found > 0 && found !== depth ? `: set batchDepth: ${found} if the recorder's batch directories are ${found} level${found === 1 ? '' : 's'} below the root` : ''}`;
}
