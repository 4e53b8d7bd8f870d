import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../core/clock.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import { Journal } from '../agent/journal.ts';
import { scanBatches } from '../agent/sources/scan.ts';
import { selectWork, batchDone, type Backlog } from '../agent/sources/recordings.ts';
import { buildActivityWorker, buildAgent, loadConfig } from './build-agent.ts';
import { terminalProgress, formatBytes } from './progress.ts';
import { createLogger } from '../agent/log.ts';
import { leanHeap } from './lean-heap.ts';
import type { ArtefactSourceStatus } from '../agent/artefact-runner.ts';

export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('run the on-prem agent or look at its state');

  agent
    .command('run')
    .description('ship closed batches to the cloud; keeps watching unless --once')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('--once', 'one pass: ship what is closed now, then exit')
    .option('--json-logs', 'JSON log lines even on a terminal')
    .action(async (opts: { config: string; once?: boolean; jsonLogs?: boolean }) => {
      const config = loadConfig(opts.config);
      leanHeap();
      const interactive = process.stderr.isTTY && !opts.jsonLogs;
      const bar = interactive ? terminalProgress() : undefined;
      const log = createLogger({ json: !interactive, level: interactive ? 'warn' : 'info' });
      const a = buildAgent(config, { log, onProgress: (p) => bar?.update(p) });
      try {
        if (opts.once) {
          const report = await a.cycle();
          bar?.end();
          const summary = `shipped ${report.packs} pack(s), ${report.recordings} recording(s), ${formatBytes(report.bytes)}; failed ${report.failed}; lost ${report.lost}`;
          if (interactive) process.stderr.write(`${summary}\n`);
          else log.info('pass complete', { ...report, sources: undefined });
          process.exitCode = report.failed > 0 ? 1 : 0;
        } else {
          const controller = new AbortController();
          for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort());
          const worker = buildActivityWorker(config, a, log);
          log.info('agent started', { site: config.site, sources: config.sources.map((s) => s.name), backupWindows: worker ? 'polling the site activity' : 'not configured' });
          await Promise.all([a.run(controller.signal), worker?.run(controller.signal)]);
          bar?.end();
        }
      } finally {
        a.close();
      }
    });

  agent
    .command('status')
    .description('backlog, oldest unshipped batch, losses and totals')
    .requiredOption('-c, --config <file>', 'agent configuration (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { config: string; json?: boolean }) => {
      const status = await collectStatus(opts.config);
      if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      else process.stdout.write(renderStatus(status));
    });
}

export interface StatusReport {
  site: string;
  backlog: Backlog & { oldestBatch?: string; oldestAgeSec?: number };
  sources: { name: string; backlog: Backlog }[];
  totals: { packs: number; recordings: number; bytes: number; lostBatches: number; lostRecordings: number };
  inflight: number;
  recentLosses: { source: string; batch: string; files: string[]; reason: string; at: string }[];
  agent?: { pid: number; updatedAt: string; lastError?: string };
  /** Backups, binlogs and archives, as of the agent's last pass. */
  artefactSources: ArtefactSourceStatus[];
}

/** Fresh, read-only view: scans the sources now and reads the journal without writing it. */
export async function collectStatus(configFile: string): Promise<StatusReport> {
  const config = loadConfig(configFile);
  const journal = new Journal(config.state, { readOnly: true });
  const total: Backlog = { batches: 0, recordings: 0, bytes: 0 };
  const sources = [];
  for (const source of config.sources) {
    if (source.type !== 'recordings') continue; // artefact sources report through the agent's status (statusSnapshot)
    const scanned = await scanBatches(source.path, { depth: source.batchDepth, isDone: batchDone(journal, source) });
    const { backlog } = selectWork(source, scanned, (b, f) => journal.isShipped(source.name, b, f), createMetadataExtractor(source.metadata), systemClock);
    sources.push({ name: source.name, backlog });
    total.batches += backlog.batches;
    total.recordings += backlog.recordings;
    total.bytes += backlog.bytes;
    if (backlog.oldest && (!total.oldest || backlog.oldest.sinceMs < total.oldest.sinceMs)) total.oldest = backlog.oldest;
  }
  const statusFile = join(config.state, 'status.json');
  const last = existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as { pid: number; updatedAt: string; lastError?: string; sources?: { type?: string }[] }) : undefined;
  const artefactSources = (last?.sources ?? []).filter((s): s is ArtefactSourceStatus => s.type !== undefined && s.type !== 'recordings');
  const now = systemClock.now().getTime();
  return {
    site: config.site,
    backlog: { ...total, oldestBatch: total.oldest?.batch, oldestAgeSec: total.oldest ? Math.round((now - total.oldest.sinceMs) / 1000) : undefined },
    sources,
    totals: { ...journal.totals },
    inflight: journal.inflightPacks().length,
    recentLosses: journal.recentLosses().slice(-10),
    agent: last ? { pid: last.pid, updatedAt: last.updatedAt, lastError: last.lastError } : undefined,
    artefactSources,
  };
}

function age(sec: number): string {
  if (sec < 120) return `${sec}s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} days`;
}

export function renderStatus(s: StatusReport): string {
  const lines = [
    `site ${s.site}`,
    `backlog           ${s.backlog.batches} batch(es), ${s.backlog.recordings} recording(s), ${formatBytes(s.backlog.bytes)}`,
    `oldest unshipped  ${s.backlog.oldestBatch ? `${s.backlog.oldestBatch} (${age(s.backlog.oldestAgeSec ?? 0)} old)` : 'none'}`,
    `shipped           ${s.totals.packs} pack(s), ${s.totals.recordings} recording(s), ${formatBytes(s.totals.bytes)}`,
    `lost              ${s.totals.lostBatches} batch(es), ${s.totals.lostRecordings} recording(s) deleted by the recorder before shipping`,
    `in flight         ${s.inflight} pack(s)`,
  ];
  for (const a of s.artefactSources) {
    const last = a.lastShipped ? `last shipped ${a.lastShipped.name}${a.lastShipped.partial ? ' (partial)' : ''} at ${a.lastShipped.at}` : 'nothing shipped yet';
    const gaps = a.gaps?.length ? `; GAP in segments ${a.gaps.map((g) => (g.from === g.to ? `${g.from}` : `${g.from}-${g.to}`)).join(', ')}: point-in-time restore cannot cross it` : '';
    lines.push(`${`${a.name} (${a.type})`.padEnd(18)}${a.backlog.files} waiting (${formatBytes(a.backlog.bytes)}), ${last}${a.lost ? `, ${a.lost} lost` : ''}${gaps}`);
  }
  for (const l of s.recentLosses.slice(-5)) lines.push(`  lost ${l.at} ${l.source}/${l.batch}: ${l.files.length} file(s), ${l.reason}`);
  if (s.agent) lines.push(`agent             last pass ${s.agent.updatedAt} (pid ${s.agent.pid})${s.agent.lastError ? `, last error: ${s.agent.lastError}` : ''}`);
  return `${lines.join('\n')}\n`;
}
