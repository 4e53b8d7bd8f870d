import { lstatSync, readdirSync } from 'node:fs';
import type { BigIntStats, Stats } from 'node:fs';
import { messageOf } from '../../core/errors.ts';
import { isCvpLive } from '../../core/artefact-sources.ts';

// The walk of a tree: depth-first, siblings in byte order of their names, so it yields paths in
// the snapshot order (paths.ts) and can be merge-joined with the previous snapshot's index
// without holding either in memory. Only one directory's listing per level is held. Nothing is
// followed: a symbolic link is yielded as a link, a directory reached through one is never
// entered. What cannot be read is reported through `onProblem` and the walk goes on; a root that
// cannot be read at all is an error (TreeVanishedError).

export type WalkKind = 'file' | 'dir' | 'symlink' | 'special';

export interface WalkItem {
  /** Path relative to the root, `/`-separated bytes. */
  rel: Buffer;
  /** Absolute path bytes (fs calls take Buffers, so any name works). */
  abs: Buffer;
  /**
   * A plain lstat: times in ms as doubles, no BigInt (a `BigIntStats` is a dozen BigInts a path,
   * the largest part of an incremental snapshot's garbage). What needs ns looks again (snapshot.ts).
   */
  stat: WalkStat;
  kind: WalkKind;
  /** What a special file is (`a named pipe (fifo)`, …): it is skipped and reported as such. */
  special?: string;
}

/** What the snapshot uses of a path's lstat. */
export type WalkStat = Pick<Stats, 'mode' | 'size' | 'ino' | 'dev' | 'mtimeMs' | 'ctimeMs'>;

/** Lists a directory's names as bytes; tests inject failures here. */
export type ReadTreeDir = (path: Buffer) => Buffer[] | Promise<Buffer[]>;

/**
 * A directory's names as latin1 strings (one character a byte): sorted by the engine's own
 * string order, which is then byte order, with no call out of JavaScript per comparison (a sort
 * with `Buffer.compare` made one for each of ~700 comparisons a directory of 100), and written
 * into the path buffer with no Buffer made per name. Synchronous for the reason the lstat is
 * (below): one listing of 100 names is a fraction of a millisecond, a thread-pool trip on a
 * loaded machine can be several.
 */
async function listNames(path: Buffer, readdir: ReadTreeDir | undefined): Promise<string[]> {
  const names = readdir ? (await readdir(path)).map((n) => n.toString('latin1')) : readdirSync(path, { encoding: 'latin1' });
  return names.sort();
}

export interface WalkOptions {
  readdir?: ReadTreeDir;
  /** Paths (relative, UTF-8 rendering) to leave out; an excluded directory is not entered. */
  excluded?: (path: string) => boolean;
  onProblem: (path: string, problem: string) => void;
}

export class TreeVanishedError extends Error {
  override readonly name = 'TreeVanishedError';
}

export function kindOf(st: Stats | BigIntStats): WalkKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special';
}

/** What a special file is, as reports say it (the walk's thread sends these by index: walk-ahead.ts). */
export const SPECIAL_NAMES = ['a named pipe (fifo)', 'a socket', 'a character device', 'a block device', 'a special file'] as const;

export function specialName(st: Stats | BigIntStats): string {
  if (st.isFIFO()) return SPECIAL_NAMES[0];
  if (st.isSocket()) return SPECIAL_NAMES[1];
  if (st.isCharacterDevice()) return SPECIAL_NAMES[2];
  if (st.isBlockDevice()) return SPECIAL_NAMES[3];
  return SPECIAL_NAMES[4];
}

/** The root's path as the walk holds it: bytes, without a trailing slash (`/` stays `/`). */
export function rootPathBytes(root: string): Buffer {
  return Buffer.from(root.replace(/\/+$/, '') || '/', 'utf8');
}

const SLASH = 0x2f;

/**
 * Items in one run at most: a directory of a million files is not held as a million stats (and
 * a file is looked at soon after its lstat).
 */
export const MAX_RUN = 256;

/**
 * The walk, in runs: consecutive items in snapshot order, a run ending at each directory (whose
 * contents come next), at the end of a listing and after MAX_RUN items. One await per run rather than per path: an
 * async generator costs a few promises per item and level, as much as the rest of the work for
 * an unchanged file.
 */
export async function* walkTree(root: string, options: WalkOptions): AsyncGenerator<WalkItem[]> {
  const rootBytes = rootPathBytes(root);
  let names: string[];
  try {
    names = await listNames(rootBytes, options.readdir);
  } catch (error) {
    throw new TreeVanishedError(`${root} cannot be listed (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`, { cause: error });
  }
  yield* walkDir(rootBytes, rootBytes.length + 1, names, options);
}

/** `relAt`: where the relative path starts in an absolute one (after the root and its slash). */
async function* walkDir(absDir: Buffer, relAt: number, names: string[], options: WalkOptions): AsyncGenerator<WalkItem[]> {
  let run: WalkItem[] = [];
  for (const name of names) {
    // Cisco CVP's live backup is never examined: reading it locks it and blocks CVP's next backup (its .old copy is taken).
    if (isCvpLive(name)) continue;
    const abs = Buffer.allocUnsafe(absDir.length + 1 + name.length);
    absDir.copy(abs, 0);
    abs[absDir.length] = SLASH;
    abs.write(name, absDir.length + 1, 'latin1');
    // The relative path is a view of the absolute one: one buffer a path, not two.
    const rel = abs.subarray(relAt);
    if (options.excluded?.(rel.toString('utf8'))) continue;
    let stat: Stats | undefined;
    try {
      // Synchronous on purpose: a metadata call answered from the inode cache takes microseconds,
      // a trip through libuv's thread pool many times that, and the walk does one per path.
      stat = lstatSync(abs, { throwIfNoEntry: false });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      options.onProblem(rel.toString('utf8'), `cannot be examined (${code ?? messageOf(error)})`);
      continue;
    }
    // Deleted between the listing and now: it simply is not in this snapshot.
    if (!stat) continue;
    const kind = kindOf(stat);
    run.push(kind === 'special' ? { rel, abs, stat, kind, special: specialName(stat) } : { rel, abs, stat, kind });
    if (kind !== 'dir') {
      if (run.length < MAX_RUN) continue;
      yield run;
      run = [];
      continue;
    }
    yield run;
    run = [];
    let children: string[];
    try {
      children = await listNames(abs, options.readdir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') continue;
      options.onProblem(rel.toString('utf8'), `directory cannot be read (${code ?? messageOf(error)}); its contents are not in this snapshot`);
      continue;
    }
    yield* walkDir(abs, relAt, children, options);
  }
  if (run.length > 0) yield run;
}
