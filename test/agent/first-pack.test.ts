import { describe, it, expect } from 'vitest';
import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import type { BlobStore } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { artefactSite } from '../support/artefact-agent.ts';

// The first pack of a pass (the oldest batch: the recorder's next to evict) is read alone, and
// the other ship workers join once its members are read: four packs started together would be
// read together, and the first one published would wait for the reading of all four.

const RECORDINGS = '  - { name: cs, type: recordings, path: {root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }';

/** Runs one pass over four batches, logging every file the agent opens and every pack it puts, in order. */
async function onePass(store: BlobStore = new MemoryBlobStore()) {
  const { root, config } = artefactSite(RECORDINGS, '{ partSizeMiB: 5, packConcurrency: 4, partConcurrency: 2, attempts: 2 }');
  writeTree(root, 4, 10);
  const events: string[] = [];
  // The first read of each later batch waits (at most 5 s) until all three later batches have
  // asked for one: workers that joined side by side pass at once; workers that ran one after
  // another each wait it out, and their reads are then logged one batch after the other. Without
  // the gate the order would depend on how the machine schedules the journal's syncs.
  const later = new Set<string>();
  let allJoined!: () => void;
  const gate = new Promise<void>((resolve) => (allJoined = resolve));
  const joined = async (batch: string) => {
    if (batch === '000001' || later.has(batch)) return;
    later.add(batch);
    if (later.size === 3) allJoined();
    await Promise.race([gate, new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  };
  const logged: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    put: (key: string, body: Uint8Array, options?: Parameters<BlobStore['put']>[2]) => {
      if (key.endsWith('.tar')) events.push('put pack');
      return store.put(key, body, options);
    },
  });
  const agent = new Agent({
    config,
    store: logged,
    clock: new ManualClock(new Date()),
    log: silentLogger,
    notifier: { notify: async () => undefined },
    verify: 'read-back',
    retryDelayMs: () => 1,
    openFile: async (path, flags) => {
      const batch = basename(dirname(path));
      events.push(`read ${batch}`);
      await joined(batch);
      return open(path, flags);
    },
  });
  const report = await agent.cycle();
  return { report, events };
}

describe('the first pack of a pass', () => {
  it('reads every member of the oldest batch before any member of the batches after it, then ships those four at a time', async () => {
    const { report, events } = await onePass();
    expect(report).toMatchObject({ packs: 4, recordings: 40, failed: 0 });
    const reads = events.filter((e) => e.startsWith('read '));
    // 10 recordings and their 10 sidecars of the oldest batch, before anything else is read.
    expect(reads.slice(0, 20)).toEqual(Array(20).fill('read 000001'));
    expect(reads.slice(20).every((r) => r !== 'read 000001')).toBe(true);
    // The three others were then read side by side (the workers joined), not one after another.
    const rest = reads.slice(20);
    const firstOf = (batch: string) => rest.indexOf(`read ${batch}`);
    const lastOf = (batch: string) => rest.lastIndexOf(`read ${batch}`);
    expect(Math.max(firstOf('000002'), firstOf('000003'), firstOf('000004'))).toBeLessThan(Math.min(lastOf('000002'), lastOf('000003'), lastOf('000004')));
  });


  it('lets the other workers go on when the first pack fails', async () => {
    const store = new MemoryBlobStore();
    // Every attempt at the first pack (its key carries the attempt: the batch's pack id) is refused.
    let first: string | undefined;
    const failingFirst: BlobStore = Object.assign(Object.create(store) as BlobStore, {
      put: (key: string, body: Uint8Array, options?: Parameters<BlobStore['put']>[2]) => {
        if (key.endsWith('.tar')) first ??= key.replace(/(-\d+)?\.tar$/, '');
        if (key.startsWith(first ?? '\0')) return Promise.reject(Object.assign(new Error('store down'), { name: 'InternalError' }));
        return store.put(key, body, options);
      },
    });
    const { report } = await onePass(failingFirst);
    expect(report).toMatchObject({ packs: 3, failed: 1 });
  });
});
