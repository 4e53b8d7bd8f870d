import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type AgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, BlobStore } from '../../core/ports.ts';
import { RESTORE_MARKER, TreeRestoreUnfinishedError } from '../../agent/tree/restore-marker.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { readAll } from '../../agent/recover.ts';
import { onceExitCode } from '../../cli/agent-commands.ts';
import { restoreTree } from '../../cli/tree-restore.ts';
import { RestoreInterruptedError } from '../../cli/tree-writer.ts';
import { picture, snapshot, treeManifests, treeSite } from './tree-support.ts';

// A failover: the share restored on the secondary host with `ferry restore tree`, then the agent
// started there. A restore stopped half way leaves a directory that looks like the share; the
// agent must not publish it as the site's state. The restore keeps a marker in DIR until it has
// finished (agent/tree/restore-marker.ts), and the agent takes no snapshot of a root holding one.

function host(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `ferry-${name}-`));
  const root = join(dir, 'share');
  mkdirSync(root);
  const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: share, type: tree, path: ${root}, everySeconds: 0 }\n`);
  return { root, config };
}

/** One cron run: a new Agent on the host's state directory. */
async function cronPass(config: AgentConfig, store: BlobStore, alerts: Alert[], clock: ManualClock) {
  const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
  try {
    return await agent.cycle();
  } finally {
    agent.close();
  }
}

describe('a share whose restore has not finished', () => {
  it('is not snapshotted by the agent on the secondary host (critical alert naming the restore to finish); once the restore finishes, the marker is gone and the next pass publishes the whole share and resolves the alert', async () => {
    const primary = host('primary');
    mkdirSync(join(primary.root, 'Meeting Content'));
    for (let i = 0; i < 12; i++) writeFileSync(join(primary.root, 'Meeting Content', `m${i}.xml`), `<meeting n="${i}"/>`.repeat(50 + i));
    const store = new MemoryBlobStore();
    const clock = new ManualClock(new Date('2026-12-06T02:00:00.000Z'));
    const alerts: Alert[] = [];
    expect(onceExitCode(await cronPass(primary.config, store, alerts, clock))).toBe(0);
    const [shipped] = await treeManifests(store);

    // 03:00, the secondary host: the restore is stopped after its first file (a lost session, kill -9).
    const secondary = host('secondary');
    const controller = new AbortController();
    const stopped = await restoreTree({ blobs: store, manifest: shipped!, to: secondary.root, concurrency: 1, signal: controller.signal, onProgress: () => controller.abort() }).catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(RestoreInterruptedError);
    const marker = JSON.parse(readFileSync(join(secondary.root, RESTORE_MARKER), 'utf8')) as Record<string, string>;
    expect(marker).toMatchObject({ site: 'site-a', source: 'share', snapshotId: shipped!.snapshotId, takenAt: shipped!.takenAt, command: `ferry restore tree --site site-a --source share --at ${shipped!.takenAt} --to ${secondary.root}` });

    clock.advance(3_600_000);
    const refused = await cronPass(secondary.config, store, alerts, clock);
    expect(onceExitCode(refused)).toBe(1);
    expect(refused.manifests).toEqual([]);
    expect(await treeManifests(store)).toHaveLength(1);
    const alert = alerts.find((a) => a.key === 'tree-failed:share');
    expect(alert).toMatchObject({ severity: 'critical', subject: 'no snapshot of share' });
    expect(alert!.message).toContain(`a \`ferry restore tree\` of snapshot ${shipped!.snapshotId} (site-a/share, taken ${shipped!.takenAt})`);
    expect(alert!.message).toContain(`Run it again (\`${marker.command}\`)`);

    // The operator runs the restore again: it finishes, and says nothing of its own marker.
    const report = await restoreTree({ blobs: store, manifest: shipped!, to: secondary.root });
    expect(report.notInSnapshot).toBeUndefined();
    expect(existsSync(join(secondary.root, RESTORE_MARKER))).toBe(false);
    expect(picture(secondary.root)).toEqual(picture(primary.root));

    clock.advance(60_000);
    const next = await cronPass(secondary.config, store, alerts, clock);
    expect(onceExitCode(next)).toBe(0);
    expect(next.manifests).toHaveLength(1);
    const newest = (await treeManifests(store)).find((m) => m.snapshotId !== shipped!.snapshotId)!;
    expect(newest.counts.files).toBe(12);
    expect(alerts.filter((a) => a.key === 'tree-failed:share').map((a) => [a.severity, a.subject])).toEqual([
      ['critical', 'no snapshot of share'],
      ['info', 'resolved: no snapshot of share'],
    ]);
  });

  it('publishes nothing when a restore into the share begins while the snapshot walks it, and no snapshot ever lists the marker', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) writeFileSync(join(site.root, `f${i}`), `file ${i}`);
    const store = new MemoryBlobStore();
    let begun = false;
    const during = snapshot(site, store, {
      fs: {
        openSync: (p, flags) => {
          if (!begun) writeFileSync(join(site.root, RESTORE_MARKER), '{}');
          begun = true;
          return openSync(p, flags);
        },
      },
    });
    await expect(during).rejects.toThrow(TreeRestoreUnfinishedError);
    await expect(during).rejects.toThrow(`into ${site.root} has not finished (${join(site.root, RESTORE_MARKER)} is there)`);
    expect(await treeManifests(store)).toEqual([]);
  });

  it('leaves the marker in DIR while a restore is stopped, and a restore that finishes leaves none (and lists none as not in the snapshot)', async () => {
    const site = treeSite();
    for (let i = 0; i < 5; i++) writeFileSync(join(site.root, `f${i}`), `file ${i}`);
    const store = new MemoryBlobStore();
    const { manifest } = await snapshot(site, store);
    const to = join(site.dir, 'restored');
    const controller = new AbortController();
    controller.abort();
    await expect(restoreTree({ blobs: store, manifest, to, signal: controller.signal })).rejects.toThrow(RestoreInterruptedError);
    expect(existsSync(join(to, RESTORE_MARKER))).toBe(true);
    const report = await restoreTree({ blobs: store, manifest, to });
    expect(report.files.restored).toBe(5);
    expect(report.notInSnapshot).toBeUndefined();
    expect(existsSync(join(to, RESTORE_MARKER))).toBe(false);
    const index = gunzipSync(await readAll(store, manifest.index.key)).toString();
    expect(index).not.toContain(RESTORE_MARKER);
  });
});
