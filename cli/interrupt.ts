import { messageOf } from '../core/errors.ts';

// Stopping a long command: a Ctrl-C at a terminal or a SIGTERM (cron's `timeout`, systemd)
// stops it cleanly, keeps what it wrote and says how to go on; a second request stops it at once.

/**
 * A repeat this soon after a stop request is the same request: a Ctrl-C at a terminal reaches
 * both the command and the `bin/ferry.mjs` launcher that passes it on (one request, two signals).
 */
const SAME_REQUEST_MS = 1000;

/**
 * Calls `onStop` for every SIGINT or SIGTERM, with `again` true for a request made after an
 * earlier one (not its echo through the launcher); the returned function stops listening.
 */
export function onStopSignals(onStop: (signal: NodeJS.Signals, again: boolean) => void): () => void {
  let first: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    const now = performance.now();
    if (first !== undefined && now - first < SAME_REQUEST_MS) return;
    const again = first !== undefined;
    first ??= now;
    onStop(signal, again);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/** Runs `run` with `onStop` called on SIGINT/SIGTERM meanwhile, and no longer after. */
export async function untilStopped<T>(onStop: Parameters<typeof onStopSignals>[0], run: () => Promise<T>): Promise<T> {
  const off = onStopSignals(onStop);
  try {
    return await run();
  } finally {
    off();
  }
}

/** The exit status of a command a signal stopped: 128 + its number, as a shell reports it. */
export const signalExitCode = (signal: NodeJS.Signals): number => (signal === 'SIGINT' ? 130 : 143);

/**
 * Runs `work` with SIGINT and SIGTERM turned into an abort: the first stops it cleanly (what it
 * wrote flushed and recorded, said on stderr, exit 130 or 143); a second exits at once.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, what: string): Promise<T> {
  const controller = new AbortController();
  let code = 0;
  const off = onStopSignals((signal, again) => {
    if (again) process.exit(code);
    code = signalExitCode(signal);
    process.stderr.write(`\n${what}: stopping; what is written is kept (a second signal stops at once)…\n`);
    controller.abort();
  });
  try {
    return await work(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) {
      process.stderr.write(`${what} ${messageOf(error)}\n`);
      process.exit(code);
    }
    throw error;
  } finally {
    off();
  }
}
