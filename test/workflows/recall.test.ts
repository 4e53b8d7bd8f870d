import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RECALL_STATES as R } from '../../infra/workflows/state-names.ts';
import { SITE, statesOf, workflowHarness, type Harness } from './harness.ts';
import { publishPack } from './purge-fixtures.ts';

// Recall of a Deep Archive pack, executed locally from its synthesized definition: restore
// request, Wait (shortened; the clock moves by recallPollSeconds each time), check, notify; each
// step writes the pack's recall status record.

let h: Harness;

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

  it('alerts when the recording does not exist', async () => {
    const outcome = await h.workflows.runRecall({ site: SITE, rid: 'r0000000000000000000000a', requester: 'dave' }).done;
    expect(outcome.status).toBe('FAILED');
    expect(h.alerts[0]?.subject).toBe('Ferry: recall failed');
    expect(h.alerts[0]?.message).toContain('no recording r0000000000000000000000a');
  });
});
