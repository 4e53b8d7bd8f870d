import { describe, it, expect } from 'vitest';
import { chmodSync, mkdtempSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert } from '../../core/ports.ts';
import { silentLogger } from '../../agent/log.ts';
import { writeTree } from '../support/recorder-tree.ts';
import { lowStateSpaceAlert } from '../../agent/state/state-space.ts';
import { Journal, JournalClosedError, shipRetryable } from '../../agent/journal.ts';

function agentOn(dir: string, floorMiB: number | undefined, store: MemoryBlobStore, alerts: Alert[]) {
  const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\n${floorMiB === undefined ? '' : `stateMinFreeMiB: ${floorMiB}\n`}sources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')}, closeAfterFiles: 10, settleSeconds: 1 }\n`);
  return new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
}

describe("the state directory's disk below its floor", () => {
  it('ships nothing, fails the pass and alerts critically naming the free space and the floor; with room again it ships and the alert resolves', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-state-space-'));
    mkdirSync(join(dir, 'rec'));
    writeTree(join(dir, 'rec'), 2, 10);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    // A floor no disk here has: the state's disk is "nearly full".
    const full = agentOn(dir, 1024 * 1024 * 1024, store, alerts);
    try {
      expect(await full.cycle()).toMatchObject({ packs: 0, failed: 1 });
    } finally {
      full.close();
    }
    // Nothing was written to the journal: it stays as the agent opened it.
    expect(readdirSync(join(dir, 'state')).filter((f) => f.startsWith('journal')).map((f) => statSync(join(dir, 'state', f)).size)).toEqual([0]);
    const [alert] = alerts.filter((a) => a.key === 'state-disk-low');
    expect(alert).toMatchObject({ severity: 'critical', subject: "the state directory's disk is nearly full: nothing ships" });
    expect(alert?.message).toMatch(/^.+\/state is on a disk with \d+ MiB free, under stateMinFreeMiB \(1073741824 MiB\)\. The agent ships nothing/);
    // Nothing shipped, but the cloud still hears of the site (the heartbeat names the alert).
    const heartbeats = [];
    for await (const o of store.list('heartbeats/')) heartbeats.push(o.key);
    expect(heartbeats).toHaveLength(1);
    const roomy = agentOn(dir, undefined, store, alerts);
    try {
      expect(await roomy.cycle()).toMatchObject({ packs: 2, failed: 0 });
    } finally {
      roomy.close();
    }
    expect(alerts.filter((a) => a.key === 'state-disk-low').map((a) => a.severity)).toEqual(['critical', 'info']);
  });

  it('is judged against the floor in MiB, and not at all with a floor of 0 or a free space not known', () => {
    const MiB = 1024 * 1024;
    expect(lowStateSpaceAlert('s', '/var/lib/ferry', 63 * MiB, 64)?.message).toContain('/var/lib/ferry is on a disk with 63 MiB free, under stateMinFreeMiB (64 MiB)');
    expect(lowStateSpaceAlert('s', '/var/lib/ferry', 2.5 * MiB, 64)?.message).toContain('with 2.5 MiB free');
    expect(lowStateSpaceAlert('s', '/var/lib/ferry', 64 * MiB, 64)).toBeUndefined();
    expect(lowStateSpaceAlert('s', '/var/lib/ferry', 0, 0)).toBeUndefined();
    expect(lowStateSpaceAlert('s', '/var/lib/ferry', undefined, 64)).toBeUndefined();
  });
});

describe('the state directory', () => {
  it('is made, or left by the agent, readable by its owner only (it names recordings, whose names often carry phone numbers)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-state-mode-'));
    mkdirSync(join(dir, 'rec'));
    const made = agentOn(dir, 0, new MemoryBlobStore(), []);
    made.close();
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
    // One a cron run made earlier under umask 022.
    chmodSync(join(dir, 'state'), 0o755);
    const again = agentOn(dir, 0, new MemoryBlobStore(), []);
    again.close();
    expect(statSync(join(dir, 'state')).mode & 0o777).toBe(0o700);
  });
});

describe('a shipping step whose journal line cannot be written (the state disk full, the agent stopped)', () => {
  it('is not tried again: ENOSPC and a closed journal end its attempts, whatever the store would say; a network error is tried again', () => {
    const ENOSPC = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(shipRetryable(ENOSPC)).toBe(false);
    expect(shipRetryable(new JournalClosedError('journal is closed'))).toBe(false);
    expect(shipRetryable(new Error('socket hang up'))).toBe(true);
  });

  it('rejects an event appended after the journal closed with JournalClosedError', async () => {
    const journal = new Journal(mkdtempSync(join(tmpdir(), 'ferry-journal-closed-')));
    journal.close();
    await expect(journal.begin({ packId: 'p1', source: 'cs', batch: '000001', files: [], key: 'k', manifestKey: 'm' } as never)).rejects.toThrow(JournalClosedError);
  });
});
