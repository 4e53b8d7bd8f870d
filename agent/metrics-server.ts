import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Agent, PassOutcome } from './agent.ts';
import type { MetricsConfig } from '../core/config.ts';

// `/healthz` and Prometheus `/metrics` for an agent run as a service (`metrics.listen` in the
// config). Metrics are fed by the agent's passes (each source's share) and read live from the
// throttle; /healthz answers 200 while the last pass succeeded recently, 503 with the reasons
// otherwise. Only GET; nothing here changes the agent.

export interface Health {
  ok: boolean;
  reasons: string[];
  lastPass?: string;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private last: PassOutcome | undefined;
  private readonly startedAt: number;
  private readonly backlogItems: Gauge;
  private readonly backlogBytes: Gauge;
  private readonly shippedBytes: Counter;
  private readonly shippedPacks: Counter;
  private readonly failures: Counter;
  private readonly lost: Counter;
  private readonly lastSuccess: Gauge;
  private readonly passFailures: Counter;
  private readonly lastPassAt: Gauge;

  constructor(
    private readonly agent: Agent,
    private readonly options: { staleSeconds: number; now: () => Date },
  ) {
    this.startedAt = options.now().getTime();
    const r = [this.registry];
    const source = ['source'];
    this.backlogItems = new Gauge({ name: 'ferry_agent_backlog_items', help: 'Items waiting to be shipped: recordings, or backup/log versions', labelNames: source, registers: r });
    this.backlogBytes = new Gauge({ name: 'ferry_agent_backlog_bytes', help: 'Bytes waiting to be shipped', labelNames: source, registers: r });
    this.shippedBytes = new Counter({ name: 'ferry_agent_shipped_bytes_total', help: 'Bytes shipped (packs and artefacts) since the agent started', labelNames: source, registers: r });
    this.shippedPacks = new Counter({ name: 'ferry_agent_packs_shipped_total', help: 'Packs (recordings) and artefacts (backups, binlog segments, archives) published since the agent started', labelNames: source, registers: r });
    this.failures = new Counter({ name: 'ferry_agent_failures_total', help: 'Packs or artefacts that could not be shipped after their attempts (they stay in the backlog)', labelNames: source, registers: r });
    this.lost = new Counter({ name: 'ferry_agent_lost_total', help: 'Batches or versions found lost (deleted before they were shipped)', labelNames: source, registers: r });
    this.lastSuccess = new Gauge({ name: 'ferry_agent_last_success_timestamp_seconds', help: 'When the source last had a pass with nothing failed and nothing unreadable (Unix seconds)', labelNames: source, registers: r });
    this.passFailures = new Counter({ name: 'ferry_agent_pass_failures_total', help: 'Passes that stopped with an error (retried next poll)', registers: r });
    this.lastPassAt = new Gauge({ name: 'ferry_agent_last_pass_timestamp_seconds', help: 'When the last pass ended (Unix seconds)', registers: r });
    const throttle = agent.throttle;
    new Gauge({
      name: 'ferry_agent_bandwidth_limit_bytes_per_second',
      help: 'Upload limit in force now; 0 means unlimited',
      registers: r,
      collect() {
        this.set(throttle.limit ?? 0);
      },
    });
    new Gauge({
      name: 'ferry_agent_bandwidth_limited',
      help: '1 while a bandwidth limit is in force, 0 while uploads are unlimited',
      registers: r,
      collect() {
        this.set(throttle.limit === undefined ? 0 : 1);
      },
    });
    let waited = 0;
    new Counter({
      name: 'ferry_agent_throttle_wait_seconds_total',
      help: 'Time upload streams spent waiting for the bandwidth limit',
      registers: r,
      collect() {
        const now = throttle.waitedSeconds;
        if (now > waited) this.inc(now - waited);
        waited = now;
      },
    });
    new Counter({ name: 'ferry_agent_uploaded_bytes_total', help: 'Bytes sent to the store (every PUT and part, retries included)', registers: r, collect() {
      this.reset();
      this.inc(throttle.bytesSent);
    } });
    agent.passListeners.push((pass) => this.observe(pass));
  }

  observe(pass: PassOutcome): void {
    const at = pass.at.getTime() / 1000;
    this.lastPassAt.set(at);
    if (pass.error) this.passFailures.inc();
    for (const s of pass.sources) {
      const l = { source: s.source };
      // A tree source (file share) snapshots the whole tree each time: it has no backlog.
      if ('backlog' in s.status) {
        const b = s.status.backlog;
        this.backlogItems.set(l, 'recordings' in b ? b.recordings : b.files);
        this.backlogBytes.set(l, b.bytes);
      }
      this.shippedBytes.inc(l, s.bytes);
      this.shippedPacks.inc(l, s.packs);
      this.failures.inc(l, s.failed);
      this.lost.inc(l, s.lost);
      if (s.failed === 0 && !s.status.problem) this.lastSuccess.set(l, at);
    }
    this.last = pass;
  }

  health(): Health {
    const now = this.options.now().getTime();
    const stale = this.options.staleSeconds;
    const last = this.last;
    const reasons: string[] = [];
    if (!last) {
      reasons.push(`no pass has completed since the agent started ${Math.round((now - this.startedAt) / 1000)} s ago`);
      return { ok: false, reasons };
    }
    const age = Math.round((now - last.at.getTime()) / 1000);
    const uploading = this.agent.throttle.lastUploadAt !== undefined && now - this.agent.throttle.lastUploadAt < stale * 1000;
    if (age > stale && !uploading) reasons.push(`no pass completed for ${age} s and nothing uploaded (limit ${stale} s)`);
    if (last.error) reasons.push(`the last pass failed: ${last.error}`);
    for (const s of last.sources) {
      if (s.status.problem) reasons.push(`source ${s.source} cannot be scanned: ${s.status.problem}`);
      if (s.failed > 0) reasons.push(`source ${s.source}: ${s.failed} item(s) could not be shipped in the last pass (they stay in the backlog)`);
    }
    return { ok: reasons.length === 0, reasons, lastPass: last.at.toISOString() };
  }
}

export interface MetricsServer {
  /** http://host:port */
  url: string;
  close(): Promise<void>;
}

export function defaultStaleSeconds(pollSeconds: number): number {
  return Math.max(300, 3 * pollSeconds);
}

/** Serves /healthz and /metrics for `agent` on `config.listen` (port 0: a free port). */
export async function startMetricsServer(agent: Agent, config: MetricsConfig, options: { pollSeconds: number; now?: () => Date }): Promise<MetricsServer & { metrics: AgentMetrics }> {
  const metrics = new AgentMetrics(agent, { staleSeconds: config.staleSeconds ?? defaultStaleSeconds(options.pollSeconds), now: options.now ?? (() => new Date()) });
  // Imported here, not above: the agent without metrics never loads node:http's ES module face.
  const { createServer } = await import('node:http');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('only GET\n');
      return;
    }
    if (path === '/healthz') {
      const h = metrics.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ status: h.ok ? 'ok' : 'unhealthy', ...h })}\n`);
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such path ${path}: try /healthz or /metrics\n`);
  });
  const { host, port } = parseListen(config.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    metrics,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`metrics.listen: port must be 0-65535, got "${listen.slice(at + 1)}"`);
  return { host, port };
}
