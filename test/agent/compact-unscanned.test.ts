import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { compacting } from '../support/compacting.ts';

// The journal's compaction forgets what shipped from batches a pass did not find on the recorder
// (evicted). A source the pass could not look at (its mount gone, its root suddenly empty) found
// nothing, yet its batches are still on the recorder: forgetting them would ship them all again
// when the mount is back.


function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-compact-'));
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

async function cronPass(config: AgentConfig, store: BlobStore, clock: ManualClock) {
  const alerts: Alert[] = [];
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return { report: await agent.cycle(), alerts };
  } finally {
    agent.close();
  }
}

describe('a journal compacted while a recordings source cannot be looked at', () => {
  for (const [what, away] of [
    ['its mount is gone', (root: string) => renameSync(root, `${root}.away`)],
    ['its root is suddenly empty (the share unmounted, its mount point left)', (root: string) => (renameSync(root, `${root}.away`), mkdirSync(root))],
  ] as const) {
    it(`keeps what shipped from the source when ${what}: nothing ships again when it is back`, async () => {
      const s = site();
      const store = new MemoryBlobStore();
      const clock = new ManualClock(new Date());
      writeTree(s.root, 3, 4);
      expect((await cronPass(s.config, store, clock)).report.recordings).toBe(12);
      await cronPass(s.config, store, clock); // a pass that finds nothing new: its view holds none of them
      away(s.root);
      compacting(true);
      const down = await cronPass(s.config, store, clock);
      compacting(false);
      expect(down.report.recordings).toBe(0);
      renameSync(`${s.root}.away`, s.root);
      const back = await cronPass(s.config, store, clock);
      expect(back.report.recordings).toBe(0);
      expect(back.report.packs).toBe(0);
    });
  }
});
