import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { Observations, REMOVED_KEPT_DAYS } from '../../agent/state/observations.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { compacting } from '../support/compacting.ts';

// A source taken out of the configuration for a while (its recorder in maintenance) and put back:
// what it shipped and what it had pending are kept for a week from the first pass without it, so
// nothing still on its recorder ships again (even after a journal compaction meanwhile) and a
// recording it had pending that the recorder evicted meanwhile is called lost, not forgotten.


function site() {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-removed-'));
  const cs = join(dir, 'cs');
  const old = join(dir, 'old');
  mkdirSync(cs);
  mkdirSync(old);
  const head = `site: site-a\nstate: ${join(dir, 'state')}\nshipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }\nsources:\n  - { name: cs, type: recordings, path: ${cs}, closeAfterFiles: 4, quietSeconds: 600, settleSeconds: 1 }\n`;
  const both = parseAgentConfig(`${head}  - { name: old, type: recordings, path: ${old}, closeAfterFiles: 4, quietSeconds: 600, settleSeconds: 1 }\n`);
  const one = parseAgentConfig(head);
  return { dir, cs, old, both, one, state: join(dir, 'state') };
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

describe('a recordings source taken out of the configuration and put back within a week', () => {
  it('ships nothing again of what it shipped before, though the journal was compacted while it was out', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.old, 3, 4);
    expect((await cronPass(s.both, store, clock)).report.recordings).toBe(12);
    clock.advance(3_600_000);
    compacting(true);
    expect((await cronPass(s.one, store, clock)).report.recordings).toBe(0);
    compacting(false);
    expect(Observations.unconfigured(s.state, new Set(['cs']))).toEqual(['old']);
    clock.advance(2 * 86_400_000);
    const back = await cronPass(s.both, store, clock);
    expect(back.report.recordings).toBe(0);
    expect(back.report.packs).toBe(0);
  });

  it('calls a recording it had pending and the recorder evicted meanwhile lost', async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    // Batches of two recordings that close at four: pending, not shipped.
    writeTree(s.old, 2, 2, { ageMs: 10_000, now: clock.now().getTime() });
    const first = await cronPass(s.both, store, clock);
    expect(first.report.recordings).toBe(0);
    clock.advance(3_600_000);
    await cronPass(s.one, store, clock);
    rmSync(join(s.old, '000001'), { recursive: true });
    clock.advance(86_400_000);
    const back = await cronPass(s.both, store, clock);
    expect(back.report.lost).toBe(2);
  });
});

describe('a recordings source out of the configuration for a week', () => {
  it(`is forgotten (observations and pending view) by the first pass ${REMOVED_KEPT_DAYS} days after the first pass without it, not before`, async () => {
    const s = site();
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.old, 1, 2, { ageMs: 10_000, now: clock.now().getTime() });
    await cronPass(s.both, store, clock);
    expect(existsSync(join(s.state, 'pending', 'old.jsonl'))).toBe(true);
    clock.advance(60_000);
    await cronPass(s.one, store, clock);
    clock.advance((REMOVED_KEPT_DAYS - 1) * 86_400_000);
    await cronPass(s.one, store, clock);
    expect(Observations.unconfigured(s.state, new Set(['cs']))).toEqual(['old']);
    expect(existsSync(join(s.state, 'pending', 'old.jsonl'))).toBe(true);
    clock.advance(86_400_000);
    await cronPass(s.one, store, clock);
    expect(Observations.unconfigured(s.state, new Set(['cs']))).toEqual([]);
    expect(existsSync(join(s.state, 'pending', 'old.jsonl'))).toBe(false);
  });
});
