import { sentence } from '../../core/alert-text.ts';
import type { TreeSourceConfig } from '../../core/config.ts';
import { messageOf } from '../../core/errors.ts';
import type { TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import type { Logger } from '../log.ts';
import { sourceReadable, type AlertBook } from '../state/alert-book.ts';
import { takeTreeSnapshot } from '../tree/snapshot.ts';
import type { TreeSnapshotContext } from '../tree/snapshot-context.ts';
import { readLastSnapshot, type LastSnapshot } from '../tree/last-snapshot.ts';
import { judgeSlowChange } from '../tree/slow-change.ts';
import { TreeVanishedError } from '../tree/walk.ts';
import { TreeRestoreUnfinishedError } from '../tree/restore-marker.ts';
import { unreadableDirectory } from './source-checks.ts';
import { isDiskFull } from '../state/atomic-file.ts';

// A tree source in the agent's pass: a snapshot when one is due (`everySeconds` after the last
// one; every pass when 0), with the source-unavailable alert the other sources raise. The
// snapshot itself is agent/tree/snapshot.ts; what the last one was is in the state directory,
// so an agent run from cron keeps the schedule.

export interface TreeSourceStatus {
  name: string;
  type: 'tree';
  lastSnapshot?: LastSnapshot;
  /** Why the last attempt published nothing, when it did not. */
  problem?: string;
  lastScan: string;
}

/** What a snapshot is given (its store, clock, state, part sizes, retry pause), with the agent's log and alert book. */
export type TreeRunnerDeps = Pick<TreeSnapshotContext, 'site' | 'store' | 'clock' | 'verify' | 'state' | 'partSize' | 'partConcurrency' | 'pool' | 'retryDelayMs' | 'shippedBy'> & {
  log: Logger;
  alerts: AlertBook;
};

export interface TreeCycle {
  status: TreeSourceStatus;
  manifests: string[];
  bytes: number;
  failed: number;
}

/** A problem that leaves a file's content out of the snapshot (not a special file skipped by design, nor a name stored with replacement characters). */
const leavesOut = (p: { problem: string }) => !/^skipped: |^link target is not valid UTF-8/.test(p.problem);

/**
 * Alerts a snapshot that left paths out (unreadable, changing while read, a directory that could
 * not be listed): they are in no snapshot, which the operator must hear of, not find in a log.
 * Resolved by the next snapshot that leaves nothing out. True when this one left paths out.
 */
async function alertLeftOut(deps: TreeRunnerDeps, source: TreeSourceConfig, manifest: TreeSnapshotManifest): Promise<boolean> {
  const key = `tree-left-out:${source.name}`;
  const left = manifest.problems.filter(leavesOut);
  if (left.length === 0) {
    await deps.alerts.resolve(key, deps.site, `The snapshot of ${source.name} taken ${manifest.takenAt} left no path out.`);
    return false;
  }
  const more = manifest.counts.problems > manifest.problems.length ? ' (and maybe more: the manifest names the first 100 problems)' : '';
  const shown = left.slice(0, 5).map((p) => `${p.path}: ${p.problem}`).join('; ');
  await deps.alerts.raise(key, {
    severity: 'warning',
    site: deps.site,
    subject: `${source.name}: ${left.length} path(s) left out of the snapshot`,
    message: `The snapshot of ${source.name} taken ${manifest.takenAt} does not hold ${left.length} path(s)${more}: ${shown}${left.length > 5 ? '; …' : ''}. Check their permissions (the agent runs as its own user) or what keeps writing them. \`ferry snapshots list --site ${deps.site} --source ${source.name} --problems\` names them all.`,
    details: { source: source.name, snapshotId: manifest.snapshotId, paths: left.slice(0, 20) },
  });
  return true;
}

/**
 * `include` patterns that took no file of the share (a case that differs, a folder renamed):
 * the snapshot is published as it is, empty, and a warning says the source backs up nothing.
 */
async function includeSelectsNothing(deps: TreeRunnerDeps, source: TreeSourceConfig, files: number): Promise<void> {
  const key = `selects-nothing:${source.name}`;
  if (!source.include || files > 0) {
    await deps.alerts.resolve(key, deps.site, `Source ${source.name} selects files again.`);
    return;
  }
  await deps.alerts.raise(key, {
    severity: 'warning',
    site: deps.site,
    subject: `source ${source.name} selects none of the files in ${source.path}`,
    message: `The snapshot of ${source.name} holds no file: its include patterns ${JSON.stringify(source.include)} take none of the files under ${source.path}. Nothing of the share is backed up. Paths are matched as the file system spells them, case included ("Web Components/**" is not "web components/**"): check the patterns against \`ls\` of the share.`,
    details: { source: source.name, path: source.path, include: source.include },
  });
}

/**
 * A snapshot that changed most of the files the one before held (its manifest's `massChange`):
 * ransomware that encrypted the share, or a mass rewrite someone must look at. It is published all
 * the same (nothing is lost, and the operator may need it); the snapshot before it stays
 * restorable, and the alert gives the command. Critical, once per snapshot (an event: kept open
 * one repeat period, never sent twice). True when alerted: the pass fails (`--once` exits 1).
 */
async function alertMassChange(deps: TreeRunnerDeps, source: TreeSourceConfig, manifest: TreeSnapshotManifest): Promise<boolean> {
  const { changes, massChange } = manifest;
  // One over the day's threshold only is alerted as the day's (alertSlowChange).
  if (!changes || !massChange || massChange.overDay) return false;
  const how = changes.replaced > 0 ? ` (${changes.rewritten} rewritten in place, ${changes.replaced} gone and replaced by as many new names with new content)` : ' (same path, other content)';
  return raiseMassChange(deps, source, manifest, {
    parentTakenAt: massChange.parentTakenAt,
    log: 'tree snapshot changed most files: ransomware or a mass rewrite?',
    subject: `${changes.changed} of ${changes.previousFiles} files changed in one snapshot`,
    found: `The snapshot of ${source.name} taken ${manifest.takenAt} found ${changes.changed} of the ${changes.previousFiles} files of the snapshot before it changed${how}: ransomware, or a mass rewrite?`,
    before: `The snapshot is published all the same; the one before it, taken ${massChange.parentTakenAt}, holds the files as they were`,
    after: `The purge keeps it for the deployment's keepBeforeMassChangeDays (default 90) after this snapshot, then retention forgets it like any other (docs/file-shares.md); every snapshot after this one holds the changed files. Alerted because the source's massChange is ${massChange.percent} % and at least ${massChange.minFiles} files.`,
    details: changes,
  });
}

/**
 * Snapshots that together changed most of the files within a day, none of them alone (a share
 * encrypted over several passes): alerted as a mass change is, once, naming the snapshot the
 * window started from, whose files are as they were (agent/tree/slow-change.ts).
 */
async function alertSlowChange(deps: TreeRunnerDeps, source: TreeSourceConfig, manifest: TreeSnapshotManifest, parentTakenAt: string | undefined, rewritten: readonly number[]): Promise<boolean> {
  if (!manifest.changes || !parentTakenAt || source.massChange === false) return false;
  const slow = judgeSlowChange(deps.state, source.name, { takenAt: manifest.takenAt, parentTakenAt, changes: manifest.changes, rewritten, alone: manifest.massChange !== undefined && !manifest.massChange.overDay }, source.massChange);
  if (!slow) return false;
  return raiseMassChange(deps, source, manifest, {
    parentTakenAt: slow.parentTakenAt,
    log: 'tree snapshots of the last day changed most files: ransomware or a mass rewrite?',
    subject: `${slow.changed} of ${slow.previousFiles} files changed over ${slow.snapshots} snapshots`,
    found: `The ${slow.snapshots} snapshots of ${source.name} since ${slow.since} changed ${slow.changed} of the ${slow.previousFiles} files the share held (each file counted once), each a part: ransomware working through the share, or a mass rewrite?`,
    before: `The snapshot taken ${slow.parentTakenAt} holds the files as they were before`,
    after: `Alerted because the source's massChange is ${source.massChange.percent} % and at least ${source.massChange.minFiles} files, added up over a day.`,
    details: slow,
  });
}

/** The mass-change alert of a snapshot (critical, once: an event), logged at error, with the command that restores the snapshot whose files are as they were. True: the pass fails. */
async function raiseMassChange(
  deps: TreeRunnerDeps,
  source: TreeSourceConfig,
  manifest: TreeSnapshotManifest,
  a: { parentTakenAt: string; log: string; subject: string; found: string; before: string; after: string; details: object },
): Promise<boolean> {
  const restore = `ferry restore tree --site ${deps.site} --source ${source.name} --at ${a.parentTakenAt} --to DIR`;
  const diff = `ferry snapshots diff --site ${deps.site} --source ${source.name} --since ${a.parentTakenAt} --at ${manifest.takenAt}`;
  deps.log.error(a.log, { source: source.name, snapshot: manifest.snapshotId, ...a.details, parentTakenAt: a.parentTakenAt, restore });
  await deps.alerts.raiseEvent(`tree-mass-change:${source.name}:${manifest.snapshotId}`, {
    severity: 'critical',
    site: deps.site,
    subject: `${source.name}: ${a.subject}`,
    message: `${a.found} Open a few of the files on the share; \`${diff}\` lists every path changed. ${a.before}: \`${restore}\` restores it. ${a.after}`,
    details: { source: source.name, snapshotId: manifest.snapshotId, takenAt: manifest.takenAt, ...a.details, parentTakenAt: a.parentTakenAt, restore },
  });
  return true;
}

export async function cycleTree(deps: TreeRunnerDeps, source: TreeSourceConfig): Promise<TreeCycle> {
  const now = deps.clock.now();
  const last = readLastSnapshot(deps.state, source.name);
  // Read when the status is made: after a snapshot, the one it just published.
  const status = (problem?: string): TreeSourceStatus => {
    const newest = readLastSnapshot(deps.state, source.name);
    return { name: source.name, type: 'tree', ...(newest ? { lastSnapshot: newest } : {}), ...(problem ? { problem } : {}), lastScan: now.toISOString() };
  };
  await deps.alerts.tendEvents(`tree-mass-change:${source.name}:`, deps.site, (a) => `Closed one repeat period after it was sent (it said so once): ${a.subject}. The snapshot before it stays restorable until retention forgets it.`);
  const unreadable = await unreadableDirectory(source.path);
  await sourceReadable(deps.alerts, deps.site, source, unreadable);
  if (unreadable) {
    deps.log.error('source cannot be scanned', { source: source.name, path: source.path, problem: unreadable });
    return { status: status(unreadable), manifests: [], bytes: 0, failed: 0 };
  }
  // A last snapshot dated ahead of the clock (taken while the clock was fast, since set right)
  // is no reason to wait: the wait would last as long as the clock was ahead, with no word.
  const sinceLast = last ? now.getTime() - Date.parse(last.takenAt) : Infinity;
  if (sinceLast >= 0 && sinceLast < source.everySeconds * 1000) {
    return { status: status(), manifests: [], bytes: 0, failed: 0 };
  }
  if (sinceLast < 0) deps.log.warn('last snapshot is dated ahead of the clock (the clock was fast and was set right): taking a snapshot now', { source: source.name, lastTakenAt: last!.takenAt });
  try {
    const started = performance.now();
    const { manifest, manifestKey, readAhead, rewritten } = await takeTreeSnapshot({ ...deps, source, retryDelayMs: deps.retryDelayMs });
    deps.log.info('tree snapshot published', {
      source: source.name,
      snapshot: manifest.snapshotId,
      files: manifest.counts.files,
      read: manifest.counts.filesRead,
      readAhead,
      added: manifest.bytes.added,
      ...(manifest.changes ? { changed: manifest.changes.changed } : {}),
      problems: manifest.counts.problems,
      ms: Math.round(performance.now() - started),
    });
    await deps.alerts.resolve(`tree-failed:${source.name}`, deps.site, `Source ${source.name} has a new snapshot (${manifest.takenAt}).`);
    const leftOut = await alertLeftOut(deps, source, manifest);
    await includeSelectsNothing(deps, source, manifest.counts.files);
    const alone = await alertMassChange(deps, source, manifest);
    const mass = (await alertSlowChange(deps, source, manifest, last?.takenAt, rewritten)) || alone;
    return { status: status(), manifests: [manifestKey], bytes: manifest.bytes.added, failed: leftOut || mass ? 1 : 0 };
  } catch (error) {
    // The state directory's disk full (the snapshot's index, its packs' staging) or read-only is
    // the pass's, not this source's: it stops the pass, which says so (agent run), and keeps the
    // pass from calling the disk roomy again.
    if (isDiskFull(error) || (error as NodeJS.ErrnoException | undefined)?.code === 'EROFS') throw error;
    const message = messageOf(error);
    deps.log.error('tree snapshot not published', { source: source.name, error: message });
    await deps.alerts.raise(`tree-failed:${source.name}`, {
      severity: error instanceof TreeVanishedError || error instanceof TreeRestoreUnfinishedError ? 'critical' : 'warning',
      site: deps.site,
      subject: `no snapshot of ${source.name}`,
      message: `${sentence(message)} Nothing was published for this snapshot; the last one stays the newest. It is tried again next pass.`,
    });
    return { status: status(message), manifests: [], bytes: 0, failed: 1 };
  }
}
