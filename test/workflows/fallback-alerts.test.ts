import { describe, expect, it } from 'vitest';
import type { Alert } from '../../core/ports.ts';
import { PURGE_STATES as P, RECALL_STATES as R, WINDOW_STATES as W } from '../../infra/workflows/state-names.ts';
import type { LocalHandlers, TaskHandler } from '../../local/stepfunctions.ts';
import { SITE, statesOf, workflowHarness } from './harness.ts';

// The last-resort alert each workflow publishes when the step that writes its alert failed for
// good (a function timed out, crashed): it must carry the message attributes of the alert it
// stands in for (site, kind, and a recall's requester), or a subscription filtered on them (a
// customer's officer's, filtered on their sites: docs/operations.md, Daily report) never gets it.

/** The SNS message attributes a publish carried, as name → value. */
function attributesOf(alert: Alert): Record<string, string> {
  const attributes = (alert.details as { attributes: Record<string, { StringValue: string }> }).attributes;
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v.StringValue]));
}

/** The handlers, with `fn`'s `action` step failing as a Lambda that timed out (an error no Retry takes). */
function timingOut(fn: 'recall' | 'purge' | 'window', action: string) {
  return (handlers: LocalHandlers): LocalHandlers => {
    const inner: TaskHandler = handlers[fn];
    const wrapped: TaskHandler = async (event) => {
      if ((event as { action?: string }).action === action) throw Object.assign(new Error('Task timed out after 30.00 seconds'), { name: 'Sandbox.Timedout' });
      return inner(event);
    };
    return { ...handlers, [fn]: wrapped };
  };
}

async function withHarness(wrap: (handlers: LocalHandlers) => LocalHandlers, test: (h: Awaited<ReturnType<typeof workflowHarness>>) => Promise<void>): Promise<void> {
  const h = await workflowHarness({ wrap });
  try {
    await test(h);
  } finally {
    h.activity.stop();
  }
}

describe('the alert published when a workflow could not write its own', () => {
  it("of a recall whose give-up step failed carries the recall's site, requester and kind=recall, and names them", () =>
    withHarness(timingOut('recall', 'fail'), async (h) => {
      const outcome = await h.workflows.runRecall({ site: SITE, rid: 'r0000000000000000000000b', requester: 'dpo@customer.example' }).done;
      expect(outcome.status).toBe('FAILED');
      expect(statesOf(outcome)).toContain(R.failedAlert);
      expect(h.alerts).toHaveLength(1);
      expect(h.alerts[0]).toMatchObject({ severity: 'critical', site: SITE, subject: 'Ferry: recall failed, not recorded' });
      expect(h.alerts[0]!.message).toContain(`a recall failed and its give-up step failed too (site ${SITE}, asked for by dpo@customer.example): Task timed out after 30.00 seconds`);
      expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'recall', site: SITE, requester: 'dpo@customer.example', severity: 'critical' });
    }));

  it("of a recall is still published, with site '-' and requester 'unknown', when the execution's input named neither as a string", () =>
    withHarness(timingOut('recall', 'fail'), async (h) => {
      const outcome = await h.workflows.runRecall({ rid: 'r0000000000000000000000c', site: 42 } as never).done;
      expect(outcome).toMatchObject({ status: 'FAILED', error: 'RecallFailed' });
      expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'recall', site: '-', requester: 'unknown', severity: 'critical' });
    }));

  it('of a purge whose report step failed carries the site and kind=purge, as its report would have', () =>
    withHarness(timingOut('purge', 'report'), async (h) => {
      const outcome = await h.workflows.runPurge().done;
      expect(statesOf(outcome)).toContain(P.reportFailed);
      expect(h.alerts).toHaveLength(1);
      expect(h.alerts[0]).toMatchObject({ severity: 'critical', site: SITE, subject: `Ferry ${SITE}: purge report failed` });
      expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'purge', site: SITE, severity: 'critical' });
    }));

  it('of a backup window whose record step failed carries the site and kind=backup-window, as its alert would have', () =>
    withHarness(timingOut('window', 'record'), async (h) => {
      await h.holdLock('backup', 60_000);
      const outcome = await h.workflows.runBackupWindow({ onDemand: true }).done;
      expect(statesOf(outcome)).toContain(W.recordFailed);
      expect(h.alerts).toHaveLength(1);
      expect(h.alerts[0]).toMatchObject({ severity: 'critical', site: SITE, subject: `Ferry ${SITE}: backup window not recorded` });
      expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'backup-window', site: SITE, severity: 'critical' });
    }));
});
