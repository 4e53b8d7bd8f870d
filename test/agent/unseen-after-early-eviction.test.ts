import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { LossLog } from '../../agent/state/loss-log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A recorder that evicts one batch out of turn (a full disk, an administrator's rm) leaves a hole
// in a numbering a pass had seen whole. Found by a soak of a flaky cron site: while that hole was
// on the recorder's disk, batches written and evicted between two looks vanished without a word.

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-unseen-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, quietSeconds: 600, settleSeconds: 1 }
`);
  return { root, config };
}

/** One cron run: a fresh agent on the shared state directory, one pass, closed. */
async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

const drop = (root: string, ...batches: number[]) => batches.forEach((b) => rmSync(join(root, String(b).padStart(6, '0')), { recursive: true }));

describe('batches no pass saw, on a numbering with a batch evicted out of turn', () => {
  it('records as lost unseen the batches written and evicted between two looks while a batch a pass saw is missing from the middle', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 5, 10);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 5, lost: 0 });
    // The recorder evicts 000003 out of turn (shipped: no loss) and writes 000006.
    drop(s.root, 3);
    writeTree(s.root, 1, 10, { firstBatch: 6 });
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 1, lost: 0 });
    // No pass looks while the recorder writes 000007–000010 and evicts 000006–000008, oldest first
    // after the ones already shipped: 000004 and 000005 stay, with the hole at 000003 below them.
    drop(s.root, 1, 2);
    writeTree(s.root, 4, 10, { firstBatch: 7 });
    drop(s.root, 6, 7, 8);
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 2, lost: 2 });
    const unseen = new LossLog(s.config.state).all().filter((l) => l.unseen);
    expect(unseen.map((l) => [l.batch, l.files.map((f) => f.name)])).toEqual([['000007–000008', ['000007', '000008']]]);
    expect(alerts.find((a) => a.key === `loss:${unseen[0]!.id}`)).toMatchObject({ severity: 'critical', subject: 'cs: 2 batch(es) lost unseen (000007–000008)' });
    // Said once.
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ lost: 0 });
  });

  it('still judges no gap where the new numbers themselves have a hole (a numbering with holes)', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 10);
    await cronPass(s.config, store, alerts, clock);
    writeTree(s.root, 1, 10, { firstBatch: 4 });
    writeTree(s.root, 1, 10, { firstBatch: 6 });
    clock.advance(60_000);
    await cronPass(s.config, store, alerts, clock);
    // 000004 and 000006 seen, 000005 never: the numbering has a hole of its own; 000008 after it is not judged.
    writeTree(s.root, 1, 10, { firstBatch: 8 });
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ lost: 0 });
    expect(new LossLog(s.config.state).all()).toEqual([]);
  });
});
