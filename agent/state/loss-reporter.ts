import { join } from 'node:path';
import type { Notifier } from '../../core/ports.ts';
import type { Logger } from '../log.ts';
import type { LossEntry, LossLog } from './loss-log.ts';
import { delivered } from './alert-book.ts';
import { lossAlerts } from './loss-alert.ts';

// Records a loss (once per file version, durably) and alerts it (at least once across crashes
// and failed deliveries: a loss recorded by a process that stopped before it could alert, or
// whose alert no hook took, is alerted by the next pass). The alert's text is built from the
// records alone for that reason. While a source is gathered (its share of a pass), its losses
// are recorded and logged one by one at once but alerted together when the share ends: one
// eviction burst is one page, not one per batch (loss-alert.ts).

export class LossReporter {
  /** Sources whose losses are alerted when their share of the pass ends (how many gathers are open for each). */
  private readonly gathered = new Map<string, number>();
  /** Alerts go out one flush at a time: two flushes of one source would send its losses twice. */
  private sending: Promise<void> = Promise.resolve();
  /** Losses whose alert no hook took in this pass: tried again by the next pass's deliverPending, not by every flush of this one. */
  private readonly refused = new Set<string>();
  /** Ids of losses a heartbeat of this agent named before its state directory went back to an older copy: alerted then. */
  private readonly alertedBefore = new Set<string>();

  constructor(
    private readonly deps: { losses: LossLog; notifier: Notifier; log: Logger; site: string },
  ) {}

  /** Records what was not recorded before and alerts it (unless its source is gathered); returns the number of newly lost files. */
  async report(loss: Omit<LossEntry, 'id'>): Promise<number> {
    const entry = this.deps.losses.record(loss);
    if (!entry) return 0;
    this.deps.log.error('lost before shipping', { source: entry.source, batch: entry.batch, files: entry.files.length, reason: entry.reason, paths: entry.files.slice(0, 10).map((f) => f.path) });
    if (!this.gathered.has(entry.source)) await this.flush(entry.source);
    return entry.files.length;
  }

  /**
   * Records and alerts lost versions of artefact files (backups, binlog segments) of one source,
   * each named under the source's path; `batch` defaults to the first file's name.
   */
  reportArtefacts(source: { name: string; path: string }, files: readonly { name: string; size: number; mtimeMs: number }[], reason: string, at: string, extra: { batch?: string; lastSeen?: string; advice?: string; pagedBy?: string } = {}): Promise<number> {
    return this.report({
      source: source.name,
      batch: extra.batch ?? files[0]?.name ?? '',
      kind: 'artefact',
      files: files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs, path: join(source.path, f.name) })),
      reason,
      at,
      ...(extra.lastSeen ? { lastSeen: extra.lastSeen } : {}),
      ...(extra.advice ? { advice: extra.advice } : {}),
      ...(extra.pagedBy ? { pagedBy: extra.pagedBy } : {}),
    });
  }

  /**
   * Runs `share` (a source's share of a pass) with the losses of `source` held back, then alerts
   * what it recorded, and whatever of the source's was still unalerted, in one alert (one per
   * severity). Alerted even when `share` throws: the losses are recorded.
   */
  async gather<T>(source: string, share: () => Promise<T>): Promise<T> {
    this.gathered.set(source, (this.gathered.get(source) ?? 0) + 1);
    try {
      return await share();
    } finally {
      const open = (this.gathered.get(source) ?? 1) - 1;
      if (open > 0) this.gathered.set(source, open);
      else this.gathered.delete(source);
      if (open === 0) await this.flush(source);
    }
  }

  /** Alerts the recorded losses of `source` (all sources when omitted) not alerted yet: one alert per source and severity. */
  flush(source?: string): Promise<void> {
    const next = this.sending.then(() => this.send(source));
    this.sending = next.catch(() => undefined);
    return next;
  }

  /** Alerts losses recorded earlier whose alert was never delivered (a process stopped first, or no hook took it). */
  deliverPending(): Promise<void> {
    this.refused.clear();
    return this.flush();
  }

  /**
   * Losses the agent alerted before its state directory went back to an older copy (ids its newest
   * heartbeat then named): found again, they are recorded (the loss log lists them) but not alerted
   * a second time. A loss id is a hash of its files, so the same loss found again has the same id.
   */
  alertedElsewhere(ids: Iterable<string>): void {
    for (const id of ids) this.alertedBefore.add(id);
  }

  /** Marked alerted only once a hook took the alert (NotDeliveredError: sent again by the next pass's deliverPending). */
  private async send(source: string | undefined): Promise<void> {
    const unalerted = this.deps.losses.unalerted().filter((e) => source === undefined || e.source === source);
    for (const e of unalerted.filter((l) => this.alertedBefore.has(l.id))) {
      this.deps.losses.markAlerted(e.id);
      this.deps.log.warn('loss found again that was alerted before the state directory went back: recorded, not alerted again', { source: e.source, batch: e.batch, id: e.id });
    }
    // A loss another open alert pages (a binlog gap's segments): one event, one page.
    for (const e of unalerted.filter((l) => l.pagedBy !== undefined && !this.alertedBefore.has(l.id))) {
      this.deps.losses.markAlerted(e.id);
      this.deps.log.info('loss paged by its own alert: recorded, no separate loss alert', { source: e.source, batch: e.batch, pagedBy: e.pagedBy });
    }
    const pending = unalerted.filter((e) => e.pagedBy === undefined && !this.refused.has(e.id) && !this.alertedBefore.has(e.id));
    for (const { alert, ids } of lossAlerts(this.deps.site, pending)) {
      if (await delivered(this.deps.notifier.notify(alert))) for (const id of ids) this.deps.losses.markAlerted(id);
      else {
        for (const id of ids) this.refused.add(id);
        this.deps.log.error('loss alert not delivered: it is sent again on the next pass', { source: alert.details?.source, subject: alert.subject, losses: ids.length });
      }
    }
  }
}
