import { sentence } from '../../core/alert-text.ts';
import { join } from 'node:path';
import type { Alert, Notifier } from '../../core/ports.ts';
import { statSync } from 'node:fs';
import { isDiskFull, readJsonFile, writeFileReserved } from './atomic-file.ts';
import { NotDeliveredError } from '../../core/errors.ts';

// Alerts for conditions (a binlog gap, a source that cannot be read) have a memory that lives
// in the state directory, so a cron-driven agent behaves like a long-running one: an alert is
// sent when its condition is first seen, again every `repeatHours` while it stays open, and
// once more, as resolved, when the condition clears. Delivery is at least once: the state is
// written after a hook took the alert (one no hook took is sent again by the next pass), and
// every alert carries a stable `key` receivers can deduplicate on. The file keeps room for more
// alerts than it holds (ALERTS_RESERVE_BYTES): on a full state disk an alert is still
// remembered (written in place), so it is not sent again each run and its "resolved" follows.

export interface AlertState {
  key: string;
  subject: string;
  severity: Alert['severity'];
  raisedAt: string;
  lastSentAt: string;
  sent: number;
  /** No hook has taken it yet (the command failed, the webhook could not be reached): why, as the notifier said. Each pass tries again. */
  undelivered?: string;
  /** An event's alert (raiseEvent), kept whole: no later pass finds its condition again to say it. */
  event?: Omit<Alert, 'key'>;
}

interface AlertsFile {
  format: 1;
  open: Record<string, AlertState>;
  /** Conditions held back until they have lasted their grace (raiseAfter): when each was first seen. */
  watching?: Record<string, string>;
}

/** `undelivered`: no hook took it (NotDeliveredError, logged by the notifier); kept as open and not delivered (`agent status` shows it), and the next pass sends it again. */
export type RaiseOutcome = 'raised' | 'repeated' | 'quiet' | 'undelivered';

/** Whether a hook took the alert: false on NotDeliveredError (the notifier logged why), any other error thrown. */
export async function delivered(sending: Promise<void>): Promise<boolean> {
  try {
    await sending;
    return true;
  } catch (error) {
    if (error instanceof NotDeliveredError) return false;
    throw error;
  }
}

/** The kinds of alert that belong to one source: `{kind}:{source}` or `{kind}:{source}:{what}`. */
const SOURCE_ALERT_KINDS = ['source-unavailable', 'source-empty', 'selects-nothing', 'source-moved', 'unreadable', 'unreadable-dir', 'bad-name', 'misplaced', 'clock-ahead', 'cut-short', 'ship-failed', 'upload-stalled', 'tree-failed', 'tree-left-out', 'tree-mass-change', 'binlog-gap', 'binlog-restart'];

/** The source an alert's key belongs to, or undefined for the agent's own (heartbeat, shared site name). */
export function sourceOfAlertKey(key: string): string | undefined {
  const [kind, source] = key.split(':');
  return kind !== undefined && source !== undefined && SOURCE_ALERT_KINDS.includes(kind) ? source : undefined;
}

/** Room kept in alerts.json beyond its text, for the alerts a full disk brings (about 40). */
export const ALERTS_RESERVE_BYTES = 16 * 1024;

export class AlertBook {
  private readonly file: string;
  private readonly open = new Map<string, AlertState>();
  private readonly watching = new Map<string, string>();

  constructor(
    directory: string,
    private readonly deps: { notifier: Notifier; now: () => Date; repeatHours: number },
  ) {
    this.file = join(directory, 'alerts.json');
    const saved = readJsonFile<AlertsFile>(this.file);
    for (const a of Object.values(saved?.open ?? {})) this.open.set(a.key, a);
    for (const [key, since] of Object.entries(saved?.watching ?? {})) this.watching.set(key, since);
  }

  /**
   * Resolves the alerts of sources no longer configured (removed or renamed): their passes, which
   * would resolve them, never run again, and an incident opened for them would stay open for ever.
   */
  async resolveRemovedSources(configured: ReadonlySet<string>, site: string): Promise<void> {
    this.forget((key) => {
      const source = sourceOfAlertKey(key);
      return source !== undefined && !configured.has(source);
    });
    for (const state of [...this.open.values()]) {
      const source = sourceOfAlertKey(state.key);
      if (source !== undefined && !configured.has(source)) await this.resolve(state.key, site, `Source ${source} is no longer in the agent's configuration: this condition is no longer watched.`);
    }
  }

  /** Loads the open alerts only (for `agent status`). */
  static read(directory: string): AlertState[] {
    return Object.values(readJsonFile<AlertsFile>(join(directory, 'alerts.json'))?.open ?? {});
  }

  /**
   * Alerts this state directory sent and held open before it went back to an older copy (the
   * newest heartbeat it wrote then carries them): open again as told at `since`, so a pass that
   * finds the condition again repeats it on the usual schedule instead of paging it anew, and one
   * that finds it gone resolves it. Alerts already open here are left as they are.
   */
  adoptSent(alerts: readonly { key: string; severity: Alert['severity']; subject: string; since: string }[], skip: readonly string[]): void {
    let adopted = 0;
    for (const a of alerts) {
      if (a.severity === 'info' || this.open.has(a.key) || skip.includes(a.key)) continue;
      this.open.set(a.key, { key: a.key, subject: a.subject, severity: a.severity, raisedAt: a.since, lastSentAt: a.since, sent: 1 });
      adopted++;
    }
    if (adopted > 0) this.save();
  }

  /** The condition `key` holds now: alert when it is new or when its repeat interval has passed. */
  async raise(key: string, alert: Omit<Alert, 'key'>): Promise<RaiseOutcome> {
    const now = this.deps.now();
    const state = this.open.get(key);
    const told = state !== undefined && state.sent > 0;
    if (told && now.getTime() - Date.parse(state.lastSentAt) < this.deps.repeatHours * 3600_000) return 'quiet';
    const subject = told ? `still open since ${state.raisedAt}: ${alert.subject}` : alert.subject;
    let failure: string | undefined;
    try {
      await this.deps.notifier.notify({ ...alert, subject, key, details: { ...alert.details, alertState: told ? 'repeated' : 'raised', ...(state && !told ? { openSince: state.raisedAt } : {}) } });
    } catch (error) {
      if (!(error instanceof NotDeliveredError)) throw error;
      failure = error.message;
    }
    const raisedAt = state?.raisedAt ?? now.toISOString();
    if (failure !== undefined) {
      // Kept open, so `agent status` shows the condition and that nobody was told; a repeat that failed leaves the state as it was.
      if (!told) this.open.set(key, { key, subject: alert.subject, severity: alert.severity, raisedAt, lastSentAt: state?.lastSentAt ?? '', sent: 0, undelivered: failure });
      this.save();
      return 'undelivered';
    }
    this.open.set(key, { key, subject: alert.subject, severity: alert.severity, raisedAt, lastSentAt: now.toISOString(), sent: (state?.sent ?? 0) + 1 });
    this.save();
    return told ? 'repeated' : 'raised';
  }

  /**
   * A condition not worth a page until it has lasted `graceMs` (a store out of reach: a line
   * that drops comes back by itself): remembered (`watching` in alerts.json) from the pass that
   * first finds it, and raised as `raise` does, with `alert(since)`, by the first pass that finds
   * it still there once the grace has passed. `resolve` forgets it without a word while it is
   * only watched. With `quiet`, a pass that finds it says nothing even after the grace (another
   * alert already pages its cause), but its first sighting is kept.
   */
  async raiseAfter(key: string, graceMs: number, alert: (since: string) => Omit<Alert, 'key'>, quiet = false): Promise<RaiseOutcome> {
    const state = this.open.get(key);
    if (state) return this.raise(key, alert(state.raisedAt));
    const since = this.watching.get(key) ?? this.deps.now().toISOString();
    if (quiet || this.deps.now().getTime() - Date.parse(since) < graceMs) {
      if (!this.watching.has(key)) {
        this.watching.set(key, since);
        this.save();
      }
      return 'quiet';
    }
    const outcome = await this.raise(key, alert(since));
    const raised = this.open.get(key);
    if (raised) this.open.set(key, { ...raised, raisedAt: since });
    this.watching.delete(key);
    this.save();
    return outcome;
  }

  /**
   * The condition `key` as a pass found it: raised when `alert` is given, else resolved with
   * `resolved`, but only when `complete` (a pass that stopped early did not look everywhere).
   */
  async hold(key: string, alert: Omit<Alert, 'key'> | undefined, site: string, resolved: string, complete = true): Promise<void> {
    if (alert) await this.raise(key, alert);
    else if (complete) await this.resolve(key, site, resolved);
  }

  /**
   * An event: something that happened once and that nothing later clears (a snapshot that changed
   * most files). Raised as `raise` does, and kept, with the alert itself, so that `tendEvents`
   * sends it again until a hook takes it and closes it after one repeat period.
   */
  async raiseEvent(key: string, alert: Omit<Alert, 'key'>): Promise<RaiseOutcome> {
    const outcome = await this.raise(key, alert);
    const state = this.open.get(key);
    if (state) {
      this.open.set(key, { ...state, event: alert });
      this.save();
    }
    return outcome;
  }

  /**
   * The open events whose key starts with `prefix`: one no hook took is sent again; one told
   * `repeatHours` ago or more is resolved with `closed(state)`. Until then it stays open, so
   * `agent status`, the heartbeat and the fleet view show it; it is never sent twice.
   */
  async tendEvents(prefix: string, site: string, closed: (state: AlertState) => string): Promise<void> {
    const now = this.deps.now().getTime();
    for (const state of [...this.open.values()]) {
      if (!state.key.startsWith(prefix) || !state.event) continue;
      if (state.sent === 0) await this.raiseEvent(state.key, state.event);
      else if (now - Date.parse(state.lastSentAt) >= this.deps.repeatHours * 3600_000) await this.resolve(state.key, site, closed(state));
    }
  }

  /** The condition `key` no longer holds: a resolved alert when it was open, nothing otherwise. */
  async resolve(key: string, site: string, message: string): Promise<boolean> {
    if (this.watching.delete(key)) this.save();
    const state = this.open.get(key);
    if (!state) return false;
    if (state.sent === 0) {
      // Over before any hook took it: nobody is told it is resolved either (the log has both).
      this.open.delete(key);
      this.save();
      return true;
    }
    // Not delivered: it stays open, and the next pass that finds the condition over resolves it again.
    if (!(await delivered(this.deps.notifier.notify({ severity: 'info', site, subject: `resolved: ${state.subject}`, message, key, details: { alertState: 'resolved', raisedAt: state.raisedAt } })))) return false;
    this.open.delete(key);
    this.save();
    return true;
  }

  /**
   * One alert per item of a kind (`prefix` + the item's name: each unreadable directory, each bad
   * name), raised as `raise` does; and, when `complete` (the pass saw all there is), those of the
   * kind no longer found resolved with `resolved(name)`.
   */
  async raiseEach(prefix: string, items: Iterable<[string, Omit<Alert, 'key'>]>, site: string, resolved: (name: string) => string, complete = true): Promise<void> {
    const open = new Set<string>();
    for (const [name, alert] of items) {
      open.add(`${prefix}${name}`);
      await this.raise(`${prefix}${name}`, alert);
    }
    if (complete) await this.resolveOthers(prefix, open, site, (a) => resolved(a.key.slice(prefix.length)));
  }

  /** Resolves every open alert whose key starts with `prefix` and is not in `stillOpen`. */
  async resolveOthers(prefix: string, stillOpen: ReadonlySet<string>, site: string, message: (state: AlertState) => string): Promise<void> {
    this.forget((key) => key.startsWith(prefix) && !stillOpen.has(key));
    for (const state of [...this.open.values()]) {
      if (state.key.startsWith(prefix) && !stillOpen.has(state.key)) await this.resolve(state.key, site, message(state));
    }
  }

  /**
   * An alert sent at `sentAt` that no book recorded (the state disk was full: unrecorded-alert.ts),
   * taken in as sent then, unless the book holds `key` already; written when `persist`. Returns
   * whether the book holds it now.
   */
  adoptUnrecorded(key: string, alert: Pick<Alert, 'subject' | 'severity'>, sentAt: Date | undefined, persist = false): boolean {
    if (!this.open.has(key) && sentAt !== undefined) {
      const at = sentAt.toISOString();
      this.open.set(key, { key, subject: alert.subject, severity: alert.severity, raisedAt: at, lastSentAt: at, sent: 1 });
      if (persist) this.save();
    }
    return this.open.has(key);
  }

  get(key: string): AlertState | undefined {
    return this.open.get(key);
  }

  openAlerts(): AlertState[] {
    return [...this.open.values()];
  }

  /**
   * Writes the book when it keeps no room yet (a new state directory, or one written before the
   * room was kept), so that the room is there before the disk fills. A full disk now is left to
   * the pass's own check.
   */
  keepRoom(): void {
    let size = -1;
    try {
      size = statSync(this.file).size;
    } catch {
      // No book yet.
    }
    if (size >= ALERTS_RESERVE_BYTES) return;
    try {
      this.save();
    } catch (error) {
      if (!isDiskFull(error)) throw error;
    }
  }

  /** Stops watching the conditions `which` picks (raiseAfter), none of which was told. */
  private forget(which: (key: string) => boolean): void {
    const before = this.watching.size;
    for (const key of [...this.watching.keys()]) if (which(key)) this.watching.delete(key);
    if (this.watching.size !== before) this.save();
  }

  private save(): void {
    const watching = this.watching.size > 0 ? { watching: Object.fromEntries(this.watching) } : {};
    writeFileReserved(this.file, `${JSON.stringify({ format: 1, open: Object.fromEntries(this.open), ...watching } satisfies AlertsFile, null, 1)}\n`, ALERTS_RESERVE_BYTES);
  }
}

/**
 * The one alert for a source whose root cannot be read (recordings or artefacts alike): raised
 * with `problem`, resolved when called without one.
 */
export async function sourceReadable(alerts: AlertBook, site: string, source: { name: string; path: string }, problem?: string): Promise<void> {
  const key = `source-unavailable:${source.name}`;
  if (!problem) {
    await alerts.resolve(key, site, `Source ${source.name} (${source.path}) can be read again; shipping resumes.`);
    return;
  }
  await alerts.raise(key, {
    severity: 'critical',
    site,
    subject: `source ${source.name} cannot be read`,
    message:
      `${sentence(problem)} Nothing of this source is shipped until it can be read again, and what the site removes meanwhile cannot be saved: ` +
      "check the mount and the agent's permissions.",
    details: { source: source.name, path: source.path },
  });
}
