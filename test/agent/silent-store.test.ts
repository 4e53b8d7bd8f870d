import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { TransientError } from '../../core/errors.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert, PutOptions } from '../../core/ports.ts';
import { writeTree } from '../support/recorder-tree.ts';

// A store that accepts connections and never answers (a firewall that dropped its state, a
// stalled proxy): each request ends at its idle timeout, after the SDK asked again. A pass that
// met one ships no more: asking again, batch after batch, would hold a cron run (and its lock)
// for the better part of an hour; the batches wait for the next pass, and the alert says why.

describe('a store that does not answer', () => {
  it('ends the pass after the first request that timed out: that batch not tried again, the rest left for the next pass, one alert, the heartbeat one, naming the timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-silent-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 4, 3, { ageMs: 3_600_000 });
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nshipping: { attempts: 5, packConcurrency: 1 }\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 3, quietSeconds: 60, settleSeconds: 1 }\n`);
    let writes = 0;
    const timedOut = (key: string) => {
      if (key.startsWith('recordings/')) writes++;
      throw new TransientError('S3 put recordings/site-a/x.tar: TimeoutError: @smithy/node-http-handler - the request socket timed out after 60000 ms of inactivity (configured by client requestHandler).');
    };
    const memory = new MemoryBlobStore();
    let heartbeatListings = 0;
    const store = Object.assign(memory, {
      put: timedOut,
      createMultipart: timedOut,
      list: (prefix: string) => {
        if (prefix.startsWith('heartbeats/')) heartbeatListings++;
        return MemoryBlobStore.prototype.list.call(memory, prefix);
      },
    });
    const alerts: Alert[] = [];
    const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      const report = await agent.cycle();
      // One batch failed (the heartbeat's write, timed out as well, is the other failure of the pass).
      expect(report).toMatchObject({ packs: 0, failed: 2, more: true });
      expect(writes).toBe(1);
      // The heartbeat is tried (it says the store is silent), without first listing the site's others from the same silent store.
      expect(heartbeatListings).toBe(0);
      // One page for the one cause: the heartbeat's (no heartbeat of this agent ever went out), naming the timeout; not one more for the source's batches.
      expect(alerts.map((a) => a.key)).toEqual(['heartbeat']);
      expect(alerts[0]!.message).toMatch(/timed out after 60000 ms of inactivity/);
    } finally {
      agent.close();
    }
  });

  it('tries a batch again in the same pass when its connection was cut (the SDK names a reset TimeoutError too): the pass ships every batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-cut-'));
    const root = join(dir, 'rec');
    mkdirSync(root);
    writeTree(root, 4, 3, { ageMs: 3_600_000 });
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nshipping: { attempts: 5, packConcurrency: 1 }\nsources:\n  - { name: cs, type: recordings, path: ${root}, closeAfterFiles: 3, quietSeconds: 60, settleSeconds: 1 }\n`);
    const memory = new MemoryBlobStore();
    let cuts = 1;
    const store = Object.assign(memory, {
      put: (key: string, body: Uint8Array, options?: PutOptions) => {
        // What S3BlobStore makes of the SDK's error for a connection reset mid-body.
        if (key.startsWith('recordings/') && cuts-- > 0) throw new TransientError(`S3 put ${key}: TimeoutError: socket hang up`);
        return MemoryBlobStore.prototype.put.call(memory, key, body, options);
      },
    });
    const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async () => undefined }, verify: 'read-back', retryDelayMs: () => 1 });
    try {
      const report = await agent.cycle();
      expect(report).toMatchObject({ packs: 4, failed: 0 });
    } finally {
      agent.close();
    }
  });
});
