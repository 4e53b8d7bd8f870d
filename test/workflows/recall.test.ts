import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../core/ports.ts';
import { RECALL_STATES as R } from '../../infra/workflows/state-names.ts';
import { SITE, statesOf, workflowHarness, type Harness } from './harness.ts';
import { publishPack } from './purge-fixtures.ts';

// Recall of a Deep Archive pack, executed locally from its synthesized definition: restore
// request, Wait (shortened; the clock moves by recallPollSeconds each time), check, notify; each
// step writes the pack's recall status record.

let h: Harness;

/** The SNS message attributes a publish carried, as name → value. */
function attributesOf(alert: Alert): Record<string, string> {
  const attributes = (alert.details as { attributes: Record<string, { StringValue: string }> }).attributes;
  return Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, v.StringValue]));
}

beforeEach(async () => {
  h = await workflowHarness({ config: { recallPollSeconds: 3600, recallMaxPolls: 5 } });
});

afterEach(() => h.activity.stop());

describe('recall', () => {
  it('asks for a restore of a DEEP_ARCHIVE pack, polls on the Wait state until it is restored, then notifies the requester', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'archived', [500, 501]);
    const rid = pack.manifest.members[0]!.rid;
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    let polls = 0;
    const execution = h.workflows.runRecall({ site: SITE, rid, requester: 'alice@example.com' });
    // Restore completes during the third wait.
    const original = h.archive.archiveStatus.bind(h.archive);
    h.archive.archiveStatus = async (key) => {
      if (++polls === 4) h.archive.completeRestore(pack.packKey, '2099-01-08T00:00:00.000Z');
      return original(key);
    };
    const outcome = await execution.done;

    expect(outcome.status).toBe('SUCCEEDED');
    expect(h.archive.requests).toEqual([{ key: pack.packKey, days: 7, tier: 'Standard' }]);
    expect(statesOf(outcome).filter((s) => s === R.wait)).toHaveLength(3);
    expect(h.pauses.filter((p) => p.state === R.wait).map((p) => p.seconds)).toEqual([3600, 3600, 3600]);
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'info', site: SITE, subject: `Ferry ${SITE}: recall ready - ${rid}` });
    expect(h.alerts[0]!.message).toContain('asked for by alice@example.com can be played and downloaded again until 2099-01-08T00:00:00.000Z');
    expect((h.alerts[0]!.details as { attributes: Record<string, { StringValue: string }> }).attributes.requester?.StringValue).toBe('alice@example.com');
    // The status record the console reads: written by the request and every check, available at the end.
    expect(await h.statuses.get(SITE, pack.packKey)).toMatchObject({ state: 'available', rid, requester: 'alice@example.com', polls: 3, availableUntil: '2099-01-08T00:00:00.000Z' });
  });

  it('answers at once for a pack that needs no restore (Glacier Instant Retrieval)', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'instant', [100]);
    h.archive.set(pack.packKey, { storageClass: 'GLACIER_IR' });
    const outcome = await h.workflows.runRecall({ site: SITE, packKey: pack.packKey, requester: 'bob' }).done;
    expect(outcome.status).toBe('SUCCEEDED');
    expect(statesOf(outcome)).not.toContain(R.wait);
    expect(h.archive.requests).toEqual([]);
  });

  it('gives up after recallMaxPolls checks and tells the requester', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'slow', [500]);
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    const outcome = await h.workflows.runRecall({ site: SITE, packKey: pack.packKey, requester: 'carol' }).done;
    expect(outcome.status).toBe('FAILED');
    expect(statesOf(outcome).filter((s) => s === R.check)).toHaveLength(5);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', subject: `Ferry ${SITE}: recall not ready after 5 h` });
    expect(await h.statuses.get(SITE, pack.packKey)).toMatchObject({ state: 'gave-up', requester: 'carol', polls: 5 });
  });

  it("tells the requester of a recall whose request failed (no such recording), with kind=recall, the site and the requester, and writes no status record", async () => {
    const outcome = await h.workflows.runRecall({ site: SITE, rid: 'r0000000000000000000000a', requester: 'dave' }).done;
    expect(outcome.status).toBe('FAILED');
    expect(statesOf(outcome)).toEqual([R.request, R.giveUp, R.notifyFailed, R.failed]);
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', site: SITE, subject: `Ferry ${SITE}: recall failed - r0000000000000000000000a` });
    expect(h.alerts[0]!.message).toContain('the recall of recording r0000000000000000000000a asked for by dave failed: no recording r0000000000000000000000a');
    expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'recall', site: SITE, requester: 'dave', severity: 'warning' });
    expect(h.statuses.records.size).toBe(0);
  });

  it('sets the status record to gave-up when a check fails for good (the pack disappeared while restoring) and tells the requester', async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'vanishing', [500]);
    const rid = pack.manifest.members[0]!.rid;
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    const original = h.archive.archiveStatus.bind(h.archive);
    let asked = 0;
    h.archive.archiveStatus = async (key) => (++asked === 1 ? original(key) : undefined);

    const outcome = await h.workflows.runRecall({ site: SITE, rid, requester: 'erin@example.com' }).done;

    expect(outcome.status).toBe('FAILED');
    expect(statesOf(outcome)).toEqual([R.request, R.restored, R.wait, R.check, R.giveUp, R.notifyFailed, R.failed]);
    expect(await h.statuses.get(SITE, pack.packKey)).toMatchObject({ state: 'gave-up', rid, requester: 'erin@example.com', polls: 0 });
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'warning', site: SITE, subject: `Ferry ${SITE}: recall failed - ${rid}` });
    expect(h.alerts[0]!.message).toContain(`disappeared while it was being restored`);
    expect(attributesOf(h.alerts[0]!)).toEqual({ kind: 'recall', site: SITE, requester: 'erin@example.com', severity: 'warning' });
  });

  it("leaves a newer request's record alone when an older recall's check fails", async () => {
    const pack = await publishPack(h, SITE, h.clock.now(), 'twice', [500]);
    h.archive.set(pack.packKey, { storageClass: 'DEEP_ARCHIVE' });
    const original = h.archive.archiveStatus.bind(h.archive);
    let asked = 0;
    h.archive.archiveStatus = async (key) => {
      if (++asked === 2) {
        // Meanwhile a newer request took the record over.
        await h.statuses.put({ site: SITE, packKey: pack.packKey, state: 'restoring', requester: 'frank', requestedAt: '2999-01-01T00:00:00.000Z', storageClass: 'DEEP_ARCHIVE', polls: 0, updatedAt: '2999-01-01T00:00:00.000Z' });
        return undefined;
      }
      return original(key);
    };
    const outcome = await h.workflows.runRecall({ site: SITE, packKey: pack.packKey, requester: 'erin' }).done;
    expect(outcome.status).toBe('FAILED');
    expect(await h.statuses.get(SITE, pack.packKey)).toMatchObject({ state: 'restoring', requester: 'frank' });
    expect(attributesOf(h.alerts[0]!)).toMatchObject({ kind: 'recall', requester: 'erin' });
  });
});
