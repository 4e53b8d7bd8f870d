import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig } from '../../core/config.ts';
import { TransientError } from '../../core/errors.ts';
import type { BlobStore } from '../../core/ports.ts';
import { Agent } from '../../agent/agent.ts';
import { silentLogger } from '../../agent/log.ts';
import { startMetricsServer, type MetricsServer } from '../../agent/metrics-server.ts';
import { writeTree } from '../support/recorder-tree.ts';

// /healthz and /metrics over real HTTP, fed by real passes of an agent.

/** The value of one sample line, e.g. `ferry_agent_packs_shipped_total{source="cs"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('agent /healthz and /metrics', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  function rig() {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-metrics-'));
    const rec = join(dir, 'rec');
    mkdirSync(rec);
    const config = parseAgentConfig(`
site: site-a
state: ${join(dir, 'state')}
shipping: { partSizeMiB: 5, attempts: 1, pollSeconds: 10 }
bandwidth: { timezone: UTC, default: 3MiB/s }
metrics: { listen: "127.0.0.1:0", staleSeconds: 120 }
sources:
  - { name: cs, type: recordings, path: ${rec}, closeAfterFiles: 2, quietSeconds: 60, settleSeconds: 1 }
`);
    const memory = new MemoryBlobStore();
    let failing = false;
    const store: BlobStore = Object.assign(Object.create(memory) as BlobStore, {
      put: async (...a: Parameters<BlobStore['put']>) => {
        if (failing) throw new TransientError('store unreachable (test)');
        return memory.put(...a);
      },
    });
    const clock = new ManualClock(new Date());
    const agent = new Agent({ config, store, clock, log: silentLogger, notifier: { notify: async () => undefined }, verify: 'etag', retryDelayMs: () => 1 });
    cleanup.push(() => {
      agent.close();
      rmSync(dir, { recursive: true, force: true });
    });
    return { config, agent, clock, rec, fail: (on: boolean) => (failing = on) };
  }

  async function serve(r: ReturnType<typeof rig>): Promise<MetricsServer> {
    const server = await startMetricsServer(r.agent, r.config.metrics!, { pollSeconds: r.config.shipping.pollSeconds, now: () => r.clock.now() });
    cleanup.push(() => server.close());
    return server;
  }

  it('healthz is 503 before any pass, 200 after a good one, 503 again when passes stop for staleSeconds', async () => {
    const r = rig();
    const server = await serve(r);
    let res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unhealthy', reasons: [expect.stringMatching(/no pass has completed since the agent started/)] });

    writeTree(r.rec, 2, 2, { size: 1000 });
    expect(await r.agent.cycle()).toMatchObject({ packs: 2, failed: 0 });
    res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', reasons: [] });

    r.clock.advance(121_000);
    res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect((await res.json()).reasons.join('\n')).toMatch(/no pass completed for 121 s and nothing uploaded \(limit 120 s\)/);
  });

  it('metrics show backlog, packs and bytes shipped, failures, last success per source and the bandwidth limit', async () => {
    const r = rig();
    const server = await serve(r);
    writeTree(r.rec, 2, 2, { size: 1000 });
    const good = await r.agent.cycle();
    const passAt = r.clock.now().getTime() / 1000;
    let res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    let text = await res.text();
    expect(sample(text, 'ferry_agent_packs_shipped_total{source="cs"}')).toBe(2);
    expect(sample(text, 'ferry_agent_shipped_bytes_total{source="cs"}')).toBe(good.bytes);
    expect(good.bytes).toBe(4000); // the recordings packed
    expect(sample(text, 'ferry_agent_backlog_items{source="cs"}')).toBe(0);
    expect(sample(text, 'ferry_agent_failures_total{source="cs"}')).toBe(0);
    expect(sample(text, 'ferry_agent_last_success_timestamp_seconds{source="cs"}')).toBe(passAt);
    expect(sample(text, 'ferry_agent_bandwidth_limit_bytes_per_second')).toBe(3 * 1024 * 1024);
    expect(sample(text, 'ferry_agent_bandwidth_limited')).toBe(1);
    expect(sample(text, 'ferry_agent_uploaded_bytes_total')).toBeGreaterThan(good.bytes);

    // The store goes away: two batches fail, stay in the backlog, and healthz says why.
    writeTree(r.rec, 2, 2, { size: 1000, firstBatch: 10 });
    r.fail(true);
    r.clock.advance(30_000);
    expect(await r.agent.cycle()).toMatchObject({ packs: 0, failed: 3 }); // the two batches, and the heartbeat
    text = await (await fetch(`${server.url}/metrics`)).text();
    expect(sample(text, 'ferry_agent_failures_total{source="cs"}')).toBe(2);
    expect(sample(text, 'ferry_agent_backlog_items{source="cs"}')).toBe(4);
    expect(sample(text, 'ferry_agent_last_success_timestamp_seconds{source="cs"}')).toBe(passAt);
    res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(503);
    expect((await res.json()).reasons).toEqual(['source cs: 2 item(s) could not be shipped in the last pass (they stay in the backlog)']);

    r.fail(false);
    await r.agent.cycle();
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });

  it('metrics.listen must look like host:port (the config error names the path)', () => {
    expect(() => parseAgentConfig(`site: a\nstate: /tmp/x\nmetrics: { listen: "9464" }\nsources: [{ name: cs, type: recordings, path: /tmp/r }]\n`)).toThrow(/metrics\.listen: listen looks like "127\.0\.0\.1:9464"/);
  });
});
