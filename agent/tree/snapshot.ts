import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from '../../core/ports.ts';
import type { Clock } from '../../core/clock.ts';
import type { TreeSourceConfig } from '../../core/config.ts';
import { sitePrefix, treeIndexKey, treeSnapshotManifestKey } from '../../core/layout.ts';
import { SourceChangedError, UnreadableSourceError, messageOf } from '../../core/errors.ts';
import { TREE_INDEX_FORMAT, TREE_SNAPSHOT_FORMAT, type TreeEntry, type TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import type { PartPool } from '../part-pool.ts';
import type { VerifyMode } from '../verify.ts';
import { publishManifest } from '../ship-batch.ts';
import { writeFileAtomic } from '../state/atomic-file.ts';
import type { Logger } from '../log.ts';
import { ContentIndex } from './content-index.ts';
import { JsonlGzWriter } from './jsonl-gz.ts';
import { PackGoneError, assertPacksPresent, publishIndex, rootIdentity } from './snapshot-steps.ts';
import { LOCAL_INDEX, PreviousIndex, identityOf, lineHead, localIndexFile, publishedPrefix, unchangedFileSha, type LocalEntry, type PriorEntry } from './local-index.ts';
import { LineFileWriter } from '../line-file.ts';
import { TreePacker, recoverInflightPacks } from './packer.ts';
import { entryPath, isUtf8, treePathMatcher } from './paths.ts';
import { SMALL_FILE_BYTES, hashLargeFile, readSmallFile, withStableFile, type OpenTreeFile, type OpenTreeFileSync } from './read-file.ts';
import { TreeVanishedError, specialName, walkTree, type ReadTreeDir, type WalkItem } from './walk.ts';

// One snapshot of a tree source. The walk is merge-joined with the previous snapshot's local
// index: a file with the same size, mtime and ctime (ns), inode and device is taken from it unread.
// New and changed files are read, hashed and, when the content is not stored yet, packed.
// Then the index is published, then the manifest, LAST: until then the snapshot does not
// exist. Only then does the local index become the one the next snapshot compares with.
// State per source lives in `{state}/trees/{source}/` (docs/operations.md).

export { PackGoneError };

export interface TreeSnapshotContext {
  site: string;
  source: TreeSourceConfig;
  store: BlobStore;
  clock: Clock;
  verify: VerifyMode;
  /** The agent's state directory. */
  state: string;
  partSize: number;
  partConcurrency: number;
  pool?: PartPool;
  log?: Logger;
  /** Times a file that changes while it is read is read again before it is reported. */
  readAttempts?: number;
  /** Pause before reading a changed file again (ms). */
  retryDelayMs?: number;
  /** Opens files and lists directories of the tree; tests inject failures here. */
  fs?: { open?: OpenTreeFile; openSync?: OpenTreeFileSync; readdir?: ReadTreeDir };
}

/** `last.json`: the newest snapshot this agent published for the source. */
export interface LastSnapshot {
  snapshotId: string;
  takenAt: string;
  manifestKey: string;
  files: number;
  dirs: number;
  symlinks: number;
  filesRead: number;
  problems: number;
  bytesTotal: number;
  bytesAdded: number;
  /** The root directory's device and inode when it was taken: an empty root that is another directory now is an unmounted share. */
  root?: { dev: string; ino: string };
}

export interface TreeSnapshotResult {
  manifest: TreeSnapshotManifest;
  manifestKey: string;
}

export function treeStateDir(state: string, source: string): string {
  return join(state, 'trees', source);
}

export function readLastSnapshot(state: string, source: string): LastSnapshot | undefined {
  const file = join(treeStateDir(state, source), 'last.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LastSnapshot) : undefined;
}

const MAX_PROBLEMS = 100;

/** One path's line in the published index and in the agent's local index. */
interface Lines {
  published: string;
  local: string;
}
const lines = (entry: TreeEntry, local: LocalEntry): Lines => ({ published: JSON.stringify(entry), local: JSON.stringify(local) });
const iso = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();

class Snapshot {
  readonly dir: string;
  readonly problems: { path: string; problem: string }[] = [];
  problemCount = 0;
  counts = { files: 0, dirs: 0, symlinks: 0, filesRead: 0 };
  bytesTotal = 0;
  readonly positions = new Map<number, number>();
  private readonly shaKey = Buffer.alloc(32);

  constructor(
    readonly ctx: TreeSnapshotContext,
    readonly packer: TreePacker,
  ) {
    this.dir = treeStateDir(ctx.state, ctx.source.name);
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

  /** Writes the lines of every walked item: an unchanged file's without an await. */
  async walk(runs: AsyncIterable<WalkItem[]>, prev: PreviousIndex, included: ((path: string) => boolean) | undefined, published: JsonlGzWriter, local: LineFileWriter): Promise<void> {
    for await (const run of runs) {
      for (const item of run) {
        let made = this.entry(item, prev, included);
        if (made instanceof Promise) made = await made;
        if (!made) continue;
        published.writeLine(made.published);
        local.writeLine(made.local);
        if (published.backlogged) await published.settle();
      }
    }
  }

  /**
   * The index lines (published, local) for one walked item; undefined: left out (reported when
   * it is a problem). A file unchanged since the previous snapshot (same size, mtime, ctime,
   * inode, device and mode, its content still stored) is carried over from its previous line
   * without being read, parsed into a new entry or serialised again, and without an await:
   * `carryOver` is that path, `looked` the one for everything else.
   */
  entry(item: WalkItem, prev: PreviousIndex, included: ((path: string) => boolean) | undefined): Lines | Promise<Lines | undefined> | undefined {
    const shown = item.rel.toString('utf8');
    const head = isUtf8(item.rel) ? lineHead(shown) : undefined;
    const prior = prev.seekLine(item.rel, head);
    if (item.kind === 'file') {
      const carried = this.carryOver(item.stat, prior, head);
      if (carried && (!included || included(shown))) return carried;
    }
    return this.looked(item, prior, shown, included);
  }

  private async looked(item: WalkItem, prior: PriorEntry | undefined, shown: string, included: ((path: string) => boolean) | undefined): Promise<Lines | undefined> {
    if (item.kind === 'special') return void this.problem(shown, `skipped: ${specialName(item.stat)}`);
    if (item.kind !== 'dir' && included && !included(shown)) return undefined;
    const base = { ...entryPath(item.rel), mode: Number(item.stat.mode & 0o7777n), mtime: iso(item.stat.mtimeNs) };
    const identity = identityOf(item.stat);
    if (item.kind === 'dir') {
      this.counts.dirs++;
      const entry: TreeEntry = { ...base, type: 'dir', size: 0 };
      return lines(entry, { ...entry, ...identity });
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
      const entry: TreeEntry = { ...base, type: 'symlink', size: 0, target: target.toString('utf8') };
      return lines(entry, { ...entry, ...identity });
    }
    return this.file(item, prior, shown);
  }

  /**
   * The lines of an unchanged file, taken from its previous local line; undefined when it must
   * be looked at again. A path in UTF-8 is compared as a string (unchangedFileSha); another one
   * through its parsed entry.
   */
  private carryOver(st: BigIntStats, prior: PriorEntry | undefined, head: string | undefined): Lines | undefined {
    if (!prior) return undefined;
    const sha = head !== undefined ? unchangedFileSha(prior.line, head, st) : sameFile(prior.entry, st) ? prior.entry.sha256 : undefined;
    if (sha === undefined) return undefined;
    // Decoded into one reused buffer (the look-up keeps nothing of it); `sha` is 64 hex digits.
    this.shaKey.write(sha, 'hex');
    const location = this.packer.locate(this.shaKey);
    const prefix = location && publishedPrefix(prior.line);
    if (!prefix) return undefined;
    this.counts.files++;
    this.bytesTotal += Number(st.size);
    return { published: `${prefix},"pack":${this.position(location!.pack)},"offset":${location!.offset}}`, local: prior.line };
  }

  private async file(item: WalkItem, priorLine: PriorEntry | undefined, shown: string): Promise<Lines | undefined> {
    let st = item.stat;
    // Its previous line was not carried over, yet the content is the same version (a mode that
    // changed without its ctime): not read again when the store still holds that content.
    const prior = priorLine?.entry;
    const unchanged = prior !== undefined && sameContent(prior, st);
    let sha: Buffer | undefined;
    let location = unchanged ? this.packer.locate((sha = Buffer.from(prior.sha256!, 'hex'))) : undefined;
    if (!location) {
      const attempts = this.ctx.readAttempts ?? 3;
      for (let attempt = 1; ; attempt++) {
        try {
          ({ sha, location } = await this.read(item, st, shown));
          this.counts.filesRead++;
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
    this.bytesTotal += Number(st.size);
    const base = { ...entryPath(item.rel), mode: Number(st.mode & 0o7777n), mtime: iso(st.mtimeNs) };
    const local: LocalEntry = { ...base, type: 'file', size: Number(st.size), sha256: sha!.toString('hex'), ...identityOf(st) };
    const entry: TreeEntry = { ...base, type: 'file', size: Number(st.size), sha256: sha!.toString('hex'), pack: this.position(location!.pack), offset: location!.offset };
    return lines(entry, local);
  }

  private async read(item: WalkItem, st: BigIntStats, shown: string) {
    const mtime = new Date(Number(st.mtimeNs / 1_000_000n));
    if (st.size <= BigInt(SMALL_FILE_BYTES)) {
      const { body, sha256 } = readSmallFile(item.abs, st, shown, this.ctx.fs?.openSync);
      const location = this.packer.locate(sha256) ?? (await this.packer.addSmall(sha256, body, mtime));
      return { sha: sha256, location };
    }
    const sha256 = await hashLargeFile(item.abs, st, shown, this.ctx.fs?.open);
    const known = this.packer.locate(sha256);
    if (known) return { sha: sha256, location: known };
    const pack = (file: FileHandle, unchanged: () => Promise<void>) => this.packer.addLarge(sha256, file, Number(st.size), mtime, shown, unchanged);
    const location = await withStableFile(item.abs, st, shown, pack, this.ctx.fs?.open);
    return { sha: sha256, location };
  }
}

/** The same version of the file's content: size, mtime, ctime, inode and device as the previous line says. */
function sameContent(p: LocalEntry, st: BigIntStats): boolean {
  return (
    p.type === 'file' &&
    p.sha256 !== undefined &&
    p.size === Number(st.size) &&
    p.mtimeNs === String(st.mtimeNs) &&
    p.ctimeNs === String(st.ctimeNs) &&
    p.ino === String(st.ino) &&
    p.dev === String(st.dev)
  );
}

/** The same file, mode included: its previous line can be carried over as it is. */
function sameFile(p: LocalEntry, st: BigIntStats): boolean {
  return sameContent(p, st) && p.mode === Number(st.mode & 0o7777n);
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
 * root cannot be read, disappears or is swapped during the walk, or is suddenly empty.
 */
export async function takeTreeSnapshot(ctx: TreeSnapshotContext): Promise<TreeSnapshotResult> {
  const { site, source, store, clock } = ctx;
  const dir = treeStateDir(ctx.state, source.name);
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  const content = new ContentIndex(dir);
  const recovered = await recoverInflightPacks({ store, dir, content });
  if (recovered.adopted + recovered.aborted > 0) ctx.log?.info('tree packs of an interrupted snapshot recovered', { source: source.name, ...recovered });
  const present = new Set<string>();
  for await (const o of store.list(`${sitePrefix('trees', site)}${source.name}/packs/`)) present.add(o.key);
  const gone = content.retainPacks(present);
  if (gone.length > 0) ctx.log?.info('tree packs removed by the purge are no longer used', { source: source.name, packs: gone.length });

  const root = await rootIdentity(source.path);
  const takenAt = clock.now();
  const snapshotId = `s${createHash('sha256').update(`${site}\0${source.name}\0${takenAt.toISOString()}`).digest('hex').slice(0, 23)}`;
  const last = readLastSnapshot(ctx.state, source.name);
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
    pool: ctx.pool,
    packTargetBytes: source.packTargetMiB * 1024 * 1024,
    onPublished: (p) => ctx.log?.info('tree pack published', { source: source.name, key: p.key, size: p.size }),
  });
  const snap = new Snapshot(ctx, packer);
  const prev = new PreviousIndex(last ? await localIndexFile(dir) : undefined);
  const indexBody = new JsonlGzWriter(join(work, 'index.body.gz'));
  const localNext = new LineFileWriter(join(work, LOCAL_INDEX));
  const excluded = source.exclude.length ? treePathMatcher(source.exclude) : undefined;
  const included = source.include ? treePathMatcher(source.include) : undefined;
  try {
    await snap.walk(walkTree(source.path, { excluded, readdir: ctx.fs?.readdir, onProblem: (p, why) => snap.problem(p, why) }), prev, included, indexBody, localNext);
    await packer.finish();
    await indexBody.close();
    localNext.close();
    prev.close();
    const after = await rootIdentity(source.path);
    if (after.dev !== root.dev || after.ino !== root.ino) throw new TreeVanishedError(`${source.path} was replaced during the snapshot (another directory or mount is there now)`);
    // Emptied on purpose, the same directory is empty; an unmounted share leaves another (empty) one.
    const swapped = last?.root !== undefined && (last.root.dev !== String(root.dev) || last.root.ino !== String(root.ino));
    if (indexBody.lines === 0 && swapped && last.files + last.dirs > 0) {
      throw new TreeVanishedError(`${source.path} is empty and is not the directory the last snapshot (${last.takenAt}, ${last.files} files) was taken of: not taken (is the share mounted?)`);
    }
    const index = await publishIndex(ctx, treeIndexKey(site, source.name, snapshotId), { format: TREE_INDEX_FORMAT, snapshotId, entries: indexBody.lines }, indexBody.file);
    const packs = [...snap.positions.entries()].sort((a, b) => a[1] - b[1]).map(([no]) => {
      const p = content.pack(no);
      if (!p) throw new Error(`pack ${no} of snapshot ${snapshotId} was never published`);
      return { key: p.key, size: p.size, sha256: p.sha256 };
    });
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
    };
    await assertPacksPresent(ctx, content, packs.map((p) => p.key));
    const manifestKey = treeSnapshotManifestKey(site, source.name, snapshotId, takenAt);
    await publishManifest({ store }, manifestKey, Buffer.from(`${JSON.stringify(manifest, null, 1)}\n`));
    renameSync(localNext.file, join(dir, LOCAL_INDEX));
    const summary: LastSnapshot = { snapshotId, takenAt: manifest.takenAt, manifestKey, ...snap.counts, problems: snap.problemCount, bytesTotal: snap.bytesTotal, bytesAdded: packer.bytesAdded, root: { dev: String(root.dev), ino: String(root.ino) } };
    writeFileAtomic(join(dir, 'last.json'), `${JSON.stringify(summary, null, 2)}\n`);
    return { manifest, manifestKey };
  } catch (error) {
    await packer.abort();
    await indexBody.close().catch(() => undefined);
    closeQuietly(localNext, prev);
    throw error;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
