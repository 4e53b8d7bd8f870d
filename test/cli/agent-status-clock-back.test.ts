import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { markPassStarted } from '../../agent/state/pass-marker.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { writeTree } from '../support/recorder-tree.ts';

// The host's clock set back an hour (NTP after a fast clock, an operator's `date -s`): the pass
// after it starts, on its own clock, before the last pass finished. status.json names the pass it
// reports, so `agent status` does not take the later pass, killed, for the finished one.

describe('agent status after the clock was set back', () => {
  it('says a pass that started after the clock was set back (its start before the last finished pass) did not finish, when it was killed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-status-clock-back-'));
    mkdirSync(join(dir, 'rec'));
    const text = `site: site-a\nstate: ${join(dir, 'state')}\nstateMinFreeMiB: 0\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`;
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, text);
    const clock = new ManualClock(new Date('2026-12-06T10:00:00.000Z'));
    const agent = new Agent({ config: parseAgentConfig(text), store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    await agent.cycle();
    agent.close();
    // An hour back, the next cron run marks its pass's start (as the agent does first) and is killed before it ends.
    markPassStarted(join(dir, 'state'), new Date('2026-12-06T09:05:00.000Z'));
    const status = await collectStatus(file);
    expect(status.unfinishedPass).toMatchObject({ startedAt: '2026-12-06T09:05:00.000Z', running: false });
    expect(renderStatus(status)).toContain('started 2026-12-06T09:05:00.000Z');
    expect(renderStatus(status)).toContain('did not finish');
  });

  it('says nothing of an unfinished pass when the last pass, whose start was marked, finished', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-status-clock-done-'));
    mkdirSync(join(dir, 'rec'));
    const text = `site: site-a\nstate: ${join(dir, 'state')}\nstateMinFreeMiB: 0\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`;
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, text);
    const agent = new Agent({ config: parseAgentConfig(text), store: new MemoryBlobStore(), clock: new ManualClock(new Date('2026-12-06T10:00:00.000Z')), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    await agent.cycle();
    agent.close();
    expect((await collectStatus(file)).unfinishedPass).toBeUndefined();
  });

  it('says nothing of an unfinished pass when the clock was set back during the last pass, which finished (its start later than its end)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-status-clock-during-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 1, 4);
    const text = `site: site-a\nstate: ${join(dir, 'state')}\nstateMinFreeMiB: 0\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 4 }\n`;
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, text);
    const clock = new ManualClock(new Date(Date.now() + 3600_000));
    // NTP steps the clock back an hour while the pass ships its first pack.
    const store = new MemoryBlobStore();
    const put = store.put.bind(store);
    store.put = async (...args: Parameters<MemoryBlobStore['put']>) => {
      clock.set(new Date());
      return put(...args);
    };
    const agent = new Agent({ config: parseAgentConfig(text), store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    expect((await agent.cycle()).packs).toBe(1);
    agent.close();
    const status = await collectStatus(file);
    expect(Date.parse(status.agent!.updatedAt)).toBeLessThan(Date.now() + 1800_000);
    expect(status.unfinishedPass).toBeUndefined();
    expect(renderStatus(status)).not.toContain('did not finish');
  });

  it("says a backlog dated ahead of this machine's clock (the recorder's clock an hour fast) is ahead, not a negative age", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-status-ahead-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 1, 4, { ageMs: -3600_000 });
    const text = `site: site-a\nstate: ${join(dir, 'state')}\nstateMinFreeMiB: 0\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 4 }\n`;
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, text);
    const agent = new Agent({ config: parseAgentConfig(text), store: new MemoryBlobStore(), clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    expect((await agent.cycle()).packs).toBe(0);
    agent.close();
    const text2 = renderStatus(await collectStatus(file));
    expect(text2).toMatch(/oldest unshipped {2}000001 \(dated (59|60) min ahead of this machine's clock\)/);
  });
});
