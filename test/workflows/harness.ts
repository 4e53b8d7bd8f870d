import { ActivityWorker } from '../../agent/activity-worker.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryLockTable, SiteLocks, type HeldLock, type LockOperation } from '../../core/lock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import type { Alert } from '../../core/ports.ts';
import { BlobStoreDeleter, type ObjectDeleter } from '../../core/purge.ts';
import { MemoryPurgeRunStore, type PurgeRunStore } from '../../core/purge-watch.ts';
import { MemoryArchiveStore } from '../../core/recall.ts';
import { MemoryRecallStatusStore } from '../../core/recall-status.ts';
import type { BackupSummary, WindowJob } from '../../core/window.ts';
import { MemoryRunStore } from '../../core/window.ts';
import type { SitePurgeSettings, WorkflowConfigInput } from '../../core/workflow-config.ts';
import { createLockHandler } from '../../functions/lock/handler.ts';
import { createPurgeHandler } from '../../functions/purge/handler.ts';
import { createRecallHandler } from '../../functions/recall/handler.ts';
import { createWindowHandler } from '../../functions/window/handler.ts';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { LocalActivityService } from '../../local/activity-service.ts';
import { LocalWorkflows, type ExecutionEvent, type ExecutionOutcome, type LocalHandlers } from '../../local/stepfunctions.ts';
import { MemoryHoldStore, MemoryObjectHolder } from '../../core/memory-holds.ts';

// Everything a workflow test needs, in memory: the handlers with memory stores and a manual
// clock, the synthesized definitions run by the local runner with pauses shortened to 0 ms
// and the clock moved by what each pause stood for (virtual time), alerts captured.

export const SITE = 'site-a';

export interface HarnessOptions {
  config?: WorkflowConfigInput;
  purge?: SitePurgeSettings;
  /** Where the purge records each run's start (default: in memory, `purgeRuns`). */
  purgeRuns?: PurgeRunStore;
  /** Stands in front of the handlers (a function that fails as Lambda would: a timeout, a crash). */
  wrap?: (handlers: LocalHandlers) => LocalHandlers;
}

export async function workflowHarness(options: HarnessOptions = {}) {
  // Real "now" at the start: the runner's $$.Execution.StartTime is real time.
  const clock = new ManualClock(new Date());
  const lockTable = new MemoryLockTable();
  const locks = new SiteLocks(lockTable, clock);
  const runs = new MemoryRunStore();
  const purgeRuns = options.purgeRuns ?? new MemoryPurgeRunStore();
  const blobs = new MemoryBlobStore({ clock });
  const catalogue = new MemoryCatalogue();
  const holds = new MemoryHoldStore();
  const holder = new MemoryObjectHolder();
  const objectLock = new Map<string, string>();
  const hooks: { beforeDelete?: (keys: string[]) => Promise<void> } = {};
  const inner = new BlobStoreDeleter(blobs, (key) => objectLock.get(key) ?? (holder.isHeld(key) ? 'its legal hold is released' : undefined));
  const deleter: ObjectDeleter = { deleteObjects: async (keys) => (await hooks.beforeDelete?.(keys), inner.deleteObjects(keys)) };
  const archive = new MemoryArchiveStore();
  const statuses = new MemoryRecallStatusStore();
  const alerts: Alert[] = [];
  const pauses: { seconds: number; state: string }[] = [];
  const activity = new LocalActivityService();
  const log = () => undefined;
  const wrap = options.wrap ?? ((handlers: LocalHandlers) => handlers);
  const workflows = await LocalWorkflows.create({
    site: SITE,
    definitions: renderWorkflowDefinitions({ site: SITE, purge: options.purge ?? { retentionDays: 365, keepFullCycles: 2 }, config: options.config }),
    handlers: wrap({
      lock: createLockHandler({ locks, log }),
      window: createWindowHandler({ blobs, runs, clock, log }),
      purge: createPurgeHandler({ blobs, catalogue, holds, holder, deleter, locks, purgeRuns, clock, log }),
      recall: createRecallHandler({ catalogue, archive, statuses, clock, log }),
    }),
    activity,
    notifier: { notify: async (a) => void alerts.push(a) },
    pauseMs: 0,
    onPause: (seconds, state) => {
      pauses.push({ seconds, state });
      clock.advance(seconds * 1000);
    },
  });

  /** Puts a lock in the table as another execution would have taken it, `ageMs` ago. */
  async function holdLock(operation: LockOperation, ageMs: number, holder = `arn:aws:states:us-east-1:000000000000:execution:other:${operation}`): Promise<HeldLock> {
    const at = clock.now();
    clock.set(new Date(at.getTime() - ageMs));
    const grant = await locks.acquire({ site: SITE, holder, operation });
    clock.set(at);
    return grant;
  }

  /** An activity worker of the site, polling in process, with `runBackup` as its backup run. */
  function startWorker(runBackup: (job: WindowJob) => Promise<BackupSummary>, heartbeatMs = 50) {
    const controller = new AbortController();
    const worker = new ActivityWorker({ client: activity.client(workflows.definitions.activityArn, { pollWaitMs: 200 }), site: SITE, runBackup, clock, log: silentLogger, workerName: 'test-worker', heartbeatMs });
    const running = worker.run(controller.signal);
    return { stop: async () => (controller.abort(), await running) };
  }

  return { clock, lockTable, locks, runs, purgeRuns, blobs, catalogue, holds, holder, objectLock, hooks, archive, statuses, alerts, pauses, activity, workflows, holdLock, startWorker };
}

export type Harness = Awaited<ReturnType<typeof workflowHarness>>;

export function statesOf(outcome: ExecutionOutcome, type = 'StateEntered'): string[] {
  return outcome.events.filter((e) => e.type === type && e.state).map((e) => e.state!.name);
}

export function retriesOf(outcome: ExecutionOutcome, state: string): ExecutionEvent[] {
  return outcome.events.filter((e) => e.type === 'StateRetried' && e.state?.name === state);
}
