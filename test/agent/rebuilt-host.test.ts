import { describe, it, expect } from 'vitest';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import type { AgentConfig } from '../../core/config.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { artefactSite, artefactAgent, artefactManifests, writeAt, bytesOf } from '../support/artefact-agent.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { collectStatus, onceSummary, renderStatus } from '../../cli/agent-commands.ts';
import { formatBytes } from '../../cli/progress.ts';

// A site host rebuilt from scratch: same site and configuration, an empty state directory, the
// site's disks re-attached. What the store already holds is not a reason to stop shipping.

const T0 = 1_790_000_000; // UTC seconds
const RECORDINGS = '  - { name: cs, type: recordings, path: {root}, closeAfterFiles: 10, quietSeconds: 60, settleSeconds: 1 }';

function recordingsAgent(config: AgentConfig, store: BlobStore, clock: ManualClock, alerts: Alert[] = []) {
  return new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'etag', retryDelayMs: () => 1 });
}

/** The store, with the keys of every pack (.tar) the agent sent. */
function countingPacks(store: BlobStore): { store: BlobStore; packsSent: string[] } {
  const packsSent: string[] = [];
  const spy = new Proxy(store, {
    get(target, name) {
      const value = Reflect.get(target, name, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if ((name === 'put' || name === 'createMultipart') && String(args[0]).endsWith('.tar')) packsSent.push(String(args[0]));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: spy, packsSent };
}

const segment = (n: number) => `rtmbinlog.${String(n).padStart(6, '0')}`;

describe('a rebuilt host (empty state directory)', () => {
  it('ships a binlog source\'s new segments although a segment already offsite is described otherwise now (its neighbour purged)', async () => {
    const site = artefactSite(`  - { name: rtm, type: binlog, path: "{root}", basename: rtmbinlog }`);
    // Segments the agent cannot read as binlog v4 (encrypted, say): their spans come from file times.
    for (const n of [1, 2, 3]) writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date((T0 + n * 100) * 1000));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date((T0 + 1000) * 1000));
    const before = artefactAgent(site.config, store, { clock });
    expect(await before.agent.cycle()).toMatchObject({ failed: 0 });
    before.agent.close();

    // The host dies; by the time it is rebuilt (hours later) the server purged segment 1 and wrote 4 and 5.
    clock.advance(3 * 3_600_000);
    rmSync(join(site.root, segment(1)));
    for (const n of [4, 5]) writeAt(join(site.root, segment(n)), bytesOf(500, n), new Date((T0 + n * 100) * 1000));
    const rebuilt = artefactAgent({ ...site.config, state: join(site.dir, 'state-rebuilt') }, store, { clock });
    const report = await rebuilt.agent.cycle();
    expect(report.failed).toBe(0);
    const finals = (await artefactManifests(store)).filter((m) => !m.partial).map((m) => m.name).sort();
    expect(finals).toEqual([segment(1), segment(2), segment(3), segment(4)]);
    expect(rebuilt.alerts.filter((a) => a.severity !== 'info').map((a) => a.subject)).toEqual([]);
    expect((await rebuilt.agent.cycle()).failed).toBe(0);
    rebuilt.agent.close();
  });

  it('holds back a rotated backup overwritten with random bytes after the rebuild, as the full already offsite was a dump: its format is remembered from the content read now', async () => {
    const site = artefactSite('  - { name: shop-db, type: rotated, profile: generic, patterns: ["*.sql"], path: "{root}", stableSeconds: 20 }');
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const file = join(site.root, 'full-20260301.sql');
    const dump = `-- MariaDB dump 10.19  Distrib 10.11.6-MariaDB\n--\n-- Host: localhost    Database: shop\n${'INSERT INTO t VALUES (1);\n'.repeat(50)}-- Dump completed on 2026-12-05  9:53:01\n`;
    writeAt(file, dump, new Date(clock.now().getTime() - 600_000));
    const before = artefactAgent(site.config, store, { clock });
    await before.agent.cycle();
    clock.advance(30_000);
    expect(await before.agent.cycle()).toMatchObject({ artefacts: 1, failed: 0 });
    before.agent.close();

    rmSync(site.config.state, { recursive: true });
    const rebuilt = artefactAgent(site.config, store, { clock });
    await rebuilt.agent.cycle();
    clock.advance(30_000);
    expect(await rebuilt.agent.cycle()).toMatchObject({ artefacts: 0, failed: 0 });
    // Ransomware rewrites the dump in place: no backup any more, held back as on the host before.
    writeAt(file, bytesOf(4000, 7), new Date(clock.now().getTime() - 60_000));
    await rebuilt.agent.cycle();
    clock.advance(30_000);
    expect(await rebuilt.agent.cycle()).toMatchObject({ artefacts: 0, failed: 1 });
    expect((await artefactManifests(store)).map((m) => m.name)).toEqual(['full-20260301.sql']);
    expect(rebuilt.alerts.find((a) => a.key === 'ship-failed:shop-db:full-20260301.sql')).toMatchObject({ severity: 'critical', subject: 'full-20260301.sql of shop-db is not a backup any more: held back' });
    rebuilt.agent.close();
  });

  it('sends again no pack the store already holds: a batch recorded before the directory began is asked about first, only the batch recorded since goes out', async () => {
    const site = artefactSite(RECORDINGS);
    writeTree(site.root, 3, 10);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const before = recordingsAgent(site.config, store, clock);
    expect(await before.cycle()).toMatchObject({ packs: 3, failed: 0 });
    before.close();

    rmSync(site.config.state, { recursive: true });
    clock.advance(3 * 3_600_000);
    writeTree(site.root, 1, 10, { firstBatch: 4, now: clock.now().getTime() });
    const counted = countingPacks(store);
    const alerts: Alert[] = [];
    const rebuilt = recordingsAgent(site.config, counted.store, clock, alerts);
    expect(await rebuilt.cycle()).toMatchObject({ failed: 0, lost: 0 });
    rebuilt.close();
    expect(counted.packsSent).toHaveLength(1);
    expect(counted.packsSent[0]).toContain(`/${new Date(clock.now().getTime() - 3_600_000).toISOString().slice(0, 10).replaceAll('-', '/')}/`);
    expect(alerts.filter((a) => a.severity !== 'info')).toEqual([]);
  });

  it('counts the packs it found already offsite apart from those it sent: the pass, its --once line and `agent status` say "shipped 1 pack(s) …; 3 pack(s) … already offsite (found, not sent again)"', async () => {
    const site = artefactSite(RECORDINGS);
    writeTree(site.root, 3, 10);
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date());
    const before = recordingsAgent(site.config, store, clock);
    const first = await before.cycle();
    before.close();

    rmSync(site.config.state, { recursive: true });
    clock.advance(3 * 3_600_000);
    writeTree(site.root, 1, 10, { firstBatch: 4, now: clock.now().getTime() });
    const rebuilt = recordingsAgent(site.config, store, clock);
    const report = await rebuilt.cycle();
    rebuilt.close();
    expect(report).toMatchObject({ packs: 1, recordings: 10, failed: 0, found: { packs: 3, recordings: 30, bytes: first.bytes } });
    expect(report.bytes).toBeLessThan(first.bytes);
    expect(report.manifests).toHaveLength(4);
    expect(onceSummary(report)).toBe(`shipped 1 pack(s), 10 recording(s), ${formatBytes(report.bytes)}; 3 pack(s), 30 recording(s), ${formatBytes(first.bytes)} already offsite (found, not sent again); failed 0; lost 0`);
    const file = join(site.dir, 'agent.yaml');
    writeFileSync(file, `site: site-a\nstate: ${site.config.state}\nsources:\n${RECORDINGS.replaceAll('{root}', site.root)}\n`);
    const status = await collectStatus(file);
    expect(status.totals).toMatchObject({ packs: 1, recordings: 10, bytes: report.bytes, foundPacks: 3, foundRecordings: 30, foundBytes: first.bytes });
    expect(renderStatus(status)).toContain(`shipped           1 pack(s), 10 recording(s), ${formatBytes(report.bytes)}; 3 pack(s), 30 recording(s), ${formatBytes(first.bytes)} already offsite (found, not sent again)`);
  });

  it('asks the store first on a site\'s very first host only when an agent shipped as the site before (a new site sends its packs unasked)', async () => {
    const site = artefactSite(RECORDINGS);
    writeTree(site.root, 2, 10);
    const counted = countingPacks(new MemoryBlobStore());
    const clock = new ManualClock(new Date());
    const first = recordingsAgent(site.config, counted.store, clock);
    expect(await first.cycle()).toMatchObject({ packs: 2, failed: 0 });
    first.close();
    expect(counted.packsSent).toHaveLength(2);
  });
});

describe('a state directory restored from an older copy', () => {
  it('sends again no pack shipped after the copy was taken: the recordings the store lists since are asked about first, those of batches recorded the evening before the copy too', async () => {
    const site = artefactSite(RECORDINGS);
    // Just after midnight UTC: the batches shipped after the copy were recorded the day before it, and their manifests are filed under that day.
    const clock = new ManualClock(new Date('2026-12-07T00:20:00Z'));
    const store = new MemoryBlobStore({ clock });
    writeTree(site.root, 2, 10, { now: clock.now().getTime() });
    const agent = recordingsAgent(site.config, store, clock);
    expect(await agent.cycle()).toMatchObject({ packs: 2, failed: 0 });
    agent.close();
    const copy = join(site.dir, 'state-copy');
    cpSync(site.config.state, copy, { recursive: true });
    clock.advance(600_000);
    writeTree(site.root, 2, 10, { firstBatch: 3, now: clock.now().getTime() });
    clock.advance(600_000);
    const later = recordingsAgent(site.config, store, clock);
    expect(await later.cycle()).toMatchObject({ packs: 2, failed: 0 });
    later.close();

    clock.advance(600_000);
    rmSync(site.config.state, { recursive: true });
    cpSync(copy, site.config.state, { recursive: true });
    const counted = countingPacks(store);
    const restored = recordingsAgent(site.config, counted.store, clock);
    expect(await restored.cycle()).toMatchObject({ failed: 0, lost: 0 });
    restored.close();
    expect(counted.packsSent).toEqual([]);
  });
});
