import type { AgentConfig } from '../core/config.ts';
import type { Alert, Notifier } from '../core/ports.ts';
import type { Agent } from '../agent/agent.ts';
import type { Logger } from '../agent/log.ts';
import { diskFullAlert, freeBytes, readOnlyStateAlert, stateDiskProblem, unwritableStateAlert } from '../agent/state/state-space.ts';
import { userInfo } from 'node:os';
import { AlertBook } from '../agent/state/alert-book.ts';
import { isDiskFull } from '../agent/state/atomic-file.ts';
import { lockHolder } from '../agent/state/state-lock.ts';
import { noteUnrecordedSent, unrecordedSentAt } from '../agent/state/unrecorded-alert.ts';
import { createAlertNotifier } from '../agent/alerts.ts';
import { messageOf } from '../core/errors.ts';
import { onStopSignals } from './interrupt.ts';
import { sleep } from '../agent/sleep.ts';

// The run's word when the state directory's disk is full or read-only: the pass that found it
// stopped, so `agent run` raises the alert itself. A full disk's goes through the alert book,
// which keeps room for it (agent/state/alert-book.ts): sent once (again after `repeatHours`), not
// each run, and the first pass that finds space again resolves it. A state directory too new to
// have a book remembers it in an empty file (agent/state/unrecorded-alert.ts). A read-only one
// can remember nothing: its alert goes to the hooks each run.

/**
 * A state directory whose disk is full to the last byte cannot take even the agent's lock: the
 * pass's own floor check (agent.ts) never runs. The run raises the alert itself before it stops.
 */
export async function fullDiskAlerted(config: AgentConfig, log: Logger, build: () => Agent | undefined): Promise<Agent | undefined> {
  try {
    return build();
  } catch (error) {
    throw await stateDiskFullAlert(config, log, error, 'start');
  }
}

/**
 * The state directory checked before a run (agent run's checkSitePaths): one on a file system
 * mounted read-only, or one the agent's user may not write, is a problem no pass can mend, and
 * the operator's pager is told (the hooks need no disk), not only the run's stderr.
 */
export async function readOnlyAlerted(config: AgentConfig, log: Logger, check: () => Promise<void>): Promise<void> {
  try {
    await check();
  } catch (error) {
    const alert = stateProblemAlert(config, stateDiskProblem(config.state), false);
    if (alert) await notifyOnly(config, log, alert);
    throw error;
  }
}

/**
 * `agent run` as a service on a state directory it cannot write (read-only, or not its user's):
 * rather than exit and be restarted by systemd every RestartSec (each restart a new process that
 * pages again), it alerts once, waits and checks again every pollSeconds, and starts its passes
 * when the directory can be written; the alert is sent again after alerts.repeatHours. Returns
 * false when a stop signal came first (a clean stop: nothing was started). Any other problem
 * with the paths ends the run as `agent run --once` does.
 */
export async function untilStateWritable(config: AgentConfig, log: Logger, check: () => Promise<void>): Promise<boolean> {
  const controller = new AbortController();
  const off = onStopSignals(() => controller.abort());
  try {
    return await waitWritable(config, log, check, controller.signal);
  } finally {
    off();
  }
}

async function waitWritable(config: AgentConfig, log: Logger, check: () => Promise<void>, signal: AbortSignal): Promise<boolean> {
  let sentAt: number | undefined;
  for (let waited = false; ; waited = true) {
    try {
      await check();
      if (waited) log.info('the state directory can be written again: the agent starts', { state: config.state });
      return true;
    } catch (error) {
      const problem = stateDiskProblem(config.state);
      const alert = stateProblemAlert(config, problem, true);
      if (!alert) throw error;
      if (sentAt === undefined || Date.now() - sentAt >= config.alerts.repeatHours * 3_600_000) {
        await notifyOnly(config, log, alert);
        sentAt = Date.now();
      }
      if (!waited) log.warn(`the state directory ${config.state} cannot be written (${problem}): waiting for it, checked again every ${config.shipping.pollSeconds} s; the alert is sent again every ${config.alerts.repeatHours} h while it lasts`, { state: config.state, problem, error: messageOf(error) });
    }
    await sleep(config.shipping.pollSeconds * 1000, signal);
    if (signal.aborted) return false;
  }
}

/**
 * When this process last sent each state directory's read-only alert. Such a directory can record
 * nothing, so a cron run (one process) says it once; a service, whose every poll finds the disk
 * so, says it again after alerts.repeatHours, or once a pass has ended well since
 * (readOnlyStateOver): not every pollSeconds.
 */
const readOnlySent = new Map<string, number>();

/** A pass of the service ended well: the state directory can be written again, and a read-only alert is news once more. */
export function readOnlyStateOver(state: string): void {
  readOnlySent.delete(state);
}

/**
 * A write to the state directory that found its disk full (ENOSPC, or EDQUOT over a quota) or
 * read-only (EROFS: the kernel remounts a disk so after an I/O error) stops the run. It fails at
 * start (the lock) or in a pass whose writes outgrew what was free (a floor of 0, or the disk
 * filled by something else meanwhile): either way the pass raised no alert, so the run raises
 * it, under the floor alert's key, in `book` (the agent's, when it started) or in the state
 * directory's book when no other agent holds it; sent through the hooks (which need no disk) even
 * where no book can be written. Returns what the run ends with: for those, an error whose message
 * names the disk, the directory and what to do (the last line cron mails); else `error` itself.
 */
export async function stateDiskFullAlert(config: AgentConfig, log: Logger, error: unknown, when: 'start' | 'run', book?: AlertBook): Promise<unknown> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EROFS') {
    const alert = readOnlyStateAlert(config.site, config.state, when);
    const last = readOnlySent.get(config.state);
    const now = Date.now();
    if (last === undefined || now - last >= config.alerts.repeatHours * 3_600_000) {
      await notifyOnly(config, log, alert);
      readOnlySent.set(config.state, now);
    }
    return new Error(alert.message, { cause: error });
  }
  if (!isDiskFull(error)) return error;
  const free = (await freeBytes(config.state)) ?? 0;
  const { key, ...alert } = diskFullAlert(config.site, config.state, free, config.stateMinFreeMiB, code!, when);
  const notifier = createAlertNotifier(config.alerts, log);
  const alerts = book ?? idleBook(config, notifier);
  const ended = new Error(`the state directory's disk is full: ${alert.message}`, { cause: error });
  if (!alerts) {
    await notifier.notify({ key, ...alert }).catch(() => undefined);
    return ended;
  }
  alerts.adoptUnrecorded(key!, alert, unrecordedSentAt(config.state));
  try {
    await alerts.raise(key!, alert);
  } catch (failure) {
    // Sent (the hooks come first), not remembered in the book (a new state directory keeps no room yet): the empty file remembers it.
    if (isDiskFull(failure) && alerts.get(key!)?.sent) remember(config.state, new Date(), log);
    else log.warn('the full state disk alert could not be recorded in the state directory', { error: messageOf(failure) });
  }
  return ended;
}

function remember(state: string, now: Date, log: Logger): void {
  try {
    noteUnrecordedSent(state, now);
  } catch (failure) {
    log.warn('the full state disk alert could not be recorded in the state directory: the next run sends it again', { error: messageOf(failure) });
  }
}

/** The alert for a state directory found read-only or not the agent's user's at the start (`waiting`: a service that waits for it), else undefined. */
function stateProblemAlert(config: AgentConfig, problem: string | undefined, waiting: boolean): Alert | undefined {
  if (problem === 'EROFS') return readOnlyStateAlert(config.site, config.state, waiting ? 'wait' : 'start');
  if (problem === 'EACCES' || problem === 'EPERM') return unwritableStateAlert(config.site, config.state, problem, userName(), waiting);
  return undefined;
}

/** Sent through the hooks only: a read-only state directory can record nothing. */
async function notifyOnly(config: AgentConfig, log: Logger, alert: Alert): Promise<void> {
  await createAlertNotifier(config.alerts, log)
    .notify(alert)
    .catch(() => undefined);
}

/** The state directory's alert book, unless another agent holds the directory (its book is its own) or the book cannot be read. */
function idleBook(config: AgentConfig, notifier: Notifier): AlertBook | undefined {
  const now = new Date();
  const holder = lockHolder(config.state, now);
  if (holder && holder.pid !== process.pid) return undefined;
  try {
    return new AlertBook(config.state, { notifier, now: () => new Date(), repeatHours: config.alerts.repeatHours });
  } catch {
    return undefined;
  }
}

/** The name of the user this process runs as (its uid when it has none). */
function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}
