import type { AgentConfig } from '../core/config.ts';
import type { Agent } from '../agent/agent.ts';
import type { Logger } from '../agent/log.ts';
import { diskFullAlert, freeBytes } from '../agent/state/state-space.ts';
import { createAlertNotifier } from '../agent/alerts.ts';

// The run's word when the state directory's disk is full: no pass can record an alert then
// (recording one is a write), so `agent run` sends it through the hooks itself.

/**
 * A state directory whose disk is full to the last byte cannot take even the agent's lock: the
 * pass's own floor check (agent.ts) never runs. The alert hooks need no disk, so the run says it
 * through them (each run, as nothing can be remembered) before it stops.
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
 * 0, or the disk filled by something else meanwhile): either way no pass records an alert, so the
 * run says it through the hooks, which need no disk (each run, until there is space), under the
 * floor alert's key. Other errors are left to the caller.
 */
export async function stateDiskFullAlert(config: AgentConfig, log: Logger, error: unknown, when: 'start' | 'run'): Promise<void> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return;
  const free = (await freeBytes(config.state)) ?? 0;
  const alert = diskFullAlert(config.site, config.state, free, config.stateMinFreeMiB, code, when);
  await createAlertNotifier(config.alerts, log)
    .notify(alert)
    .catch(() => undefined);
}
