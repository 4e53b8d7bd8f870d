import { join } from 'node:path';
import type { Alert, Notifier } from '../../core/ports.ts';
import type { Logger } from '../log.ts';
import type { LossEntry, LossLog } from './loss-log.ts';
import { delivered } from './alert-book.ts';

// Records a loss (once per file version, durably) and alerts it (once per loss record, at
// least once across crashes and failed deliveries: a loss recorded by a process that stopped
// before it could alert, or whose alert no hook took, is alerted by the next pass). The alert's
// text is built from the record alone for that reason.

export class LossReporter {
  constructor(
    private readonly deps: { losses: LossLog; notifier: Notifier; log: Logger; site: string },
  ) {}

  /** Records what was not recorded before and alerts it; returns the number of newly lost files. */
  async report(loss: Omit<LossEntry, 'id'>): Promise<number> {
    const entry = this.deps.losses.record(loss);
    if (!entry) return 0;
    this.deps.log.error('lost before shipping', { source: entry.source, batch: entry.batch, files: entry.files.length, reason: entry.reason, paths: entry.files.slice(0, 10).map((f) => f.path) });
    await this.alert(entry);
    return entry.files.length;
  }

  /**
   * Records and alerts lost versions of artefact files (backups, binlog segments) of one source,
   * each named under the source's path; `batch` defaults to the first file's name.
   */
  reportArtefacts(source: { name: string; path: string }, files: readonly { name: string; size: number; mtimeMs: number }[], reason: string, at: string, extra: { batch?: string; lastSeen?: string; advice?: string } = {}): Promise<number> {
    return this.report({
      source: source.name,
      batch: extra.batch ?? files[0]?.name ?? '',
      kind: 'artefact',
      files: files.map((f) => ({ name: f.name, size: f.size, mtimeMs: f.mtimeMs, path: join(source.path, f.name) })),
      reason,
      at,
      ...(extra.lastSeen ? { lastSeen: extra.lastSeen } : {}),
      ...(extra.advice ? { advice: extra.advice } : {}),
    });
  }

  /** Alerts losses recorded earlier whose alert was never delivered. */
  async deliverPending(): Promise<void> {
    for (const entry of this.deps.losses.unalerted()) await this.alert(entry);
  }

  /** Alerts one loss; marked alerted only once a hook took it (NotDeliveredError: sent again by the next pass's deliverPending). */
  private async alert(entry: LossEntry): Promise<void> {
    if (await delivered(this.deps.notifier.notify(lossAlert(this.deps.site, entry)))) this.deps.losses.markAlerted(entry.id);
    else this.deps.log.error('loss alert not delivered: it is sent again on the next pass', { source: entry.source, batch: entry.batch });
  }
}

export function lossAlert(site: string, entry: LossEntry): Alert {
  const names = entry.files.map((f) => f.name);
  const list = `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … (${names.length} in all)` : ''}`;
  const seen = entry.lastSeen ? ` It was last seen on ${entry.lastSeen}.` : '';
  if (entry.kind === 'artefact') {
    const f = entry.files[0];
    return {
      severity: 'critical',
      site,
      key: `loss:${entry.id}`,
      subject: `${entry.source}: ${entry.batch} lost before shipping`,
      // A segment the agent never saw (purged before its first look) has no size or time to give.
      message: `The version of ${entry.batch}${f && f.mtimeMs > 0 ? ` (${f.size} bytes, modified ${new Date(f.mtimeMs).toISOString()})` : ''} of source ${entry.source} was ${entry.reason}.${seen} ${entry.advice ?? "Check the agent's errors and the link to the cloud."}`,
      details: { ...entry },
    };
  }
  if (entry.unseen) {
    return {
      severity: 'critical',
      site,
      key: `loss:${entry.id}`,
      subject: `${entry.source}: ${entry.files.length} batch(es) lost unseen (${entry.batch})`,
      message: `Batch director${entry.files.length === 1 ? 'y' : 'ies'} ${entry.batch} of source ${entry.source} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} How many recordings ${entry.files.length === 1 ? 'it' : 'they'} held is not known. ${entry.advice ?? "Passes must look at the recorder more often than it evicts: check that no pass was held up (a slow or unreachable store keeps a pass, and the state directory, for as long as it retries), the agent's schedule, and its backlog and bandwidth. `ferry agent status --losses` lists them."}`,
      details: { ...entry },
    };
  }
  if (entry.shippedBefore) {
    return {
      severity: 'warning',
      site,
      key: `loss:${entry.id}`,
      subject: `${entry.files.length} recording(s) gone before shipping again: shipped before under another file time`,
      message: `Batch ${entry.batch} of source ${entry.source}: ${list} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} If the recorder (or a scanner, or a copy without times) only changed their file times, the copies shipped before are these recordings and nothing is lost. If the recorder was replaced or its numbering restarted, these are new calls and they are lost: \`ferry calls search\` by call id shows what is offsite, and \`ferry agent status --losses\` lists them.`,
      details: { ...entry },
    };
  }
  return {
    severity: 'critical',
    site,
    key: `loss:${entry.id}`,
    subject: `${entry.files.length} recording(s) lost before shipping`,
    message: `Batch ${entry.batch} of source ${entry.source}: ${list} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} Check the agent's backlog and bandwidth; the recorder's disk may be too small for the shipping rate. \`ferry agent status --losses\` lists every lost recording.`,
    details: { ...entry },
  };
}
