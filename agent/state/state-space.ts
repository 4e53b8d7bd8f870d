// The state directory's disk and mode. The journal grows with every batch shipped (tens of MB
// before it is compacted) and files are rewritten through full-size copies; on a recorder whose
// state shares the recordings' disk, an agent writing to the last byte makes the recorder's own
// writes fail. So its disk keeps a floor of free space: below it a pass ships nothing (it would
// only grow the state) and says so, critically, through the alert hooks. The directory itself is
// its owner's only: it names the recorder's files.
import { accessSync, chmodSync, constants, mkdirSync, statSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import type { Alert } from '../../core/ports.ts';
import type { AlertBook } from './alert-book.ts';

const MIB = 1024 * 1024;

/** The free bytes (for an unprivileged user) of the disk holding `path` (the state directory, a recordings root), or undefined when it cannot be read. */
export async function freeBytes(path: string): Promise<number | undefined> {
  try {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}

/** The alert of a state disk below its floor; undefined when above it (or unknown, or no floor). */
export function lowStateSpaceAlert(site: string, state: string, free: number | undefined, floorMiB: number): Omit<Alert, 'key'> | undefined {
  if (free === undefined || floorMiB === 0 || free >= floorMiB * MIB) return undefined;
  const shown = (b: number) => `${(b / MIB).toFixed(b < 10 * MIB ? 1 : 0)} MiB`;
  return {
    severity: 'critical',
    site,
    subject: `the state directory's disk is nearly full: nothing ships`,
    message: `${state} is on a disk with ${shown(free)} free, under stateMinFreeMiB (${floorMiB} MiB). The agent ships nothing while it is (every batch shipped grows its journal), so that it never fills a disk the recorder may need; what waits is shipped, and what the recorder evicts meanwhile is reported lost, as usual. Free space on that disk, or put the state directory on another one (the agent's state is tens of MB at most); lower stateMinFreeMiB only if this disk's free space is yours to take.`,
    details: { state, freeBytes: free, floorMiB },
  };
}

export const DISK_FULL_SUBJECT = `the state directory's disk is full: nothing ships`;

/**
 * Whether the open state-disk alert is the one a failed write raised (diskFullAlert). A look at
 * the free space does not clear it: on a floor of 0 a disk with a few bytes free passes the look
 * and the pass fails again at its first write (resolved, then raised again, each cron run). A
 * pass that wrote all it had to does.
 */
export function diskFullOpen(alerts: Pick<AlertBook, 'get'>): boolean {
  return alerts.get('state-disk-low')?.subject === DISK_FULL_SUBJECT;
}

/**
 * A write to the state directory that found its disk full (`code`: ENOSPC or EDQUOT), at the
 * agent's start or during a pass: under the floor alert's key (the same matter), said as a full
 * disk, whatever the floor (0 included).
 */
export function diskFullAlert(site: string, state: string, free: number, floorMiB: number, code: string, when: 'start' | 'run'): Alert {
  const shown = `${(free / MIB).toFixed(1)} MiB`;
  return {
    severity: 'critical',
    site,
    key: 'state-disk-low',
    subject: DISK_FULL_SUBJECT,
    message:
      when === 'start'
        ? `${state} is on a disk with ${shown} free (${code}). The disk is full: the agent cannot even start (said again each alerts.repeatHours while it stays so; resolved by the first run with space). Free space on that disk, or put the state directory on another one (the agent's state is tens of MB at most).`
        : `${state}: a write to the state directory failed (${code}: the disk is full; ${shown} free now), and the run stopped there. What it shipped is kept; what was in flight ships again with the rest once there is space (said again each alerts.repeatHours while the disk stays full; resolved by the first run with space). Free space on that disk, or put the state directory on another one (the agent's state is tens of MB at most), and keep stateMinFreeMiB (${floorMiB} MiB) above what a pass writes.`,
    details: { state, freeBytes: free, floorMiB, error: code },
  };
}

/** The errno code that keeps the agent from writing into `state` (made if missing), e.g. EROFS; undefined when it can. */
export function stateDiskProblem(state: string): string | undefined {
  try {
    mkdirSync(state, { recursive: true });
    accessSync(state, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'EIO';
  }
}

/** What `agent run` as a service does on a state directory it cannot write (cli/state-disk-alert.ts untilStateWritable). */
const WAITS = 'stays up without starting its passes, checks again every shipping.pollSeconds and starts once the directory can be written (no restart loop)';
const WAIT_REPEAT = 'Sent again every alerts.repeatHours while it lasts; no "resolved" follows (the agent logs when it starts).';

/**
 * The state directory on a file system mounted read-only (EROFS; the kernel remounts a disk so
 * after an I/O error), at the agent's start or during a pass. Nothing can be recorded there, not
 * even that this was sent: each run sends it again while it lasts, and no "resolved" follows (the
 * heartbeat of the next pass that ships says the agent works again).
 */
export function readOnlyStateAlert(site: string, state: string, when: 'start' | 'run' | 'wait'): Alert {
  return {
    severity: 'critical',
    site,
    key: 'state-disk-read-only',
    subject: `the state directory's disk is read-only: nothing ships`,
    message:
      `${state} is on a file system mounted read-only (EROFS)${when === 'start' ? ': the agent cannot start' : when === 'wait' ? `: the agent's service ${WAITS}` : ': a write to it failed during a pass and the run stopped there (what it shipped is kept; what was in flight ships again)'}. ` +
      `Nothing ships until the state directory can be written. \`findmnt -T ${state}\` names the mount; the kernel remounts a disk read-only after an I/O error (see dmesg): check the disk, then \`mount -o remount,rw\` it, or put the state directory on another disk. ` +
      (when === 'wait' ? WAIT_REPEAT : 'The agent cannot record that it sent this: each run (a service: every alerts.repeatHours) says it again while the disk stays read-only, and no "resolved" follows.'),
    details: { state, error: 'EROFS' },
  };
}

/**
 * The state directory the agent's user may not write (EACCES, EPERM: made by root, or chowned
 * since), found as `agent run` starts. As a read-only one, it can record nothing: each run sends
 * this again while it lasts, and no "resolved" follows.
 */
export function unwritableStateAlert(site: string, state: string, code: string, user: string, waiting = false): Alert {
  return {
    severity: 'critical',
    site,
    key: 'state-unwritable',
    subject: `the state directory cannot be written by the agent's user: nothing ships`,
    message:
      `${state} cannot be created or written by ${user}, the user the agent runs as (${code}: permission denied): ${waiting ? `the agent's service ${WAITS}` : 'the agent cannot start'}, and nothing ships until it can. ` +
      `Give the directory back to that user (\`chown -R ${user} ${state}\`), or run the agent as its owner. ` +
      (waiting ? WAIT_REPEAT : 'The agent cannot record that it sent this: each run says it again while it lasts, and no "resolved" follows.'),
    details: { state, error: code, user },
  };
}

/**
 * The state directory, made if missing, readable by its owner only: it names the recorder's files
 * (their names often carry the parties' numbers) and cron starts the agent under a umask that
 * lets every local user read. One the agent does not own is left as its owner set it.
 */
export function privateDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if ((st.mode & 0o077) === 0 || st.uid !== process.getuid?.()) return;
  try {
    chmodSync(dir, st.mode & 0o700);
  } catch {
    // Not ours to change after all (a filesystem without modes): left as it is.
  }
}
