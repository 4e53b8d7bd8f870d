import type { AgentConfig } from '../core/config.ts';
import type { Notifier } from '../core/ports.ts';
import type { Agent } from '../agent/agent.ts';
import type { Logger } from '../agent/log.ts';
import { diskFullAlert, freeBytes } from '../agent/state/state-space.ts';
import { AlertBook } from '../agent/state/alert-book.ts';
import { isDiskFull } from '../agent/state/atomic-file.ts';
import { lockHolder } from '../agent/state/state-lock.ts';
import { createAlertNotifier } from '../agent/alerts.ts';
import { messageOf } from '../core/errors.ts';

// The run's word when the state directory's disk is full: the pass that found it stopped, so
// `agent run` raises the alert itself, through the alert book, which keeps room for it
// (agent/state/alert-book.ts): the alert is sent once (again after `repeatHours`), not each
// run, and the first pass that finds space again resolves it.

/**
 * A state directory whose disk is full to the last byte cannot take even the agent's lock: the
 * pass's own floor check (agent.ts) never runs. The run raises the alert itself before it stops.
 */
export async function fullDiskAlerted(config: AgentConfig, log: Logger, build: () => Agent | undefined): Promise<Agent | undefined> {
  try {
    return build();
  } catch (error) {
    await stateDiskFullAlert(config, log, error, 'start');
    throw error;
  }
}

/**
 * A write to the state directory that found its disk full (ENOSPC, or EDQUOT over a quota) stops
 * the run. It fails at start (the lock) or in a pass whose writes outgrew what was free (a floor of
 * 0, or the disk filled by something else meanwhile): either way the pass raised no alert, so the
 * run raises it, under the floor alert's key, in `book` (the agent's, when it started) or in the
 * state directory's book when no other agent holds it; sent through the hooks (which need no
 * disk) even where no book can be written. Other errors are left to the caller.
 */
export async function stateDiskFullAlert(config: AgentConfig, log: Logger, error: unknown, when: 'start' | 'run', book?: AlertBook): Promise<void> {
  if (!isDiskFull(error)) return;
  const free = (await freeBytes(config.state)) ?? 0;
  const { key, ...alert } = diskFullAlert(config.site, config.state, free, config.stateMinFreeMiB, (error as NodeJS.ErrnoException).code!, when);
  const notifier = createAlertNotifier(config.alerts, log);
  const alerts = book ?? idleBook(config, notifier);
  if (!alerts) {
    await notifier.notify({ key, ...alert }).catch(() => undefined);
    return;
  }
  try {
    await alerts.raise(key ?? 'state-disk-low', alert);
  } catch (failure) {
    // Sent (the hooks come first), not remembered: the next run sends it again.
    log.warn('the full state disk alert could not be recorded in the state directory', { error: messageOf(failure) });
  }
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
