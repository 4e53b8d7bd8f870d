import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActivityWorker, oneAtATime, type JobResult } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { createSfnClient, SfnActivityClient } from '../../adapters/sfn-activity-client.ts';
import { TaskLostError, type ActivityClient } from '../../core/activity.ts';
import { ManualClock } from '../../core/clock.ts';
import { WINDOW_JOB_FORMAT, type BackupSummary, type WindowJob } from '../../core/window.ts';
import { LocalActivityService } from '../../local/activity-service.ts';
import { startActivityServer, type ActivityServer } from '../../local/activity-server.ts';

// The agent's activity worker against the local activity service: in process, and through
// the real SDK (SfnActivityClient) against the local activity server, so the adapter's error
// translation is exercised on real protocol answers.

const ARN = 'arn:aws:states:us-east-1:000000000000:activity:site-a';
const job = (over: Partial<WindowJob> = {}): WindowJob => ({
  format: WINDOW_JOB_FORMAT,
  site: 'site-a',
  windowStartedAt: '2026-03-01T02:00:00.000Z',
  mode: 'scheduled',
  lockToken: 7,
  heartbeatSeconds: 1,
  execution: 'arn:aws:states:us-east-1:000000000000:execution:w:1',
  ...over,
});
const summary: BackupSummary = { packs: 2, recordings: 200, bytes: 5000, failed: 0, lost: 0, manifests: ['manifests/site-a/recordings/2026/03/01/p1.json'] };

let service: LocalActivityService;
let server: ActivityServer;

beforeAll(async () => {
  service = new LocalActivityService();
  server = await startActivityServer(service, { pollWaitMs: 300 });
});
afterAll(async () => {
  service.stop();
  await server.stop();
});

/** Counts the calls a worker makes, around any client. */
function counting(inner: ActivityClient) {
  const calls = { heartbeat: 0, succeed: 0, fail: [] as string[] };
  const client: ActivityClient = {
    poll: (w, s) => inner.poll(w, s),
    heartbeat: (t) => (calls.heartbeat++, inner.heartbeat(t)),
    succeed: (t, o) => (calls.succeed++, inner.succeed(t, o)),
    fail: (t, e, c) => (calls.fail.push(e), inner.fail(t, e, c)),
  };
  return { client, calls };
}

/** A scheduled task; its rejection is observed later by the test (no unhandled rejection meanwhile). */
function schedule(input: unknown, limits: { heartbeatSeconds?: number; timeoutSeconds?: number }): Promise<unknown> {
  const p = service.run(ARN, input, limits);
  p.catch(() => undefined);
  return p;
}

function worker(client: ActivityClient, runBackup: (j: WindowJob) => Promise<BackupSummary>, heartbeatMs = 50) {
  return new ActivityWorker({ client, site: 'site-a', runBackup, clock: new ManualClock(new Date('2026-03-01T02:00:05Z')), log: silentLogger, workerName: 'test', heartbeatMs, retryDelayMs: () => 10 });
}

const clients: [string, () => ActivityClient][] = [
  ['in process', () => service.client(ARN, { pollWaitMs: 300 })],
  ['through the SDK and the local activity server', () => new SfnActivityClient(createSfnClient({ endpoint: server.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), ARN)],
];

describe.each(clients)('activity worker (%s)', (_name, makeClient) => {
  let client: ActivityClient;
  beforeEach(() => {
    client = makeClient();
  });
  afterEach(() => expect(service.openTasks).toBe(0));

  it('answers a job with a report, heartbeating while it runs', async () => {
    const { client: c, calls } = counting(client);
    const result = schedule(job(), { heartbeatSeconds: 1, timeoutSeconds: 10 });
    const done = (await worker(c, async (j) => {
      expect(j.lockToken).toBe(7);
      await new Promise((r) => setTimeout(r, 600));
      return summary;
    }).runOnce()) as JobResult;
    expect(done.outcome).toBe('succeeded');
    expect(calls.heartbeat).toBeGreaterThanOrEqual(2);
    expect(await result).toMatchObject({ format: 'ferry.window-report/1', site: 'site-a', packs: 2, recordings: 200, manifests: summary.manifests, manifestsTruncated: false });
  });

  it('fails the task with the error of a failed backup run', async () => {
    const result = schedule(job(), { heartbeatSeconds: 1 });
    const done = (await worker(client, async () => Promise.reject(Object.assign(new Error('disk gone'), { name: 'SourceUnavailableError' }))).runOnce()) as JobResult;
    expect(done.outcome).toBe('failed');
    await expect(result).rejects.toMatchObject({ name: 'SourceUnavailableError', message: 'disk gone' });
  });

  it('refuses a job of another site and a malformed job', async () => {
    const other = schedule(job({ site: 'site-b' }), {});
    expect(((await worker(client, async () => summary).runOnce()) as JobResult).outcome).toBe('failed');
    await expect(other).rejects.toMatchObject({ name: 'WrongSiteError' });
    const bad = schedule({ hello: 'world' }, {});
    expect(((await worker(client, async () => summary).runOnce()) as JobResult).outcome).toBe('failed');
    await expect(bad).rejects.toMatchObject({ name: 'InvalidInputError' });
  });

  it('stops reporting when the workflow gave up on the job (task timeout): outcome lost, no success sent', async () => {
    const { client: c, calls } = counting(client);
    const result = schedule(job(), { heartbeatSeconds: 5, timeoutSeconds: 1 });
    const outcome = (await worker(c, async () => {
      await new Promise((r) => setTimeout(r, 1400));
      return summary;
    }).runOnce()) as JobResult;
    await expect(result).rejects.toMatchObject({ name: 'States.Timeout' });
    expect(outcome.outcome).toBe('lost');
    expect(calls.succeed).toBe(0);
  });

  it('fails the task at once when the agent is stopped mid-job (no wait for the heartbeat timeout)', async () => {
    const result = schedule(job(), { heartbeatSeconds: 60 });
    const controller = new AbortController();
    let started!: () => void;
    const jobStarted = new Promise<void>((r) => (started = r));
    const running = worker(client, () => {
      started();
      return new Promise<BackupSummary>(() => undefined);
    }).runOnce(controller.signal);
    // Stopped once the job runs (a fixed wait stopped a slow machine's poll before it had the task).
    await jobStarted;
    controller.abort();
    expect(((await running) as JobResult).outcome).toBe('failed');
    await expect(result).rejects.toMatchObject({ name: 'AgentStoppedError' });
  });

  it('answers "idle" when no job comes within the long poll', async () => {
    expect(await worker(client, async () => summary).runOnce()).toBe('idle');
  });
});

describe('activity worker loop and helpers', () => {
  it('reports calls on a finished task as TaskLostError (SDK: TaskTimedOut)', async () => {
    const sdk = new SfnActivityClient(createSfnClient({ endpoint: server.endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), ARN);
    const result = schedule(job(), {});
    const task = await sdk.poll('t');
    await sdk.succeed(task!.taskToken, JSON.stringify({ ok: true }));
    await result;
    await expect(sdk.heartbeat(task!.taskToken)).rejects.toBeInstanceOf(TaskLostError);
    await expect(sdk.succeed('no-such-token', '{}')).rejects.toBeInstanceOf(TaskLostError);
  });

  it('keeps polling after poll failures (backoff), until stopped', async () => {
    let polls = 0;
    const flaky: ActivityClient = {
      poll: async () => {
        polls++;
        if (polls < 3) throw new Error('network down');
        return undefined;
      },
      heartbeat: async () => undefined,
      succeed: async () => undefined,
      fail: async () => undefined,
    };
    const controller = new AbortController();
    const loop = worker(flaky, async () => summary).run(controller.signal);
    await vi.waitFor(() => expect(polls).toBeGreaterThanOrEqual(3), { timeout: 5000 });
    controller.abort();
    await loop;
  });

  it('oneAtATime never overlaps two runs and gives a late caller a fresh run', async () => {
    let running = 0;
    let max = 0;
    let runs = 0;
    const cycle = oneAtATime(async () => {
      running++;
      max = Math.max(max, running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return ++runs;
    });
    const results = await Promise.all([cycle(), cycle(), cycle()]);
    expect(max).toBe(1);
    expect(results).toEqual([1, 2, 3]);
  });
});
