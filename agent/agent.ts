import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig, ArtefactSourceConfig, RecordingsSourceConfig } from '../core/config.ts';
import type { BlobStore, Notifier } from '../core/ports.ts';
import type { Clock } from '../core/clock.ts';
import { SourceChangedError, UnreadableSourceError, messageOf, FerryError } from '../core/errors.ts';
import { createMetadataExtractor } from '../core/metadata.ts';
import { Journal, batchKey, type FileStamp } from './journal.ts';
import type { Logger } from './log.ts';
import { scanBatches, type ScannedBatch } from './sources/scan.ts';
import { selectWork, findLosses, pendingView, backlogOf, batchDone, type Backlog, type BatchWork } from './sources/recordings.ts';
import { shipBatch, type ShipContext, type ShipResult } from './ship-batch.ts';
import { recoverInflight } from './recover.ts';
import type { VerifyMode } from './verify.ts';
import { ArtefactRunner, type ArtefactSourceStatus } from './artefact-runner.ts';
import { oneAtATime } from './activity-worker.ts';
import { PartPool } from './part-pool.ts';

// The agent: one composition of journal, sources and shipping for one site. `cycle()` is one
// pass (scan every source, report losses, ship what is closed, oldest first); `run()` repeats
// it until stopped. Each pack is retried a few times on transient or integrity failures.
// Recordings sources are packed here; artefact sources (rotated backups, binlog segments,
// archives) each have an ArtefactRunner that keeps its own between-cycle memory.

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
}

export type SourceStatus = RecordingsSourceStatus | ArtefactSourceStatus;

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
}

const COMPACT_AFTER_LINES = 5000;

export class Agent {
  readonly journal: Journal;
  private readonly previous = new Map<string, Map<string, FileStamp[]>>();
  private readonly runners = new Map<string, ArtefactRunner>();
  private recovered = false;
  private lastReport: CycleReport | undefined;
  private lastError: string | undefined;

  /** Part buffers for every upload (packs and artefacts): partSize × packConcurrency × (partConcurrency + 1) at most. */
  private readonly pool: PartPool;

  constructor(private readonly deps: AgentDeps) {
    this.journal = new Journal(deps.config.state);
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
    const report: CycleReport = { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, artefacts: 0, artefactBytes: 0, sources: [], manifests: [] };
    const keep = new Set<string>();
    const keepArtefacts = new Set<string>();
    for (const source of this.deps.config.sources) {
      if (source.type === 'recordings') {
        await this.cycleRecordings(source, report, keep);
        continue;
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
    }
    if (this.journal.lineCount > COMPACT_AFTER_LINES) this.journal.compact(keep, keepArtefacts);
    this.lastReport = report;
    this.writeStatus();
    return report;
  }

  private async cycleRecordings(source: RecordingsSourceConfig, report: CycleReport, keep: Set<string>): Promise<void> {
    const isShipped = (batch: string, f: FileStamp) => this.journal.isShipped(source.name, batch, f);
    const { ready, pending } = await this.scanAndSelect(source, report, keep, isShipped);
    // Each batch's records are let go as soon as it is shipped: memory falls as the backlog does.
    await this.shipAll(this.shipContext(source), ready, report, (batch) => {
      const left = pending.get(batch)?.filter((f) => !isShipped(batch, f)) ?? [];
      if (left.length > 0) pending.set(batch, left);
      else pending.delete(batch);
    });
    report.sources.push({ name: source.name, type: 'recordings', backlog: backlogOf(source.name, pending), lastScan: this.deps.clock.now().toISOString() });
    this.previous.set(source.name, pending);
  }

  /** Scans, reports losses and picks the work; the scan itself is not kept past this point. */
  private async scanAndSelect(source: RecordingsSourceConfig, report: CycleReport, keep: Set<string>, isShipped: (batch: string, f: FileStamp) => boolean) {
    const scanned = await this.scan(source);
    for (const b of scanned) keep.add(batchKey(source.name, b.batch));
    report.lost += await this.reportLosses(source, scanned);
    const { ready } = selectWork(source, scanned, isShipped, createMetadataExtractor(source.metadata), this.deps.clock);
    return { ready, pending: pendingView(scanned, isShipped, source.extensions) };
  }

  private runner(source: ArtefactSourceConfig): ArtefactRunner {
    const existing = this.runners.get(source.name);
    if (existing) return existing;
    const { config, store, clock, verify, log, notifier, openFile, retryDelayMs } = this.deps;
    const { partSizeMiB, partConcurrency, attempts } = config.shipping;
    const deps = { site: config.site, store, journal: this.journal, clock, verify, partSize: partSizeMiB * 1024 * 1024, partConcurrency, pool: this.pool, openFile, log, notifier, attempts, retryDelayMs };
    const runner = new ArtefactRunner({ ...deps, onError: (message) => (this.lastError = message) }, source);
    this.runners.set(source.name, runner);
    return runner;
  }

  private async scan(source: RecordingsSourceConfig): Promise<ScannedBatch[]> {
    const warned = new Set<string>();
    return scanBatches(source.path, {
      depth: source.batchDepth,
      isDone: batchDone(this.journal, source),
      onWarning: (message, path) => {
        if (warned.has(path)) return;
        warned.add(path);
        this.deps.log.warn(message, { source: source.name, path });
      },
    });
  }

  private async reportLosses(source: RecordingsSourceConfig, scanned: ScannedBatch[]): Promise<number> {
    const previous = this.previous.get(source.name);
    if (!previous) return 0;
    let lost = 0;
    for (const loss of findLosses(previous, scanned, (batch, f) => this.journal.isShipped(source.name, batch, f))) {
      const record = { source: source.name, batch: loss.batch, files: loss.files, reason: 'deleted by the recorder before it was shipped', at: this.deps.clock.now().toISOString() };
      this.journal.lost(record);
      lost += loss.files.length;
      await this.deps.notifier.notify({
        severity: 'critical',
        site: this.deps.config.site,
        subject: `${loss.files.length} recording(s) lost before shipping`,
        message: `Batch ${loss.batch} of source ${source.name} was deleted by the recorder before Ferry shipped it. Lost: ${loss.files.slice(0, 5).join(', ')}${loss.files.length > 5 ? ', …' : ''}. Check the agent's backlog and bandwidth; the recorder's disk may be too small for the shipping rate.`,
        details: record,
      });
    }
    return lost;
  }

  /** Ships `ready` in order, `packConcurrency` at a time, taking each item off the list as it starts. */
  private async shipAll(ctx: ShipContext, ready: BatchWork[], report: CycleReport, onDone: (batch: string) => void): Promise<void> {
    const total = ready.length;
    let done = 0;
    const progress = () => this.deps.onProgress?.({ phase: 'ship', packsDone: done, packsTotal: total, recordings: report.recordings, bytes: report.bytes });
    progress();
    const worker = async () => {
      for (let work = ready.shift(); work; work = ready.shift()) {
        const result = await this.shipWithRetry(ctx, work);
        if (result) {
          report.packs++;
          report.manifests.push(result.manifestKey);
          report.recordings += result.recordings;
          report.bytes += result.bytes;
        } else report.failed++;
        onDone(work.batch);
        done++;
        progress();
      }
    };
    await Promise.all(Array.from({ length: this.deps.config.shipping.packConcurrency }, worker));
  }

  private async shipWithRetry(ctx: ShipContext, work: BatchWork): Promise<ShipResult | undefined> {
    const { log, config } = this.deps;
    const attempts = config.shipping.attempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const started = performance.now();
        const result = await shipBatch(ctx, work);
        log.info('pack published', { batch: work.batch, pack: result.packId, recordings: result.recordings, bytes: result.bytes, ms: Math.round(performance.now() - started) });
        for (const issue of result.issues.slice(0, 20)) log.warn('metadata', { batch: work.batch, issue });
        return result;
      } catch (error) {
        this.journalAbandon(work, error);
        if (error instanceof UnreadableSourceError) {
          // Ship the rest of the batch now; the unreadable recording stays in the backlog and is tried next pass.
          const name = error.path.slice(error.path.lastIndexOf('/') + 1);
          const rest = work.recordings.filter((r) => r.name !== name);
          log.warn('recording cannot be read; shipping the rest of its batch, will try it again next pass', { batch: work.batch, path: error.path, error: error.message });
          await this.deps.notifier.notify({ severity: 'warning', site: config.site, subject: `recording cannot be read: ${error.path}`, message: `${error.message}. The rest of batch ${work.batch} is shipped; this recording stays in the backlog. Check the file's permissions and the disk.` });
          if (rest.length === work.recordings.length || rest.length === 0) return undefined;
          work = { ...work, recordings: rest };
          attempt--;
          continue;
        }
        if (error instanceof SourceChangedError) {
          log.warn('batch changed while it was packed; not published, will look again', { batch: work.batch, reason: error.message });
          return undefined;
        }
        const retryable = error instanceof FerryError ? error.retryable : true;
        this.lastError = `${work.batch}: ${messageOf(error)}`;
        log.warn('pack failed', { batch: work.batch, attempt, of: attempts, retryable, error: messageOf(error) });
        if (!retryable || attempt === attempts) {
          await this.deps.notifier.notify({
            severity: 'warning',
            site: config.site,
            subject: `batch ${work.batch} could not be shipped`,
            message: `After ${attempt} attempt(s): ${messageOf(error)}. It stays in the backlog and is tried again next cycle.`,
          });
          return undefined;
        }
        await new Promise((r) => setTimeout(r, this.deps.retryDelayMs?.(attempt) ?? Math.min(30_000, 1000 * 2 ** (attempt - 1))));
      }
    }
    return undefined;
  }

  private journalAbandon(work: BatchWork, error: unknown): void {
    for (const p of this.journal.inflightPacks()) {
      if (p.batch === work.batch && p.source === work.source) this.journal.abandoned(p.packId, messageOf(error));
    }
  }

  /** Runs cycles until the signal aborts; a cycle that throws is logged and retried next poll. */
  async run(signal: AbortSignal): Promise<void> {
    const pollMs = this.deps.config.shipping.pollSeconds * 1000;
    while (!signal.aborted) {
      try {
        await this.cycle();
      } catch (error) {
        this.lastError = messageOf(error);
        this.deps.log.error('cycle failed', { error: messageOf(error) });
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  }

  statusSnapshot() {
    return {
      site: this.deps.config.site,
      updatedAt: this.deps.clock.now().toISOString(),
      pid: process.pid,
      totals: { ...this.journal.totals },
      sources: this.lastReport?.sources ?? [],
      lastCycle: this.lastReport ? { packs: this.lastReport.packs, recordings: this.lastReport.recordings, bytes: this.lastReport.bytes, artefacts: this.lastReport.artefacts, artefactBytes: this.lastReport.artefactBytes, failed: this.lastReport.failed, lost: this.lastReport.lost } : undefined,
      inflight: this.journal.inflightPacks().length + this.journal.inflightArtefacts().length,
      recentLosses: this.journal.recentLosses().slice(-10),
      lastError: this.lastError,
    };
  }

  private writeStatus(): void {
    const file = join(this.deps.config.state, 'status.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.statusSnapshot(), null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  close(): void {
    this.journal.close();
  }
}
