import { randomUUID } from 'node:crypto';
import { TaskLostError, type ActivityClient, type ActivityTask } from '../core/activity.ts';

// Step Functions activities, in process: the local runner schedules a task (the activity
// state's override), workers poll for it through the same ActivityClient port the agent uses
// with AWS (or through local/activity-server.ts with the real SDK), and the service enforces
// what Step Functions enforces: TimeoutSeconds from scheduling (States.Timeout), and
// HeartbeatSeconds from the moment a worker took the task (States.HeartbeatTimeout). After
// either, the worker's calls fail with TaskTimedOut, as they would against AWS.

interface Task {
  token: string;
  activityArn: string;
  input: string;
  state: 'queued' | 'running' | 'closed';
  heartbeatMs?: number;
  timers: Set<NodeJS.Timeout>;
  heartbeatTimer?: NodeJS.Timeout;
  resolve(output: unknown): void;
  reject(error: Error): void;
}

interface Poller {
  activityArn: string;
  resolve(task: Task | undefined): void;
}

/** Error codes as the SFN API names them (the HTTP server sends them as `__type`). */
export class ActivityApiError extends Error {
  constructor(
    readonly code: 'TaskTimedOut' | 'TaskDoesNotExist' | 'InvalidToken' | 'ActivityDoesNotExist',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export interface ActivityLimits {
  heartbeatSeconds?: number;
  timeoutSeconds?: number;
}

function statesError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

export class LocalActivityService {
  private readonly tasks = new Map<string, Task>();
  private readonly queue: Task[] = [];
  private readonly pollers: Poller[] = [];

  /** The override of an activity state: resolves with the worker's output, rejects as Step Functions would fail the state. */
  run(activityArn: string, input: unknown, limits: ActivityLimits = {}): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const task: Task = { token: randomUUID(), activityArn, input: JSON.stringify(input), state: 'queued', timers: new Set(), resolve, reject };
      if (limits.heartbeatSeconds) task.heartbeatMs = limits.heartbeatSeconds * 1000;
      this.tasks.set(task.token, task);
      if (limits.timeoutSeconds) this.timer(task, limits.timeoutSeconds * 1000, () => this.close(task, statesError('States.Timeout', `activity task not completed within ${limits.timeoutSeconds} s`)));
      const poller = this.pollers.findIndex((p) => p.activityArn === activityArn);
      if (poller >= 0) this.hand(this.pollers.splice(poller, 1)[0]!, task);
      else this.queue.push(task);
    });
  }

  /** GetActivityTask: the next task of the activity, waiting up to waitMs; undefined when none came or the signal aborted. */
  getActivityTask(activityArn: string, waitMs = 60_000, signal?: AbortSignal): Promise<ActivityTask | undefined> {
    const queued = this.queue.findIndex((t) => t.activityArn === activityArn);
    if (queued >= 0) return Promise.resolve(this.start(this.queue.splice(queued, 1)[0]!));
    if (signal?.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const poller: Poller = {
        activityArn,
        resolve: (task) => {
          clearTimeout(t);
          signal?.removeEventListener('abort', onAbort);
          resolve(task && this.start(task));
        },
      };
      const drop = () => {
        const i = this.pollers.indexOf(poller);
        if (i >= 0) this.pollers.splice(i, 1);
        resolve(undefined);
      };
      const t = setTimeout(drop, waitMs);
      const onAbort = () => (clearTimeout(t), drop());
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pollers.push(poller);
    });
  }

  sendTaskHeartbeat(token: string): void {
    const task = this.open(token);
    if (task.heartbeatMs) this.armHeartbeat(task);
  }

  sendTaskSuccess(token: string, output: string): void {
    const task = this.open(token);
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new ActivityApiError('InvalidToken', 'output is not JSON');
    }
    this.close(task, undefined, parsed);
  }

  sendTaskFailure(token: string, error: string, cause: string): void {
    this.close(this.open(token), statesError(error || 'States.TaskFailed', cause));
  }

  /** An ActivityClient for one activity, in process (what the agent's worker takes locally). */
  client(activityArn: string, options: { pollWaitMs?: number } = {}): ActivityClient {
    const lost = (error: unknown) => (error instanceof ActivityApiError ? new TaskLostError(`${error.code}: ${error.message}`, { cause: error }) : error);
    const guard = async (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        throw lost(error);
      }
    };
    return {
      poll: (_worker, signal) => this.getActivityTask(activityArn, options.pollWaitMs ?? 60_000, signal),
      heartbeat: (token) => guard(() => this.sendTaskHeartbeat(token)),
      succeed: (token, output) => guard(() => this.sendTaskSuccess(token, output)),
      fail: (token, error, cause) => guard(() => this.sendTaskFailure(token, error, cause)),
    };
  }

  /** Tasks scheduled and not yet finished. */
  get openTasks(): number {
    return [...this.tasks.values()].filter((t) => t.state !== 'closed').length;
  }

  /** Fails every open task and releases every poller (end of a test or of the demo). */
  stop(): void {
    for (const task of this.tasks.values()) if (task.state !== 'closed') this.close(task, statesError('States.Runtime', 'the local activity service stopped'));
    for (const p of this.pollers.splice(0)) p.resolve(undefined);
  }

  private hand(poller: Poller, task: Task): void {
    poller.resolve(task);
  }

  private start(task: Task): ActivityTask {
    task.state = 'running';
    if (task.heartbeatMs) this.armHeartbeat(task);
    return { taskToken: task.token, input: task.input };
  }

  private armHeartbeat(task: Task): void {
    if (task.heartbeatTimer) {
      clearTimeout(task.heartbeatTimer);
      task.timers.delete(task.heartbeatTimer);
    }
    task.heartbeatTimer = this.timer(task, task.heartbeatMs!, () => this.close(task, statesError('States.HeartbeatTimeout', `no heartbeat for ${task.heartbeatMs! / 1000} s`)));
  }

  private timer(task: Task, ms: number, fire: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      task.timers.delete(t);
      fire();
    }, ms);
    task.timers.add(t);
    return t;
  }

  private open(token: string): Task {
    const task = this.tasks.get(token);
    if (!task) throw new ActivityApiError('TaskDoesNotExist', `no task ${token.slice(0, 8)}…`);
    if (task.state === 'closed') throw new ActivityApiError('TaskTimedOut', `task ${token.slice(0, 8)}… is over (timed out or already completed)`);
    return task;
  }

  private close(task: Task, error?: Error, output?: unknown): void {
    if (task.state === 'closed') return;
    task.state = 'closed';
    for (const t of task.timers) clearTimeout(t);
    task.timers.clear();
    const queued = this.queue.indexOf(task);
    if (queued >= 0) this.queue.splice(queued, 1);
    if (error) task.reject(error);
    else task.resolve(output);
  }
}
