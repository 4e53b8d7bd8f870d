import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createS3Client } from '../../adapters/aws-clients.ts';
import { S3BlobStore } from '../../adapters/s3-blob-store.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import type { Alert } from '../../core/ports.ts';

// A site whose clock is off: S3 still takes its requests (the SDK signs with the difference its
// answers' Date header gives), but everything the agent reads from its own clock is off; it says so.

describe("this machine's clock against the store's", () => {
  it("is read from S3's answers: a store 20 minutes ahead gives an offset of 20 minutes", async () => {
    const server = createServer((req, res) => {
      req.resume().on('end', () => res.writeHead(200, { etag: '"x"', date: new Date(Date.now() + 20 * 60_000).toUTCString(), 'x-amz-request-id': 'R' }).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const store = new S3BlobStore(createS3Client({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, credentials: { accessKeyId: 'A', secretAccessKey: 'S' } }), 'b');
      expect(store.clockOffsetMs()).toBe(0);
      await store.put('k', Buffer.from('x'));
      expect(Math.abs(store.clockOffsetMs()! - 20 * 60_000)).toBeLessThan(5_000);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('raises a warning naming how far and which way, and resolves it once the clock is right', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-skew-'));
    mkdirSync(join(dir, 'rec'));
    const config = parseAgentConfig(`site: site-a\nstate: ${join(dir, 'state')}\nsources:\n  - { name: cs, type: recordings, path: ${join(dir, 'rec')} }\n`);
    let offset = -20 * 60_000; // the store's clock 20 minutes behind: this machine's is ahead
    const store = Object.assign(new MemoryBlobStore(), { clockOffsetMs: () => offset });
    const alerts: Alert[] = [];
    const pass = async () => {
      const agent = new Agent({ config, store, clock: new ManualClock(new Date()), log: silentLogger, notifier: { notify: async (a) => void alerts.push(a) }, verify: 'read-back', retryDelayMs: () => 1 });
      try {
        await agent.cycle();
        return agent.statusSnapshot();
      } finally {
        agent.close();
      }
    };
    const skewed = await pass();
    expect(alerts.map((a) => a.subject)).toEqual(["the clock of site site-a's agent is 20 min ahead of the store's"]);
    expect(alerts[0]).toMatchObject({ severity: 'warning', key: 'clock-skew' });
    expect(skewed.openAlerts.map((a) => a.key)).toContain('clock-skew');
    offset = 1_000;
    const right = await pass();
    expect(alerts.map((a) => a.subject)).toEqual(["the clock of site site-a's agent is 20 min ahead of the store's", "resolved: the clock of site site-a's agent is 20 min ahead of the store's"]);
    expect(right.openAlerts.map((a) => a.key)).not.toContain('clock-skew');
  });
});
