import { describe, it, expect } from 'vitest';
import { cpSync, mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { writeTree } from '../support/recorder-tree.ts';

// Another disk mounted at a recordings source's path (the same `path`, another directory): what
// the last passes saw of the old disk says nothing of the new one.

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-swap-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 4, quietSeconds: 600, settleSeconds: 1 }
`);
  return { dir, root, config };
}

async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), status: agent.statusSnapshot() };
  } finally {
    agent.close();
  }
}

/** A site whose first pass shipped three closed batches of four and left a batch of two pending (open). */
async function shippedWithPending() {
  const s = site();
  const store = new MemoryBlobStore();
  const alerts: Alert[] = [];
  const clock = new ManualClock(new Date());
  writeTree(s.root, 3, 4); // closed: shipped
  writeTree(s.root, 1, 2, { firstBatch: 4, ageMs: 10_000 }); // open: pending
  const first = await cronPass(s.config, store, alerts, clock);
  return { s, store, alerts, clock, first };
}

describe('a recordings root on another disk (at the same path, or a new one)', () => {
  it('calls nothing lost when the new disk holds only a stale batch numbered far above the old ones: a warning says the directory changed', async () => {
    const { s, store, alerts, clock, first } = await shippedWithPending();
    expect(first.report.recordings).toBe(12);
    renameSync(s.root, `${s.root}.old-disk`); // the old disk is unmounted…
    mkdirSync(s.root); // …and a spare one mounted in its place, holding an old batch
    writeTree(s.root, 1, 4, { firstBatch: 900 });
    const swapped = await cronPass(s.config, store, alerts, clock);
    expect(swapped.report.lost).toBe(0);
    expect(new LossLog(s.config.state, { readOnly: true }).all()).toEqual([]);
    expect(alerts.filter((a) => a.severity === 'critical')).toEqual([]);
    const warning = alerts.find((a) => a.subject === 'source cs now reads another directory');
    expect(warning?.message).toContain(`${s.root} is another directory than at the last pass of source cs`);
    expect(warning?.message).toContain('2 recording(s) in 1 batch(es) were waiting to be shipped under the old one');
    expect(swapped.report.recordings).toBe(4); // the stale batch is a closed batch of this root: shipped
    // The recorder writes on: the next batch after the stale one is no gap, and the warning resolves.
    writeTree(s.root, 1, 4, { firstBatch: 901 });
    const next = await cronPass(s.config, store, alerts, clock);
    expect(next.report.lost).toBe(0);
    expect(next.status.openAlerts).toEqual([]);
  });

  it('calls nothing lost when the new disk holds an old copy of a batch under a number the agent shipped, other recordings in it', async () => {
    const { s, store, alerts, clock } = await shippedWithPending();
    renameSync(s.root, `${s.root}.old-disk`);
    mkdirSync(s.root);
    writeTree(s.root, 1, 4, { firstBatch: 2, size: 999, ageMs: 400 * 86_400_000 }); // batch 000002 of long ago
    const swapped = await cronPass(s.config, store, alerts, clock);
    expect(swapped.report.lost).toBe(0);
    expect(alerts.find((a) => a.subject === 'source cs now reads another directory')?.message).toContain('2 recording(s) in 1 batch(es) were waiting');
  });

  it('follows a root copied to a new disk with the same batches as the same root: a recording evicted meanwhile is still lost, and no warning is raised', async () => {
    const { s, store, alerts, clock } = await shippedWithPending();
    renameSync(s.root, `${s.root}.old-disk`);
    cpSync(`${s.root}.old-disk`, s.root, { recursive: true, preserveTimestamps: true }); // a new disk, the same files
    const moved = await cronPass(s.config, store, alerts, clock);
    expect(moved.report.lost).toBe(0);
    expect(moved.report.recordings).toBe(0);
    expect(alerts.find((a) => a.subject === 'source cs now reads another directory')).toBeUndefined();
    // The pending view still holds on the new disk: a pending batch the recorder evicts is lost.
    renameSync(join(s.root, '000004'), join(s.dir, 'evicted'));
    const evicted = await cronPass(s.config, store, alerts, clock);
    expect(evicted.report.lost).toBe(2);
  });

  it("follows a source whose path was changed to a copy of its root with the files' times: no warning, and a pending recording evicted there is lost", async () => {
    const { s, store, alerts, clock } = await shippedWithPending();
    const moved = join(s.dir, 'new-disk', 'recordings');
    cpSync(s.root, moved, { recursive: true, preserveTimestamps: true });
    const config = { ...s.config, sources: [{ ...s.config.sources[0]!, path: moved }] } as AgentConfig;
    const first = await cronPass(config, store, alerts, clock);
    expect(first.report.recordings).toBe(0);
    expect(alerts.find((a) => a.subject === 'source cs now reads another directory')).toBeUndefined();
    renameSync(join(moved, '000004'), join(s.dir, 'evicted'));
    expect((await cronPass(config, store, alerts, clock)).report.lost).toBe(2);
  });
});
