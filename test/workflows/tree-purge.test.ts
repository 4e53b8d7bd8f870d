import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ingestTreeSnapshot } from '../../core/ingest-tree.ts';
import { sitePurgeSchema } from '../../core/workflow-config.ts';
import { SITE, workflowHarness, type Harness } from './harness.ts';
import { publishSnapshot, publishTreePack, type SnapshotFixture, type TreePackFixture } from '../support/tree-fixtures.ts';

// The purge workflow, executed locally from its synthesized definition with a site `trees`
// policy: the plan step forgets the snapshots the policy does not keep, the Map's delete steps
// remove their catalogue items, manifests, indexes and unshared packs, and the report says so.

const DAY = 86_400_000;
let h: Harness;

beforeEach(async () => {
  const purge = sitePurgeSchema.parse({ retentionDays: 365, keepFullCycles: 2, trees: { keepDaily: 2, keepWeekly: 0, keepMonthly: 0 } });
  h = await workflowHarness({ purge, config: { purgeBatchSize: 250 } });
});

afterEach(() => h.activity.stop());

const exists = async (key: string) => (await h.blobs.head(key)) !== undefined;

describe('purge workflow with tree snapshots', () => {
  it('forgets the snapshots the trees policy does not keep and deletes only packs no kept snapshot lists', async () => {
    const now = h.clock.now();
    const packs: TreePackFixture[] = [];
    const snaps: SnapshotFixture[] = [];
    for (const age of [4, 3, 2, 1]) {
      const at = new Date(now.getTime() - age * DAY);
      packs.push(await publishTreePack(h.blobs, SITE, 'meeting-content', at, [`minutes ${age}`]));
      snaps.push(await publishSnapshot(h.blobs, { site: SITE, source: 'meeting-content', takenAt: at.toISOString(), packs: [packs[0]!, packs.at(-1)!].filter((p, i, all) => all.indexOf(p) === i) }));
      await ingestTreeSnapshot(h, snaps.at(-1)!.manifestKey);
    }

    const outcome = await h.workflows.runPurge().done;
    expect(outcome.status).toBe('SUCCEEDED');
    for (const s of snaps.slice(0, 2)) {
      expect(await exists(s.manifestKey)).toBe(false);
      expect(await exists(s.manifest.index.key)).toBe(false);
    }
    for (const s of snaps.slice(2)) expect(await exists(s.manifestKey)).toBe(true);
    expect(await Promise.all(packs.map((p) => exists(p.key)))).toEqual([true, false, true, true]);
    const listed = await h.catalogue.listSnapshots({ site: SITE, source: 'meeting-content' });
    expect(listed.items.map((s) => s.snapshotId)).toEqual([snaps[3]!.manifest.snapshotId, snaps[2]!.manifest.snapshotId]);
    expect(h.alerts).toHaveLength(1);
    expect(h.alerts[0]).toMatchObject({ severity: 'info', subject: `Ferry ${SITE}: purge done - 5 object(s) deleted` });
    expect(h.alerts[0]!.message).toMatch(/tree snapshots: 2 forgotten, 2 kept; 1 pack\(s\) no kept snapshot lists/);
  });
});
