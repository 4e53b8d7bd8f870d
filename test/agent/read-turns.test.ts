import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, mkdirSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { createMetadataExtractor } from '../../core/metadata.ts';
import { Journal } from '../../agent/journal.ts';
import { shipBatch } from '../../agent/ship-batch.ts';
import type { FileStamp } from '../../agent/journal.ts';

// Reading a pack of small recordings never waits for I/O (every read is synchronous, every step
// settles at once), so without a turn given to the event loop now and then, the answers other
// packs wait for (their digests, the store's replies) would be taken only once the pack in hand
// is read whole: packs read side by side would then all wait for each other.

const FILES = 1000;
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function batchOf(root: string, batch: string): FileStamp[] {
  mkdirSync(join(root, batch), { recursive: true });
  return Array.from({ length: FILES }, (_, i) => {
    const name = `${String(i).padStart(6, '0')}_20250106T080000.wav`;
    const path = join(root, batch, name);
    writeFileSync(path, Buffer.alloc(1024, i % 251));
    const st = statSync(path);
    return { name, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
  });
}

describe('reading a pack', () => {
  it('gives the event loop a turn while it reads a large batch (a callback queued mid-read runs before the last file is opened)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-read-turns-'));
    const root = join(dir, 'rec');
    const recordings = batchOf(root, '000001');
    const journal = new Journal(join(dir, 'state'));
    const store = new MemoryBlobStore();
    let opened = 0;
    let openedAtTurn: number | undefined;
    const openFileSync = (path: string, flags: number): number => {
      // Queued once reading is under way (the journal's begin line is synced by then).
      if (++opened === 20) setImmediate(() => (openedAtTurn = opened));
      return openSync(path, flags);
    };
    const ctx = {
      site: 'site-a',
      sourceRoot: root,
      store,
      journal,
      extractor: createMetadataExtractor({ sidecar: false }),
      clock: new ManualClock(new Date('2025-02-01T00:00:00Z')),
      verify: 'etag' as const,
      partSize: 5 * 1024 * 1024,
      partConcurrency: 2,
      agentVersion: 'test',
      openFileSync,
    };
    try {
      const result = await shipBatch(ctx, { source: 'cs', batch: '000001', recordings, sidecars: new Map(), oldestMs: recordings[0]!.mtimeMs });
      expect(result.recordings).toBe(FILES);
      expect(opened).toBe(FILES);
      expect(openedAtTurn).toBeDefined();
      expect(openedAtTurn).toBeLessThan(FILES);
    } finally {
      journal.close();
    }
  });
});
