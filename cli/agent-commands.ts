import { sentence } from '../core/alert-text.ts';
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { onStopSignals, untilStopped } from './interrupt.ts';
import { plainHttpNotes } from './check-notes.ts';
import { fullDiskAlerted, readOnlyAlerted, readOnlyStateOver, stateDiskFullAlert, untilStateWritable } from './state-disk-alert.ts';
import { systemClock } from '../core/clock.ts';
import type { AgentConfig } from '../core/config.ts';
import { isTreeSnapshotManifestKey } from '../core/layout.ts';
import { Journal } from '../agent/journal.ts';
import type { Backlog } from '../agent/sources/recordings.ts';
import { backlogOfView } from '../agent/recordings-walk.ts';
import { leftView } from '../agent/state/pending-view.ts';
import { Observations } from '../agent/state/observations.ts';
import { buildActivityWorker, buildAgent, checkSitePaths, inConfigFile, loadConfig } from './build-agent.ts';
import { terminalProgress, formatBytes } from './progress.ts';
import type { Logger } from '../agent/log.ts';
import { runLogger, sayBusy } from './busy-state.ts';
import { leanHeap } from './lean-heap.ts';
import type { ArtefactSourceStatus } from '../agent/artefact-runner.ts';
import type { TreeSourceStatus } from '../agent/sources/tree.ts';
import { artefactAndTreeLines, drainLine, foundSuffix, foundTotals, lossLines, alertLines, RECENT_LOSS_DAYS } from './status-lines.ts';
import { mergeReport, type Agent, type AgentStatusFile, type CycleReport } from '../agent/agent.ts';
import type { ShipRate } from '../agent/ship-rate.ts';
import { StateLockedError } from '../agent/state/state-lock.ts';
import { inflightLine, inflightUploads, passLine, runningAgent, runningLine, unfinishedPass, uploadLine, type RunningAgent, type UnfinishedPass, type UploadShown } from './status-running.ts';
import { unreadableDirectory } from '../agent/sources/source-checks.ts';
import { LossLog, type LossEntry } from '../agent/state/loss-log.ts';
import { writeEveryLoss } from './every-loss.ts';
import { AlertBook, type AlertState } from '../agent/state/alert-book.ts';
import { BandwidthSchedule } from '../core/bandwidth.ts';
import { InvalidInputError, messageOf } from '../core/errors.ts';

// The agent's commands (registered by agent-register.ts, which loads this module only when one
// of them runs): `agent run`, `agent status`, and what they share (`agent check`: agent-check.ts).

/** `agent run`, once no other agent was found holding the state directory (agent-register.ts asked first). */
export async function runCommand(opts: { config: string; once?: boolean; jsonLogs?: boolean }): Promise<void> {
  const config = loadConfig(opts.config);
  const { log, interactive } = runLogger(opts);
  const checkState = () => inConfigFile(opts.config, undefined, () => checkSitePaths(config, { sources: false }));
  if (opts.once) await readOnlyAlerted(config, log, checkState);
  else if (!(await untilStateWritable(config, log, checkState))) return;
  leanHeap();
  const bar = interactive ? terminalProgress() : undefined;
  for (const note of plainHttpNotes(config)) log.warn(note.replace(/^warning: /, ''));
  const a = await fullDiskAlerted(config, log, () => busyOr(() => buildAgent(config, { log, onProgress: (p) => bar?.update(p) }), log));
  if (!a) return;
  try {
    if (opts.once) await runOnce(a, log, interactive, bar);
    else {
      await runService(config, a, log);
      bar?.end();
    }
  } catch (error) {
    throw await stateDiskFullAlert(config, log, error, 'run', a.alerts);
  } finally {
    a.close();
  }
}

/** `agent run --once`: passes until the backlog found is drained or a signal stops it; the exit status says how it went. */
async function runOnce(a: Agent, log: Logger, interactive: boolean, bar: ReturnType<typeof terminalProgress> | undefined): Promise<void> {
  let stop = false;
  const onStop = (_signal: NodeJS.Signals, again: boolean) => {
    stop = true;
    a.stop();
    // A second Ctrl-C stops at once: whatever it cuts short is shipped again by the next run (crash-safe, as after kill -9).
    if (again) {
      bar?.end();
      log.warn('stopped at once: what was in flight is shipped again by the next run');
      if (interactive) process.stderr.write('stopped at once: what was in flight ships again on the next run\n');
      process.exit(130);
    }
    log.warn('stopping: no new batch is taken; the uploads in flight finish first (a second signal stops at once)');
    if (interactive) process.stderr.write('\nstopping after the uploads in flight (Ctrl-C again to stop at once)…\n');
  };
  const report = await untilStopped(onStop, () => cycleUntilDrained(a, () => stop));
  bar?.end();
  const summary = onceSummary(report, stop);
  if (interactive) process.stderr.write(`${summary}\n`);
  // The manifests' keys are the heartbeat's; the log line counts them (a backlog's pass publishes thousands).
  else log.info('pass complete', { ...report, sources: undefined, manifests: report.manifests.length });
  process.exitCode = onceExitCode(report);
}

/** `agent run` as a service: passes every pollSeconds, the backup windows' activity and the metrics endpoint, until a signal. */
async function runService(config: AgentConfig, a: Agent, log: Logger): Promise<void> {
  const controller = new AbortController();
  const untilSignal = onStopSignals(() => controller.abort());
  const worker = buildActivityWorker(config, a, log);
  // Loaded only when configured (it brings prom-client and node:http's server).
  const served = config.metrics ? await serveMetrics(a, config, log) : undefined;
  log.info('agent started', { site: config.site, sources: config.sources.map((s) => s.name), backupWindows: worker ? 'polling the site activity' : 'not configured', ...(served ? { healthz: `${served.url}/healthz`, metrics: `${served.url}/metrics` } : {}) });
  try {
    // A pass stopped by the state disk (full, read-only) is alerted as a --once run's is; the service tries again next poll
    // (a read-only disk is said once, not at every poll, until a pass ends well again).
    const run = a.run(controller.signal, (error) => stateDiskFullAlert(config, log, error, 'run', a.alerts), () => readOnlyStateOver(config.state));
    await Promise.all([run, worker?.run(controller.signal)]);
  } finally {
    untilSignal();
    await served?.close();
  }
}

/** `agent status`: backlog, losses and totals from the state directory, as text, JSON or every loss. */
export async function statusCommand(opts: { config: string; json?: boolean; losses?: boolean }): Promise<void> {
  if (opts.losses) return writeEveryLoss(loadConfig(opts.config));
  const status = await collectStatus(opts.config);
  if (opts.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
  else process.stdout.write(renderStatus(status));
}

/**
 * The metrics endpoint, when configured. One that cannot listen (the port taken after a reboot)
 * must not stop the backups it watches: the agent ships without it, logs why and raises a
 * warning naming `metrics.listen`, resolved once a start listens again.
 */
async function serveMetrics(a: Agent, config: AgentConfig, log: Logger) {
  const metrics = config.metrics!;
  const key = 'metrics-listen';
  try {
    const served = await (await import('../agent/metrics-server.ts')).startMetricsServer(a, metrics, { pollSeconds: config.shipping.pollSeconds });
    await a.alerts.resolve(key, config.site, `The metrics endpoint listens on ${metrics.listen} again.`);
    return served;
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    log.error('metrics endpoint cannot listen: the agent ships without it', { listen: metrics.listen, error: why });
    await a.alerts.raise(key, {
      severity: 'warning',
      site: config.site,
      subject: `the agent's metrics endpoint cannot listen on ${metrics.listen}`,
      message: `metrics.listen ${metrics.listen}: ${sentence(why)} The agent ships as usual, without /healthz and /metrics: free the port or choose another in metrics.listen, then restart the agent.`,
      details: { listen: metrics.listen, error: why },
    });
    return undefined;
  }
}

/**
 * `agent run --once`: passes one after another while the last one left recordings for the next
 * (a pass ships for one time slice so other sources keep their turn), so a cron run drains the
 * backlog it found instead of shipping one slice and waiting for the next cron tick. Stops after
 * the pass in progress when `stopping()` turns true (SIGTERM), or after a pass that shipped
 * nothing and failed (the store unreachable). Counts are summed; `sources` is the last pass's.
 */
export async function cycleUntilDrained(agent: { cycle(): Promise<CycleReport> }, stopping: () => boolean = () => false): Promise<CycleReport> {
  const total = await agent.cycle();
  // A pass whose every attempt failed (the store unreachable, credentials refused) shipped
  // nothing: another would fail the same way, so the run ends (exit 1) and cron tries later.
  // Packs found already offsite (a rebuilt host's backlog) are the store answering: not stuck.
  const stuck = (r: CycleReport) => r.failed > 0 && r.packs === 0 && r.artefacts === 0 && !r.found?.packs;
  for (let last = total; last.more && !stopping() && !stuck(last); ) {
    last = await agent.cycle();
    mergeReport(total, { ...last, sources: [] });
    total.sources = last.sources;
    total.more = last.more;
  }
  return total;
}

/**
 * The agent `build` makes, or undefined (exit 4, said on stderr) when another agent holds the
 * state directory: under cron a pass that outlasts the interval is not a failure of the next run.
 * Most such runs stop before loading this module (busy-state.ts); this is the one that found the
 * lock free and lost it in the instant before taking it.
 */
function busyOr(build: () => Agent, log: Logger): Agent | undefined {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof StateLockedError)) throw error;
    sayBusy(error, log);
    return undefined;
  }
}

/** The line a person at a terminal reads after `--once`: every kind of thing shipped, and what a stop left. */
export function onceSummary(report: CycleReport, stopped = false): string {
  const parts = [`shipped ${report.packs} pack(s), ${report.recordings} recording(s), ${formatBytes(report.bytes)}`];
  if (report.found) parts.push(`${report.found.packs} pack(s), ${report.found.recordings} recording(s), ${formatBytes(report.found.bytes)} already offsite (found, not sent again)`);
  const snapshots = report.manifests.filter(isTreeSnapshotManifestKey).length;
  if (report.artefacts > 0) parts.push(`${report.artefacts} backup/log/archive file(s), ${formatBytes(report.artefactBytes)}`);
  if (snapshots > 0) parts.push(`${snapshots} file-share snapshot(s)`);
  const left = report.sources.reduce((n, s) => n + (s.type === 'recordings' ? s.backlog.batches : 0), 0);
  const stop = stopped ? `; stopped early${left > 0 ? `: ${left} batch(es) left for the next run` : ''}` : '';
  const kept = (report.kept ?? []).map((k) => `; ${k}; the next run resumes`).join('');
  return `${parts.join('; ')}; failed ${report.failed}; lost ${report.lost}${stop}${kept}`;
}

/**
 * `agent run --once` exit codes, for cron: 0 everything found was shipped or is waiting to
 * close; 1 something could not be shipped and stays in the backlog, or a tree snapshot left
 * paths out or changed most of the share's files (alerted: a person must look); 3 recordings or
 * backups were lost in this pass (recorded, alerted, listed by `agent status --losses`).
 */
export function onceExitCode(report: Pick<CycleReport, 'failed' | 'lost'>): number {
  if (report.lost > 0) return 3;
  return report.failed > 0 ? 1 : 0;
}

export interface StatusReport {
  site: string;
  backlog: Backlog & { oldestBatch?: string; oldestAgeSec?: number };
  /**
   * Recordings sources, from the pending view the agent's last pass left in the state directory
   * (`pending/{source}.jsonl`), as of `lastScan`. `noPassYet`: the agent has not completed a pass
   * of the source, so its backlog is not known (status never walks the root itself).
   */
  sources: { name: string; backlog: Backlog; lastScan?: string; noPassYet?: true; problem?: string }[];
  /** `found*`: packs found already offsite (shipped by an earlier state directory), not sent again; not in packs, recordings, bytes. */
  totals: { packs: number; recordings: number; bytes: number; lostBatches: number; lostRecordings: number; lostArtefacts: number; foundPacks?: number; foundRecordings?: number; foundBytes?: number };
  inflight: number;
  /** Backup, log and archive files a run began and did not finish (`source/name`): a run killed mid-upload left them. */
  inflightArtefacts?: string[];
  /** How far the running agent's uploads of those files have got. */
  inflightUploads?: UploadShown[];
  /** The last ten losses; `lossRecords` counts them all and `agent status --losses` lists them all. */
  recentLosses: LossEntry[];
  lossRecords: number;
  /** When the newest loss was recorded. */
  lastLossAt?: string;
  /** Losses recorded since then are listed as recent (RECENT_LOSS_DAYS before the status was taken). */
  recentLossesSince?: string;
  /** Conditions alerted and not resolved yet (source unreadable, binlog gap, a batch that cannot be shipped…). */
  openAlerts: AlertState[];
  agent?: { pid: number; updatedAt: string; lastError?: string };
  /** The agent holding the state directory now (agent.lock), if any: a pass under way or a service. */
  running?: RunningAgent;
  /** A pass that started after the last finished one (pass.json): under way, or killed or crashed. */
  unfinishedPass?: UnfinishedPass;
  /** Backups, binlogs and archives, as of the agent's last pass. */
  artefactSources: ArtefactSourceStatus[];
  /** Tree sources (file shares) and their last snapshot, as of the agent's last pass. */
  treeSources: TreeSourceStatus[];
  /** The upload limit in force now and the next scheduled change (`bandwidth` in the config). */
  bandwidth: { limit: string; timezone: string; next?: { at: string; limit: string } };
  /** Recordings' bytes the agent shipped over the last few minutes up to its last pass (status.json), from which status tells how long the backlog takes. */
  shipRate?: ShipRate;
}

/**
 * The state directory status reads, or why it cannot: every reader below takes a file it
 * cannot see as absent, so a directory that is missing (a mistyped `state:`) or not readable (the
 * agent's own user made it 0700) would show an agent that never shipped anything.
 */
function assertStateReadable(state: string): void {
  try {
    accessSync(state, constants.R_OK | constants.X_OK);
    readdirSync(state);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidInputError(`state: ${state} does not exist: the agent has not run with this configuration yet, or \`state:\` names another directory than the agent's`);
    if (code === 'EACCES' || code === 'EPERM') throw new InvalidInputError(`state: ${state} cannot be read (permission denied): run status as the agent's user (e.g. \`sudo -u ferry ferry agent status --config …\`)`);
    throw new InvalidInputError(`state: ${state} cannot be read (${code ?? messageOf(error)})`);
  }
}

/**
 * Read-only: the state directory only. The recordings backlog is the pending view of the agent's
 * last pass, streamed batch by batch (what a million pending recordings cost is one line at a
 * time, not the root: status never walks it); the journal is read without being written.
 */
export async function collectStatus(configFile: string): Promise<StatusReport> {
  const config = loadConfig(configFile);
  assertStateReadable(config.state);
  const journal = new Journal(config.state, { readOnly: true });
  const losses = new LossLog(config.state, { readOnly: true });
  const observations = new Observations(config.state);
  const total: Backlog = { batches: 0, recordings: 0, bytes: 0 };
  const sources: StatusReport['sources'] = [];
  for (const source of config.sources) {
    if (source.type !== 'recordings') continue; // artefact sources report through the agent's status (statusSnapshot)
    // One look at the root (is it there and readable?), as the agent alerts it; no walk.
    const problem = await unreadableDirectory(source.path);
    const last = observations.lastPass(source.name);
    if (!last) {
      sources.push({ name: source.name, backlog: { batches: 0, recordings: 0, bytes: 0 }, noPassYet: true, ...(problem ? { problem } : {}) });
      continue;
    }
    // The view as the last walk wrote it, less what shipped or was found lost since.
    const backlog = backlogOfView(source.name, observations.previousPending(source.name), { left: leftView(journal, losses, source.name) });
    sources.push({ name: source.name, backlog, ...(last.lastScan ? { lastScan: last.lastScan } : {}), ...(problem ? { problem } : {}) });
    total.batches += backlog.batches;
    total.recordings += backlog.recordings;
    total.bytes += backlog.bytes;
    if (backlog.oldest && (!total.oldest || backlog.oldest.sinceMs < total.oldest.sinceMs)) total.oldest = backlog.oldest;
  }
  const statusFile = join(config.state, 'status.json');
  let last: Partial<AgentStatusFile> | undefined;
  try {
    last = existsSync(statusFile) ? (JSON.parse(readFileSync(statusFile, 'utf8')) as Partial<AgentStatusFile>) : undefined;
  } catch (error) {
    throw new InvalidInputError(`${statusFile} cannot be read (${messageOf(error)}): the agent writes it anew at the end of its next pass`);
  }
  // Each one's losses from the loss log, as the top line counts them: status.json's are its last finished pass's.
  const artefactSources = (last?.sources ?? []).filter((s): s is ArtefactSourceStatus => s.type !== undefined && s.type !== 'recordings' && s.type !== 'tree').map((s) => ({ ...s, lost: losses.lostVersions(s.name) }));
  const treeSources = (last?.sources ?? []).filter((s): s is TreeSourceStatus => s.type === 'tree');
  const now = systemClock.now().getTime();
  const running = runningAgent(config.state, configFile);
  return {
    site: config.site,
    backlog: { ...total, oldestBatch: total.oldest?.batch, oldestAgeSec: total.oldest ? Math.round((now - total.oldest.sinceMs) / 1000) : undefined },
    sources,
    totals: { packs: journal.totals.packs, recordings: journal.totals.recordings, bytes: journal.totals.bytes, ...foundTotals(journal.totals), ...losses.totals() },
    inflight: journal.inflightPacks().length,
    inflightArtefacts: journal.inflightArtefacts().map((a) => `${a.source}/${a.name}`),
    inflightUploads: inflightUploads(config.state, journal.inflightArtefacts(), running.running),
    recentLosses: losses.all().slice(-10),
    lossRecords: losses.records(),
    ...(losses.lastAt() ? { lastLossAt: losses.lastAt()! } : {}),
    recentLossesSince: new Date(now - RECENT_LOSS_DAYS * 86_400_000).toISOString(),
    openAlerts: AlertBook.read(config.state),
    agent: last?.pid !== undefined && last.updatedAt ? { pid: last.pid, updatedAt: last.updatedAt, lastError: last.lastError } : undefined,
    ...running,
    ...unfinishedPass(config.state, last, running.running),
    artefactSources,
    treeSources,
    bandwidth: { timezone: config.bandwidth?.timezone ?? 'UTC', ...(config.bandwidth ? new BandwidthSchedule(config.bandwidth) : BandwidthSchedule.unlimited()).describe(new Date(now)) },
    ...shipRateOf(last),
  };
}

/** The rate status.json carries, when the agent wrote one. */
function shipRateOf(last: Partial<AgentStatusFile> | undefined): Pick<StatusReport, 'shipRate'> {
  return last?.shipRate ? { shipRate: last.shipRate } : {};
}

function age(sec: number): string {
  if (sec < 120) return `${sec}s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} days`;
}

/** A batch dated after this machine's time (a recorder's clock ahead) is said so, not given a negative age. */
const backlogAge = (sec: number) => (sec < 0 ? `dated ${age(-sec)} ahead of this machine's clock` : `${age(sec)} old`);

export function renderStatus(s: StatusReport): string {
  // A site with no recordings source (a file share, backups only) that never shipped a recording has no recordings lines.
  const recordings = s.sources.length > 0 || s.totals.packs > 0 || s.totals.lostBatches > 0;
  const lines = [
    `site ${s.site}`,
    ...alertLines(s.openAlerts),
    ...(recordings
      ? [
          `backlog           ${s.backlog.batches} batch(es), ${s.backlog.recordings} recording(s), ${formatBytes(s.backlog.bytes)}`,
          `oldest unshipped  ${s.backlog.oldestBatch ? `${s.backlog.oldestBatch} (${backlogAge(s.backlog.oldestAgeSec ?? 0)})` : 'none'}`,
          `shipped           ${s.totals.packs} pack(s), ${s.totals.recordings} recording(s), ${formatBytes(s.totals.bytes)}${foundSuffix(s.totals)}`,
          `lost              ${s.totals.lostBatches} batch(es), ${s.totals.lostRecordings} recording(s) deleted by the recorder before shipping${s.totals.lostArtefacts ? `, ${s.totals.lostArtefacts} backup/log version(s)` : ''}`,
        ]
      : s.totals.lostArtefacts
        ? [`lost              ${s.totals.lostArtefacts} backup/log version(s)`]
        : []),
    `running           ${runningLine(s.running)}`,
    ...(s.unfinishedPass ? [`pass              ${passLine(s.unfinishedPass, s.agent?.updatedAt)}`] : []),
    `in flight         ${inflightLine(s.running, s.inflight, s.inflightArtefacts)}`,
    ...(s.inflightUploads ?? []).map((u) => `  ${u.stopped ? 'kept open' : 'uploading'}       ${uploadLine(u)}`),
    `bandwidth         ${s.bandwidth.limit}${s.bandwidth.next ? ` until ${s.bandwidth.next.at} (${s.bandwidth.timezone} schedule), then ${s.bandwidth.next.limit}` : ''}`,
  ];
  const drain = drainLine(s);
  if (drain) lines.push(`draining          ${drain}`);
  lines.push(...artefactAndTreeLines(s));
  for (const src of s.sources) if (src.problem) lines.push(`SOURCE ${src.name.padEnd(11)} cannot be scanned: ${src.problem}`);
  for (const src of s.sources) if (src.noPassYet) lines.push(`SOURCE ${src.name.padEnd(11)} no pass yet: its backlog is counted by the agent's passes (\`ferry agent run --once\` makes one)`);
  lines.push(...lossLines(s));
  if (s.agent) lines.push(`agent             last pass ${s.agent.updatedAt} (pid ${s.agent.pid})${s.agent.lastError ? `, last error: ${s.agent.lastError}` : ''}`);
  return `${lines.join('\n')}\n`;
}
