import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// Runs dynalite in a child process (local/dynalite-server.cjs) and hands back its endpoint.
// Out of process so its LevelDB work does not share the event loop with the code under test,
// and so a test run can stop it for sure (the child also exits when its parent disconnects).

export interface LocalDynamo {
  endpoint: string;
  /** The child's process id. */
  pid: number;
  /** Stops the child; resolves once it has exited. Idempotent. */
  stop(): Promise<void>;
}

export interface LocalDynamoOptions {
  /** LevelDB directory; in memory when absent. */
  directory?: string;
  /** Port on 127.0.0.1; a free one when absent. */
  port?: number;
  /** How long to wait for the ready message (default 15 s). */
  startTimeoutMs?: number;
}

const SCRIPT = fileURLToPath(new URL('./dynalite-server.cjs', import.meta.url));

export async function startLocalDynamo(opts: LocalDynamoOptions = {}): Promise<LocalDynamo> {
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  const child = fork(SCRIPT, [JSON.stringify({ directory: opts.directory, port: opts.port })], {
    // No inherited --import/--loader flags (vitest, tsx): the child is plain CommonJS.
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);

  const port = await new Promise<number>((resolve, reject) => {
    const fail = (reason: string) => {
      cleanup();
      child.kill('SIGKILL');
      reject(new Error(`dynalite did not start: ${reason}${output ? `\n--- dynalite output ---\n${output.trim()}` : ''}`));
    };
    const onMessage = (message: { type?: string; port?: number; message?: string }) => {
      if (message?.type === 'ready' && typeof message.port === 'number') {
        cleanup();
        resolve(message.port);
      } else if (message?.type === 'error') fail(message.message ?? 'unknown error');
    };
    const onExit = (code: number | null, signal: string | null) => fail(`process exited (code ${code}, signal ${signal})`);
    const onError = (error: Error) => fail(error.message);
    const timer = setTimeout(() => fail(`no ready message within ${timeoutMs} ms`), timeoutMs);
    function cleanup() {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    }
    child.on('message', onMessage);
    child.on('exit', onExit);
    child.on('error', onError);
  });

  // Once ready, the pipes are only kept for diagnostics; do not let them hold the parent open.
  child.stdout?.removeListener('data', collect);
  child.stderr?.removeListener('data', collect);
  child.stdout?.resume();
  child.stderr?.resume();
  return { endpoint: `http://127.0.0.1:${port}`, pid: child.pid ?? -1, stop: stopper(child) };
}

/**
 * Stops the child: a `stop` message (it closes its server), else SIGTERM; SIGKILL after 5 s. A
 * child that got the same Ctrl-C and is exiting can still look connected: the message's write
 * then fails (EPIPE), which, without a callback, is an unhandled 'error' event and a stack trace
 * after "stopping the local cloud…". The failure is taken here, and the child is sent SIGTERM.
 */
export function stopper(child: Pick<ChildProcess, 'exitCode' | 'signalCode' | 'connected' | 'send' | 'kill' | 'once'>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      if (!child.connected) child.kill('SIGTERM');
      else child.send({ type: 'stop' }, (error) => void (error && child.kill('SIGTERM')));
    });
    return stopping;
  };
}
