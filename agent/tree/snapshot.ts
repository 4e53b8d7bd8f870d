import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { treeIndexKey, treeSnapshotManifestKey } from '../../core/layout.ts';
import { SourceChangedError, UnreadableSourceError, messageOf } from '../../core/errors.ts';
import { TREE_INDEX_FORMAT, TREE_SNAPSHOT_FORMAT, changesSince, type ChangeCounts, type TreeEntry, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import { publishManifest } from '../ship-batch.ts';
import { JsonlGzWriter } from './jsonl-gz.ts';
import { PackGoneError, assertPacksPresent, assertRootKept, bothSettled, contentOfStore, publishIndex, rootIdentity } from './snapshot-steps.ts';
import { LOCAL_INDEX, PreviousIndex, localIndexFile, recordOf } from './local-index.ts';
import { msOfNs, prefixEnd, prefixStart, recordLength, sameContent, sameDirRecord, sameFileRecord, shaStart, type RecordFields } from './local-record.ts';
import { LocalIndexWriter, deltaFileOf } from './local-delta.ts';
import { TreePacker } from './packer.ts';
import { ReadAhead } from './read-ahead.ts';
import { entryPath, isUtf8, treePathMatcher } from './paths.ts';
import { SMALL_FILE_BYTES, hashLargeFile, readSmallFile, withStableFile } from './read-file.ts';
import { kindOf, walkTree, type WalkItem } from './walk.ts';
import { TreeWalkAhead } from './walk-ahead.ts';
import { assertNoRestoreUnderway } from './restore-marker.ts';
import type { TreeSnapshotContext, TreeSnapshotResult } from './snapshot-context.ts';
import { readLastSnapshot, treeStateDir, writeLastSnapshot, type LastSnapshot } from './last-snapshot.ts';
import { listSnapshots } from './offsite-snapshots.ts';
import { massChangeOf, rewrittenPathHash } from './slow-change.ts';

// One snapshot of a tree source. The walk is merge-joined with the previous snapshot's local
// index: a file with the same size, mtime and ctime, inode and device is taken from it unread
// (times compared in ms as doubles, or in ns when the record has no ms times: docs/file-shares.md,
// "Change detection").
// New and changed files are read, hashed and, when the content is not stored yet, packed.
// Then the index is published, then the manifest, LAST: until then the snapshot does not
// exist. Only then does the local index become the one the next snapshot compares with.
// State per source lives in `{state}/trees/{source}/` (docs/operations.md).

export { PackGoneError };

export type { TreeSnapshotContext, TreeSnapshotResult };

const MAX_PROBLEMS = 100;
/**
 * A path's record carries its times in ms (compared with a plain lstat next time) only when its
 * ctime is at least this much older than the start of the walk; a record of a path changed more
 * recently is compared in ns next time. Why that makes the ms comparison exact: docs/file-shares.md.
 */
export const SETTLED_MS = 60_000;

/** One path's line in the published index and its record in the agent's local index. */
interface Lines {
  published: string;
  local: RecordFields;
}
/** The lines of an entry without pack position: its published line is the local record's prefix closed. */
const lines = (entry: TreeEntry, rel: Buffer, st: BigIntStats, msTimes = false): Lines => {
  const published = JSON.stringify(entry);
  return { published, local: recordOf(rel, st, entry.type, published.slice(0, -1), undefined, msTimes) };
};
const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();


class Snapshot {
  readonly dir: string;
  readonly problems: { path: string; problem: string }[] = [];
  problemCount = 0;
  counts = { files: 0, dirs: 0, symlinks: 0, filesRead: 0 };
  bytesTotal = 0;
  /**
   * Files of the previous snapshot met again at their path (`matched`), those of them whose
   * content changed (`rewritten`), and new paths whose content was new to the store
   * (`newContent`): what a mass change is judged from (changesSince), counted where each file is
   * decided anyway, so an incremental snapshot pays one increment a file for it.
   */
  readonly change: ChangeCounts = { matched: 0, rewritten: 0, newContent: 0 };
  /** rewrittenPathHash of each file counted `rewritten`: the day's judgement counts a file once (slow-change.ts). */
  readonly rewrittenPaths: number[] = [];
  readonly positions = new Map<number, number>();
  /** Small files read ahead when the tree is read from disk (read-ahead.ts). */
  readonly readAhead: ReadAhead;
  /** A ctime before this (ms) is settled (SETTLED_MS): read once, before the first lstat. */
  private readonly settledBefore: number;

  constructor(
    readonly ctx: TreeSnapshotContext,
    readonly packer: TreePacker,
  ) {
    this.dir = treeStateDir(ctx.state, ctx.source.name);
    this.settledBefore = (ctx.fs?.now ?? Date.now)() - SETTLED_MS;
    this.readAhead = new ReadAhead(ctx.readAhead);
  }

  problem(path: string, problem: string): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ path, problem });
    if (this.problemCount <= MAX_PROBLEMS) this.ctx.log?.warn('tree snapshot problem', { source: this.ctx.source.name, path, problem });
  }

  position(pack: number): number {
    let p = this.positions.get(pack);
    if (p === undefined) this.positions.set(pack, (p = this.positions.size));
    return p;
  }

  /**
   * Writes the lines of every walked item. A file unchanged since the previous snapshot (same
   * size, mtime, ctime, inode, device and mode, its content still stored) is carried over from
   * its previous record without an await, a read, a string decoded or a line serialised
   * (`carryOver`); everything else is looked at (`looked`).
   */
  async walk(runs: AsyncIterable<WalkItem[]>, prev: PreviousIndex, included: ((path: string) => boolean) | undefined, published: JsonlGzWriter, local: LocalIndexWriter): Promise<void> {
    try {
      for await (const run of runs) {
        const readBefore = this.counts.filesRead;
        const files = this.readAhead.begin(run, SMALL_FILE_BYTES);
        for (const item of run) {
          const found = prev.seekRecord(item.rel);
          if (!(found && this.carryOver(item, prev, included, published, local))) {
            const made = await this.looked(item, found ? prev.found() : undefined, item.rel.toString('utf8'), included);
            if (!made) continue;
            published.writeLine(made.published);
            local.write(made.local);
          }
          if (published.backlogged) await published.settle();
        }
        this.readAhead.end(files, this.counts.filesRead - readBefore);
      }
    } finally {
      await this.readAhead.close();
    }
  }

  /**
   * Carries an unchanged file or directory over from its previous record (where `prev` stands):
   * its published line is the record's prefix, closed (a file's with the content's pack
   * position), its record is copied as it is (with the unchanged records around it, as one
   * block). False when it must be looked at.
   */
  private carryOver(item: WalkItem, prev: PreviousIndex, included: ((path: string) => boolean) | undefined, published: JsonlGzWriter, local: LocalIndexWriter): boolean {
    const { buf, at } = prev;
    if (item.kind === 'dir') {
      if (!sameDirRecord(buf, at, item.stat)) return false;
      this.counts.dirs++;
      published.writeLineFrom(buf, prefixStart(buf, at), prefixEnd(buf, at), '}');
    } else {
      if (item.kind !== 'file' || !sameFileRecord(buf, at, item.stat)) return false;
      if (included && !included(item.rel.toString('utf8'))) return false;
      // Looked up where the record holds it. Content only in the pack being filled (stored again
      // after a purge) is not found here: the file is looked at, and found there unread.
      const content = this.packer.published;
      const record = content.recordAt(buf, shaStart(at));
      if (record < 0) return false;
      this.counts.files++;
      this.change.matched++;
      this.bytesTotal += item.stat.size;
      published.writeLineFromPacked(buf, prefixStart(buf, at), prefixEnd(buf, at), this.position(content.packOf(record)), content.offsetOf(record));
    }
    local.copy(buf, at, at + recordLength(buf, at), prev.baseOffset);
    return true;
  }

  private async looked(item: WalkItem, prior: RecordFields | undefined, shown: string, included: ((path: string) => boolean) | undefined): Promise<Lines | undefined> {
    if (item.kind === 'special') return void this.problem(shown, `skipped: ${item.special ?? 'a special file'}`);
    if (item.kind !== 'dir' && included && !included(shown)) return undefined;
    const st = this.exactStat(item, shown);
    if (!st) return undefined;
    const base = { ...entryPath(item.rel), mode: Number(st.mode & 0o7777n), mtime: iso(st.mtimeNs) };
    if (item.kind === 'dir') {
      this.counts.dirs++;
      return lines({ ...base, type: 'dir', size: 0 }, item.rel, st, this.settled(st));
    }
    if (item.kind === 'symlink') {
      let target: Buffer;
      try {
        target = await readlink(item.abs, { encoding: 'buffer' });
      } catch (error) {
        return void this.problem(shown, `link cannot be read (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`);
      }
      if (!isUtf8(target)) this.problem(shown, 'link target is not valid UTF-8; stored with replacement characters');
      this.counts.symlinks++;
      return lines({ ...base, type: 'symlink', size: 0, target: target.toString('utf8') }, item.rel, st);
    }
    return this.file(item, st, prior, shown);
  }

  /**
   * The lstat of a path that is looked at, again, in ns (the walk's has ms only; what is recorded
   * is this one). Undefined when it is gone, or reported when it cannot be examined or is no
   * longer of the kind the walk saw.
   */
  private exactStat(item: WalkItem, shown: string): BigIntStats | undefined {
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(item.abs, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      return void this.problem(shown, `cannot be examined (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`);
    }
    if (st && kindOf(st) !== item.kind) return void this.problem(shown, 'changed type while it was examined; not in this snapshot');
    return st;
  }

  /** Whether a record of `st` may carry ms times: its ctime is settled (SETTLED_MS). */
  private settled(st: BigIntStats): boolean {
    return msOfNs(st.ctimeNs) < this.settledBefore;
  }

  private async file(item: WalkItem, walked: BigIntStats, prior: RecordFields | undefined, shown: string): Promise<Lines | undefined> {
    let st = walked;
    // Its previous record was not carried over, yet the content is the same version (a mode that
    // changed without its ctime): not read again when the store still holds that content.
    let sha = prior !== undefined && sameContent(prior, st) ? prior.sha256 : undefined;
    let location = sha ? this.packer.locate(sha) : undefined;
    if (!location) {
      const attempts = this.ctx.readAttempts ?? 3;
      for (let attempt = 1; ; attempt++) {
        try {
          let added: boolean;
          ({ sha, location, added } = await this.read(item, st, shown));
          this.counts.filesRead++;
          if (added && prior?.type !== 'file') this.change.newContent++;
          break;
        } catch (error) {
          if (error instanceof UnreadableSourceError) return void this.problem(shown, error.message.replace(`${shown} `, ''));
          if (!(error instanceof SourceChangedError)) throw error;
          const again = await lstatOrUndefined(item.abs);
          if (!again) return undefined; // deleted meanwhile: not in this snapshot
          if (!again.isFile()) return void this.problem(shown, 'changed type while it was read; not in this snapshot');
          if (attempt >= attempts) return void this.problem(shown, `changed while it was read ${attempts} times; not in this snapshot`);
          st = again;
          await new Promise((r) => setTimeout(r, (this.ctx.retryDelayMs ?? 100) * attempt));
        }
      }
    }
    this.counts.files++;
    if (prior?.type === 'file') {
      this.change.matched++;
      if (prior.sha256 && !prior.sha256.equals(sha!)) {
        this.change.rewritten++;
        this.rewrittenPaths.push(rewrittenPathHash(item.rel));
      }
    }
    this.bytesTotal += Number(st.size);
    const prefix = JSON.stringify({ ...entryPath(item.rel), mode: Number(st.mode & 0o7777n), mtime: iso(st.mtimeNs), type: 'file', size: Number(st.size), sha256: sha!.toString('hex') }).slice(0, -1);
    return { published: `${prefix},"pack":${this.position(location!.pack)},"offset":${location!.offset}}`, local: recordOf(item.rel, st, 'file', prefix, sha, this.settled(st)) };
  }

  private async read(item: WalkItem, st: BigIntStats, shown: string) {
    const mtime = new Date(Number(st.mtimeNs / 1_000_000n));
    if (st.size <= BigInt(SMALL_FILE_BYTES)) {
      const { body, sha256 } = this.readAhead.time(() => readSmallFile(item.abs, st, shown, this.ctx.fs?.openSync));
      const known = this.packer.locate(sha256);
      return { sha: sha256, location: known ?? (await this.packer.addSmall(sha256, body, mtime)), added: !known };
    }
    const sha256 = await hashLargeFile(item.abs, st, shown, this.ctx.fs?.open);
    const known = this.packer.locate(sha256);
    if (known) return { sha: sha256, location: known, added: false };
    const pack = (file: FileHandle, unchanged: () => Promise<void>) => this.packer.addLarge(sha256, file, Number(st.size), mtime, shown, unchanged);
    const location = await withStableFile(item.abs, st, shown, pack, this.ctx.fs?.open);
    return { sha: sha256, location, added: true };
  }
}

/** Closes files after a failure: the first error is the one to report. */
function closeQuietly(...files: { close(): void }[]): void {
  for (const file of files) {
    try {
      file.close();
    } catch {
      // already failing
    }
  }
}

async function lstatOrUndefined(abs: Buffer): Promise<BigIntStats | undefined> {
  return lstat(abs, { bigint: true }).catch(() => undefined);
}

/**
 * Takes one snapshot and publishes it. Throws TreeVanishedError (nothing published) when the
 * root cannot be read, disappears or is swapped during the walk, or is suddenly empty, and
 * TreeRestoreUnfinishedError when a `ferry restore tree` into it has not finished.
 */
export async function takeTreeSnapshot(ctx: TreeSnapshotContext): Promise<TreeSnapshotResult> {
  const { source } = ctx;
  const dir = treeStateDir(ctx.state, source.name);
  // An incremental snapshot walks on a thread of its own (walk-ahead.ts), started now, while the
  // indexes load: there the walk is most of the work. A first snapshot walks on this thread: its
  // time goes to reading every file, and the walk's thread (about 15 MB) would count against the
  // memory of a million-file first snapshot (docs/file-shares.md). On this thread too when a test
  // injects the listings or asks for it.
  const last = readLastSnapshot(ctx.state, source.name);
  const ahead = !last || ctx.fs?.readdir || ctx.walkOnThisThread ? undefined : new TreeWalkAhead(source.path, { exclude: source.exclude });
  try {
    return await snapshotWith(ctx, dir, last, ahead);
  } finally {
    await ahead?.stop();
  }
}

async function snapshotWith(ctx: TreeSnapshotContext, dir: string, last: LastSnapshot | undefined, ahead: TreeWalkAhead | undefined): Promise<TreeSnapshotResult> {
  const { site, source, store, clock } = ctx;
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  // A state directory that took no snapshot of the source yet takes what the store holds from its newest one (content-seed.ts).
  const content = await contentOfStore(ctx, dir, last === undefined);

  const root = await rootIdentity(source.path);
  await assertNoRestoreUnderway(source.path);
  const takenAt = clock.now();
  const snapshotId = `s${createHash('sha256').update(`${site}\0${source.name}\0${takenAt.toISOString()}`).digest('hex').slice(0, 23)}`;
  // Packs go out one after another (the last beside the index, which shares these buffers): a
  // snapshot holds what one upload sends at once, not every buffer of the agent's pool the
  // other sources leave free (docs/operations.md).
  const pool = ctx.pool?.share(ctx.partConcurrency + 1);
  const packer = new TreePacker({
    store,
    site,
    source: source.name,
    snapshotId,
    at: takenAt,
    dir,
    content,
    verify: ctx.verify,
    partSize: ctx.partSize,
    partConcurrency: ctx.partConcurrency,
    pool,
    packTargetBytes: source.packTargetMiB * 1024 * 1024,
    onPublished: (p) => ctx.log?.info('tree pack published', { source: source.name, key: p.key, size: p.size }),
  });
  const snap = new Snapshot(ctx, packer);
  const prev = new PreviousIndex(last ? await localIndexFile(dir) : undefined);
  const indexBody = new JsonlGzWriter(join(work, 'index.body.gz'));
  // Written as a delta of the previous index's base when there is one (local-delta.ts).
  const localNext = new LocalIndexWriter(join(work, LOCAL_INDEX), prev.base);
  const excluded = source.exclude.length ? treePathMatcher(source.exclude) : undefined;
  const included = source.include ? treePathMatcher(source.include) : undefined;
  try {
    const onProblem = (p: string, why: string) => snap.problem(p, why);
    const walked = ahead ? ahead.runs(onProblem) : walkTree(source.path, { excluded, readdir: ctx.fs?.readdir, onProblem });
    await snap.walk(walked, prev, included, indexBody, localNext);
    // The last pack and the index go up side by side: they do not depend on each other, only the manifest needs both.
    const { index, delta } = await bothSettled(packer.finish(), (async () => {
      await indexBody.close();
      const { delta } = localNext.close();
      prev.close();
      await assertRootKept(source.path, root, last, { entries: indexBody.lines, files: snap.counts.files, massChange: source.massChange }, async () => (await listSnapshots(store, site, source.name, 1))[0]);
      return { delta, index: await publishIndex({ ...ctx, pool }, treeIndexKey(site, source.name, snapshotId), { format: TREE_INDEX_FORMAT, snapshotId, entries: indexBody.lines }, indexBody.file) };
    })());
    const packs = [...snap.positions.entries()].sort((a, b) => a[1] - b[1]).map(([no]) => {
      const p = content.pack(no);
      if (!p) throw new Error(`pack ${no} of snapshot ${snapshotId} was never published`);
      return { key: p.key, size: p.size, sha256: p.sha256 };
    });
    const changes = last && prev.base ? changesSince(last.files, snap.change) : undefined;
    const mass = massChangeOf(ctx.state, source, takenAt.toISOString(), last?.takenAt, changes, snap.rewrittenPaths);
    const manifest: TreeSnapshotManifest = {
      format: TREE_SNAPSHOT_FORMAT,
      kind: 'tree-snapshot',
      site,
      source: source.name,
      snapshotId,
      takenAt: takenAt.toISOString(),
      createdAt: clock.now().toISOString(),
      ...(last ? { parent: last.snapshotId } : {}),
      counts: { ...snap.counts, problems: snap.problemCount },
      bytes: { total: snap.bytesTotal, added: packer.bytesAdded },
      index,
      packs,
      problems: snap.problems,
      ...(changes ? { changes } : {}),
      ...(mass ? { massChange: mass } : {}),
      ...(ctx.shippedBy ? { shippedBy: ctx.shippedBy } : {}),
    };
    await assertPacksPresent(ctx, content, packs.map((p) => p.key));
    const manifestKey = treeSnapshotManifestKey(site, source.name, snapshotId, takenAt);
    await publishManifest({ store }, manifestKey, Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
    // A delta names the base, which stays; a whole new base makes the old delta stale (and ignored
    // if the process stops before it is removed: its base identity no longer matches).
    if (delta) renameSync(localNext.file, deltaFileOf(join(dir, LOCAL_INDEX)));
    else {
      renameSync(localNext.file, join(dir, LOCAL_INDEX));
      rmSync(deltaFileOf(join(dir, LOCAL_INDEX)), { force: true });
    }
    const summary: LastSnapshot = { snapshotId, takenAt: manifest.takenAt, manifestKey, ...snap.counts, problems: snap.problemCount, bytesTotal: snap.bytesTotal, bytesAdded: packer.bytesAdded, root: { dev: String(root.dev), ino: String(root.ino) } };
    writeLastSnapshot(dir, summary);
    return { manifest, manifestKey, readAhead: snap.readAhead.queued, rewritten: snap.rewrittenPaths };
  } catch (error) {
    await packer.abort();
    await indexBody.close().catch(() => undefined);
    closeQuietly({ close: () => localNext.discard() }, prev);
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
