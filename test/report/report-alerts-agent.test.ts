// The ops lead's morning, end to end: a real agent ships a recorder's calls, the recorder's disk
// is encrypted in place, the next pass ships them all again and raises its critical alert; the
// daily report, read from that agent's own heartbeats, is not FULL and names the alert.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { ingestManifest } from '../../core/ingest.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { MemoryCatalogue } from '../../core/memory-catalogue.ts';
import { dailyReport } from '../../core/report.ts';
import { heartbeatSignals } from '../../core/report-signals.ts';
import { encryptRecordings, writeTree } from '../support/recorder-tree.ts';

describe("daily report of a day whose recorder's recordings already offsite were rewritten", () => {
  it("is PARTIAL and names the agent's critical alert on the recordings source's line, from the heartbeats the agent wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-report-alerts-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    const clock = new ManualClock(new Date('2026-03-02T10:00:00Z'));
    writeTree(root, 3, 10, { now: clock.now().getTime() });
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, settleSeconds: 1 }\n`);
    const store = new MemoryBlobStore();
    const pass = async () => {
      const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => {} }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        return await agent.cycle();
      } finally {
        agent.close();
      }
    };
    expect(await pass()).toMatchObject({ packs: 3, recordings: 30 });
    const then = new Date(clock.now().getTime() - 10 * 60_000);
    encryptRecordings(root, then);
    clock.advance(60_000);
    expect(await pass()).toMatchObject({ packs: 3, recordings: 30, failed: 1 });
    const catalogue = new MemoryCatalogue();
    for await (const o of store.list('manifests/')) await ingestManifest({ blobs: store, catalogue }, o.key);

    clock.set(new Date('2026-03-02T12:00:00Z'));
    const now = () => clock.now();
    const report = await dailyReport({ blobs: store, catalogue }, 'site-a', '2026-03-02', { now, signals: heartbeatSignals(store, now) });
    expect(report.status).toBe('PARTIAL');
    expect(report.sources.find((s) => s.source === 'cs')?.problems).toEqual(['the agent held a critical alert open since 2026-03-02 10:01Z: 30 recordings already offsite changed on the recorder']);
    expect(report.alerts).toMatchObject([{ severity: 'critical', subject: 'cs: 30 recordings already offsite changed on the recorder', since: '2026-03-02T10:01:00.000Z' }]);
  });
});
