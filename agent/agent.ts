import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { recheckBatch, unreadableDirectory } from './sources/source-checks.ts';
import type { AgentConfig, ArtefactSourceConfig, RecordingsSourceConfig } from '../core/config.ts';
import { cycleTree, type TreeSourceStatus } from './sources/tree.ts';
import type { BlobStore, Notifier } from '../core/ports.ts';
import type { Clock } from '../core/clock.ts';
import { SourceChangedError, UnreadableSourceError, messageOf, FerryError } from '../core/errors.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import { Journal, batchKey, type FileStamp, type Totals } from './journal.ts';
import type { Logger } from './log.ts';
import { listBatches } from './sources/scan.ts';
import type { Backlog, BatchWork } from './sources/recordings.ts';
import { RecordingsWalk, backlogOfView } from './recordings-walk.ts';
import type { PendingViewWriter } from './state/pending-view.ts';
import { shipBatch, type ShipContext, type ShipResult } from './ship-batch.ts';
import { recoverInflight } from './recover.ts';
import type { VerifyMode } from './verify.ts';
import { ArtefactRunner, type ArtefactSourceStatus } from './artefact-runner.ts';
import { oneAtATime } from './activity-worker.ts';
import { PartPool } from './part-pool.ts';
import { Observations } from './state/observations.ts';
import { LossLog, type LossEntry } from './state/loss-log.ts';
import { LossReporter } from './state/loss-reporter.ts';
import { AlertBook, sourceReadable, type AlertState } from './state/alert-book.ts';
import { writeFileAtomic } from './state/atomic-file.ts';
import { StateLock } from './state/state-lock.ts';
import { HeartbeatWriter } from './heartbeat.ts';
import { BandwidthSchedule } from '../core/bandwidth.ts';
import { Throttle, throttledStore } from './bandwidth.ts';

// The agent: one composition of journal, sources and shipping for one site. `cycle()` is one
// pass (scan every source, report losses, ship what is closed, oldest first); `run()` repeats
// it until stopped. Each pack is retried a few times on transient or integrity failures.
// Recordings sources are packed here; artefact sources (rotated backups, binlog segments,
// archives) each have an ArtefactRunner.
//
// Nothing the agent concludes from one pass to the next lives in process memory: the journal
// (what shipped), the observations (what was seen and not shipped, first-seen times), the loss
// log and the alert book are files in the state directory, so an agent run from cron, restarted
// or killed behaves as one that runs for ever (docs/operations.md).

export interface AgentDeps {
  config: AgentConfig;
  store: BlobStore;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  verify: VerifyMode;
  agentVersion?: string;
  /** Delay before retry n (1-based); tests shorten it. */
  retryDelayMs?: (attempt: number) => number;
  onProgress?: (p: Progress) => void;
  /** Opens source files (tests inject failures here). */
  openFile?: ShipContext['openFile'];
  /** Called after every pass with each source's share of it (the metrics server listens here). */
  onPass?: (pass: PassOutcome) => void;
}

/** One source's share of a pass. */
export interface SourcePass {
  source: string;
  type: SourceStatus['type'];
  packs: number;
  bytes: number;
  artefacts: number;
  failed: number;
  lost: number;
  status: SourceStatus;
}

export interface PassOutcome {
  at: Date;
  sources: SourcePass[];
  /** Set when the pass threw (it is retried next poll). */
  error?: string;
}

export interface Progress {
  phase: 'scan' | 'ship' | 'done';
  packsDone: number;
  packsTotal: number;
  recordings: number;
  bytes: number;
}

export interface RecordingsSourceStatus {
  name: string;
  type: 'recordings';
  backlog: Backlog;
  lastScan: string;
  /** Why the source could not be scanned, when it could not. */
  problem?: string;
}

export type SourceStatus = RecordingsSourceStatus | ArtefactSourceStatus | TreeSourceStatus;

/** `status.json` in the state directory: written by the agent after every pass, read by `agent status`. */
export interface AgentStatusFile {
  site: string;
  updatedAt: string;
  pid: number;
  totals: Totals & { lostArtefacts: number };
  sources: SourceStatus[];
  lastCycle?: Omit<CycleReport, 'sources' | 'manifests'>;
  inflight: number;
  recentLosses: LossEntry[];
  /** Loss records in the loss log (`agent status --losses` lists them all). */
  lossRecords: number;
  openAlerts: AlertState[];
  lastError?: string;
}

export interface CycleReport {
  packs: number;
  recordings: number;
  bytes: number;
  failed: number;
  lost: number;
  /** Artefacts published (backups, segments and partials, archives) and their bytes. */
  artefacts: number;
  artefactBytes: number;
  sources: SourceStatus[];
  /** Manifest keys published in this cycle (a backup window verifies each). */
  manifests: string[];
  /** Recordings were left for the next pass when this pass's time slice ran out (the next pass starts at once). */
  more?: boolean;
}

/**
 * How long one pass keeps taking recordings batches before it ends (status written, losses
 * looked for, the rest taken up by the next pass at once). Other sources do not wait for it:
 * they run again every pollSeconds while recordings ship (see cycleOnce).
 */
export const RECORDINGS_SLICE_MS = 60_000;

const COMPACT_AFTER_LINES = 5000;

export class Agent {
  readonly journal: Journal;
  readonly observations: Observations;
  readonly lossLog: LossLog;
  readonly alerts: AlertBook;
  private readonly losses: LossReporter;
  private readonly lock: StateLock;
  private readonly runners = new Map<string, ArtefactRunner>();
  private recovered = false;
  private lastReport: CycleReport | undefined;
  private lastError: string | undefined;

  /** Part buffers for every upload (packs and artefacts): partSize × packConcurrency × (partConcurrency + 1) at most. */
  private readonly pool: PartPool;

  /** The bandwidth limit every upload of this agent shares. */
  readonly throttle: Throttle;
  /** Told after every pass (and every pass that threw), after `deps.onPass`: the metrics server listens here. */
  readonly passListeners: ((pass: PassOutcome) => void)[] = [];
  /** Set when run() is told to stop: the pass takes no new batches (those in flight finish). */
  private stopping = false;
  private readonly deps: AgentDeps;

  constructor(deps: AgentDeps) {
    const schedule = deps.config.bandwidth ? new BandwidthSchedule(deps.config.bandwidth) : BandwidthSchedule.unlimited();
    this.throttle = new Throttle(schedule, () => deps.clock.now());
    this.deps = { ...deps, store: throttledStore(deps.store, this.throttle) };
    mkdirSync(deps.config.state, { recursive: true });
    this.lock = StateLock.acquire(deps.config.state, deps.clock.now());
    this.journal = new Journal(deps.config.state);
    this.observations = new Observations(deps.config.state);
    this.lossLog = new LossLog(deps.config.state);
    this.losses = new LossReporter({ losses: this.lossLog, notifier: deps.notifier, log: deps.log, site: deps.config.site });
    this.alerts = new AlertBook(deps.config.state, { notifier: deps.notifier, now: () => deps.clock.now(), repeatHours: deps.config.alerts.repeatHours });
    const { partSizeMiB, packConcurrency, partConcurrency } = deps.config.shipping;
    this.pool = new PartPool(partSizeMiB * 1024 * 1024, packConcurrency * (partConcurrency + 1));
  }

  private shipContext(source: RecordingsSourceConfig): ShipContext {
    const { config, store, clock, verify } = this.deps;
    return {
      site: config.site,
      sourceRoot: source.path,
      store,
      journal: this.journal,
      extractor: createMetadataExtractor(source.metadata),
      clock,
      verify,
      partSize: config.shipping.partSizeMiB * 1024 * 1024,
      partConcurrency: config.shipping.partConcurrency,
      pool: this.pool,
      agentVersion: this.deps.agentVersion ?? 'dev',
      openFile: this.deps.openFile,
    };
  }

  private treeDeps() {
    const { config, store, clock, verify, log } = this.deps;
    const { partSizeMiB, partConcurrency } = config.shipping;
    return { site: config.site, store, clock, verify, state: config.state, partSize: partSizeMiB * 1024 * 1024, partConcurrency, pool: this.pool, log, alerts: this.alerts };
  }

  /** One pass at a time: the run loop and a backup window's job never overlap. */
  private readonly gate = oneAtATime(() => this.cycleOnce());

  cycle(): Promise<CycleReport> {
    return this.gate();
  }

  private async cycleOnce(): Promise<CycleReport> {
    const { log } = this.deps;
    if (!this.recovered) {
      const r = await recoverInflight(this.deps.store, this.journal, this.deps.verify, log);
      if (r.published + r.abandoned + r.aborted > 0) log.info('recovered from an interrupted run', r);
      this.recovered = true;
    }
    await this.losses.deliverPending();
    const report: CycleReport = { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, artefacts: 0, artefactBytes: 0, sources: [], manifests: [] };
    const keep = new Set<string>();
    const keepArtefacts = new Set<string>();
    // Sources run side by side. While recordings ship (a backlog of thousands of batches can take
    // the whole slice), every other source runs again each pollSeconds, as it would between idle
    // passes: a binlog partial is never held back by recordings.
    const sources = this.deps.config.sources;
    const recordingRuns = sources.filter((s) => s.type === 'recordings').map((source) => this.cycleSource(source, keep, keepArtefacts));
    let recordingsRunning = recordingRuns.length > 0;
    const recordingsEnded = Promise.allSettled(recordingRuns).then(() => void (recordingsRunning = false));
    const repeatMs = this.deps.config.shipping.pollSeconds * 1000;
    const again = async (source: AgentConfig['sources'][number]): Promise<CycleReport> => {
      const total = await this.cycleSource(source, keep, keepArtefacts);
      while (recordingsRunning) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([recordingsEnded, new Promise((r) => (timer = setTimeout(r, repeatMs)))]);
        clearTimeout(timer);
        if (!recordingsRunning) break;
        const next = await this.cycleSource(source, keep, keepArtefacts);
        mergeReport(total, { ...next, sources: [] });
        total.sources = next.sources; // the latest status
      }
      return total;
    };
    let nextRecording = 0;
    const runs = await Promise.allSettled(sources.map((s) => (s.type === 'recordings' ? (recordingRuns[nextRecording++] as Promise<CycleReport>) : again(s))));
    const passes: SourcePass[] = [];
    for (const run of runs) {
      if (run.status === 'rejected') {
        this.passDone({ at: this.deps.clock.now(), sources: passes, error: messageOf(run.reason) });
        throw run.reason;
      }
      const r = run.value;
      mergeReport(report, r);
      const status = r.sources[0] as SourceStatus;
      passes.push({ source: status.name, type: status.type, packs: r.packs + r.artefacts, bytes: r.bytes + r.artefactBytes, artefacts: r.artefacts, failed: r.failed, lost: r.lost, status });
    }
    // Sources ran side by side: a gap is judged only now, when a full shipped in this pass counts.
    for (const s of sources) if (s.type === 'binlog') await this.runners.get(s.name)?.settleGaps();
    this.passDone({ at: this.deps.clock.now(), sources: passes });
    if (this.journal.lineCount > COMPACT_AFTER_LINES) this.journal.compact(keep, keepArtefacts);
    this.lastReport = report;
    this.writeStatus();
    await new HeartbeatWriter({ ...this.deps, artefacts: this.journal.artefacts, agentVersion: this.deps.agentVersion ?? 'dev' }).write({ ...this.statusSnapshot(), manifests: report.manifests });
    return report;
  }

  private passDone(pass: PassOutcome): void {
    this.deps.onPass?.(pass);
    for (const listener of this.passListeners) listener(pass);
  }

  /** One source's share of a pass, in a report of its own (merged in source order). */
  private async cycleSource(source: AgentConfig['sources'][number], keep: Set<string>, keepArtefacts: Set<string>): Promise<CycleReport> {
    const report: CycleReport = { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, artefacts: 0, artefactBytes: 0, sources: [], manifests: [] };
    if (source.type === 'recordings') {
      await this.cycleRecordings(source, report, keep);
      return report;
    }
    if (source.type === 'tree') {
      const t = await cycleTree(this.treeDeps(), source);
      report.manifests.push(...t.manifests);
      report.failed += t.failed;
      report.sources.push(t.status);
      return report;
    }
    const runner = this.runner(source);
    const r = await runner.cycle();
    for (const k of runner.present) keepArtefacts.add(k);
    report.artefacts += r.artefacts;
    report.manifests.push(...r.manifests);
    report.artefactBytes += r.bytes;
    report.failed += r.failed;
    report.lost += r.lost;
    report.sources.push(r.status);
    return report;
  }

  private async cycleRecordings(source: RecordingsSourceConfig, report: CycleReport, keep: Set<string>): Promise<void> {
    const now = () => this.deps.clock.now().toISOString();
    const savedView = () => backlogOfView(source.name, this.observations.previousPending(source.name), (batch) => keep.add(batchKey(source.name, batch)));
    const problem = await this.sourceProblem(source);
    if (problem) {
      // Keep the saved view: what was pending is neither shipped nor known lost, and stays reported as pending.
      report.sources.push({ name: source.name, type: 'recordings', backlog: savedView(), lastScan: this.observations.lastPass(source.name)?.lastScan ?? now(), problem });
      return;
    }
    const warn = this.warnOnce(source);
    const batches = await listBatches(source.path, source.batchDepth, warn);
    for (const batch of batches) keep.add(batchKey(source.name, batch));
    const last = this.observations.lastPass(source.name);
    const emptyKey = `source-empty:${source.name}`;
    if (batches.length === 0 && last && last.batchesSeen > 0) {
      // A recorder keeps its disk full; a root that suddenly holds nothing is more likely an
      // unmounted share than an eviction of everything. Nothing is called lost until it is back.
      await this.alerts.raise(emptyKey, {
        severity: 'critical',
        site: this.deps.config.site,
        subject: `source ${source.name} is suddenly empty`,
        message: `${source.path} held ${last.batchesSeen} batch director${last.batchesSeen === 1 ? 'y' : 'ies'} at the last pass (${last.lastScan}) and holds none now. Check that the recorder's share is mounted. What was pending stays pending until the source is back.`,
        details: { source: source.name, path: source.path },
      });
      report.sources.push({ name: source.name, type: 'recordings', backlog: savedView(), lastScan: now() });
      return;
    }
    await this.alerts.resolve(emptyKey, this.deps.config.site, `Source ${source.name} (${source.path}) holds batches again.`);
    const next = this.observations.pendingWriter(source.name);
    try {
      const walk = this.walkOf(source, batches, { next, warn, lastSeen: last?.lastScan });
      // Shipping starts with the first closed batch the walk finds, while the walk goes on. The
      // next pending view is committed as soon as the walk ends (on a backlog, long before the
      // shipping does): a pass killed before that leaves the previous view to compare with.
      const started = performance.now();
      const walking = walk.walk().then(() => {
        next.commit();
        this.observations.pendingCommitted(source.name, batches.length, this.deps.clock.now());
        this.deps.log.info('recordings walked', { source: source.name, batches: batches.length, ready: walk.readyFound, ordered: walk.ordered, lost: walk.lost, ms: Math.round(performance.now() - started) });
      });
      walking.catch(() => undefined); // awaited below, after the workers stop
      try {
        await this.shipAll(source, walk, report);
      } finally {
        if (this.stopping) walk.stop();
        await walking.catch(() => undefined);
      }
      await walking;
      // The view was written as the walk went; what shipped (or was found lost) since leaves it.
      const left = (batch: string, f: FileStamp) => this.journal.isShipped(source.name, batch, f) || this.lossLog.has(source.name, batch, f);
      if (report.packs > 0 || report.lost > 0 || walk.lost > 0) this.observations.prunePending(source.name, left);
      report.lost += walk.lost;
      report.sources.push({ name: source.name, type: 'recordings', backlog: walk.backlog(), lastScan: now() });
    } finally {
      next.close();
    }
  }

  private walkOf(source: RecordingsSourceConfig, batches: string[], o: { next: PendingViewWriter; warn: (message: string, path: string) => void; lastSeen?: string }): RecordingsWalk {
    const reason = { 'between passes': 'deleted by the recorder before it was shipped', 'while shipping': 'deleted by the recorder while its batch was being shipped' } as const;
    return new RecordingsWalk(
      {
        source,
        clock: this.deps.clock,
        journal: this.journal,
        resolver: createMetadataExtractor(source.metadata),
        previous: this.observations.previousPending(source.name),
        next: o.next,
        warn: o.warn,
        lost: (batch, files, when) => this.reportLost(source, batch, files, reason[when], when === 'between passes' ? o.lastSeen : undefined),
        lookahead: this.deps.config.shipping.packConcurrency * 2,
      },
      batches,
    );
  }

  /**
   * Why the source cannot be scanned now (a mount gone, a path that is no longer a readable
   * directory, a root that is suddenly empty), alerted with memory; undefined when it can.
   */
  private async sourceProblem(source: RecordingsSourceConfig): Promise<string | undefined> {
    const problem = await unreadableDirectory(source.path);
    if (problem) this.deps.log.error('source cannot be scanned', { source: source.name, path: source.path, problem });
    await sourceReadable(this.alerts, this.deps.config.site, source, problem);
    return problem;
  }

  private runner(source: ArtefactSourceConfig): ArtefactRunner {
    const existing = this.runners.get(source.name);
    if (existing) return existing;
    const { config, store, clock, verify, log, notifier, openFile, retryDelayMs } = this.deps;
    const { partSizeMiB, partConcurrency, attempts } = config.shipping;
    const deps = { site: config.site, store, journal: this.journal, clock, verify, partSize: partSizeMiB * 1024 * 1024, partConcurrency, pool: this.pool, openFile, log, notifier, attempts, retryDelayMs };
    const state = { observations: this.observations, losses: this.losses, lossLog: this.lossLog, alerts: this.alerts, fullNewerThan: (ms: number) => this.fullNewerThan(ms) };
    const runner = new ArtefactRunner({ ...deps, ...state, onError: (message) => (this.lastError = message) }, source);
    this.runners.set(source.name, runner);
    return runner;
  }

  /** The newest full backup shipped from any rotated source whose file is newer than `ms`. */
  private fullNewerThan(ms: number): { source: string; name: string; mtimeMs: number } | undefined {
    let best: { source: string; name: string; mtimeMs: number } | undefined;
    for (const s of this.deps.config.sources) {
      if (s.type !== 'rotated') continue;
      for (const r of this.journal.artefacts.records(s.name)) {
        if (!r.partial && r.mtimeMs > ms && (!best || r.mtimeMs > best.mtimeMs)) best = { source: s.name, name: r.name, mtimeMs: r.mtimeMs };
      }
    }
    return best;
  }

  /** Logs each scan warning (a link not followed, a stray file) once per path and pass. */
  private warnOnce(source: RecordingsSourceConfig): (message: string, path: string) => void {
    const warned = new Set<string>();
    return (message, path) => {
      if (warned.has(path)) return;
      warned.add(path);
      this.deps.log.warn(message, { source: source.name, path });
    };
  }

  private reportLost(source: RecordingsSourceConfig, batch: string, files: readonly FileStamp[], reason: string, lastSeen?: string): Promise<number> {
    return this.losses.report({
      source: source.name,
      batch,
      kind: 'recordings',
      files: files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs, path: join(source.path, batch, f.name) })),
      reason,
      at: this.deps.clock.now().toISOString(),
      ...(lastSeen ? { lastSeen } : {}),
    });
  }

  /** Ships what the walk hands out, in its order, `packConcurrency` at a time, until the slice ends. */
  private async shipAll(source: RecordingsSourceConfig, walk: RecordingsWalk, report: CycleReport): Promise<void> {
    const ctx = this.shipContext(source);
    let done = 0;
    const progress = () => this.deps.onProgress?.({ phase: 'ship', packsDone: done, packsTotal: walk.readyFound, recordings: report.recordings, bytes: report.bytes });
    progress();
    // The slice starts with shipping; every worker takes at least one batch, so a slow store
    // still drains the backlog.
    const deadline = this.deps.clock.now().getTime() + RECORDINGS_SLICE_MS;
    const left = (batch: string) => (f: FileStamp) => this.journal.isShipped(source.name, batch, f) || this.lossLog.has(source.name, batch, f);
    const worker = async () => {
      for (let first = true; ; first = false) {
        if (!first && (this.stopping || this.deps.clock.now().getTime() >= deadline)) {
          // The slice is over: what is left waits for the next pass (which starts at once).
          if (this.stopping) walk.stop();
          if (await walk.hasMore()) report.more = true;
          break;
        }
        const work = await walk.next();
        if (!work) break;
        const outcome = await this.shipWithRetry(source, ctx, work);
        report.lost += outcome.lost;
        if (outcome.result) {
          report.packs++;
          report.manifests.push(outcome.result.manifestKey);
          report.recordings += outcome.result.recordings;
          report.bytes += outcome.result.bytes;
        } else if (!outcome.evicted) report.failed++;
        walk.done(work, left(work.batch));
        done++;
        progress();
      }
    };
    await Promise.all(Array.from({ length: this.deps.config.shipping.packConcurrency }, worker));
  }

  private async shipWithRetry(source: RecordingsSourceConfig, ctx: ShipContext, work: BatchWork): Promise<{ result?: ShipResult; lost: number; evicted?: true }> {
    const { log, config } = this.deps;
    const attempts = config.shipping.attempts;
    const failedKey = `ship-failed:${work.source}:${work.batch}`;
    let lost = 0;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const started = performance.now();
        const result = await shipBatch(ctx, work);
        log.info('pack published', { batch: work.batch, pack: result.packId, recordings: result.recordings, bytes: result.bytes, ms: Math.round(performance.now() - started) });
        for (const issue of result.issues.slice(0, 20)) log.warn('metadata', { batch: work.batch, issue });
        await this.alerts.resolve(failedKey, config.site, `Batch ${work.batch} of source ${work.source} is offsite now.`);
        for (const r of work.recordings) {
          const path = join(ctx.sourceRoot, work.batch, r.name);
          await this.alerts.resolve(`unreadable:${work.source}:${path}`, config.site, `${path} could be read and is offsite now.`);
        }
        return { result, lost };
      } catch (error) {
        this.journalAbandon(work, error);
        if (error instanceof UnreadableSourceError) {
          // Ship the rest of the batch now; the unreadable recording stays in the backlog and is tried next pass.
          const name = error.path.slice(error.path.lastIndexOf('/') + 1);
          const rest = work.recordings.filter((r) => r.name !== name);
          log.warn('recording cannot be read; shipping the rest of its batch, will try it again next pass', { batch: work.batch, path: error.path, error: error.message });
          await this.alerts.raise(`unreadable:${work.source}:${error.path}`, { severity: 'warning', site: config.site, subject: `recording cannot be read: ${error.path}`, message: `${error.message}. The rest of batch ${work.batch} is shipped; this recording stays in the backlog. Check the file's permissions and the disk.` });
          if (rest.length === work.recordings.length || rest.length === 0) return { lost };
          work = { ...work, recordings: rest };
          attempt--;
          continue;
        }
        if (error instanceof SourceChangedError) {
          // Member by member: what vanished is lost (reported now), what changed waits for the
          // next pass, what is still as scanned ships now.
          const check = await recheckBatch(ctx.sourceRoot, work);
          if (check.gone.length > 0) lost += await this.reportLost(source, work.batch, check.gone, 'deleted by the recorder while its batch was being shipped');
          const dropped = new Set([...check.gone, ...check.changed].map((f) => f.name));
          for (const name of check.sidecarsGone) work.sidecars.delete(name);
          const rest = work.recordings.filter((r) => !dropped.has(r.name));
          if (rest.length === 0) {
            log.warn('batch evicted before it could be shipped', { batch: work.batch, lost: check.gone.length, changed: check.changed.length });
            return { lost, ...(check.changed.length === 0 ? { evicted: true as const } : {}) };
          }
          if (dropped.size > 0 || check.sidecarsGone.length > 0) {
            log.warn('batch changed while it was packed; shipping what is unchanged now', { batch: work.batch, gone: check.gone.length, changed: check.changed.length, reason: error.message });
            work = { ...work, recordings: rest };
            attempt--;
            continue;
          }
          log.warn('batch changed while it was packed; not published, will look again', { batch: work.batch, reason: error.message });
          return { lost };
        }
        const retryable = error instanceof FerryError ? error.retryable : true;
        this.lastError = `${work.batch}: ${messageOf(error)}`;
        log.warn('pack failed', { batch: work.batch, attempt, of: attempts, retryable, error: messageOf(error) });
        if (!retryable || attempt === attempts) {
          await this.alerts.raise(failedKey, {
            severity: 'warning',
            site: config.site,
            subject: `batch ${work.batch} could not be shipped`,
            message: `After ${attempt} attempt(s): ${messageOf(error)}. It stays in the backlog and is tried again next cycle.`,
          });
          return { lost };
        }
        await new Promise((r) => setTimeout(r, this.deps.retryDelayMs?.(attempt) ?? Math.min(30_000, 1000 * 2 ** (attempt - 1))));
      }
    }
    return { lost };
  }

  private journalAbandon(work: BatchWork, error: unknown): void {
    for (const p of this.journal.inflightPacks()) {
      if (p.batch === work.batch && p.source === work.source) this.journal.abandoned(p.packId, messageOf(error));
    }
  }

  /** Runs cycles until the signal aborts; a cycle that throws is logged and retried next poll. */
  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.deps.config.shipping.pollSeconds * 1000;
    signal.addEventListener('abort', () => (this.stopping = true), { once: true });
    while (!signal.aborted) {
      let more = false;
      try {
        more = (await this.cycle()).more === true;
      } catch (error) {
        this.lastError = messageOf(error);
        this.deps.log.error('cycle failed', { error: messageOf(error) });
      }
      if (!more) await sleep(pollMs, signal);
    }
  }

  statusSnapshot(): AgentStatusFile {
    const losses = this.lossLog.all();
    return {
      site: this.deps.config.site,
      updatedAt: this.deps.clock.now().toISOString(),
      pid: process.pid,
      totals: { ...this.journal.totals, ...this.lossLog.totals() },
      sources: this.lastReport?.sources ?? [],
      lastCycle: this.lastReport ? { packs: this.lastReport.packs, recordings: this.lastReport.recordings, bytes: this.lastReport.bytes, artefacts: this.lastReport.artefacts, artefactBytes: this.lastReport.artefactBytes, failed: this.lastReport.failed, lost: this.lastReport.lost } : undefined,
      inflight: this.journal.inflightPacks().length + this.journal.inflightArtefacts().length,
      recentLosses: losses.slice(-10),
      lossRecords: losses.length,
      openAlerts: this.alerts.openAlerts(),
      lastError: this.lastError,
    };
  }

  private writeStatus(): void {
    writeFileAtomic(join(this.deps.config.state, 'status.json'), `${JSON.stringify(this.statusSnapshot(), null, 2)}\n`);
  }

  close(): void {
    this.journal.close();
    this.lossLog.close();
    this.lock.release();
  }
}

/** Adds `r` (one source's share of a pass) to `into`. */
/** Adds `r`'s counts, manifests and sources to `into` (and its `more`). */
export function mergeReport(into: CycleReport, r: CycleReport): void {
  into.packs += r.packs;
  into.recordings += r.recordings;
  into.bytes += r.bytes;
  into.failed += r.failed;
  into.lost += r.lost;
  into.artefacts += r.artefacts;
  into.artefactBytes += r.artefactBytes;
  into.manifests.push(...r.manifests);
  into.sources.push(...r.sources);
  if (r.more) into.more = true;
}

/** Sleeps `ms`, or less when the signal aborts; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
