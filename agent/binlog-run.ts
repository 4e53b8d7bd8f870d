import type { BinlogSourceConfig } from '../core/config.ts';
import { segmentName } from '../core/log-gaps.ts';
import { artefactManifestKey, artefactSourcePrefix } from '../core/layout.ts';
import type { BlobStore } from '../core/ports.ts';
import { TransientError } from '../core/errors.ts';
import type { ArtefactRecord } from './artefact-ledger.ts';
import type { ArtefactRunnerDeps } from './artefact-runner.ts';
import { findGaps, type Gap } from './sources/binlog.ts';

// A binlog source's run of the server's numbering, and what falls out of it without ever
// reaching the agent: segments the server purged before they were shipped (a gap), and the end
// of a run the server threw away (`RESET MASTER`, a new server or one restored from a backup
// starts at mysql-bin.000001 again). Both are losses, recorded once each, and both block
// point-in-time restore until a newer full is offsite. What the agent concluded lives in the
// state directory (observations.json's `runSince`), so cron passes agree with each other.

/** The highest closed segment of `basename` the store holds for the source (its data objects' names), or undefined. */
async function highestOffsite(store: Pick<BlobStore, 'list'>, site: string, source: string, basename: string): Promise<number | undefined> {
  const prefix = artefactSourcePrefix(site, 'binlog', source);
  const name = new RegExp(`-${basename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d{6,})$`);
  let top: number | undefined;
  for await (const item of store.list(prefix)) {
    if (item.key.startsWith(`${prefix}partial/`)) continue;
    const m = name.exec(item.key);
    if (m) top = Math.max(top ?? -1, Number(m[1]));
  }
  return top;
}

/**
 * The closed segments of `basename` among `wanted` whose object and manifest the store holds,
 * written since `since` (this run of the numbering): shipped by a state directory this one does
 * not remember. Undefined when the store cannot say (it refuses), 'unreachable' when it could not be asked now.
 */
async function committedOffsite(store: Pick<BlobStore, 'list' | 'head'>, site: string, source: string, basename: string, wanted: ReadonlySet<number>, since: string | undefined): Promise<number[] | 'unreachable' | undefined> {
  const prefix = artefactSourcePrefix(site, 'binlog', source);
  const name = new RegExp(`/([^/]+)-${basename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d{6,})$`);
  const found = new Set<number>();
  try {
    for await (const item of store.list(prefix)) {
      if (item.key.startsWith(`${prefix}partial/`)) continue;
      const m = name.exec(item.key);
      const sequence = m ? Number(m[2]) : NaN;
      if (!m || !wanted.has(sequence) || found.has(sequence)) continue;
      if (since !== undefined && item.lastModified !== undefined && item.lastModified.toISOString() < since) continue;
      // A data object without its manifest was never committed (a pass cut before it).
      if (await store.head(artefactManifestKey(site, 'binlog', source, m[1]!))) found.add(sequence);
    }
  } catch (error) {
    return error instanceof TransientError ? 'unreachable' : undefined;
  }
  return [...found];
}

type RunDeps = Pick<ArtefactRunnerDeps, 'journal' | 'observations' | 'losses' | 'lossLog' | 'alerts' | 'clock' | 'log' | 'site' | 'store' | 'fullNewerThan'>;

export class BinlogRun {
  /** The run before's unclosed segments, when this cycle's scan found the numbering restarted. */
  private restart: ArtefactRecord[] | undefined;

  constructor(
    private readonly deps: RunDeps,
    private readonly source: BinlogSourceConfig,
  ) {}

  /** Whether this process asked the store where the chain offsite ends (once, while the journal knows no segment). */
  private askedStore = false;
  /** The segments on the site at this cycle's scan (`observe`). */
  private onSite: { name: string; size: number; sequence: number; mtimeMs: number; birthtimeMs?: number }[] = [];
  /** This run's segments shipped only as partial snapshots that the server purged before they closed (found by `shippedSequences`): part of a gap. */
  purgedPartials: number[] = [];

  /**
   * The segments to count as shipped when looking for gaps: this run's (`records`: closed, and
   * those shipped only as partial snapshots, which the site may since have purged), and the
   * highest the store held when the journal knew none (a lost state directory, a new host), when
   * the site's segments start after it: segments the server purged in between are a gap, though
   * this state directory never saw them. Asks the store once (one listing of the source's
   * objects). A store whose highest segment is above every segment on the site holds another
   * run of the numbering (a new or restored server at a failover): the restart is noted (its
   * alert asks for a full) and that top is not this run's.
   */
  async shippedSequences(records: readonly ArtefactRecord[], basename: string, onSite: readonly number[]): Promise<number[]> {
    const closed = new Set(records.flatMap((r) => (!r.partial && r.sequence !== undefined ? [r.sequence] : [])));
    const partialOnly = new Map<number, ArtefactRecord>();
    for (const r of records) if (r.partial && r.sequence !== undefined && !closed.has(r.sequence)) partialOnly.set(r.sequence, r);
    const run = [...closed, ...partialOnly.keys()];
    this.purgedPartials = [];
    if (onSite.length === 0) return run;
    const lowest = Math.min(...onSite);
    // Offsite only up to their last partial snapshot: their closed segment is missing, a gap of its own.
    this.purgedPartials = [...partialOnly.keys()].filter((n) => n < lowest);
    let top = this.deps.observations.binlogShippedTop(this.source.name);
    if (top === undefined && records.length === 0 && !this.askedStore) {
      this.askedStore = true;
      top = await highestOffsite(this.deps.store, this.deps.site, this.source.name, basename).catch(() => undefined);
      if (top !== undefined && top > Math.max(...onSite)) {
        this.restartedSinceStore(top);
        top = undefined;
      }
      if (top !== undefined) this.deps.observations.setBinlogShippedTop(this.source.name, top);
    }
    const known = top !== undefined && top < lowest ? [...run, top] : run;
    return [...known, ...(await this.offsiteInGaps(known, onSite, basename))];
  }

  /** Whether this process asked the store about the segments of a gap (once). */
  private askedGaps = false;

  /**
   * Segments in the gaps between what the journal shipped and what is on the site that the
   * store holds committed: a state directory put back to an older copy (a VM snapshot) does not
   * know what shipped after it, and those segments are offsite, not a gap. Asked once per
   * process, and only while a gap holds a segment not yet recorded lost (a real gap, once
   * recorded, costs no listing); what is found is remembered (observations.json `offsite`). A
   * store that cannot be reached now leaves the gap to a later pass (counted shipped in this one).
   */
  private async offsiteInGaps(known: readonly number[], onSite: readonly number[], basename: string): Promise<number[]> {
    const remembered = this.deps.observations.binlogOffsite(this.source.name);
    const gaps = findGaps([...known, ...onSite, ...remembered]);
    if (gaps.length === 0 || this.askedGaps) return remembered;
    const lost = this.lostNames();
    const unjudged = new Set(gaps.flatMap((g) => Array.from({ length: g.to - g.from + 1 }, (_, i) => g.from + i)).filter((n) => !lost.has(segmentName(basename, n))));
    if (unjudged.size === 0) return remembered;
    const since = this.deps.observations.binlogRunSince(this.source.name);
    const found = await committedOffsite(this.deps.store, this.deps.site, this.source.name, basename, unjudged, since);
    if (found === 'unreachable') {
      // Judged by a later pass that reaches the store: a gap recorded now would page segments perhaps offsite.
      this.deps.log.warn('binlog gap not judged in this pass: the store could not be asked whether its segments are offsite', { source: this.source.name, segments: [...unjudged].map((n) => segmentName(basename, n)) });
      return [...remembered, ...unjudged];
    }
    this.askedGaps = true;
    if (!found?.length) return remembered;
    this.deps.log.warn('binlog segments offsite that this state directory does not know (it is older than what shipped): not a gap', { source: this.source.name, segments: found.map((n) => segmentName(basename, n)) });
    this.deps.observations.addBinlogOffsite(this.source.name, found);
    return [...remembered, ...found];
  }

  /** Names of this source's segments already recorded lost in this run of the numbering. */
  private lostNames(): Set<string> {
    const since = this.deps.observations.binlogRunSince(this.source.name) ?? '';
    return new Set(this.deps.lossLog.all().flatMap((l) => (l.source === this.source.name && l.kind === 'artefact' && l.at >= since ? l.files.map((f) => f.name) : [])));
  }

  /** A state directory with no journal of the source, whose site's segments are all below the store's highest: the numbering restarted. */
  private restartedSinceStore(top: number): void {
    const made = Math.min(this.deps.clock.now().getTime(), ...this.onSite.map((f) => (f.birthtimeMs !== undefined && f.birthtimeMs > 0 ? f.birthtimeMs : f.mtimeMs)));
    this.deps.log.error('binlog numbering restarted: the segments offsite go up to a higher number than any on the site (a new or restored server)', { source: this.source.name, offsiteTop: top, onSite: this.onSite.map((f) => f.name) });
    this.deps.observations.setBinlogRunSince(this.source.name, new Date(made));
  }

  /** This source's shipped versions since its binlog numbering last restarted. */
  records(): ArtefactRecord[] {
    const since = this.deps.observations.binlogRunSince(this.source.name);
    const records = this.deps.journal.artefacts.records(this.source.name);
    return since === undefined ? records : records.filter((r) => r.at >= since);
  }

  /**
   * Looks at the segments on the site: the numbering restarted when the highest is below the
   * highest this run shipped, or when a segment this run shipped closed is there under its name
   * with another size (a closed segment never changes: this is another run's), or shorter than a
   * partial snapshot of it this run shipped. From then on the
   * segments shipped before belong to the run before, and its segments shipped only as partial
   * snapshots are lost past their last snapshot (recorded by `settle`).
   */
  observe(onSite: { name: string; size: number; sequence: number; mtimeMs: number; birthtimeMs?: number }[]): void {
    this.restart = undefined;
    this.onSite = onSite;
    if (onSite.length === 0) return;
    const before = this.records();
    const highest = Math.max(-1, ...before.flatMap((r) => (r.sequence === undefined ? [] : [r.sequence])));
    const closedSize = new Map(before.flatMap((r) => (r.partial ? [] : [[r.name, r.size] as const])));
    const snapshotSize = new Map<string, number>();
    for (const r of before) if (r.partial) snapshotSize.set(r.name, Math.max(r.size, snapshotSize.get(r.name) ?? 0));
    // A closed segment never changes, and a binlog being written only grows: shorter than a
    // snapshot already shipped is another file under that name (RESET MASTER while it was active).
    const replaced = onSite.some((f) => (closedSize.has(f.name) && closedSize.get(f.name) !== f.size) || f.size < (snapshotSize.get(f.name) ?? 0));
    if (Math.max(...onSite.map((f) => f.sequence)) >= highest && !replaced) return;
    // The restart happened when the oldest segment on the site was made (its birth time where the
    // file system keeps one, else its last write): a full taken after it reaches the new run.
    const made = Math.min(this.deps.clock.now().getTime(), ...onSite.map((f) => (f.birthtimeMs !== undefined && f.birthtimeMs > 0 ? f.birthtimeMs : f.mtimeMs)));
    this.deps.observations.setBinlogRunSince(this.source.name, new Date(made));
    const closed = new Set(before.flatMap((r) => (!r.partial && r.sequence !== undefined ? [r.sequence] : [])));
    const tails = new Map<number, ArtefactRecord>();
    for (const r of before) if (r.partial && r.sequence !== undefined && !closed.has(r.sequence)) tails.set(r.sequence, r);
    this.restart = [...tails.values()];
  }

  /** Records what this cycle found lost (a restart's unclosed segments, a gap's purged ones) and holds the restart's alert; how many losses are new. */
  async settle(gaps: Gap[], basename: string | undefined, paged: ReadonlyMap<string, string> = new Map()): Promise<number> {
    const restarted = await this.recordRestart();
    await this.holdRestartAlert();
    return restarted + (await this.recordGapLosses(gaps, basename, paged));
  }

  private async recordRestart(): Promise<number> {
    const tails = this.restart;
    this.restart = undefined;
    if (tails === undefined) return 0;
    this.deps.log.error('binlog numbering restarted: point-in-time restore cannot cross the restart', { source: this.source.name, unclosed: tails.map((t) => t.name) });
    let lost = 0;
    for (const t of tails) {
      const reason = `cut off by a restart of the binlog numbering (RESET MASTER, or a new or restored server) before its closed segment was shipped: the events after its last partial snapshot (${t.at}) are not offsite`;
      lost += await this.deps.losses.reportArtefacts(this.source, [t], reason, this.deps.clock.now().toISOString(), { advice: 'Take a new full backup: point-in-time restore reaches the times after it.' });
    }
    return lost;
  }

  /**
   * Raises, or resolves once a full newer than the restart is offsite, the alert of a restarted
   * numbering: no point in time between the run before's last shipped event and the first full of
   * this run can be restored.
   */
  private async holdRestartAlert(): Promise<void> {
    const since = this.deps.observations.binlogRunSince(this.source.name);
    if (since === undefined) return;
    const key = `binlog-restart:${this.source.name}`;
    const bridge = this.deps.fullNewerThan?.(Date.parse(since));
    if (bridge) {
      await this.deps.alerts.resolve(key, this.deps.site, `A full backup taken after the restart of ${this.source.name}'s binlog numbering (${bridge.source}/${bridge.name}) is offsite: point-in-time restore reaches every time after it.`);
      return;
    }
    await this.deps.alerts.raise(key, {
      severity: 'critical',
      site: this.deps.site,
      subject: `binlog numbering of ${this.source.name} restarted`,
      message: `The server's binlog numbering of source ${this.source.name} started again (found ${since}): RESET MASTER, or a new or restored server. Point-in-time restore cannot cross the restart: take a new full backup so that later times are reachable.`,
      details: { source: this.source.name, since },
    });
  }

  /**
   * The segments of a gap are lost: the server purged them (PURGE BINARY LOGS, expire_logs_days)
   * before they went offsite. Recorded once each in the loss log, with the loss alert, so the
   * pass that finds them exits 3 and `agent status --losses` lists them; returns how many are new.
   * A gap whose alert is open (`paged`: "from-to" → its key) is their page: no loss alert besides.
   */
  private async recordGapLosses(gaps: Gap[], basename: string | undefined, paged: ReadonlyMap<string, string>): Promise<number> {
    let lost = 0;
    // Names lost in this run of the numbering (the run before's segments had the same names).
    const recorded = this.lostNames();
    for (const gap of gaps) {
      const names = Array.from({ length: gap.to - gap.from + 1 }, (_, i) => segmentName(basename, gap.from + i)).filter((n) => !recorded.has(n));
      if (names.length === 0) continue;
      const files = names.map((name) => ({ name, size: 0, mtimeMs: 0 }));
      const reason = 'purged by the database server before it was shipped (a binlog gap: point-in-time restore cannot cross it)';
      const advice = "Keep binlogs on the server for longer than the agent can fall behind (expire_logs_days, binlog_expire_logs_seconds), check why it fell behind (the agent's errors, the link to the cloud), and take a new full backup: point-in-time restore reaches the times after it.";
      lost += await this.deps.losses.reportArtefacts(this.source, files, reason, this.deps.clock.now().toISOString(), { batch: names.length === 1 ? names[0]! : `${names[0]} to ${names.at(-1)}`, advice, ...(paged.has(`${gap.from}-${gap.to}`) ? { pagedBy: paged.get(`${gap.from}-${gap.to}`)! } : {}) });
    }
    return lost;
  }
}
