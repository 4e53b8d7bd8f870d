import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { parseAgentConfig } from '../../core/config.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Agent, RECORDINGS_SLICE_MS, type CycleReport } from '../../agent/agent.ts';
import { emptyReport } from '../../agent/agent-types.ts';
import { silentLogger } from '../../agent/log.ts';
import { cycleUntilDrained } from '../../cli/agent-commands.ts';
import { writeTree } from '../support/recorder-tree.ts';

// `agent run --once` from cron: a pass ships recordings for one time slice so the other sources
// keep their turn, but the cron run itself must drain the backlog it found, not ship one slice
// and leave the rest for the next cron tick.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(batches: number, options: { storeDown?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-once-'));
  dirs.push(dir);
  const rec = join(dir, 'rec');
  mkdirSync(rec);
  writeTree(rec, batches, 1, { size: 300 });
  const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 2, pollSeconds: 1 }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 1, quietSeconds: 60, settleSeconds: 1 }
`);
  // Every pack takes "longer than a slice": the clock jumps past the slice at each pack upload.
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const memory = new MemoryBlobStore({ minPartSize: 5 * 1024 * 1024 });
  const store: BlobStore = Object.assign(Object.create(memory) as BlobStore, {
    put: async (...a: Parameters<BlobStore['put']>) => {
      if (options.storeDown) {
        offset += RECORDINGS_SLICE_MS + 1000;
        throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9000'), { code: 'ECONNREFUSED' });
      }
      if (a[0].startsWith('manifests/')) offset += RECORDINGS_SLICE_MS + 1000;
      return memory.put(...a);
    },
  });
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1 });
  return { agent, memory };
}

describe('agent run --once drains the backlog', () => {
  it('one pass ends its slice with batches left (more); cycleUntilDrained ships all 12 batches and sums the counts', async () => {
    const first = setup(12);
    const one = await first.agent.cycle();
    first.agent.close();
    expect(one.more).toBe(true);
    expect(one.packs).toBeLessThan(12);

    const second = setup(12);
    let passes = 0;
    const counting = { cycle: async () => (passes++, second.agent.cycle()) };
    const all = await cycleUntilDrained(counting);
    second.agent.close();
    expect(passes).toBeGreaterThan(1);
    expect(all.packs).toBe(12);
    expect(all.recordings).toBe(12);
    expect(all.manifests).toHaveLength(12);
    expect(all.more).toBeFalsy();
  });

  it('ends after a pass that shipped nothing and failed (the store unreachable), instead of passing again and again', async () => {
    const { agent } = setup(12, { storeDown: true });
    let passes = 0;
    // Bounded here so that the old behaviour (a pass after another for ever) fails the test instead of hanging it.
    const counting = { cycle: async () => (++passes > 5 ? { ...(await agent.cycle()), more: false } : agent.cycle()) };
    const report = await cycleUntilDrained(counting);
    agent.close();
    expect(passes).toBe(1);
    expect(report).toMatchObject({ packs: 0, more: true });
    expect(report.failed).toBeGreaterThan(0);
  });

  it('goes on after a pass that failed once but found packs already offsite (a rebuilt host draining what an earlier one shipped)', async () => {
    const passes: CycleReport[] = [
      { ...emptyReport(), failed: 1, found: { packs: 40, recordings: 400, bytes: 4_000_000 }, more: true },
      { ...emptyReport(), packs: 2, recordings: 20, bytes: 200_000 },
    ];
    let cycles = 0;
    const report = await cycleUntilDrained({ cycle: async () => passes[cycles++] ?? emptyReport() });
    expect(cycles).toBe(2);
    expect(report).toMatchObject({ packs: 2, failed: 1, found: { packs: 40, recordings: 400 } });
    expect(report.more).toBeFalsy();
  });

  it('stops after the pass in progress when told to stop (SIGTERM), leaving the rest for the next run', async () => {
    const { agent } = setup(12);
    const report = await cycleUntilDrained(agent, () => true);
    agent.close();
    expect(report.more).toBe(true);
    expect(report.packs).toBeLessThan(12);
  });
});
