import { readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RecordingsSourceConfig } from '../core/config.ts';
import { leftView } from './state/pending-view.ts';
import type { RecordingsState } from './ship-recordings.ts';
import type { FileStamp } from './journal.ts';

// A recordings source whose root is not the directory its last pass read: its `path` changed in
// the configuration, or another disk was mounted at the same path (a spare disk holding an old
// batch, a recorder's disk swapped). The view of the old root says nothing of the new one:
// compared with it, every recording pending under the old root was "lost" (with paths that never
// existed there), and a batch numbered far above the old root's (a stale batch) made every number
// between look written and evicted without any pass seeing it.

/** Whether two spellings name one directory (a trailing slash, a link to it); a directory gone is compared by its spelling. */
export async function sameDirectory(a: string, b: string): Promise<boolean> {
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  return resolve(a) === resolve(b) || (await real(a)) === (await real(b));
}

/** The root directory's identity, "device:inode" (undefined when it cannot be read). */
export async function rootIdentity(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Batches of a root looked into before it is taken for another directory (a few are enough: the same disk holds them all). */
const BATCHES_LOOKED_INTO = 20;

/**
 * Whether the root holds a recording the last passes knew, with the same size and file time:
 * pending in the last view, or shipped (the shipped index keeps a batch until the recorder evicts
 * it). The same disk remounted, or its files copied to a new disk with their times, holds them;
 * another disk does not, even one holding an old copy of a batch under a number the agent shipped.
 */
async function holdsKnownRecording(s: RecordingsState, source: RecordingsSourceConfig, batches: readonly string[]): Promise<boolean> {
  const listed = new Set(batches);
  const pending = new Map<string, FileStamp[]>();
  const view = s.observations.previousPending(source.name);
  try {
    for (let e = view.take(); e && pending.size < BATCHES_LOOKED_INTO; e = view.take()) if (listed.has(e.batch)) pending.set(e.batch, e.files);
  } finally {
    view.close();
  }
  if (await holdsPendingRecording(source.path, pending)) return true;
  let looked = 0;
  for (const batch of batches) {
    if (!s.journal.shippedAny(source.name, batch)) continue;
    if (looked++ >= BATCHES_LOOKED_INTO) return false;
    const names = await readdir(join(source.path, batch)).catch(() => [] as string[]);
    for (const name of names.slice(0, 10)) {
      const st = await stat(join(source.path, batch, name)).catch(() => undefined);
      if (st?.isFile() && s.journal.isShipped(source.name, batch, { name, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) })) return true;
    }
  }
  return false;
}

/** Pending recordings looked for under a new root before it is taken for the same one (a few are enough: a copy holds them all). */
const PENDING_LOOKED_FOR = 20;

/**
 * Whether the new root holds a recording that was pending under the old one, with the same size
 * and file time: the recorder's directory moved (copied with its times, or mounted elsewhere),
 * not another recorder whose batches are numbered alike.
 */
async function holdsPendingRecording(root: string, pending: ReadonlyMap<string, readonly FileStamp[]>): Promise<boolean> {
  let looked = 0;
  for (const [batch, files] of pending) {
    for (const file of files) {
      if (looked++ >= PENDING_LOOKED_FOR) return false;
      const st = await stat(join(root, batch, file.name)).catch(() => undefined);
      if (st?.isFile() && st.size === file.size && Math.trunc(st.mtimeMs) === Math.trunc(file.mtimeMs)) return true;
    }
  }
  return false;
}

/**
 * Follows a root that is not the one the last pass read (see above): said once (a warning,
 * resolved by the next pass), and the old view and numbering forgotten. Another disk at the same
 * path is told by the root's identity changing and none of the batches the agent knew being
 * there; a disk whose files were copied to a new one (same batches) is the same root.
 */
export async function followMove(s: RecordingsState, source: RecordingsSourceConfig, batches: readonly string[], rootId: string | undefined): Promise<void> {
  const key = `source-moved:${source.name}`;
  const last = s.observations.lastPass(source.name);
  const before = last?.root;
  const pathChanged = before !== undefined && !(await sameDirectory(before, source.path));
  const diskChanged = !pathChanged && before !== undefined && last?.rootId !== undefined && rootId !== undefined && last.rootId !== rootId && batches.length > 0 && !(await holdsKnownRecording(s, source, batches));
  if (before === undefined || (!pathChanged && !diskChanged)) {
    await s.alerts.resolve(key, s.deps.config.site, `Source ${source.name} reads ${source.path}.`);
    return;
  }
  const view = s.observations.pending(source.name, leftView(s.journal, s.lossLog, source.name));
  const waiting = view?.batches.size ?? 0;
  const recordings = [...(view?.batches.values() ?? [])].reduce((n, files) => n + files.length, 0);
  const details = { source: source.name, from: before, to: source.path, batches: waiting, recordings };
  if (pathChanged && view && (await holdsPendingRecording(source.path, view.batches))) {
    // The root moved with its recordings (a copy keeping file times, a share mounted elsewhere):
    // the view still describes it, and what leaves it from now on is lost as before.
    s.deps.log.info('source path changed to a directory holding the recordings that were pending: followed as the same root', details);
    await s.alerts.resolve(key, s.deps.config.site, `Source ${source.name} reads ${source.path}.`);
    return;
  }
  if (pathChanged) {
    s.deps.log.warn('source path changed: what was pending under the old root is not followed', details);
    await s.alerts.raise(key, {
      severity: 'warning',
      site: s.deps.config.site,
      subject: `source ${source.name} now reads another directory`,
      message: `Source ${source.name} reads ${source.path}; at its last pass it read ${before}, where ${recordings} recording(s) in ${waiting} batch(es) were waiting to be shipped. They are not followed under the new path (neither shipped nor called lost): if ${before} still holds them, ship them with a source that reads it until it is drained.`,
      details,
    });
  } else {
    s.deps.log.warn('source root is another directory at the same path: what was pending under the old one is not followed', { ...details, rootBefore: last?.rootId, rootNow: rootId });
    await s.alerts.raise(key, {
      severity: 'warning',
      site: s.deps.config.site,
      subject: `source ${source.name} now reads another directory`,
      message: `${source.path} is another directory than at the last pass of source ${source.name} (another disk mounted there, or the directory replaced): none of the ${batches.length} batch(es) it holds now is one the agent saw or shipped before. ${recordings} recording(s) in ${waiting} batch(es) were waiting to be shipped under the old one: they are not followed (neither shipped nor called lost), and neither are the batch numbers between the old directory's and the new one's. If the old disk still holds them, mount it elsewhere and ship them with a source that reads it until it is drained.`,
      details,
    });
  }
  s.observations.forgetPending(source.name);
}
