import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { ArtefactSourceConfig, BinlogSourceConfig } from '../core/config.ts';
import type { Notifier } from '../core/ports.ts';
import { SourceChangedError, UnreadableSourceError, messageOf } from '../core/errors.ts';
import { artefactNameKey } from './artefact-ledger.ts';
import { BinlogRun } from './binlog-run.ts';
import { shipRetryable, type FileStamp } from './journal.ts';
import type { Logger } from './log.ts';
import { openReadOnly } from './ship-batch.ts';
import { nameShape } from './file-format.ts';
import { FormatChangedError, IncompleteDumpError, shipArtefact, type ArtefactContext, type ArtefactOutcome, type ArtefactWork } from './ship-artefact.ts';
import { listSelected, regularFileNames, type SiteFile } from './sources/files.ts';
import { alertBadNames, alertDatedAhead, alertSelectsNothing } from './sources/selection-alerts.ts';
import { reportArtefactLosses, type ArtefactLossDeps } from './sources/artefact-losses.ts';
import { committedVersions } from './artefact-offsite.ts';
import type { Observations } from './state/observations.ts';
import type { LossReporter } from './state/loss-reporter.ts';
import type { LossLog } from './state/loss-log.ts';
import { sourceReadable, type AlertBook } from './state/alert-book.ts';
import { planRotated, type ArtefactPlan } from './sources/rotated.ts';
import { planArchive } from './sources/archive.ts';
import { detectBasename, parseIndex, planBinlog, sequenceOf, type Gap } from './sources/binlog.ts';
import { artefactSelector } from './sources/select.ts';
import { sentence } from '../core/alert-text.ts';
import { shippingError } from './store-refusal.ts';
import { raiseShipFailure, unreachedFileAlert } from './store-unreached.ts';
import { keptUpload, lineFailure, resolveStalledGone, stalledUploadAlert, stillKept, stoppedAt, type UploadKeptError } from './upload-keep.ts';

// One artefact source (rotated, binlog or archive) per instance: each cycle scans read-only,
// reports versions lost before they could be shipped and gaps in a binlog series, ships what
// is complete in order (a binlog series stops at the first segment it cannot ship, so the
// catalogue never sees n+1 before n), and keeps the source's status. What it warns of about its
// selection (nothing selected, names not UTF-8, files dated ahead) is sources/selection-alerts.ts.

export interface ArtefactRunnerDeps extends ArtefactContext {
  log: Logger;
  notifier: Notifier;
  attempts: number;
  retryDelayMs?: (attempt: number) => number;
  onError?: (message: string) => void;
  /** What the agent saw of the source in earlier passes, of any process. */
  observations: Observations;
  losses: LossReporter;
  lossLog: Pick<LossLog, 'all' | 'lostVersions'>;
  alerts: AlertBook;
  /** The newest full backup shipped from any rotated source whose file is newer than `ms` (bridges a binlog gap). */
  fullNewerThan?: (ms: number) => { source: string; name: string; mtimeMs: number } | undefined;
}

export interface ArtefactSourceStatus {
  name: string;
  type: ArtefactSourceConfig['type'];
  /** Versions waiting: not shipped, complete or not. */
  backlog: { files: number; bytes: number; oldest?: { name: string; sinceMs: number } };
  /** Rotated backups and archives: how many of the backlog are not yet judged complete, and the window that judges them. */
  settling?: { files: number; stableSeconds: number; minAgeSeconds: number };
  lastShipped?: { name: string; artefactId: string; at: string; partial: boolean; sequence?: number };
  /**
   * Binlog: missing segment numbers; point-in-time restore cannot cross them. `bridgedBy`: the
   * full backup newer than the gap that is offsite (times after it are reachable again).
   */
  gaps?: (Gap & { bridgedBy?: { source: string; name: string; at: string } })[];
  /** Versions lost before they were shipped (as remembered by the journal). */
  lost: number;
  /** Why the source could not be scanned, when it could not. */
  problem?: string;
  lastScan: string;
}

export interface ArtefactCycle {
  status: ArtefactSourceStatus;
  artefacts: number;
  bytes: number;
  failed: number;
  lost: number;
  /** Manifest keys published in this cycle. */
  manifests: string[];
  /** Uploads the line stopped, left open for the next run (agent/upload-keep.ts): `source/name: stopped at … of …: the line failed`. */
  kept: string[];
}

interface Scan {
  files: SiteFile[];
  /** Selected files whose names are not UTF-8, shown with their bytes: not shipped, alerted. */
  badNames?: string[];
  plan: (nowMs: number) => ArtefactPlan & { gaps?: Gap[] };
}

export class ArtefactRunner {
  /** Names on the site at the last scan (the journal forgets versions of the others on compaction). */
  present: string[] = [];

  constructor(
    private readonly deps: ArtefactRunnerDeps,
    private readonly source: ArtefactSourceConfig,
  ) {
    this.run = source.type === 'binlog' ? new BinlogRun(deps, source) : undefined;
  }

  private gapCheck: { gaps: Gap[]; files: SiteFile[] } | undefined;
  /** The gaps of this pass's status, to which settleGaps adds the full that bridges each. */
  private shownGaps: ArtefactSourceStatus['gaps'];
  /** A binlog source's run of the server's numbering (restarts, purged segments). */
  private readonly run: BinlogRun | undefined;
  /** The segment series of a binlog source, as its last scan found it. */
  private binlogBasename: string | undefined;
  /** Names found in this cycle to be dumps not yet whole (IncompleteDumpError). */
  private readonly incomplete = new Set<string>();
  /** This cycle's uploads the line stopped, left open for the next run. */
  private kept: string[] = [];

  async cycle(): Promise<ArtefactCycle> {
    const { clock, log } = this.deps;
    this.gapCheck = undefined;
    const out: ArtefactCycle = { status: this.status([], undefined), artefacts: 0, bytes: 0, failed: 0, lost: 0, manifests: [], kept: (this.kept = []) };
    let scan: Scan;
    try {
      scan = await this.scan();
    } catch (error) {
      const problem = `cannot scan ${this.source.path}: ${messageOf(error)}`;
      log.warn('source cannot be scanned', { source: this.source.name, error: problem });
      await sourceReadable(this.deps.alerts, this.deps.site, this.source, problem);
      out.status = { ...out.status, problem };
      return out;
    }
    await sourceReadable(this.deps.alerts, this.deps.site, this.source);
    await alertSelectsNothing(this.deps, this.source, scan.files.length);
    out.failed += await alertBadNames(this.deps, this.source, scan.badNames ?? []);
    this.present = scan.files.map((f) => artefactNameKey(this.source.name, f.name));
    await resolveStalledGone(this.deps.alerts, this.deps.site, this.source.name, scan.files.map((f) => f.name));
    out.lost = await reportArtefactLosses(this.lossDeps, this.source, scan.files);
    this.deps.observations.stability(this.source.name).observe(scan.files, clock.now().getTime());
    const plan = scan.plan(clock.now().getTime());
    // Judged once every source of the pass is done (settleGaps): a full backup shipped by
    // another source in this same pass may bridge the gap.
    this.gapCheck = plan.gaps ? { gaps: plan.gaps, files: scan.files } : undefined;
    this.incomplete.clear();
    for (const work of plan.ready) {
      if (work.role === 'archive' && work.spanSource === 'file-times') {
        log.warn('archive name not read as the span it covers: catalogued with its file times (set namePattern and timeFormat)', { source: this.source.name, name: work.stamp.name });
      }
      const outcome = await this.shipWithRetry(this.withExpectedFormat(work));
      if (outcome?.status === 'published') {
        out.artefacts++;
        out.bytes += outcome.size;
        out.manifests.push(outcome.manifestKey);
      } else if (!outcome) {
        out.failed++;
        if (this.source.type === 'binlog' && !work.partial) break;
      }
    }
    const after = scan.plan(clock.now().getTime());
    // A dump found cut short is not a version worth keeping: its completed self replacing it is no loss.
    const readyUnshipped = new Map(after.ready.filter((w) => !w.partial && !this.incomplete.has(w.stamp.name)).map((w) => [w.stamp.name, w.stamp]));
    this.deps.observations.setReadyUnshipped(this.source.name, readyUnshipped, clock.now());
    this.deps.observations.save();
    const backlog = new Map<string, FileStamp>([...after.waiting.map((f): [string, FileStamp] => [f.name, f]), ...readyUnshipped]);
    out.status = this.status([...backlog.values()], after.gaps, after.waiting.length);
    // The gaps are judged after every source of the pass (settleGaps), before the status is kept.
    this.shownGaps = out.status.gaps;
    await alertDatedAhead(this.deps, this.source, after.waiting);
    return out;
  }

  private get tracker() {
    return this.deps.observations.stability(this.source.name);
  }

  private isShipped = (name: string, size: number, mtimeMs: number) => this.deps.journal.artefacts.shipped(this.source.name, name, size, mtimeMs) !== undefined;

  private async scan(): Promise<Scan> {
    const s = this.source;
    const warn = (message: string, name: string) => this.deps.log.warn(message, { source: s.name, name });
    const badNames: string[] = [];
    const bad = (shown: string) => badNames.push(shown);
    if (s.type === 'rotated') {
      const files = await listSelected(s.path, artefactSelector(s), warn, bad);
      return { files, badNames, plan: (now) => planRotated(s, files, this.tracker, this.isShipped, now) };
    }
    if (s.type === 'archive') {
      const files = await listSelected(s.path, artefactSelector(s), warn, bad);
      return { files, badNames, plan: (now) => planArchive(s, files, this.tracker, this.isShipped, now) };
    }
    return this.scanBinlog(s);
  }

  private async scanBinlog(s: BinlogSourceConfig): Promise<Scan> {
    const names = await regularFileNames(s.path);
    const detected = detectBasename(names, s.basename);
    if ('problem' in detected) throw new Error(detected.problem);
    const { basename } = detected;
    this.binlogBasename = basename;
    const files = await listSelected(s.path, artefactSelector(s, basename));
    const indexName = s.indexFile ?? (names.includes(`${basename}.index`) ? `${basename}.index` : undefined);
    const indexed = indexName ? await this.readIndex(join(s.path, indexName), basename) : undefined;
    const segments = files.map((f) => ({ name: f.name, size: f.size, sequence: sequenceOf(f.name), mtimeMs: f.mtimeMs, birthtimeMs: f.birthtimeMs }));
    this.run!.observe(segments);
    // Versions shipped before the numbering restarted are the run before's: not this run's gaps or partials.
    const run = this.run!.records();
    const shippedSequences = await this.run!.shippedSequences(run, basename, segments.map((f) => f.sequence));
    const ledger = {
      shipped: (name: string, size: number, mtimeMs: number) => this.deps.journal.artefacts.shipped(s.name, name, size, mtimeMs),
      lastPartial: (name: string) => run.filter((r) => r.partial && r.name === name).at(-1),
      shippedSequences: () => shippedSequences,
      purgedPartials: () => this.run!.purgedPartials,
    };
    return { files, plan: (now) => planBinlog(s, basename, files, indexed, ledger, now) };
  }

  private async readIndex(path: string, basename: string): Promise<number[] | undefined> {
    try {
      const file = await openReadOnly(this.deps, path);
      try {
        return parseIndex(await readFile(file, 'utf8'), basename);
      } finally {
        await file.close();
      }
    } catch (error) {
      this.deps.log.warn('binlog index cannot be read; using the numbering alone', { source: this.source.name, path, error: messageOf(error) });
      return undefined;
    }
  }

  /** What the loss checks of artefact-losses.ts read and report through. */
  private get lossDeps(): ArtefactLossDeps {
    const offsite = (files: readonly FileStamp[]) => committedVersions(this.deps.store, this.deps.site, this.source.type, this.source.name, files);
    return { observations: this.deps.observations, losses: this.deps.losses, isShipped: (f) => this.isShipped(f.name, f.size, f.mtimeMs), now: () => this.deps.clock.now(), offsite };
  }

  /** Raises, repeats or resolves the gap alerts of the last cycle's scan; the agent calls it after every source of a pass. */
  async settleGaps(): Promise<number> {
    const check = this.gapCheck;
    this.gapCheck = undefined;
    if (!check) return 0;
    const paged = await this.reportGaps(check.gaps, check.files);
    return (await this.run?.settle(check.gaps, this.binlogBasename, paged)) ?? 0;
  }

  /**
   * A gap is alerted once, repeated on the alert schedule while it blocks point-in-time restore,
   * and resolved when a full backup newer than the gap has been shipped (later times are then
   * reachable from that full) or the missing segments turn up. Returns the key of each gap whose
   * alert is open ("from-to" → key): that alert is the page for its segments' loss.
   */
  private async reportGaps(gaps: Gap[], files: SiteFile[]): Promise<Map<string, string>> {
    const prefix = `binlog-gap:${this.source.name}:`;
    const open = new Set<string>();
    const paged = new Map<string, string>();
    const firstSeen = this.deps.observations.gapsFirstSeen(this.source.name, gaps.map((g) => `${g.from}-${g.to}`), this.deps.clock.now().getTime());
    for (const gap of gaps) {
      const key = `${prefix}${gap.from}-${gap.to}`;
      // A full whose file is newer than the gap (it was there when first seen, or the segment
      // after it had closed) reaches the times after it. Neither time moves once the alert is
      // resolved, so the judgement holds from one pass to the next.
      const seenAt = firstSeen.get(`${gap.from}-${gap.to}`)!;
      const bridge = this.deps.fullNewerThan?.(Math.min(seenAt, this.segmentMtime(gap.to + 1, files) ?? Infinity));
      const what = gap.from === gap.to ? `segment ${gap.from}` : `segments ${gap.from} to ${gap.to}`;
      if (bridge) {
        const shown = this.shownGaps?.find((g) => g.from === gap.from && g.to === gap.to);
        if (shown) shown.bridgedBy = { source: bridge.source, name: bridge.name, at: new Date(bridge.mtimeMs).toISOString() };
        await this.deps.alerts.resolve(key, this.deps.site, `A full backup newer than the gap in ${this.source.name} (${bridge.source}/${bridge.name}, ${new Date(bridge.mtimeMs).toISOString()}) is offsite: point-in-time restore reaches every time after it. Times between the last full before the gap and ${what} stay unreachable.`);
        continue;
      }
      open.add(key);
      paged.set(`${gap.from}-${gap.to}`, key);
      if ((await this.deps.alerts.raise(key, {
        severity: 'critical',
        site: this.deps.site,
        subject: `binlog gap in ${this.source.name}: ${what} missing`,
        message: `${what} of source ${this.source.name} ${gap.from === gap.to ? 'is' : 'are'} neither on the site nor offsite: removed from the site (purged by the database server) before the agent shipped ${gap.from === gap.to ? 'it' : 'them'}. Recorded lost (\`ferry agent status --losses\` lists ${gap.from === gap.to ? 'it' : 'them'}): this alert is ${gap.from === gap.to ? 'its' : 'their'} page, with no loss alert of ${gap.from === gap.to ? 'its' : 'their'} own. Point-in-time restore cannot cross the gap: take a new full backup of the database now, and keep binlogs on the server for longer than the agent can fall behind. This alert resolves by itself once a full backup newer than the gap is offsite; times between the last full before it and the gap stay unreachable.`,
        details: { source: this.source.name, ...gap },
      })) !== 'quiet') this.deps.log.error('binlog gap: point-in-time restore cannot cross it', { source: this.source.name, gap });
    }
    this.deps.observations.save();
    await this.deps.alerts.resolveOthers(prefix, open, this.deps.site, (a) => `${a.subject.replace(/^binlog gap in [^:]+: /, '')}: the gap is closed (the missing segments were found or shipped).`);
    return paged;
  }

  /** The modification time of segment `sequence`, on the site or as shipped. */
  private segmentMtime(sequence: number, files: SiteFile[]): number | undefined {
    const onSite = files.find((f) => Number(/\.(\d+)$/.exec(f.name)?.[1]) === sequence);
    if (onSite) return onSite.mtimeMs;
    return this.run?.records().find((r) => !r.partial && r.sequence === sequence)?.mtimeMs;
  }

  /**
   * A rotated backup is expected in the format of the last full of its name's shape (the same
   * name, or the same with other digits: the versions of one backup; agent/file-format.ts),
   * unless the source says formatCheck: false. Fulls shipped before formats were recorded set none.
   */
  private withExpectedFormat(work: ArtefactWork): ArtefactWork {
    if (this.source.type !== 'rotated' || this.source.formatCheck === false || work.partial) return work;
    const shape = nameShape(work.stamp.name);
    const last = this.deps.journal.artefacts.records(this.source.name).filter((r) => !r.partial && nameShape(r.name) === shape).at(-1);
    return last?.format ? { ...work, expectFormat: { format: last.format, name: last.name, at: last.at } } : work;
  }

  private async shipWithRetry(work: ArtefactWork): Promise<ArtefactOutcome | undefined> {
    const { log, attempts } = this.deps;
    const what = { source: work.source, name: work.stamp.name, ...(work.partial ? { partial: true } : {}) };
    /** The upload an attempt left open when the line failed, while later attempts fail on the line too. */
    let stopped: UploadKeptError | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const started = performance.now();
        const outcome = await shipArtefact(this.deps, work);
        if (outcome.status === 'unchanged') log.info('artefact unchanged; already offsite', { ...what, artefact: outcome.artefactId });
        else log.info('artefact published', { ...what, artefact: outcome.artefactId, bytes: outcome.size, ms: Math.round(performance.now() - started), ...(outcome.binlog && !outcome.binlog.ok ? { spanFallback: outcome.binlog.reason } : {}) });
        if (outcome.status === 'published' && outcome.lockRefused) {
          log.warn("the store refused this partial's own short lock: it went out under the bucket's default lock (kept longer, costing more). Deploy the stack that grants binlogs.partialLockDays before upgrading agents, and keep the agent's value equal to the deployment's (docs/operations.md, Binlog partials and their lock)", { ...what, artefact: outcome.artefactId });
        }
        for (const kind of ['ship-failed', 'upload-stalled']) await this.deps.alerts.resolve(`${kind}:${work.source}:${work.stamp.name}`, this.deps.site, `${work.stamp.name} of source ${work.source} is offsite now.`);
        return outcome;
      } catch (error) {
        if (error instanceof SourceChangedError) {
          log.warn('artefact changed while it was shipped; not published, will look again', { ...what, reason: error.message });
          return undefined;
        }
        const retryable = !(error instanceof UnreadableSourceError) && shipRetryable(error);
        log.warn('artefact failed', { ...what, attempt, of: attempts, retryable, error: messageOf(error) });
        if (error instanceof IncompleteDumpError || error instanceof FormatChangedError) this.incomplete.add(work.stamp.name);
        // A later attempt the line stops before it reaches the upload (its first HEAD) leaves the upload as the stop left it.
        stopped = keptUpload(error) ?? (lineFailure(error) && stillKept(this.deps.journal.directory, work.source, work.stamp.name) ? stopped : undefined);
        if (!retryable || attempt === attempts) {
          this.deps.onError?.(`${work.source}/${work.stamp.name}: ${shippingError(stopped ?? error, this.deps.site)}`);
          if (error instanceof FormatChangedError) return this.formatChanged(work, error);
          if (stopped) return this.lineStopped(work, stopped);
          const said = shippingError(error, this.deps.site);
          const now = { severity: 'warning' as const, site: this.deps.site, subject: `${work.stamp.name} could not be shipped`, message: `After ${attempt} attempt(s): ${sentence(said)} It stays in the backlog and is tried again next cycle.` };
          await raiseShipFailure(this.deps.alerts, `ship-failed:${work.source}:${work.stamp.name}`, error, now, (since, reason) => unreachedFileAlert(this.deps.site, { source: work.source, name: work.stamp.name }, since, reason, said, this.deps.clock.now()));
          return undefined;
        }
        await new Promise((r) => setTimeout(r, this.deps.retryDelayMs?.(attempt) ?? Math.min(30_000, 1000 * 2 ** (attempt - 1))));
      }
    }
    return undefined;
  }

  /**
   * A shipping the line stopped, its upload left open with the parts the store took: said (the
   * pass's summary, the log), not alerted as a failure, since the next run goes on from there;
   * alerted once the upload has been under way for longer than STALLED_UPLOAD_HOURS.
   */
  private async lineStopped(work: ArtefactWork, kept: UploadKeptError): Promise<undefined> {
    const { stored, size, since, stops } = kept.upload;
    this.kept.push(`${work.source}/${work.stamp.name}: ${stoppedAt(stored, size)}: ${kept.upload.reason}`);
    this.deps.log.warn('the line stopped the upload: kept open with the parts the store holds, the next run resumes it', { source: work.source, name: work.stamp.name, stored, size, since, stops, error: kept.message });
    const stalled = stalledUploadAlert(this.deps.site, { source: work.source, name: work.stamp.name }, kept, this.deps.clock.now());
    if (stalled) await this.deps.alerts.raise(stalled.key, stalled);
    return undefined;
  }

  /** A backup that lost its format: held back, and a critical alert (raised once, resolved when the source ships a full again). */
  private async formatChanged(work: ArtefactWork, error: FormatChangedError): Promise<undefined> {
    this.deps.log.error('backup not in its format: held back', { source: work.source, name: work.stamp.name, error: error.message });
    await this.deps.alerts.raise(`ship-failed:${work.source}:${work.stamp.name}`, {
      severity: 'critical',
      site: this.deps.site,
      subject: `${work.stamp.name} of ${work.source} is not a backup any more: held back`,
      message: `${sentence(error.message)} The fulls already offsite are kept; \`ferry restore plan --site ${this.deps.site} --source ${work.source} --at <time>\` shows the one a restore would use.`,
    });
    return undefined;
  }

  private status(waiting: FileStamp[], gaps: Gap[] | undefined, settling = 0): ArtefactSourceStatus {
    const last = this.deps.journal.artefacts.records(this.source.name).at(-1);
    const src = this.source;
    const oldest = waiting.reduce<FileStamp | undefined>((a, f) => (!a || f.mtimeMs < a.mtimeMs ? f : a), undefined);
    return {
      name: this.source.name,
      type: this.source.type,
      backlog: { files: waiting.length, bytes: waiting.reduce((n, f) => n + f.size, 0), ...(oldest ? { oldest: { name: oldest.name, sinceMs: oldest.mtimeMs } } : {}) },
      ...(last ? { lastShipped: { name: last.name, artefactId: last.artefactId, at: last.at, partial: last.partial, ...(last.sequence === undefined ? {} : { sequence: last.sequence }) } } : {}),
      ...(settling > 0 && src.type !== 'binlog' ? { settling: { files: settling, stableSeconds: src.stableSeconds, minAgeSeconds: src.minAgeSeconds } } : {}),
      ...(gaps ? { gaps } : {}),
      lost: this.deps.lossLog.lostVersions(this.source.name),
      lastScan: this.deps.clock.now().toISOString(),
    };
  }
}
