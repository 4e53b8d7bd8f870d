import { ConfigError, messageOf } from '../core/errors.ts';

/**
 * Says why a command stopped and returns its exit status (2 for a configuration problem, else
 * 1). With `--json-logs` (the agent under cron or journald, its stderr parsed as JSON lines) the
 * line is JSON like every other log line, with a time: a plain `ferry: …` is the one line such a
 * pipeline drops, and it is the one that says why the agent stopped.
 */
export function reportFatal(error: unknown, argv: readonly string[], write: (line: string) => void = (line) => process.stderr.write(line)): number {
  const code = error instanceof ConfigError ? 2 : 1;
  const message = error instanceof ConfigError ? error.message : messageOf(error);
  if (argv.includes('--json-logs')) write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'ferry stopped', error: message, exitCode: code })}\n`);
  else write(`ferry: ${message}\n`);
  return code;
}

/**
 * The exit code of a command line commander refused (an unknown option, a missing argument):
 * 2, as for a configuration that is wrong (nothing was done), not commander's 1, which cron and
 * Task Scheduler read as "something could not be shipped (alerted)". --help and --version: 0.
 */
export function usageExitCode(error: { exitCode: number }): number {
  return error.exitCode === 0 ? 0 : 2;
}

/**
 * A reader that stops reading (`ferry audit search … | head`, `ferry agent status --losses | head`)
 * closes the pipe: what is left to print has no one to read it, which is no error of the
 * command's. The command ends quietly, as the Unix tools do, instead of with an EPIPE stack
 * trace. Both entries call it: `ferry` (cli/main.ts) and the agent bundle (cli/agent-entry.ts),
 * which runs `agent`, `restore` and `snapshots`.
 */
let quietPipe = false;

export function quietOnClosedPipe(): void {
  if (quietPipe) return;
  quietPipe = true;
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw error;
  });
}
