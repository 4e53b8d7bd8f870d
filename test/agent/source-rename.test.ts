import { describe, it, expect } from 'vitest';
import { mkdirSync, mkdtempSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { Journal } from '../../agent/journal.ts';
import { silentLogger } from '../../agent/log.ts';
import { Observations } from '../../agent/state/observations.ts';
import { ShippedIndex } from '../../agent/state/shipped-index.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A recordings source renamed in the configuration (same path, another name) is the same source.

function site(names: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rename-'));
  const root = join(dir, 'rec');
  mkdirSync(root);
  const config = (...as: string[]) =>
    parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 1, partConcurrency: 1, attempts: 2 }
sources:
${as.map((name, i) => `  - { name: ${name}, type: recordings, path: ${i === 0 ? root : join(dir, `other-${i}`)}, closeAfterFiles: 4, quietSeconds: 600, settleSeconds: 1 }`).join('\n')}
`);
  for (let i = 1; i < names.length; i++) mkdirSync(join(dir, `other-${i}`));
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

describe('a recordings source renamed in the configuration', () => {
  it('ships nothing again under the new name, and what the old name had pending is still watched for loss', async () => {
    const s = site(['cs', 'b']);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 4); // closed: shipped
    writeTree(s.root, 1, 2, { firstBatch: 4, ageMs: 10_000 }); // open: pending
    writeTree(join(s.dir, 'other-1'), 1, 4);
    expect((await cronPass(s.config('cs', 'b'), store, clock)).report.recordings).toBe(16);
    const renamed = s.config('contactstore', 'b');
    const first = await cronPass(renamed, store, clock);
    expect(first.report.recordings).toBe(0);
    expect(first.report.lost).toBe(0);
    expect(Observations.unconfigured(renamed.state, new Set(['contactstore', 'b']))).toEqual([]);
    // Another process (cron) reads the journal afresh: nothing of the old name comes back.
    expect((await cronPass(renamed, store, clock)).report.recordings).toBe(0);
    const journal = new Journal(renamed.state, { readOnly: true });
    expect(journal.shippedAny('contactstore', '000001')).toBe(true);
    expect(journal.shippedAny('cs', '000001')).toBe(false);
    expect(journal.shippedAny('b', '000001')).toBe(true);
    journal.close();
    // The pending batch the recorder evicts is lost, under the new name.
    renameSync(join(s.root, '000004'), join(s.dir, 'evicted'));
    const evicted = await cronPass(renamed, store, clock);
    expect(evicted.report.lost).toBe(2);
  });

  it('ships nothing again when the new name is one a source removed long ago shipped under', async () => {
    const s = site(['cs', 'zz']);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 4);
    writeTree(join(s.dir, 'other-1'), 2, 4);
    expect((await cronPass(s.config('cs', 'zz'), store, clock)).report.recordings).toBe(20);
    // `zz` taken out, and forgotten a week later; what it shipped is still in the shipped index (no compaction since).
    await cronPass(s.config('cs'), store, clock);
    clock.advance(8 * 86_400_000);
    await cronPass(s.config('cs'), store, clock);
    expect(Observations.unconfigured(s.config('cs').state, new Set(['cs']))).toEqual([]);
    // `cs` renamed to that name: what `cs` shipped carries over, though `zz` has records of its own.
    const renamed = await cronPass(s.config('zz'), store, clock);
    expect(renamed.report.recordings).toBe(0);
    expect(renamed.report.lost).toBe(0);
    const journal = new Journal(s.config('zz').state, { readOnly: true });
    expect(journal.shippedAny('zz', '000003')).toBe(true);
    expect(journal.shippedAny('cs', '000001')).toBe(false);
    journal.close();
  });

  it('finishes a rename cut short after the pending view moved: the old name\'s observations follow, its numbering still finds a batch evicted unseen', async () => {
    const s = site(['cs', 'b']);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 3, 4);
    writeTree(s.root, 1, 2, { firstBatch: 4, ageMs: 10_000 });
    writeTree(join(s.dir, 'other-1'), 1, 4);
    await cronPass(s.config('cs', 'b'), store, clock);
    // The state a kill -9 leaves inside the rename: the shipped index and the pending view under the new name, the observations not yet.
    const state = s.config('cs', 'b').state;
    const journal = new Journal(state);
    await journal.renameSource('cs', 'contactstore');
    journal.close();
    renameSync(join(state, 'pending', 'cs.jsonl'), join(state, 'pending', 'contactstore.jsonl'));
    // Meanwhile batches 5 and 6 were written and evicted: only the numbering carried over tells of them.
    writeTree(s.root, 1, 4, { firstBatch: 7 });
    const renamed = s.config('contactstore', 'b');
    const next = await cronPass(renamed, store, clock);
    expect(Observations.unconfigured(renamed.state, new Set(['contactstore', 'b']))).toEqual([]);
    // Batch 7 ships (batch 4 is still open); nothing of batches 1 to 3 ships again.
    expect(next.report.recordings).toBe(4);
    expect(next.alerts.map((a) => a.subject)).toContain('contactstore: 2 batch(es) lost unseen (000005–000006)');
  });

  it('leaves a new source alone that reads another directory than the removed one', async () => {
    const s = site(['cs', 'b']);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    writeTree(s.root, 2, 4);
    writeTree(join(s.dir, 'other-1'), 1, 4);
    await cronPass(s.config('cs', 'b'), store, clock);
    // `b` taken out, `c` added reading a directory no source read before: a new source, shipped as such.
    const fresh = parseAgentConfig(`
site: site-a
state: ${join(s.dir, 'state')}
sources:
  - { name: cs, type: recordings, path: ${s.root}, closeAfterFiles: 4 }
  - { name: c, type: recordings, path: ${s.root}-c, closeAfterFiles: 4 }
`);
    mkdirSync(`${s.root}-c`);
    writeTree(`${s.root}-c`, 1, 4);
    expect((await cronPass(fresh, store, clock)).report.recordings).toBe(4);
    const journal = new Journal(fresh.state, { readOnly: true });
    expect(journal.shippedAny('c', '000001')).toBe(true);
    journal.close();
  });
});

describe('the shipped index renaming a source', () => {
  it('files every batch of one source under the other, in key order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-rename-index-'));
    const index = new ShippedIndex(join(dir, 'shipped.jsonl'));
    for (const [key, stamp] of [['a\t000001', 'x\t1\t1'], ['cs\t000001', 'y\t1\t1'], ['cs\t000002', 'z\t1\t1'], ['m\t000001', 'w\t1\t1']] as const) index.add(key, [stamp]);
    expect(index.renameSource('cs', 'zz')).toBe(2);
    expect([...index.get('zz\t000001')]).toEqual(['y\t1\t1']);
    expect([...index.get('zz\t000002')]).toEqual(['z\t1\t1']);
    expect(index.get('cs\t000001').size).toBe(0);
    expect([...index.get('m\t000001')]).toEqual(['w\t1\t1']);
    expect([...index.get('a\t000001')]).toEqual(['x\t1\t1']);
    // Made again (a crash before the observations followed): nothing left to move, nothing lost.
    expect(index.renameSource('cs', 'zz')).toBe(0);
    expect([...index.get('zz\t000002')]).toEqual(['z\t1\t1']);
  });

  it('keeps the batches the new name has already, merged with the old name\'s in key order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-rename-index-'));
    const index = new ShippedIndex(join(dir, 'shipped.jsonl'));
    const lines: [string, string][] = [['cs\t000001', 'a\t1\t1'], ['cs\t000003', 'c\t1\t1'], ['cs\t000005', 'e\t1\t1'], ['n\t000001', 'n\t1\t1'], ['zz\t000002', 'b\t1\t1'], ['zz\t000003', 'd\t1\t1'], ['zz\t000009', 'i\t1\t1'], ['zzz\t000001', 'q\t1\t1']];
    for (const [key, stamp] of lines) index.add(key, [stamp]);
    expect(index.renameSource('cs', 'zz')).toBe(3);
    expect([...index.get('zz\t000001')]).toEqual(['a\t1\t1']);
    expect([...index.get('zz\t000002')]).toEqual(['b\t1\t1']);
    expect([...index.get('zz\t000003')].sort()).toEqual(['c\t1\t1', 'd\t1\t1']);
    expect([...index.get('zz\t000005')]).toEqual(['e\t1\t1']);
    expect([...index.get('zz\t000009')]).toEqual(['i\t1\t1']);
    expect([...index.get('zzz\t000001')]).toEqual(['q\t1\t1']);
    expect([...index.get('n\t000001')]).toEqual(['n\t1\t1']);
    expect(index.get('cs\t000001').size).toBe(0);
    // The base is still sorted: read afresh, every line is found by its key.
    const again = new ShippedIndex(join(dir, 'shipped.jsonl'), { readOnly: true });
    for (const key of ['n\t000001', 'zz\t000001', 'zz\t000003', 'zz\t000005', 'zz\t000009', 'zzz\t000001']) expect(again.get(key).size).toBeGreaterThan(0);
  });
});
