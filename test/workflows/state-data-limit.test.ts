import { describe, expect, it } from 'vitest';
import { renderWorkflowDefinitions } from '../../infra/workflows/render.ts';
import { LocalActivityService } from '../../local/activity-service.ts';
import { LocalWorkflows, STATE_DATA_LIMIT, type LocalHandlers } from '../../local/stepfunctions.ts';
import type { Alert } from '../../core/ports.ts';
import { statesOf } from './harness.ts';

// Step Functions fails an execution whose state input, output or task result is over 256 KiB
// with States.DataLimitExceeded, and no Catch takes it (States.ALL does not match it). The local
// runner must refuse what AWS refuses: a workflow that passes here with a larger payload would
// fail deployed, its lock held and its Catch never run.

/** The site's synthesized workflows run locally with `handlers` (the others refuse), and the alerts they send. */
async function localWorkflows(handlers: Partial<LocalHandlers>) {
  const alerts: Alert[] = [];
  const unused = async () => {
    throw new Error('not part of this workflow');
  };
  const workflows = await LocalWorkflows.create({
    site: 'site-a',
    definitions: renderWorkflowDefinitions({ site: 'site-a', purge: { retentionDays: 365, keepFullCycles: 2 } }),
    handlers: { lock: unused, window: unused, purge: unused, recall: unused, ...handlers },
    activity: new LocalActivityService(),
    notifier: { notify: async (a) => void alerts.push(a) },
    pauseMs: 0,
  });
  return { workflows, alerts };
}

async function recallWith(result: unknown) {
  let calls = 0;
  const { workflows, alerts } = await localWorkflows({ recall: async () => (++calls === 1 ? result : { restored: true }) });
  const outcome = await workflows.runRecall({ site: 'site-a', rid: 'r1', requester: 'officer@example.com' }).done;
  return { outcome, alerts };
}

describe("the local Step Functions' 256 KiB limit on a state's data", () => {
  it('fails the execution with States.DataLimitExceeded when a task returns more than 256 KiB, without running its States.ALL Catch', async () => {
    const { outcome, alerts } = await recallWith({ restored: false, padding: 'x'.repeat(STATE_DATA_LIMIT) });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('States.DataLimitExceeded');
    expect(outcome.cause).toContain('Request restore');
    expect(statesOf(outcome)).not.toContain('Give up recall');
    expect(alerts).toEqual([]);
  });

  it('lets a result just under the limit through (the limit is on bytes of JSON, not more)', async () => {
    const { outcome } = await recallWith({ restored: true, padding: 'x'.repeat(STATE_DATA_LIMIT - 2_000) });
    expect(outcome.error).not.toBe('States.DataLimitExceeded');
    expect(statesOf(outcome)).toContain('Restored');
  });

  it("fails the execution when a state's output grows over the limit from results under it, and runs no task after (the purge's lock stays held, as on AWS)", async () => {
    const calls: string[] = [];
    // A plan of 150 KB and three batch results of 40 KB each: every task result is under the
    // limit, the Map's output (the plan and the three results) is over it.
    const { workflows, alerts } = await localWorkflows({
      lock: async (event) => {
        const { action } = event as { action: string };
        calls.push(`lock ${action}`);
        return action === 'acquire' ? { token: 1 } : { released: true };
      },
      purge: async (event) => {
        const e = event as { action: string; batch?: { index: number } };
        calls.push(`purge ${e.action}`);
        if (e.action === 'plan') return { batches: [0, 1, 2].map((index) => ({ index, targets: [] })), summary: { targets: 0 }, padding: 'p'.repeat(150_000) };
        if (e.action === 'delete') return { index: e.batch?.index, deleted: 0, targetsDone: 0, retained: [{ key: 'k', reason: 'r'.repeat(40_000) }], retainedCount: 1, failed: [], failedCount: 0 };
        return {};
      },
    });
    const outcome = await workflows.runPurge().done;
    expect(outcome.error).toBe('States.DataLimitExceeded');
    expect(outcome.cause).toContain("'Delete batches'");
    // A task the runner would start after the failure: give it the time to run, and see that it ran nothing.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(calls).toEqual(['purge start', 'lock acquire', 'purge plan', 'purge delete', 'purge delete', 'purge delete']);
    expect(alerts).toEqual([]);
  });
});
