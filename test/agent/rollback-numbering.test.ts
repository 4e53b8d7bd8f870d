import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
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

// An administrator rolls the agent back to an older release for a while (docs/deploy.md: an older
// agent runs on a newer state directory), then forward again. The older release scans, ships and
// writes observations.json keeping the fields it does not know, so the recorder's numbering memory
// the newer one left stays as it was while the recorder moves on. Acted out in session 49: the
// batches the older agent shipped, once evicted, were recorded "lost unseen" (critical, exit 3).

function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rollback-'));
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

/**
 * The recorder evicts every batch directory, the root staying: removing the root itself and making
 * it again gives it another inode (or, by chance, the same one), which the agent rightly takes for
 * another directory at the same path, and the test would depend on the file system's inode reuse.
 */
function evictAll(root: string): void {
  for (const batch of readdirSync(root)) rmSync(join(root, batch), { recursive: true });
}

async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

interface ObservationsFile {
  sources: Record<string, { lastScan?: string; numbering?: { at: string; high: number } }>;
}

describe('the numbering memory after an older agent ran on the state directory', () => {
  it('records nothing lost unseen for batches an older agent shipped and the recorder then evicted', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const file = join(s.config.state, 'observations.json');
    writeTree(s.root, 3, 10);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 3, lost: 0 });
    const left = (JSON.parse(readFileSync(file, 'utf8')) as ObservationsFile).sources.cs?.numbering;
    expect(left?.high).toBe(3);

    // Rolled back: the older release ships 000004–000006. It updates the scan time and leaves the
    // numbering as the newer one wrote it (a pass of this release, with that field put back, is the same file).
    writeTree(s.root, 3, 10, { firstBatch: 4 });
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 3, lost: 0 });
    const older = JSON.parse(readFileSync(file, 'utf8')) as ObservationsFile;
    older.sources.cs = { ...older.sources.cs, numbering: left };
    writeFileSync(file, JSON.stringify(older));

    // The recorder evicts everything shipped and writes 000007; the newer release is back.
    evictAll(s.root);
    writeTree(s.root, 1, 10, { firstBatch: 7 });
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 1, lost: 0 });
    expect(new LossLog(s.config.state).all()).toEqual([]);
    expect(alerts.filter((a) => a.severity === 'critical')).toEqual([]);
  });

  it('still records lost unseen the batches nobody saw when no other agent scanned in between', async () => {
    const store = new MemoryBlobStore();
    const s = site();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 10);
    await cronPass(s.config, store, alerts, clock);
    // The recorder writes 000004–000006 and evicts them with the rest before the next look.
    evictAll(s.root);
    writeTree(s.root, 1, 10, { firstBatch: 7 });
    clock.advance(60_000);
    expect(await cronPass(s.config, store, alerts, clock)).toMatchObject({ packs: 1, lost: 3 });
    expect(new LossLog(s.config.state).all().map((l) => [l.batch, l.unseen])).toEqual([['000004–000006', true]]);
  });
});
