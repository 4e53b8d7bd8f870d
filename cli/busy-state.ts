import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../core/clock.ts';
import { createLogger, type Logger } from '../agent/log.ts';
import { lockRefusal, type StateLockedError } from '../agent/state/state-lock.ts';

// `agent run` beside an agent that holds the state directory (cron every few minutes during a
// day-long first upload) stops before it loads the agent: of the configuration it reads the
// state directory alone, and it asks the lock as the agent would take it (state-lock.ts). A
// refused run used to load the SDK clients, the journal and every configuration check first:
// seconds and over 100 MB on a loaded recorder host, at every cron line. Only this module and
// what it imports (YAML, the lock, the logger) load before that answer: keep it so. Whatever
// this look cannot judge (no state in the file, a file that is no valid YAML, a lock that is
// free, stale or unreadable) goes the whole way, which checks the configuration and takes the
// lock (and exits 4 the same way when another agent took it meanwhile).

/** `agent run`'s exit status when another agent holds the state directory: this run did nothing, and nothing failed. */
export const BUSY_EXIT = 4;

/** The logger of `agent run`: text for a person at a terminal (warnings up), JSON lines otherwise or with --json-logs. */
export function runLogger(opts: { jsonLogs?: boolean }): { log: Logger; interactive: boolean } {
  const interactive = process.stderr.isTTY === true && !opts.jsonLogs;
  return { log: createLogger({ json: !interactive, level: interactive ? 'warn' : 'info' }), interactive };
}

/**
 * The state directory a configuration file names, resolved as loadConfig resolves it (relative to
 * the file); undefined when the file cannot be read or parsed, or names none that could be used.
 */
export function stateDirectoryOf(configFile: string): string | undefined {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(configFile, 'utf8'));
  } catch {
    return undefined;
  }
  const state = raw !== null && typeof raw === 'object' ? (raw as { state?: unknown }).state : undefined;
  // A control character is a path loadConfig refuses (a backslash read as an escape): it says so.
  if (typeof state !== 'string' || state === '' || /[\x00-\x1f\x7f]/.test(state)) return undefined;
  return resolve(dirname(resolve(configFile)), state);
}

/** Says why this run stops (through the run's logger: a JSON line under --json-logs or cron) and sets exit status 4. */
export function sayBusy(refusal: StateLockedError, log: Logger): void {
  log.warn(`${refusal.message.replace(/\.$/, '')}; this run did nothing and exits ${BUSY_EXIT}: the agent holding the state directory goes on shipping`, { exitCode: BUSY_EXIT });
  process.exitCode = BUSY_EXIT;
}

/** True (said, exit status 4) when another agent holds the state directory `configFile` names. */
export function refusedBeforeLoading(configFile: string, log: Logger): boolean {
  const state = stateDirectoryOf(configFile);
  const refusal = state === undefined ? undefined : lockRefusal(state, systemClock.now());
  if (refusal === undefined) return false;
  sayBusy(refusal, log);
  return true;
}
