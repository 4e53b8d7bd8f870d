import { describe, it, expect } from 'vitest';
import { fdatasync, fstatSync, ftruncateSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseManifest } from '../../core/manifest.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import type { JournalSync } from '../../agent/journal.ts';
import { readAll } from '../../agent/recover.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { artefactSite } from '../support/artefact-agent.ts';

// The journal's lines are synced through the thread pool while other packs go on. A crash
// between a line's write and its sync loses the line (it never reached the disk), and the step
// it guards must not have been taken: the restarted agent then ships every batch exactly once.

function site() {
  const { dir, root, config } = artefactSite(
    '  - { name: cs, type: recordings, path: {root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }',
    '{ partSizeMiB: 5, packConcurrency: 2, partConcurrency: 2, attempts: 3 }',
  );
  writeTree(root, 3, 10);
  return { config, journalFile: join(dir, 'state', 'journal.jsonl') };
}

/**
 * A sync that syncs until the lines it would make durable match `dies`; then the process dies
 * there: what was written since the last sync is lost (cut off the file, as a power cut loses
 * the page cache) and the sync never returns.
 */
function crashingSync(file: string, dies: (unsynced: string) => boolean): { sync: JournalSync; reached: Promise<void> } {
  let synced = 0;
  let signal!: () => void;
  const reached = new Promise<void>((r) => (signal = r));
  const sync: JournalSync = (fd) => {
    const size = fstatSync(fd).size;
    if (dies(readFileSync(file).subarray(synced, size).toString('utf8'))) {
      ftruncateSync(fd, synced);
      signal();
      return new Promise(() => undefined);
    }
    return new Promise((resolve, reject) => fdatasync(fd, (error) => (error ? reject(error) : ((synced = size), resolve()))));
  };
  return { sync, reached };
}

/** Counts the PUTs and multipart creates of packs, passing everything through. */
function countingPacks(store: BlobStore) {
  const sent: string[] = [];
  const spy: BlobStore = Object.assign(Object.create(store) as BlobStore, {
    put: (...a: Parameters<BlobStore['put']>) => (a[0].endsWith('.tar') && sent.push(a[0]), store.put(...a)),
    createMultipart: (...a: Parameters<BlobStore['createMultipart']>) => (sent.push(a[0]), store.createMultipart(...a)),
  });
  return { spy, sent };
}

const agentOf = (config: ReturnType<typeof site>['config'], store: BlobStore, syncJournal?: JournalSync) =>
  new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1, ...(syncJournal ? { syncJournal } : {}) });

async function manifests(store: BlobStore) {
  const out = [];
  for await (const o of store.list('manifests/')) out.push(parseManifest(await readAll(store, o.key)));
  return out;
}

/** A site whose first agent dies at the first sync of a line holding `line`: that agent, and the packs it sent. */
async function killedAt(line: string) {
  const s = site();
  const store = new MemoryBlobStore();
  const packs = countingPacks(store);
  const crash = crashingSync(s.journalFile, (lines) => lines.includes(line));
  const first = agentOf(s.config, packs.spy, crash.sync);
  void first.cycle();
  await crash.reached;
  return { s, store, packs, first };
}

describe('journal crash safety', () => {
  it('killed between the begin line’s write and its sync: nothing was sent for the pack, and the restart ships each batch once', async () => {
    const { s, store, packs, first } = await killedAt('"e":"begin"');
    // Give the other pack worker time to do whatever it would do without the sync.
    await new Promise((r) => setTimeout(r, 200));
    expect(packs.sent).toEqual([]);
    first.close(); // the process is gone: nothing more reaches its journal
    expect(readFileSync(s.journalFile, 'utf8')).not.toContain('"e":"begin"');

    const second = agentOf(s.config, packs.spy);
    expect(await second.cycle()).toMatchObject({ packs: 3, recordings: 30, failed: 0 });
    const ms = await manifests(store);
    expect(ms.map((m) => m.batch.path).sort()).toEqual(['000001', '000002', '000003']);
    expect(ms.every((m) => m.superseded === undefined)).toBe(true);
    expect(packs.sent).toHaveLength(3);
    second.close();
  });

  it('killed between the published line’s write and its sync: the restart finds the manifest and does not ship that pack again', async () => {
    const { s, store, packs, first } = await killedAt('"e":"published"');
    first.close();
    expect(readFileSync(s.journalFile, 'utf8')).not.toContain('"e":"published"');
    const before = (await manifests(store)).length;
    expect(before).toBeGreaterThanOrEqual(1);

    const second = agentOf(s.config, packs.spy);
    expect(second.statusSnapshot().inflight).toBeGreaterThanOrEqual(1);
    const report = await second.cycle();
    expect(report.failed).toBe(0);
    const ms = await manifests(store);
    expect(ms.map((m) => m.batch.path).sort()).toEqual(['000001', '000002', '000003']);
    // Every batch's pack was sent once: the one whose published line was lost was recovered, not re-shipped.
    expect(new Set(packs.sent).size).toBe(packs.sent.length);
    expect(ms.every((m) => m.superseded === undefined)).toBe(true);
    expect(second.statusSnapshot()).toMatchObject({ inflight: 0, totals: { packs: 3, recordings: 30 } });
    second.close();
  });
});
