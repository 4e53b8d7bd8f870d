import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { collectStatus, renderStatus } from '../../cli/agent-commands.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';

// A service agent (`agent run`, no --once) whose pass ends on an error logs it and tries again
// each pollSeconds, holding the state directory all the while; status.json is not written. Its
// pass.json then said a pass had started after the last finished one, by the process holding
// the lock, and `agent status` read "pass running since T" of an agent idle after a failure.

describe('agent status after a pass that ended on an error', () => {
  it("says the pass failed, when and with which error, not that it is running, though its process still holds the lock (text and --json)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-status-failed-'));
    const state = join(dir, 'state');
    mkdirSync(join(dir, 'rec'));
    const file = join(dir, 'agent.yaml');
    writeFileSync(file, `site: site-a\nstate: ${state}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`);
    const config = parseAgentConfig(readFileSync(file, 'utf8'), file);
    const clock = new ManualClock(new Date('2026-03-01T02:10:00Z'));
    const agent = new Agent({ config, store: new MemoryBlobStore(), clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      await agent.cycle();
      const status = join(state, 'status.json');
      const finished = readFileSync(status, 'utf8');
      // The next pass cannot write its status (a directory where status.json goes): it throws.
      rmSync(status);
      mkdirSync(join(status, 'x'), { recursive: true });
      clock.set(new Date('2026-03-01T02:12:00Z'));
      await expect(agent.cycle()).rejects.toThrow();
      rmSync(status, { recursive: true });
      writeFileSync(status, finished);

      const report = await collectStatus(file);
      expect(report.running?.pid).toBe(process.pid);
      expect(report.unfinishedPass).toMatchObject({ startedAt: '2026-03-01T02:12:00.000Z', pid: process.pid, running: false, failed: { at: '2026-03-01T02:12:00.000Z' } });
      expect(report.unfinishedPass?.failed?.error).toMatch(/status\.json/);
      const text = renderStatus(report);
      expect(text).toMatch(/^pass {14}started 2026-03-01T02:12:00\.000Z \(pid \d+\) failed at 2026-03-01T02:12:00\.000Z: .*status\.json.*; last finished pass 2026-03-01T02:10:00\.000Z: the figures below are that pass's$/m);
      expect(text).not.toContain('running since 2026-03-01T02:12');
    } finally {
      agent.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
