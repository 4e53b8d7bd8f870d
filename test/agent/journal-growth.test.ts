import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPACT_AFTER_BYTES, COMPACT_AFTER_LINES, Journal } from '../../agent/journal.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { BlobStore } from '../../core/ports.ts';

// A cron agent reads its whole journal at every pass, one with nothing to ship included. The
// journal was compacted only past 5,000 lines: at a site of 5,000 calls a day in batches of 100
// recordings (each pack's `begin` lists its files, ~15 KB) that is some 35 MB, read every five
// minutes, and once the lines held more published batches than the shipped index keeps in memory
// (1,024), every load merged them into the index's base again: the base rewritten and fsynced at
// every pass until the compaction, weeks later.

const batchName = (b: number) => String(b).padStart(6, '0');
const stamps = (batch: number, n: number) => Array.from({ length: n }, (_, i) => ({ name: `call-${batchName(batch)}-${i}.${i % 2 ? 'json' : 'wav'}`, size: 40_000 + i, mtimeMs: 1_733_000_000_000 + batch * 1000 + i }));

/** Publishes `count` batches of `files` files, one pack a batch (the lines synced in groups, as a busy pass does). */
async function publishBatches(j: Journal, count: number, files: number, from = 1): Promise<void> {
  const lines: Promise<void>[] = [];
  for (let b = from; b < from + count; b++) {
    lines.push(j.begin({ packId: `p${b}`, source: 'cs', batch: batchName(b), packKey: `k${b}`, manifestKey: `m${b}`, files: stamps(b, files) }));
    lines.push(j.published(`p${b}`, files / 2, files * 40_000));
  }
  await Promise.all(lines);
}

function site(): { config: AgentConfig; state: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-journal-growth-'));
  mkdirSync(join(dir, 'rec'));
  const state = join(dir, 'state');
  return { state, config: parseAgentConfig(`site: site-a\nstate: ${state}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`) };
}

async function cronPass(config: AgentConfig, store: BlobStore, clock: ManualClock): Promise<void> {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    await agent.cycle();
  } finally {
    agent.close();
  }
}

describe('a journal stays small however long the site has run', () => {
  it(`is due for compaction once the lines since its snapshot pass ${COMPACT_AFTER_BYTES / 2 ** 20} MiB, far fewer than ${COMPACT_AFTER_LINES} lines, through a reopen, and no longer once compacted`, async () => {
    const d = mkdtempSync(join(tmpdir(), 'ferry-journal-growth-'));
    const j = new Journal(d);
    // Batches of 100 recordings (200 files): ~16 KB a `begin` line.
    await publishBatches(j, 200, 200);
    expect(j.compactionDue).toBe(false);
    await publishBatches(j, 120, 200, 201);
    expect(statSync(join(d, 'journal.jsonl')).size).toBeGreaterThan(COMPACT_AFTER_BYTES);
    expect(j.lineCount).toBe(640);
    expect(j.compactionDue).toBe(true);
    j.close();
    const k = new Journal(d);
    expect(k.compactionDue).toBe(true);
    await k.compact(new Set([`cs\t${batchName(320)}`]));
    expect(k.compactionDue).toBe(false);
    expect(k.shippedExactly('cs', batchName(320), stamps(320, 200))).toBe(true);
    k.close();
    const again = new Journal(d);
    expect(again.compactionDue).toBe(false);
    expect(again.totals.packs).toBe(320);
    again.close();
  });

  it('a cron pass compacts a journal whose replay overflowed the shipped index, so the next pass with nothing to ship leaves the index file untouched', async () => {
    const { config, state } = site();
    const j = new Journal(state);
    // 1,100 small batches: 2,200 lines, under the line limit and the byte limit, over the index's 1,024 held in memory.
    await publishBatches(j, 1100, 2);
    j.close();
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-03-01T06:00:00Z'));
    await cronPass(config, store, clock);
    const index = join(state, 'shipped.jsonl');
    const after = statSync(index);
    expect(statSync(join(state, 'journal.jsonl')).size).toBeLessThan(4096);
    clock.advance(300_000);
    await cronPass(config, store, clock);
    const next = statSync(index);
    expect({ ino: next.ino, mtimeMs: next.mtimeMs }).toEqual({ ino: after.ino, mtimeMs: after.mtimeMs });
  });
});
