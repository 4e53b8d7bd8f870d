import { FerryError } from './errors.ts';

// The port between a site's agent and its Step Functions activity (the agent polls: no
// inbound connection to the site). The SDK adapter is adapters/sfn-activity-client.ts; the
// local stand-in is local/activity-service.ts. Both pass test/workflows/activity-worker.test.ts.

export interface ActivityTask {
  taskToken: string;
  /** The task input, as JSON text. */
  input: string;
}

export interface ActivityClient {
  /**
   * Long-polls for the next task of the activity (about a minute at most); undefined when none
   * came, or when `signal` aborted the poll. TransientError on network or throttling trouble.
   */
  poll(workerName: string, signal?: AbortSignal): Promise<ActivityTask | undefined>;
  /** Tells the workflow the task is alive. TaskLostError once the workflow gave up on it. */
  heartbeat(taskToken: string): Promise<void>;
  /** Completes the task with `output` (JSON text). TaskLostError once the workflow gave up on it. */
  succeed(taskToken: string, output: string): Promise<void>;
  /** Fails the task; `error` is what a Catch matches on. TaskLostError once the workflow gave up on it. */
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}

/** The task is over for the workflow (heartbeat or task timeout, execution stopped, unknown token). Stop working on it. */
export class TaskLostError extends FerryError {
  override readonly name: string = 'TaskLostError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('conflict', message, options);
  }
}

/** Step Functions limits: error name 256 characters, cause 32768. */
export function taskErrorFields(error: unknown): { error: string; cause: string } {
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return { error: name.slice(0, 256), cause: message.slice(0, 32_768) };
}
