import { ShipRateWindow, type ShipRate } from './ship-rate.ts';
import { checkTarget, writeTarget, type ShippingTarget } from './state/target.ts';
import { join } from 'node:path';
import type { AgentConfig, ArtefactSourceConfig } from '../core/config.ts';
import { cycleTree } from './sources/tree.ts';
import { messageOf } from '../core/errors.ts';
import { Journal, batchKey } from './journal.ts';
import { settleAtPass } from './recover.ts';
import { ArtefactRunner } from './artefact-runner.ts';
import { oneAtATime } from './activity-worker.ts';
import { PartPool } from './part-pool.ts';
import { Observations } from './state/observations.ts';
import { LossLog, withFirstPaths } from './state/loss-log.ts';
import { LossReporter } from './state/loss-reporter.ts';
import { AlertBook } from './state/alert-book.ts';
import { writeFileAtomic } from './state/atomic-file.ts';
import { lowStateSpaceAlert, freeBytes, privateDirectory, diskFullOpen } from './state/state-space.ts';
import { adoptUnrecordedDiskFull } from './state/unrecorded-alert.ts';
import { StateLock } from './state/state-lock.ts';
import { HeartbeatWriter, staleState } from './heartbeat.ts';
import { rememberRestoredOver } from './heartbeat-memory.ts';
import { renewShippingAgent } from './shipped-by.ts';
import { heartbeatFailedAlert, holdOtherAgentAlerts, stateRestoredAlert } from './heartbeat-alerts.ts';
import { shippedSince } from './shipped-since.ts';
import { takenOverPass } from './site-takeover.ts';
import { startPassHeartbeats } from './pass-heartbeat.ts';
import { sleep } from './sleep.ts';
import { checkClock } from './clock-skew.ts';
import { BandwidthSchedule } from '../core/bandwidth.ts';
import { Throttle, throttledStore } from './bandwidth.ts';
import { cycleRecordings } from './recordings-pass.ts';
import type { RecordingsState } from './ship-recordings.ts';
import { stateBirth, unrememberedBefore } from './state/state-birth.ts';
import { emptyReport, mergeReport, type AgentDeps, type AgentStatusFile, type CycleReport, type PassOutcome, type SourcePass, type SourceStatus } from './agent-types.ts';
import { KeptBatches } from './kept-batches.ts';
import { adoptRenamedSources } from './source-rename.ts';
import { failureMarked, markPassStarted, readPassMarker } from './state/pass-marker.ts';

export { RECORDINGS_SLICE_MS } from './ship-recordings.ts';
export { mergeReport } from './agent-types.ts';
export type { AgentDeps, AgentStatusFile, CycleReport, PassOutcome, Progress, RecordingsSourceStatus, SourcePass, SourceStatus } from './agent-types.ts';

// The agent: one composition of journal, sources and shipping for one site. `cycle()` is one
// pass (scan every source, report losses, ship what is closed, oldest first); `run()` repeats
// it until stopped. Recordings sources are packed and shipped by recordings-pass and
// ship-recordings; artefact sources (rotated backups, binlog segments, archives) each have an
// ArtefactRunner; tree sources are cycled by sources/tree.
//
// Nothing the agent concludes from one pass to the next lives in process memory: the journal
// (what shipped), the observations (what was seen and not shipped, first-seen times), the loss
// log and the alert book are files in the state directory, so an agent run from cron, restarted
// or killed behaves as one that runs for ever (docs/operations.md).

export class Agent {
  readonly journal: Journal;
  readonly observations: Observations;
  readonly lossLog: LossLog;
  readonly alerts: AlertBook;
  private readonly losses: LossReporter;
  private readonly lock: StateLock;
  private readonly runners = new Map<string, ArtefactRunner>();
  private recovered = false;
  private removedKept: string[] = []; // sources out of the configuration under a week: their shipped records outlive a compaction
  private lastReport: CycleReport | undefined;
  private lastError: string | undefined;
  /** What the agent shipped lately (status.json's `shipRate`: how long the backlog takes). */
  private readonly shipRate: ShipRateWindow;
  private lastShipRate: ShipRate | undefined;

  /** Part buffers for every upload (packs and artefacts): partSize × packConcurrency × (partConcurrency + 1) at most. */
  private readonly pool: PartPool;

  /** The bandwidth limit every upload of this agent shares. */
  readonly throttle: Throttle;
  /** Told after every pass (and every pass that threw), after `deps.onPass`: the metrics server listens here. */
  readonly passListeners: ((pass: PassOutcome) => void)[] = [];
  /** Set when run() is told to stop: the pass takes no new batches (those in flight finish). */
  private stopping = false;
  private readonly deps: AgentDeps;
  /** What the recordings part of a pass uses (recordings-pass.ts). */
  private readonly recordings: RecordingsState;

  constructor(deps: AgentDeps) {
    const schedule = deps.config.bandwidth ? new BandwidthSchedule(deps.config.bandwidth) : BandwidthSchedule.unlimited();
    this.throttle = new Throttle(schedule, () => deps.clock.now());
    this.deps = { ...deps, store: throttledStore(deps.store, this.throttle) };
    privateDirectory(deps.config.state);
    this.lock = StateLock.acquire(deps.config.state, deps.clock.now());
    this.journal = new Journal(deps.config.state, deps.syncJournal ? { sync: deps.syncJournal } : {});
    this.shipRate = new ShipRateWindow(deps.clock, this.journal.totals.bytes);
    this.observations = new Observations(deps.config.state);
    this.lossLog = new LossLog(deps.config.state);
    this.losses = new LossReporter({ losses: this.lossLog, notifier: deps.notifier, log: deps.log, site: deps.config.site });
    this.alerts = new AlertBook(deps.config.state, { notifier: deps.notifier, now: () => deps.clock.now(), repeatHours: deps.config.alerts.repeatHours });
    this.alerts.keepRoom();
    adoptUnrecordedDiskFull(this.alerts, deps.config.state);
    const { partSizeMiB, packConcurrency, partConcurrency } = deps.config.shipping;
    this.pool = new PartPool(partSizeMiB * 1024 * 1024, packConcurrency * (partConcurrency + 1));
    const { journal, observations, lossLog, losses, alerts, pool } = this;
    this.recordings = { deps: this.deps, journal, observations, lossLog, losses, alerts, pool, shippedBy: { host: '' }, stopping: () => this.stopping, onError: (message) => (this.lastError = message) };
  }

  /** Whether this process has asked whether its state directory is older than the store says (once, at its first pass). */
  private staleChecked = false;

  /**
   * A state directory older than this agent's last heartbeat (restored from a backup, or a copy
   * running elsewhere) does not know what shipped since: the recordings the store's manifests
   * list from then on are not called lost in this pass (a warning says so; it resolves at the
   * next pass). A copy running elsewhere is found by the heartbeats it writes after (`another agent`).
   */
  private async distrustStaleState(): Promise<boolean> {
    const stale = await staleState({ config: this.deps.config, store: this.deps.store, clock: this.deps.clock });
    if (!stale) return false;
    const { site, state } = this.deps.config;
    const shipped = await shippedSince(this.deps.store, site, new Date(stale.remembered), this.deps.clock.now()).catch(() => undefined);
    this.recordings.shippedElsewhere = shipped?.paths;
    this.recordings.shippedElsewhereGap = shipped?.complete ? undefined : `the state directory went back to an older copy and the store's manifests ${shipped ? `filed from ${shipped.unreadFrom} on` : 'since'} were not all read: it may be offsite, look it up in the catalogue`;
    rememberRestoredOver(state, stale.found, stale.newest.agent?.restoredOver, this.deps.clock.now(), this.deps.log); // its own heartbeats before it went back: not a copy's
    this.alerts.adoptSent(stale.newest.alerts ?? [], ['state-restored', 'site-name-shared']); // paged then: not paged anew
    this.losses.alertedElsewhere((stale.newest.recentLosses ?? []).map((l) => l.id));
    const read = { remembered: stale.remembered, found: stale.found, manifests: shipped?.manifests, complete: shipped?.complete ?? false, ...(shipped?.unreadFrom ? { unreadFrom: shipped.unreadFrom } : {}) };
    if (shipped?.complete) this.deps.log.warn('state directory older than this agent\'s last heartbeat: recordings the store lists as shipped since are not called lost', read);
    else this.deps.log.warn('state directory older than this agent\'s last heartbeat: the store\'s manifests since were not all read, recordings shipped in those not read may be recorded lost though offsite', read);
    await this.alerts.raise('state-restored', stateRestoredAlert(site, state, stale, shipped));
    return true;
  }

  /** The site and store this process ships to, not yet remembered as the state directory's (checkTarget): written once the store takes a write. */
  private unconfirmedTarget: ShippingTarget | undefined;

  private treeDeps() {
    const { config, store, clock, verify, log } = this.deps;
    const { partSizeMiB, partConcurrency } = config.shipping;
    return { site: config.site, store, clock, verify, state: config.state, partSize: partSizeMiB * 1024 * 1024, partConcurrency, pool: this.pool, log, alerts: this.alerts, shippedBy: this.recordings.shippedBy };
  }

  /** One pass at a time: the run loop and a backup window's job never overlap. */
  private readonly gate = oneAtATime(() => failureMarked(this.deps.config.state, this.deps.clock, () => this.cycleOnce()));

  cycle(): Promise<CycleReport> {
    return this.gate();
  }
  private async cycleOnce(): Promise<CycleReport> {
    const { log } = this.deps;
    const started = this.deps.clock.now();
    const { site, state, stateMinFreeMiB } = this.deps.config;
    const low = lowStateSpaceAlert(site, state, await freeBytes(state), stateMinFreeMiB);
    const roomAgain = `The state directory's disk has room again (at least stateMinFreeMiB, ${stateMinFreeMiB} MiB, free): shipping goes on.`;
    // A full disk's alert is resolved by a pass that wrote what it had to, below; not by this look.
    const full = !low && diskFullOpen(this.alerts);
    await this.alerts.hold('state-disk-low', low, site, roomAgain, !full);
    if (low) {
      log.error('state directory disk nearly full: nothing ships this pass', low.details ?? {});
      const report = { ...emptyReport(), failed: 1 };
      this.lastReport = report;
      await this.heartbeat(report);
      return report;
    }
    const over = this.staleChecked ? undefined : await takenOverPass(this.deps, this.alerts, started); // the site failed over to another host since
    if (over) return (this.lastReport = over);
    this.markPass(started);
    renewShippingAgent(this.recordings.shippedBy!, state, log); // who ships, as every manifest of the pass says (a host renamed, a heartbeat.json repaired since the last)
    // The process's first pass recovers from an interrupted run; every pass gives up kept uploads nobody goes on with.
    this.recovered = await settleAtPass(this.deps.store, this.journal, this.deps.verify, log, this.recovered, { book: this.alerts, site });
    if (!this.staleChecked && this.deps.target) this.unconfirmedTarget = await checkTarget({ site, state, store: this.deps.target }, this.alerts, log);
    if (!this.staleChecked) this.recordings.unrememberedBefore = unrememberedBefore(await stateBirth(state, this.journal.lineCount === 0, this.deps.store, site, this.deps.clock.now()));
    const stale = !this.staleChecked && (await this.distrustStaleState());
    this.staleChecked = true;
    if (!stale) await this.alerts.resolve('state-restored', this.deps.config.site, 'The state directory is current again: losses are looked for as usual.');
    await this.losses.deliverPending();
    const archiving = this.lossLog.archiveOld(this.deps.clock.now());
    if (archiving) log.warn('old losses not moved to the archive', { problem: archiving });
    const configured = new Set(this.deps.config.sources.map((s) => s.name));
    // A recordings source renamed keeps what its old name shipped, before anything is forgotten.
    await adoptRenamedSources(this.deps.config, this.journal, this.observations, log);
    await this.alerts.resolveRemovedSources(configured, this.deps.config.site);
    // What was observed of sources no longer configured is kept a week, then forgotten (`agent check` says what a removal or a rename costs).
    const { kept, back } = this.observations.settleUnconfigured(configured, this.deps.clock.now());
    this.removedKept = kept;
    for (const name of back) log.info('source configured again: what it shipped and had pending was kept, and it goes on from there', { source: name });
    // A pass that lasts writes heartbeats while it runs (agent/pass-heartbeat.ts), stopped (the one in flight awaited) before its own: the fleet view does not take a long pass for silence.
    const beats = startPassHeartbeats(this.recordings, started);
    const report = emptyReport();
    try {
      await this.shipSources(report);
    } finally {
      await beats.stop();
    }
    this.lastReport = report;
    this.writeStatus();
    await this.heartbeat(report);
    if (full) await this.alerts.resolve('state-disk-low', site, `The state directory's disk has room again: a pass wrote all it had to; shipping goes on.`);
    return report;
  }

  /** The sources' share of a pass, side by side, counted into `report`; throws what a source's run threw. */
  private async shipSources(report: CycleReport): Promise<void> {
    const keep = new KeptBatches(this.removedKept.map((name) => batchKey(name, '')));
    const keepArtefacts = new Set(this.removedKept.flatMap((name) => this.journal.artefacts.records(name).map((r) => `${name}\t${r.name}`)));
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
      // A source that could not be scanned (its path gone, unreadable) shipped nothing it should
      // have: something could not be shipped (`--once` exits 1), alerted by its runner.
      if (r.failed === 0 && 'problem' in status && status.problem) report.failed++;
      passes.push({ source: status.name, type: status.type, packs: r.packs + r.artefacts, bytes: r.bytes + r.artefactBytes, artefacts: r.artefacts, failed: r.failed, lost: r.lost, status });
    }
    // Sources ran side by side: a gap is judged only now, when a full shipped in this pass counts.
    for (const s of sources) if (s.type === 'binlog') report.lost += (await this.losses.gather(s.name, async () => this.runners.get(s.name)?.settleGaps())) ?? 0;
    this.passDone({ at: this.deps.clock.now(), sources: passes });
    if (this.journal.compactionDue) await this.journal.compact(keep, keepArtefacts);
    await checkClock({ site: this.deps.config.site, store: this.deps.store, alerts: this.alerts, log: this.deps.log });
  }

  /**
   * Writes the pass's heartbeat. One that cannot be written (the store refuses this agent or
   * cannot be reached) is the cloud losing sight of the site, even in a pass with nothing to
   * ship: it counts as failed (`--once` exits 1) and is alerted until a heartbeat goes out.
   */
  private async heartbeat(report: CycleReport): Promise<void> {
    const writer = new HeartbeatWriter({ ...this.deps, artefacts: this.journal.artefacts, losses: this.lossLog, agentVersion: this.deps.agentVersion ?? 'dev' });
    const silent = this.recordings.storeSilent !== undefined;
    const key = await writer.write({ ...this.statusSnapshot(), manifests: report.manifests, storeSilent: silent });
    // A target is remembered once the store took a write of this pass (a pack, the heartbeat).
    if (this.unconfirmedTarget && (key !== undefined || report.manifests.length > 0)) {
      writeTarget(this.deps.config.state, this.unconfirmedTarget);
      this.unconfirmedTarget = undefined;
    }
    this.recordings.storeSilent = undefined;
    const { site } = this.deps.config;
    // Resolutions need a heartbeat that went out: one held back by the interval said nothing new
    // (nor one of a pass whose store was silent: the site's other heartbeats were not looked at).
    const wrote = key !== undefined && !silent;
    await holdOtherAgentAlerts(this.alerts, site, writer, wrote);
    if (writer.failure !== undefined) report.failed++;
    await this.alerts.hold('heartbeat', heartbeatFailedAlert(site, writer, key !== undefined, this.deps.clock.now()), site, 'The heartbeat reaches the store again.', wrote);
  }

  /** `pass.json` says a pass started (`agent status` tells one that never ended); a disk that cannot take it stops no pass. */
  private markPass(started: Date): void {
    try {
      markPassStarted(this.deps.config.state, started);
    } catch (error) {
      this.deps.log.warn('pass start not recorded in the state directory', { error: messageOf(error) });
    }
  }

  private passDone(pass: PassOutcome): void {
    this.deps.onPass?.(pass);
    for (const listener of this.passListeners) listener(pass);
  }

  /** One source's share of a pass, in a report of its own (merged in source order); the losses it finds are alerted together when it ends. */
  private cycleSource(source: AgentConfig['sources'][number], keep: KeptBatches, keepArtefacts: Set<string>): Promise<CycleReport> {
    return this.losses.gather(source.name, () => this.cycleSourceGathered(source, keep, keepArtefacts));
  }

  private async cycleSourceGathered(source: AgentConfig['sources'][number], keep: KeptBatches, keepArtefacts: Set<string>): Promise<CycleReport> {
    const report = emptyReport();
    if (source.type === 'recordings') {
      await cycleRecordings(this.recordings, source, report, keep);
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
    if (r.kept.length > 0) (report.kept ??= []).push(...r.kept);
    report.sources.push(r.status);
    return report;
  }

  private runner(source: ArtefactSourceConfig): ArtefactRunner {
    const existing = this.runners.get(source.name);
    if (existing) return existing;
    const { config, store, clock, verify, log, notifier, openFile, retryDelayMs } = this.deps;
    const { partSizeMiB, partConcurrency, attempts } = config.shipping;
    const deps = { site: config.site, store, journal: this.journal, clock, verify, partSize: partSizeMiB * 1024 * 1024, partConcurrency, pool: this.pool, openFile, log, notifier, attempts, retryDelayMs, shippedBy: this.recordings.shippedBy };
    const state = { observations: this.observations, losses: this.losses, lossLog: this.lossLog, alerts: this.alerts, fullNewerThan: (ms: number) => this.fullNewerThan(ms) };
    const runner = new ArtefactRunner({ ...deps, ...state, onError: (message) => (this.lastError = message) }, source);
    this.runners.set(source.name, runner);
    return runner;
  }

  /**
   * The newest full backup shipped from a rotated source whose file is newer than `ms`: once any
   * shipped full has recorded a binlog position (a database dump), only such fulls count, so a
   * PBX configuration tarball does not close a database's binlog gap; where none has (rostrvm's
   * `.rbk`), any full does.
   */
  private fullNewerThan(ms: number): { source: string; name: string; mtimeMs: number } | undefined {
    const fulls = this.deps.config.sources.flatMap((s) => (s.type === 'rotated' ? this.journal.artefacts.records(s.name).filter((r) => !r.partial).map((r) => ({ ...r, source: s.name })) : []));
    const databases = fulls.some((r) => r.positioned) ? fulls.filter((r) => r.positioned) : fulls;
    let best: { source: string; name: string; mtimeMs: number } | undefined;
    for (const r of databases) if (r.mtimeMs > ms && (!best || r.mtimeMs > best.mtimeMs)) best = { source: r.source, name: r.name, mtimeMs: r.mtimeMs };
    return best;
  }

  /** Takes no new batch from now on: the packs and uploads in flight finish, and the pass ends (a Ctrl-C on `--once`). */
  stop(): void {
    this.stopping = true;
  }

  /**
   * Runs cycles until the signal aborts; a cycle that throws is logged and retried next poll.
   * `failed` is told first (the state disk full or read-only: agent run alerts it) and returns what
   * to log; `passed` is told of every cycle that ended well.
   */
  async run(signal: AbortSignal, failed?: (error: unknown) => Promise<unknown>, passed?: () => void): Promise<void> {
    const pollMs = this.deps.config.shipping.pollSeconds * 1000;
    signal.addEventListener('abort', () => (this.stopping = true), { once: true });
    while (!signal.aborted) {
      let more = false;
      try {
        more = (await this.cycle()).more === true;
        passed?.();
      } catch (error) {
        const said = failed ? await failed(error).catch(() => error) : error;
        this.lastError = messageOf(said);
        this.deps.log.error('cycle failed', { error: messageOf(said) });
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
      // An artefact source's losses as the loss log has them now: a binlog gap's are recorded after its status was taken (settleGaps).
      sources: (this.lastReport?.sources ?? []).map((s) => ('lost' in s ? { ...s, lost: this.lossLog.lostVersions(s.name) } : s)),
      lastCycle: this.lastReport ? { packs: this.lastReport.packs, recordings: this.lastReport.recordings, bytes: this.lastReport.bytes, artefacts: this.lastReport.artefacts, artefactBytes: this.lastReport.artefactBytes, failed: this.lastReport.failed, lost: this.lastReport.lost } : undefined,
      inflight: this.journal.inflightPacks().length + this.journal.inflightArtefacts().length,
      recentLosses: losses.slice(-10).map(withFirstPaths),
      lossRecords: this.lossLog.records(),
      openAlerts: this.alerts.openAlerts(),
      lastError: this.lastError,
      ...(this.lastShipRate ? { shipRate: this.lastShipRate } : {}),
    };
  }

  private writeStatus(): void {
    this.lastShipRate = this.shipRate.sample(this.journal.totals.bytes);
    // The pass it reports, as pass.json names it (this process's mark): `agent status` matches the two, not their times (a clock set back).
    const marker = readPassMarker(this.deps.config.state);
    const pass = marker?.pid === process.pid ? { pass: { startedAt: marker.startedAt, pid: marker.pid } } : {};
    writeFileAtomic(join(this.deps.config.state, 'status.json'), `${JSON.stringify({ ...this.statusSnapshot(), ...pass }, null, 2)}\n`);
  }

  close(): void {
    this.journal.close();
    this.lossLog.close();
    this.lock.release();
  }
}
