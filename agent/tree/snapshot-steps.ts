import { stat, open } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { messageOf } from '../../core/errors.ts';
import { sitePrefix } from '../../core/layout.ts';
import type { SnapshotSummary } from '../../core/tree-manifest.ts';
import type { TreeSourceConfig } from '../../core/config.ts';
import { StreamUploader } from '../stream-uploader.ts';
import { verifyObject } from '../verify.ts';
import { ContentIndex } from './content-index.ts';
import { seedOrWarn } from './content-seed.ts';
import { recoverInflightPacks } from './packer.ts';
import type { TreeSnapshotContext } from './snapshot.ts';
import type { LastSnapshot } from './last-snapshot.ts';
import { TreeVanishedError } from './walk.ts';
import { assertNoRestoreUnderway } from './restore-marker.ts';

// The steps of a snapshot around its walk: the content index made to match the store, the
// root's identity (a share swapped or unmounted during the snapshot), publishing the index, and
// the last look at the packs it reuses before its manifest goes out (snapshot.ts).

export async function rootIdentity(path: string): Promise<{ dev: bigint; ino: bigint }> {
  try {
    const st = await stat(path, { bigint: true });
    if (!st.isDirectory()) throw new TreeVanishedError(`${path} is not a directory`);
    return { dev: st.dev, ino: st.ino };
  } catch (error) {
    if (error instanceof TreeVanishedError) throw error;
    throw new TreeVanishedError(`${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? messageOf(error)})`, { cause: error });
  }
}

/** Publishes the index (header line, then the entries written during the walk) and returns where it is. */
export async function publishIndex(ctx: TreeSnapshotContext, key: string, header: object, bodyFile: string) {
  const uploader = new StreamUploader(ctx.store, { key, partSize: ctx.partSize, partConcurrency: ctx.partConcurrency, pool: ctx.pool, contentType: 'application/gzip' });
  try {
    await uploader.write(gzipSync(`${JSON.stringify(header)}\n`));
    const file = await open(bodyFile, 'r');
    try {
      await uploader.copyFrom(file, (await file.stat()).size, bodyFile, { exact: true });
    } finally {
      await file.close();
    }
    const result = await uploader.finish();
    await verifyObject(ctx.store, key, result, ctx.verify);
    return { key, size: result.size, sha256: result.sha256 };
  } catch (error) {
    await uploader.abort().catch(() => undefined);
    throw error;
  }
}

/**
 * The content index as the store has it: the packs of a snapshot that was interrupted adopted
 * or aborted, and the packs the purge removed forgotten (their content is packed again if met).
 */
export async function contentOfStore(ctx: TreeSnapshotContext, dir: string, firstHere = false): Promise<ContentIndex> {
  const { store, site, source } = ctx;
  // The listing is asked for first and read while the content index loads: one round trip to the
  // store less before the walk. Recovery below only adopts packs already in the store (it
  // completes no upload), so a listing begun before it names the same packs.
  const listing = listKeys(store.list(`${sitePrefix('trees', site)}${source.name}/packs/`));
  // Read (and its failure handled) only once the index is loaded; never left unhandled meanwhile.
  listing.catch(() => undefined);
  const content = new ContentIndex(dir);
  const recovered = await recoverInflightPacks({ store, dir, content });
  if (recovered.adopted + recovered.aborted > 0) ctx.log?.info('tree packs of an interrupted snapshot recovered', { source: source.name, ...recovered });
  const present = await listing;
  const gone = content.retainPacks(present);
  if (gone.length > 0) ctx.log?.info('tree packs removed by the purge are no longer used', { source: source.name, packs: gone.length });
  if (firstHere) await seedOrWarn(ctx, content, present);
  return content;
}

async function listKeys(objects: AsyncIterable<{ key: string }>): Promise<Set<string>> {
  const keys = new Set<string>();
  for await (const o of objects) keys.add(o.key);
  return keys;
}

/**
 * The root is still the directory the walk began in (`root`), no restore began into it meanwhile
 * (restore-marker.ts), and, found empty, it is the one
 * the last snapshot was taken of: emptied on purpose, the same directory is empty; an unmounted
 * share leaves another (empty) one; another one holding few of the last snapshot's files (by the
 * source's massChange threshold) is the mount point's own directory too. A state directory that took no snapshot yet (a new host at a
 * failover or fail-back, a lost state directory) asks the store for the source's newest
 * snapshot: an empty root where the site's share had files is a share not mounted or not
 * restored yet, and an empty snapshot published over it would be what `restore tree` restores.
 */
export async function assertRootKept(path: string, root: { dev: bigint; ino: bigint }, last: LastSnapshot | undefined, walked: { entries: number; files: number; massChange: TreeSourceConfig['massChange'] }, offsite?: () => Promise<Pick<SnapshotSummary, 'takenAt' | 'files' | 'dirs'> | undefined>): Promise<void> {
  const after = await rootIdentity(path);
  if (after.dev !== root.dev || after.ino !== root.ino) throw new TreeVanishedError(`${path} was replaced during the snapshot (another directory or mount is there now)`);
  // A restore that began into the share during the walk: what was walked is half of it.
  await assertNoRestoreUnderway(path);
  const swapped = last?.root !== undefined && (last.root.dev !== String(root.dev) || last.root.ino !== String(root.ino));
  if (swapped && walked.entries > 0 && mostFilesGone(last.files, walked.files, walked.massChange)) {
    // The mount point's own directory, under an unmounted share, often holds a few files (a
    // "not mounted" marker, what a job wrote there meanwhile): published, that snapshot would
    // be the share's newest, and retention would count it as the share's days.
    throw new TreeVanishedError(
      `${path} holds ${walked.files} of the ${last.files} files the last snapshot (${last.takenAt}) held, and is not the directory that snapshot was taken of: not taken (is the share mounted?). If the share moved here and lost those files on purpose, set massChange: false on the source for one pass`,
    );
  }
  if (walked.entries !== 0) return;
  if (swapped && last.files + last.dirs > 0) {
    throw new TreeVanishedError(`${path} is empty and is not the directory the last snapshot (${last.takenAt}, ${last.files} files) was taken of: not taken (is the share mounted?)`);
  }
  if (last !== undefined || offsite === undefined) return;
  const newest = await offsite();
  if (newest && newest.files + newest.dirs > 0) {
    throw new TreeVanishedError(
      `${path} is empty, and this state directory took no snapshot of it yet while the newest snapshot offsite (${newest.takenAt}, ${newest.files} files) has files: not taken (is the share mounted, or restored on this host? \`ferry restore tree\` brings it back)`,
    );
  }
}

/** Whether a walk that found `files` lost most of the `before` files, by the source's massChange threshold (never with `massChange: false`). */
function mostFilesGone(before: number, files: number, threshold: TreeSourceConfig['massChange']): boolean {
  if (threshold === false) return false;
  const gone = before - files;
  return gone >= threshold.minFiles && gone * 100 >= threshold.percent * before;
}

/**
 * `b`'s value once `a` and `b` have both settled; the first failure (of `a`, then of `b`) when
 * either failed. Neither is left running when the caller goes on (to clean up after a failure).
 */
export async function bothSettled<T>(a: Promise<unknown>, b: Promise<T>): Promise<T> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return second.value;
}

/** A pack the snapshot reuses was removed (by the cloud's purge) while the snapshot was taken. */
export class PackGoneError extends Error {
  override readonly name = 'PackGoneError';
}

/**
 * The one race with the purge (docs/restore.md): content reused from a pack that only forgotten
 * snapshots listed, and the pack deleted before this manifest is out. Every pack the manifest
 * names is looked at just before it is published; when one is gone nothing is published, the
 * content index forgets that pack, and the next pass packs its content again.
 */
export async function assertPacksPresent(ctx: TreeSnapshotContext, content: ContentIndex, keys: string[]): Promise<void> {
  const gone: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++]!;
      if (!(await ctx.store.head(key))) gone.push(key);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
  if (gone.length === 0) return;
  const goneSet = new Set(gone);
  content.retainPacks(new Set(content.allPacks().map((p) => p.key).filter((k) => !goneSet.has(k))));
  throw new PackGoneError(`${gone.length} pack(s) this snapshot reuses were removed meanwhile (${gone[0]}…): not published; their content is packed again next pass`);
}
