import { describe, it, expect } from 'vitest';
import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { ManualClock } from '../../core/clock.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert } from '../../core/ports.ts';
import { encryptRecordings, writeTree } from '../support/recorder-tree.ts';

describe('recordings already offsite rewritten on the recorder (ransomware encrypting its disk)', () => {
  it.each([
    ['encrypted in place (same sizes)', 0],
    ['encrypted with a key block appended (other sizes)', 512],
  ])('ship again and raise one critical alert for the pass naming how many and the batches, %s; a later pass raises no other', async (_how, appended) => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-reshipped-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 3, 10);
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 10, settleSeconds: 1 }\n`);
    const store = new MemoryBlobStore();
    const alerts: Alert[] = [];
    const clock = new ManualClock(new Date());
    const pass = async () => {
      const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        return await agent.cycle();
      } finally {
        agent.close();
      }
    };
    expect(await pass()).toMatchObject({ packs: 3, recordings: 30 });
    // Every recording encrypted in place: same names, same sizes, other bytes, new times.
    const then = new Date(clock.now().getTime() - 10 * 60_000);
    encryptRecordings(root, then, appended);
    clock.advance(60_000);
    expect(await pass()).toMatchObject({ packs: 3, recordings: 30, failed: 1 });
    const raised = alerts.filter((a) => a.key?.startsWith('reshipped:cs:'));
    expect(raised).toHaveLength(1);
    expect(raised[0]).toMatchObject({ severity: 'critical', subject: 'cs: 30 recordings already offsite changed on the recorder' });
    expect(raised[0]!.message).toContain('(batches 000001, 000002, 000003) came back with another size or file time and are shipped again');
    clock.advance(60_000);
    await pass();
    expect(alerts.filter((a) => a.key?.startsWith('reshipped:cs:'))).toHaveLength(1);
  });
});
