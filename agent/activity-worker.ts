import { TaskLostError, taskErrorFields, type ActivityClient, type ActivityTask } from '../core/activity.ts';
import type { Clock } from '../core/clock.ts';
import { messageOf } from '../core/errors.ts';
import { windowJobSchema, windowReport, type BackupSummary, type WindowJob, type WindowReport } from '../core/window.ts';
import type { Logger } from './log.ts';
import { zodProblems } from '../core/zod-problems.ts';

// The agent's side of the backup window: poll the site's activity (outbound only), run the
// backup set the job asks for, heartbeat while it runs, answer with a report the window's
// verify and record steps read (core/window.ts). A crashed or killed agent simply stops
// heartbeating: the workflow sees States.HeartbeatTimeout after HeartbeatSeconds.

export interface ActivityWorkerDeps {
  client: ActivityClient;
  site: string;
  /** Runs the job's backup set (the agent's cycle, through oneAtATime). */
  runBackup: (job: WindowJob) => Promise<BackupSummary>;
  clock: Clock;
  log: Logger;
  /** Shown in the execution history as the worker that took the task. */
  workerName: string;
  /** Heartbeat period; default a third of the job's heartbeatSeconds. */
  heartbeatMs?: number;
  /** Pause before poll attempt n after failures (default 1 s doubling to 60 s). */
  retryDelayMs?: (attempt: number) => number;
}

export type JobOutcome = 'succeeded' | 'failed' | 'lost';

export interface JobResult {
  outcome: JobOutcome;
  report?: WindowReport;
  error?: string;
}

/** Thrown into the task when the agent is stopped (SIGTERM) in the middle of a job, so the workflow need not wait for the heartbeat timeout. */
export class AgentStoppedError extends Error {
  constructor() {
    super('the agent was stopped while it ran the backup job');
    this.name = 'AgentStoppedError';
  }
}

/** Runs `fn` one call at a time; a caller arriving during a run waits and gets a fresh run (never a run that began before it asked). */
export function oneAtATime<T>(fn: () => Promise<T>): () => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return () => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

const abortable = <T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> =>
  !signal
    ? promise
    : new Promise<T>((resolve, reject) => {
        if (signal.aborted) return reject(new AgentStoppedError());
        const onAbort = () => reject(new AgentStoppedError());
        signal.addEventListener('abort', onAbort, { once: true });
        promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });

export class ActivityWorker {
  constructor(private readonly deps: ActivityWorkerDeps) {}

  /** One poll; when a task comes, runs it to the end. 'idle' when the poll brought nothing. */
  async runOnce(signal?: AbortSignal): Promise<JobResult | 'idle'> {
    const task = await this.deps.client.poll(this.deps.workerName, signal);
    if (!task) return 'idle';
    return this.handle(task, signal);
  }

  /** Polls until `signal` aborts; poll failures back off and never stop the loop. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await this.runOnce(signal);
        failures = 0;
        // A poll answered without any I/O wait (a stand-in, an aborted poll) must not starve the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      } catch (error) {
        failures++;
        const delay = this.deps.retryDelayMs?.(failures) ?? Math.min(60_000, 1000 * 2 ** (failures - 1));
        this.deps.log.warn('activity poll failed', { site: this.deps.site, attempt: failures, retryInMs: delay, error: messageOf(error) });
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, delay);
          signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
        });
      }
    }
  }

  private async handle(task: ActivityTask, signal?: AbortSignal): Promise<JobResult> {
    const { log, site } = this.deps;
    const parsed = parseJob(task.input);
    if (!parsed.ok) return this.fail(task, 'InvalidInputError', parsed.reason);
    const job = parsed.job;
    if (job.site !== site) return this.fail(task, 'WrongSiteError', `this agent serves site ${site}, the job is for site ${job.site}: check the activity ARN in the agent configuration`);

    log.info('backup window job started', { site, mode: job.mode, window: job.windowStartedAt, execution: job.execution });
    const heartbeat = this.startHeartbeats(task.taskToken, job);
    const startedAt = this.deps.clock.now();
    let summary: BackupSummary;
    try {
      summary = await abortable(this.deps.runBackup(job), signal);
    } catch (error) {
      heartbeat.stop();
      if (heartbeat.lost()) return { outcome: 'lost', error: messageOf(error) };
      const { error: name, cause } = taskErrorFields(error);
      log.error('backup window job failed', { site, error: name, detail: cause });
      return this.fail(task, name, cause);
    }
    heartbeat.stop();
    const report = windowReport(site, startedAt, this.deps.clock.now(), summary);
    if (heartbeat.lost()) {
      log.warn('backup window job finished after the workflow gave up on it: result not reported', { site, packs: report.packs });
      return { outcome: 'lost', report };
    }
    try {
      await this.deps.client.succeed(task.taskToken, JSON.stringify(report));
    } catch (error) {
      if (error instanceof TaskLostError) return { outcome: 'lost', report };
      throw error;
    }
    log.info('backup window job done', { site, packs: report.packs, recordings: report.recordings, bytes: report.bytes, failed: report.failed, lost: report.lost });
    return { outcome: 'succeeded', report };
  }

  private async fail(task: ActivityTask, error: string, cause: string): Promise<JobResult> {
    try {
      await this.deps.client.fail(task.taskToken, error, cause);
    } catch (e) {
      if (e instanceof TaskLostError) return { outcome: 'lost', error: cause };
      throw e;
    }
    return { outcome: 'failed', error: `${error}: ${cause}` };
  }

  private startHeartbeats(taskToken: string, job: WindowJob): { stop(): void; lost(): boolean } {
    const period = this.deps.heartbeatMs ?? Math.max(1000, Math.floor((job.heartbeatSeconds * 1000) / 3));
    let lost = false;
    let inFlight = false;
    const timer = setInterval(() => {
      if (lost || inFlight) return;
      inFlight = true;
      this.deps.client
        .heartbeat(taskToken)
        .catch((error: unknown) => {
          if (error instanceof TaskLostError) {
            lost = true;
            this.deps.log.warn('the workflow gave up on the backup window job (timeout or stopped); finishing the pass without reporting', { site: this.deps.site, error: error.message });
          } else this.deps.log.warn('heartbeat failed; will try again', { site: this.deps.site, error: messageOf(error) });
        })
        .finally(() => (inFlight = false));
    }, period);
    timer.unref?.();
    return { stop: () => clearInterval(timer), lost: () => lost };
  }
}

function parseJob(input: string): { ok: true; job: WindowJob } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(input);
  } catch {
    return { ok: false, reason: `the job input is not JSON (${input.length} characters)` };
  }
  const parsed = windowJobSchema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: `the job input is not a ${'ferry.window-job/1'}: ${zodProblems(parsed.error, '(input)').join('; ')}` };
  return { ok: true, job: parsed.data };
}
