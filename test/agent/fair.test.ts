import { mkdirSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { systemClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { parseArtefactManifest } from '../../core/artefact.ts';
import { isArtefactManifestKey } from '../../core/layout.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { binlogSegment } from '../support/binlog-bytes.ts';

// Fair sources: a recordings backlog of thousands of batches drains while binlog segments keep
// appearing, and the binlog RPO bound (partialIntervalSeconds) still holds.

const segName = (n: number) => `mysql-bin.${String(n).padStart(6, '0')}`;

describe('fair sources', () => {
  it('with 2000 recording batches pending, every binlog write is shipped within partialIntervalSeconds + pollSeconds (+1 s slack) while recordings drain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fair-'));
    const rec = join(dir, 'rec');
    const db = join(dir, 'db');
    mkdirSync(rec);
    mkdirSync(db);
    writeTree(rec, 2000, 1, { size: 300 });
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, packConcurrency: 4, pollSeconds: 1 }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 1, quietSeconds: 60, settleSeconds: 1 }
  - { name: binlog, type: binlog, path: ${db}, basename: mysql-bin, partialIntervalSeconds: 1 }
`);

    // Every store write takes 10 ms: draining 2000 packs (pack + manifest) takes well over 5 s.
    const memory = new MemoryBlobStore({ minPartSize: 5 * 1024 * 1024 });
    const published: { at: number; name: string; size: number; partial: boolean }[] = [];
    let packs = 0;
    const slow = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const store: BlobStore = Object.assign(Object.create(memory) as BlobStore, {
      put: async (...a: Parameters<BlobStore['put']>) => {
        await slow(10);
        const r = await memory.put(...a);
        if (isArtefactManifestKey(a[0])) {
          const m = parseArtefactManifest(a[1]);
          if (m.source === 'binlog') published.push({ at: Date.now(), name: m.name, size: m.size, partial: m.partial === true });
        } else if (a[0].startsWith('manifests/')) packs++;
        return r;
      },
    });

    // The database: a new event every 200 ms, a new segment every 6 events.
    const writes: { at: number; name: string; size: number }[] = [];
    const closed: { at: number; name: string }[] = [];
    let seq = 1;
    let events: { ts: number }[] = [];
    const nowS = () => Math.floor(Date.now() / 1000);
    const writeActive = (closed: boolean) => {
      const bytes = binlogSegment({ startTs: events[0]?.ts ?? nowS(), events, ...(closed ? { rotateTo: { name: segName(seq + 1), ts: nowS() } } : { inUse: true }) });
      const path = join(db, segName(seq));
      writeFileSync(path, bytes);
      const t = new Date();
      utimesSync(path, t, t);
      return bytes.length;
    };
    const tick = () => {
      events.push({ ts: nowS() });
      if (events.length === 6) {
        writeActive(true);
        closed.push({ at: Date.now(), name: segName(seq) });
        seq++;
        events = [{ ts: nowS() }];
      }
      writeFileSync(join(db, 'mysql-bin.index'), Array.from({ length: seq }, (_, i) => `./${segName(i + 1)}\n`).join(''));
      writes.push({ at: Date.now(), name: segName(seq), size: writeActive(false) });
    };
    tick();

    const agent = new Agent({ config, store, clock: systemClock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1 });
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    const timer = setInterval(tick, 200);
    await slow(4000);
    clearInterval(timer);
    const stoppedWritingAt = Date.now();
    await slow(2000);
    const stoppedAt = Date.now();
    controller.abort();
    await running;
    agent.close();
    rmSync(dir, { recursive: true, force: true });

    // Recordings were draining all along and were not done: binlogs did not wait for them.
    expect(packs).toBeGreaterThan(50);
    expect(packs).toBeLessThan(2000);
    const bound = (1 + 1 + 1) * 1000; // partialIntervalSeconds + pollSeconds + 1 s slack
    const late = writes
      .filter((w) => w.at < stoppedWritingAt)
      .map((w) => {
        // Shipped: a partial of the segment at least this long, or the segment's final copy, or any later segment's.
        const p = published.find((p) => p.at >= w.at && (p.name > w.name || (p.name === w.name && (!p.partial || p.size >= w.size))));
        return { ...w, delay: p ? p.at - w.at : Infinity };
      })
      .filter((w) => w.delay > bound);
    expect(late).toEqual([]);
    // Every segment closed at least the bound before the agent stopped is offsite in its final
    // form (how many the writer closed depends on how often its timer ran on a loaded machine).
    const finals = new Set(published.filter((p) => !p.partial).map((p) => p.name));
    const due = closed.filter((c) => c.at <= stoppedAt - bound).map((c) => c.name);
    expect(due.length).toBeGreaterThanOrEqual(1);
    expect(due.filter((name) => !finals.has(name))).toEqual([]);
  }, 30_000);
});
