import { messageOf } from '../core/errors.ts';

// A long restore at a terminal or under `timeout`: a Ctrl-C or SIGTERM stops it cleanly, keeps
// what it wrote, and says how to go on.

/**
 * Runs `work` with SIGINT and SIGTERM turned into an abort: the first stops it cleanly (what it
 * wrote flushed and recorded, said on stderr, exit 130 or 143); a second exits at once.
 */
export async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>, what: string): Promise<T> {
  const controller = new AbortController();
  let code = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(code);
    code = sig === 'SIGINT' ? 130 : 143;
    process.stderr.write(`\n${what}: stopping; what is written is kept (a second signal stops at once)…\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (error) {
    if (controller.signal.aborted) {
      process.stderr.write(`${what} ${messageOf(error)}\n`);
      process.exit(code);
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
