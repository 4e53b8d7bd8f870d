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

async function recallWith(result: unknown) {
  const alerts: Alert[] = [];
  const calls: string[] = [];
  const unused = async () => {
    throw new Error('not part of this workflow');
  };
  const handlers: LocalHandlers = {
    lock: unused,
    window: unused,
    purge: unused,
    recall: async (event) => {
      calls.push(JSON.stringify(event).slice(0, 60));
      return calls.length === 1 ? result : { restored: true };
    },
  };
  const workflows = await LocalWorkflows.create({
    site: 'site-a',
    definitions: renderWorkflowDefinitions({ site: 'site-a', purge: { retentionDays: 365, keepFullCycles: 2 } }),
    handlers,
    activity: new LocalActivityService(),
    notifier: { notify: async (a) => void alerts.push(a) },
    pauseMs: 0,
  });
  const outcome = await workflows.runRecall({ site: 'site-a', rid: 'r1', requester: 'officer@example.com' }).done;
  return { outcome, alerts, calls };
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
});
