import { createHash } from 'node:crypto';
import { mkdir, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Writable } from 'node:stream';
import { IntegrityError, InvalidInputError, NotFoundError } from '../core/errors.ts';
import type { TreeEntry, TreeSnapshotManifest } from '../core/tree-manifest.ts';
import { entryPathBytes, treePathMatcher } from '../agent/tree/paths.ts';
import { walkTree } from '../agent/tree/walk.ts';
import { formatBytes } from './progress.ts';
import { freeBytesAt, lstatOrUndefined } from './local-files.ts';
import { earlierHint, earlierHolding, earlierHoldingEach, entries, fetchIndex, type Store } from './tree-snapshots.ts';
import { DirGuard, pathBelow, safeComponents } from './tree-restore-dir.ts';
import { RestoreInterruptedError, TreeWriter, type TreeRestoreOptions, type TreeRestoreReport } from './tree-writer.ts';
import { isPartLike, relKeyOf } from './tree-part-file.ts';
import { shellQuote } from '../core/restore-commands.ts';
import { readRestoreMarker, removeRestoreMarker, writeRestoreMarker } from '../agent/tree/restore-marker.ts';

// `ferry restore tree` and `ferry snapshots list`, from the store alone (the manifests under
// manifests/{site}/trees/, the index, ranged GETs of the packs), so a DR site restores the
// primary's tree with its own read-only role and no API. Every file is written as `.ferry-part` (another
// temporary name when the snapshot holds a path of that name),
// checked against its SHA-256 and only then renamed, with its mtime and mode; a re-run skips
// what is already there and verified. Nothing is written outside DIR: paths from the index are
// checked (no `..`, nothing absolute), no symbolic link in DIR is ever followed (every
// directory on the way is looked at, files are opened O_NOFOLLOW), and the snapshot's own
// links are created last, so no restored file is ever written through one.
//
// The parts: tree-snapshots (manifests, index), tree-restore-dir (DIR safety, mode and times),
// tree-writer (runs of ranged GETs, links, directory times), tree-part-file (one `.ferry-part`).

export { findSnapshot, listSnapshots, readManifest, type Store } from './tree-snapshots.ts';
export { safeComponents } from './tree-restore-dir.ts';
export { RUN_MAX_BYTES, type TreeRestoreOptions, type TreeRestoreProgress, type TreeRestoreReport } from './tree-writer.ts';

// The same refusal as `ferry restore fetch`: one class, one name operators match on.
export { InsufficientSpaceError } from './restore-fetch.ts';
import { InsufficientSpaceError } from './restore-fetch.ts';

/**
 * Bytes still to fetch (files not already in DIR at their size, in whole blocks, less the
 * `.part`s an earlier run left), for the free-space check: a re-run needs less. And `partNames`: the paths of the snapshot that a restored file's temporary
 * name could meet (isPartLike, partSuffixOf).
 */
async function stillNeeded(file: string, manifest: TreeSnapshotManifest, root: Buffer | undefined, included: (path: string) => boolean, filtered: boolean) {
  let needed = 0;
  let reclaimed = 0;
  let filesTotal = 0;
  let bytesTotal = 0;
  const partNames = new Set<string>();
  const conflicts = { count: 0, paths: [] as string[] };
  const conflict = (path: string, what: string) => {
    if (conflicts.count++ < 10) conflicts.paths.push(`${path} (${what})`);
  };
  // A file below a directory an earlier run gave mode 0000 cannot be looked at yet: counted as
  // still needed (the writer opens that directory to its owner). One below a file of DIR is in
  // the way (ENOTDIR).
  const look = (path: Buffer) =>
    lstatOrUndefined(path).catch((error: NodeJS.ErrnoException) => (error.code === 'EACCES' ? undefined : error.code === 'ENOTDIR' ? ('below a file' as const) : Promise.reject(error)));
  for await (const e of entries(file, manifest)) {
    const parts = safeComponents(e);
    if (isPartLike(parts.at(-1)!.toString('latin1'))) partNames.add(relKeyOf(parts));
    // Asked of every entry (a directory or link too), so each --include knows whether it matched.
    const wanted = included(e.path);
    // What DIR holds in the way of a directory of the snapshot: refused before anything is written.
    if (e.type === 'dir' && root && !filtered) {
      const st = await look(pathBelow(root, parts));
      if (st === 'below a file') conflict(e.path, 'below a file of DIR');
      else if (st && !st.isDirectory()) conflict(e.path, `${st.isSymbolicLink() ? 'a symbolic link' : 'a file'} where the snapshot has a directory`);
    }
    if (!wanted || e.type !== 'file') continue;
    filesTotal++;
    bytesTotal += e.size;
    const found = root ? await look(pathBelow(root, parts)) : undefined;
    if (found === 'below a file') {
      conflict(e.path, 'below a file of DIR');
      continue;
    }
    if (found?.isDirectory()) conflict(e.path, 'a directory where the snapshot has a file');
    if (found?.isFile() && found.size === e.size) continue;
    // What the file takes on disk (whole blocks), less what an earlier run's `.part` of it holds:
    // this run writes over it, so a disk filled by that leftover is not refused as full.
    needed += Math.ceil(e.size / BLOCK) * BLOCK;
    const left = root ? await look(Buffer.concat([pathBelow(root, parts), Buffer.from('.ferry-part')])) : undefined;
    if (typeof left === 'object' && left.isFile()) reclaimed += left.blocks * 512;
  }
  return { needed: Math.max(0, needed - reclaimed), filesTotal, bytesTotal, partNames, conflicts };
}

/** What DIR holds in the way of the snapshot (stillNeeded's conflicts), refused before anything is written. */
function refuseConflicts(conflicts: { count: number; paths: string[] }, manifest: TreeSnapshotManifest, target: string): void {
  if (conflicts.count === 0) return;
  throw new InvalidInputError(
    `${conflicts.count} path(s) of snapshot ${manifest.snapshotId} meet something else in ${target}: ${conflicts.paths.join(', ')}${conflicts.count > conflicts.paths.length ? ', …' : ''}. Nothing is replaced and no link is followed: move them away, or restore into an empty directory. Nothing was written.`,
  );
}

/** The allocation unit the free-space check counts a file in (ext4, XFS and NTFS default). */
const BLOCK = 4096;

/** Paths in walk order (depth first, names in byte order): `/` sorts before every byte of a name, so a directory's contents come right after it. */
function compareWalkOrder(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] === 0x2f ? 0 : a[i]!;
    const y = b[i] === 0x2f ? 0 : b[i]!;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/** Shown at most of the paths in DIR that are not in the snapshot (their count is exact). */
const EXTRA_SHOWN = 20;

/**
 * The paths in DIR that the snapshot does not hold, counted and the first named: DIR walked
 * and the index read once more side by side, both in walk order (no set of a million paths).
 */
async function notInSnapshot(root: Buffer, indexFile: string, manifest: TreeSnapshotManifest): Promise<{ count: number; paths: string[] }> {
  const index = entries(indexFile, manifest)[Symbol.asyncIterator]();
  // The entries were checked by the restore's first reading of the index (safeComponents).
  const next = async () => {
    const r = await index.next();
    return r.done ? undefined : entryPathBytes(r.value);
  };
  let entry = await next();
  const out = { count: 0, paths: [] as string[] };
  for await (const run of walkTree(root.toString('utf8'), { onProblem: () => undefined })) {
    for (const item of run) {
      while (entry && compareWalkOrder(entry, item.rel) < 0) entry = await next();
      if (entry && compareWalkOrder(entry, item.rel) === 0) {
        entry = await next();
        continue;
      }
      out.count++;
      if (out.paths.length < EXTRA_SHOWN) out.paths.push(item.rel.toString('utf8'));
    }
  }
  return out;
}

/**
 * The `--include` globs, each with whether it matched anything. A glob matches a path, and every
 * path below a directory it matches: `--include "Address Book Files"` (or with a trailing `/`)
 * restores the directory and what it holds, as tar, rsync and restic take a directory's name.
 */
export function includeMatchers(globs: readonly string[]): { glob: string; matched: boolean; matches(path: string): boolean }[] {
  return globs.map((glob) => {
    const re = treePathMatcher([glob.replace(/\/+$/, '') || glob]);
    const m = {
      glob,
      matched: false,
      matches(path: string): boolean {
        let hit = re(path);
        for (let i = path.indexOf('/'); !hit && i > 0; i = path.indexOf('/', i + 1)) hit = re(path.slice(0, i));
        if (hit) m.matched = true;
        return hit;
      },
    };
    return m;
  });
}

/**
 * An --include that matches nothing in the snapshot, refused before anything is written, with the
 * newest earlier snapshot that holds what it names (a file deleted from the share since) when one does.
 */
async function refuseUnmatched(blobs: Store, manifest: TreeSnapshotManifest, unmatched: string[]): Promise<never> {
  const again = includeMatchers(unmatched);
  const earlier = await earlierHolding(blobs, manifest, (e) => again.some((i) => i.matches(e.path)));
  const windows = unmatched.filter((g) => g.includes('\\'));
  const slashes = windows.length ? `, with / between directories (a \\ is part of a name on this host, not Windows' separator: --include ${windows.map((g) => JSON.stringify(g.replace(/\\/g, '/'))).join(' ')})` : '';
  const where = earlier.found ? '.' : `: paths are relative to the source's root${slashes}, as \`ferry snapshots files --site ${manifest.site} --source ${manifest.source} --at ${manifest.takenAt}\` lists them.`;
  throw new InvalidInputError(
    `--include ${unmatched.map((g) => JSON.stringify(g)).join(', ')} ${unmatched.length === 1 ? 'matches' : 'match'} nothing in snapshot ${manifest.snapshotId} (taken ${manifest.takenAt})${where}${earlierHint(earlier, manifest, unmatched.length === 1 ? 'it' : 'at least one of them')} Nothing was written.`,
  );
}

/** Restores the snapshot (or the included part of it) into `to`; see the header for the guarantees. */
export async function restoreTree(opts: TreeRestoreOptions): Promise<TreeRestoreReport> {
  const { blobs, manifest } = opts;
  const target = resolve(opts.to);
  // DIR itself may be a link to a directory (/srv/restore -> /mnt/big/restore, as the operator
  // named it): the restore goes into the directory it leads to, and never through a link below it.
  const existing = await stat(target).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new InvalidInputError(`${target} exists and is not a directory`);
  const filtered = (opts.include?.length ?? 0) > 0;
  const includes = filtered ? includeMatchers(opts.include!) : [];
  const included = filtered ? (path: string) => includes.some((i) => i.matches(path)) : () => true;
  const index = await fetchIndex(blobs, manifest);
  try {
    const { needed, filesTotal, bytesTotal, partNames, conflicts } = await stillNeeded(index.file, manifest, existing ? Buffer.from(await realpath(target)) : undefined, included, filtered);
    const unmatched = includes.filter((i) => !i.matched).map((i) => i.glob);
    if (unmatched.length > 0) await refuseUnmatched(blobs, manifest, unmatched);
    refuseConflicts(conflicts, manifest, target);
    const free = opts.freeBytes ?? (await freeBytesAt(target, { pastErrors: true }));
    if (needed > free) {
      throw new InsufficientSpaceError(`not enough disk space in ${target}: the snapshot needs ${formatBytes(needed)} more (${filesTotal} file(s), ${formatBytes(bytesTotal)} in all), only ${formatBytes(free)} is free. Nothing was written.`);
    }
    await mkdir(target, { recursive: true });
    const guard = new DirGuard(Buffer.from(await realpath(target)));
    const report: TreeRestoreReport = { snapshotId: manifest.snapshotId, takenAt: manifest.takenAt, dir: target, files: { restored: 0, present: 0 }, dirs: 0, symlinks: 0, bytesDownloaded: 0, gets: 0, problems: [] };
    // What the agent could not take when it made the snapshot is not restored either: said with the result, not only by `snapshots list --problems`.
    const leftOut = manifest.problems.filter((p) => included(p.path));
    // An unfinished restore of another snapshot (another --at, killed) is taken over, and said so: its marker is replaced below.
    const before = await readRestoreMarker(target);
    if (before?.snapshotId && before.snapshotId !== manifest.snapshotId) report.unfinishedBefore = { snapshotId: before.snapshotId, takenAt: String(before.takenAt), startedAt: String(before.startedAt) };
    // Until the last directory has its times, DIR says it is not the share yet (agent/tree/restore-marker.ts).
    await writeRestoreMarker(target, { site: manifest.site, source: manifest.source, snapshotId: manifest.snapshotId, takenAt: manifest.takenAt, startedAt: new Date().toISOString(), command: finishCommand(manifest, target, opts.include) });
    const writer = new TreeWriter(opts, guard, report, { filesTotal, bytesTotal }, partNames);
    await writeEntries(writer, guard, entries(index.file, manifest), { included, filtered, signal: opts.signal });
    await writer.drain();
    if (opts.signal?.aborted) throw new RestoreInterruptedError(`interrupted: ${report.files.restored} file(s) restored so far are kept, whole and verified; run the same command again to go on from them`);
    await writer.createLinks();
    await writer.finishDirs();
    await removeRestoreMarker(target);
    // A DIR that held something before (another restore, other files) does not equal the
    // snapshot: what is there and not in it is named, never silently kept as if it belonged.
    if (!filtered) {
      const extra = await notInSnapshot(guard.root, index.file, manifest);
      if (extra.count > 0) report.notInSnapshot = extra;
    }
    if (leftOut.length > 0) report.leftOut = await leftOutOf(blobs, manifest, leftOut, filtered ? leftOut.length : Math.max(manifest.counts.problems, leftOut.length));
    return report;
  } finally {
    await index.cleanup();
  }
}

/** The paths the snapshot left out (the first 20 named), each with the newest earlier snapshot that holds a file there: the --at that restores it. */
async function leftOutOf(blobs: Store, manifest: TreeSnapshotManifest, leftOut: { path: string; problem: string }[], count: number): Promise<NonNullable<TreeRestoreReport['leftOut']>> {
  const named = leftOut.slice(0, LEFT_OUT_NAMED);
  const { each, ...searched } = await earlierHoldingEach(blobs, manifest, named.map((p) => p.path));
  const paths = named.map((p) => {
    const m = each.get(p.path);
    return m ? { ...p, earlier: { snapshotId: m.snapshotId, takenAt: m.takenAt } } : p;
  });
  return { count, paths, searched };
}

/** Paths the snapshot left out named in the report (its count is exact). */
const LEFT_OUT_NAMED = 20;

/** The command that restores the same snapshot into the same DIR (its `--at` is the snapshot's own time). */
function finishCommand(manifest: TreeSnapshotManifest, target: string, include: readonly string[] | undefined): string {
  const includes = (include ?? []).map((g) => ` --include ${shellQuote(g)}`).join('');
  return `ferry restore tree --site ${shellQuote(manifest.site)} --source ${shellQuote(manifest.source)} --at ${manifest.takenAt} --to ${shellQuote(target)}${includes}`;
}

/** Hands every entry of the index to the writer, in order, until it fails or the signal aborts. */
async function writeEntries(writer: TreeWriter, guard: DirGuard, all: AsyncIterable<TreeEntry>, o: { included: (path: string) => boolean; filtered: boolean; signal?: AbortSignal }): Promise<void> {
  for await (const e of all) {
    if (writer.failed || o.signal?.aborted) break;
    const parts = safeComponents(e);
    // With --include, only the directories that hold what is included are made (on the way).
    if (e.type === 'dir') {
      if (!o.filtered) await guard.ensure(parts);
      writer.dirs.push({ parts, entry: e });
    } else if (e.type === 'symlink' && o.included(e.path)) writer.links.push({ parts, entry: e });
    else if (e.type === 'file' && o.included(e.path)) await writer.file(e, parts);
  }
}

/** The same name but for case, Unicode normalization (a share written from Windows and macOS) or a backslash typed for /, or a name that is not UTF-8 read as Latin-1 (what the operator types for an old tool's `café`). */
function looksLike(e: TreeEntry, wanted: string): boolean {
  const fold = (p: string) => p.normalize('NFC').toLowerCase();
  // Typed with Windows' separators (an OCS administrator's habit): the index separates with /.
  const w = fold(wanted.replace(/\\/g, '/'));
  return fold(e.path) === w || (e.pathBytes !== undefined && fold(Buffer.from(e.pathBytes, 'base64').toString('latin1')) === w);
}

/** Streams one file of the snapshot to `out`, then checks its SHA-256 (IntegrityError when it does not match). */
export async function streamTreeFile(blobs: Store, manifest: TreeSnapshotManifest, path: string, out: NodeJS.WritableStream): Promise<TreeEntry> {
  const wanted = path.replace(/^\.?\/+/, '').replace(/\/+$/, '');
  const index = await fetchIndex(blobs, manifest);
  const similar: string[] = [];
  try {
    for await (const e of entries(index.file, manifest)) {
      if (e.path !== wanted) {
        if (e.type === 'file' && similar.length < 3 && looksLike(e, wanted)) similar.push(e.path);
        continue;
      }
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
    const left = manifest.problems.find((p) => p.path === wanted);
    if (left) {
      // Left out of this one (unreadable, being written): an earlier snapshot may have taken it, and which one is what the operator needs.
      const earlier = await earlierHolding(blobs, manifest, (e) => e.path === wanted && e.type === 'file');
      throw new NotFoundError(`${wanted} was left out of snapshot ${manifest.snapshotId} (${manifest.takenAt}): ${left.problem}.${earlierHint(earlier, manifest)}`);
    }
    if (similar.length > 0) {
      throw new NotFoundError(`no ${wanted} in snapshot ${manifest.snapshotId} (${manifest.takenAt}), but it holds ${similar.map((p) => JSON.stringify(p)).join(' and ')}: --stdout takes a path exactly as the index holds it (case and accents as stored; in a name that is not UTF-8, � in place of each byte that is not)`);
    }
    // Deleted from the share since? The newest earlier snapshot that still has it is what the operator needs.
    const earlier = await earlierHolding(blobs, manifest, (e) => e.path === wanted && e.type === 'file');
    throw new NotFoundError(`no ${wanted} in snapshot ${manifest.snapshotId} (${manifest.takenAt}).${earlierHint(earlier, manifest)}`);
  } finally {
    await index.cleanup();
  }
}
