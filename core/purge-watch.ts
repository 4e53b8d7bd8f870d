import { composeAlert } from './alert-text.ts';
import { ITEM_PREFIXES } from './catalogue-schema.ts';
import { FerryError, NotDeliveredError, messageOf } from './errors.ts';
import { Cron } from './fleet-cron.ts';
import { missedWindow } from './fleet.ts';
import type { Notifier } from './ports.ts';

// Whether each site's scheduled purge ran: the dead-man's switch's second watch, beside the
// silent sites and missed windows (core/fleet-read.ts). A purge writes a small record as it
// starts (its first state, `PURGERUN#{site}`, never the window's `RUN#` items: the purge role
// gets no write on window records); a site whose purgeCron came due more than its grace ago with
// no record since is alerted once per missed occurrence and resolved when a run appears. Nothing
// per site is deployed for it (no alarm, no rule): the processing stack's resource budget holds.
// What was alerted is kept on the table (`pk=DEADMAN#{site}, sk=purge`), not in the function.

/** How long a purge run record is kept (the table's TTL deletes it after): the check reads only the newest. */
export const PURGE_RUN_KEEP_DAYS = 400;

/** Past its time plus the purge's longest lock wait, this many minutes more before a purge is missed. */
export const PURGE_GRACE_EXTRA_MINUTES = 60;

/** What a purge writes as it starts (what the check needs), and, once it has reported, how it ended. */
export interface PurgeRunRecord {
  site: string;
  /** The execution's start (UTC ISO). */
  startedAt: string;
  execution: string;
  /** The outcome of its report, written over the start's record by the report step (absent: running, or stopped before its report). */
  outcome?: PurgeOutcome;
  /** When the report was written (UTC ISO). */
  reportedAt?: string;
  /** Objects the reported round deleted. */
  deleted?: number;
  /** The round the report is of (a plan cut at its size is followed by another round). */
  round?: number;
}

/** A purge report's outcome (core/purge-report.ts). */
export type PurgeOutcome = 'DONE' | 'INCOMPLETE' | 'FAILED' | 'NOT-STARTED';

export interface PurgeRunStore {
  /** Writes the record of a purge that started (idempotent: the same site and start replace it). */
  putPurgeRun(record: PurgeRunRecord): Promise<void>;
  /** The site's newest purge run record; undefined when none is kept. */
  lastPurgeRun(site: string): Promise<PurgeRunRecord | undefined>;
}

export function purgeRunItemKey(site: string, startedAt: string): { pk: string; sk: string } {
  return { pk: `${ITEM_PREFIXES.purgeRun}${site}`, sk: startedAt };
}

export class MemoryPurgeRunStore implements PurgeRunStore {
  readonly records: PurgeRunRecord[] = [];
  async putPurgeRun(record: PurgeRunRecord): Promise<void> {
    const i = this.records.findIndex((r) => r.site === record.site && r.startedAt === record.startedAt);
    if (i >= 0) this.records.splice(i, 1);
    this.records.push({ ...record });
  }
  async lastPurgeRun(site: string): Promise<PurgeRunRecord | undefined> {
    const newest = this.records.filter((r) => r.site === site).sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1))[0];
    return newest && { ...newest };
  }
}

/** What the switch remembers of a site's purge schedule between its runs. */
export interface PurgeWatchState {
  site: string;
  /** The purgeCron watched; another one (a schedule changed) is watched afresh. */
  cron: string;
  /** When the switch began watching this cron: an occurrence before it is not held against the site (a new site, a first deploy of the watch). */
  since: string;
  /** The due time (UTC ISO) of the missed occurrence last alerted; absent when none is open. */
  alertedDue?: string;
}

export interface PurgeWatchStore {
  /** The site's purge watch; undefined before the first switch run that watched it. */
  getPurgeWatch(site: string): Promise<PurgeWatchState | undefined>;
  /** Replaces it (idempotent). */
  putPurgeWatch(state: PurgeWatchState): Promise<void>;
}

export class MemoryPurgeWatchStore implements PurgeWatchStore {
  readonly states = new Map<string, PurgeWatchState>();
  async getPurgeWatch(site: string): Promise<PurgeWatchState | undefined> {
    const s = this.states.get(site);
    return s && { ...s };
  }
  async putPurgeWatch(state: PurgeWatchState): Promise<void> {
    this.states.set(state.site, { ...state });
  }
}

export interface PurgeWatchSite {
  name: string;
  /** The site's purge schedule (EventBridge cron); absent: no scheduled purge, nothing watched. */
  purgeCron?: string;
  /** Minutes after its time before a purge with no record is missed: the purge's lock wait plus PURGE_GRACE_EXTRA_MINUTES. */
  purgeGraceMinutes?: number;
}

export interface PurgeWatchDeps {
  purgeRuns: Pick<PurgeRunStore, 'lastPurgeRun'>;
  purgeWatch: PurgeWatchStore;
  notifier: Notifier;
}

export interface PurgeWatchOutcome {
  site: string;
  action: 'raised' | 'resolved' | 'none';
  /** The missed occurrence, when one is open. */
  missed?: string;
}

export const PURGE_MISSED_KIND = 'purge-missed';

/**
 * A warning, not a page: a purge that did not run deletes nothing, so nothing is lost; calls past
 * their retention are kept longer (erased ones stay unplayable, their request gates every reader),
 * a compliance matter for the working day, as a purge kept from its lock is (core/alert-text.ts).
 */
function missedAlert(site: string, cron: string, due: string, last: PurgeRunRecord | undefined, now: Date) {
  const alert = composeAlert({
    severity: 'warning',
    site,
    subject: `Ferry ${site}: scheduled purge did not run`,
    what: `the purge of site ${site} due ${due} (schedule cron(${cron})) has not started: retention is not being enforced for this site`,
    since: due,
    now,
    details: [
      `Last purge started: ${last ? `${last.startedAt} (${last.execution})` : 'none on record'}`,
      'Nothing is lost: calls past their retention are kept until a purge runs (erased calls stay unplayable meanwhile)',
    ],
    todo: [
      `check the EventBridge rule of the purge of ${site} (enabled? still in the stack?) and the purge state machine's executions (did StartExecution fail: its role, a quota?)`,
      "if an execution did start, its 'Record start' step failed: read that step's error in the execution's history and the purge function's log",
      'start the purge on demand (the state machine, input {}) once the cause is fixed',
    ],
  });
  return { ...alert, key: `purge-missed:${site}`, kind: PURGE_MISSED_KIND };
}

async function watchSite(deps: PurgeWatchDeps, site: PurgeWatchSite & { purgeCron: string }, now: Date): Promise<PurgeWatchOutcome> {
  const nowIso = now.toISOString();
  const [stored, last] = await Promise.all([deps.purgeWatch.getPurgeWatch(site.name), deps.purgeRuns.lastPurgeRun(site.name)]);
  // A site first watched (or whose schedule changed) is judged from now on; an alert it had open stays open until judged again.
  const state: PurgeWatchState = stored?.cron === site.purgeCron ? stored : { ...(stored?.alertedDue ? { alertedDue: stored.alertedDue } : {}), site: site.name, cron: site.purgeCron, since: nowIso };
  const changed = state !== stored;
  const from = last && Date.parse(last.startedAt) > Date.parse(state.since) ? last.startedAt : state.since;
  const missed = missedWindow(new Cron(site.purgeCron), { startedAt: from }, now, site.purgeGraceMinutes)?.toISOString();
  if (missed && missed !== state.alertedDue) {
    await deps.notifier.notify(missedAlert(site.name, site.purgeCron, missed, last, now));
    await deps.purgeWatch.putPurgeWatch({ ...state, alertedDue: missed });
    return { site: site.name, action: 'raised', missed };
  }
  if (!missed && state.alertedDue) {
    const ran = last ? `a purge started ${last.startedAt}` : `the schedule changed to cron(${site.purgeCron})`;
    await deps.notifier.notify({ severity: 'info', site: site.name, key: `purge-missed:${site.name}`, kind: PURGE_MISSED_KIND, subject: `Ferry ${site.name}: resolved - ${last ? 'a scheduled purge ran' : 'purge schedule changed'}`, message: `Site: ${site.name}\nThe purge due ${state.alertedDue} did not run; ${ran} since.` });
    const { alertedDue: _over, ...rest } = state;
    await deps.purgeWatch.putPurgeWatch(rest);
    return { site: site.name, action: 'resolved' };
  }
  if (changed) await deps.purgeWatch.putPurgeWatch(state);
  return { site: site.name, action: 'none', ...(missed ? { missed } : {}) };
}

/**
 * A site without a purgeCron (any more): an alert the switch had open for it is resolved, saying
 * the schedule was removed, and forgotten; else nothing (one GetItem). Without this, a schedule
 * removed while its purge was missed left the alert open for good and the fleet view saying
 * "not scheduled" beside it.
 */
async function unwatchSite(deps: PurgeWatchDeps, site: string): Promise<PurgeWatchOutcome> {
  const stored = await deps.purgeWatch.getPurgeWatch(site);
  if (!stored?.alertedDue) return { site, action: 'none' };
  const message = `Site: ${site}\nThe purge due ${stored.alertedDue} did not run; the site's purge schedule (cron(${stored.cron})) was removed since: nothing is watched for it now, and its retention is enforced only by purges started on demand.`;
  await deps.notifier.notify({ severity: 'info', site, key: `purge-missed:${site}`, kind: PURGE_MISSED_KIND, subject: `Ferry ${site}: resolved - purge no longer scheduled`, message });
  const { alertedDue: _over, ...rest } = stored;
  await deps.purgeWatch.putPurgeWatch(rest);
  return { site, action: 'resolved' };
}

/**
 * One pass over the sites with a purgeCron (and, for those without, an alert left open when their schedule was removed). A site whose record or state cannot be read, or
 * whose alert SNS did not take, does not stop the others; the pass then throws naming them
 * (NotDeliveredError when every problem was a delivery), and the state is not written for an
 * alert not delivered, so the next pass sends it again.
 */
export async function watchPurges(deps: PurgeWatchDeps, sites: readonly PurgeWatchSite[], now: Date): Promise<PurgeWatchOutcome[]> {
  const out: PurgeWatchOutcome[] = [];
  const problems: { site: string; error: unknown }[] = [];
  for (const site of sites) {
    try {
      if (!site.purgeCron) {
        const over = await unwatchSite(deps, site.name);
        if (over.action !== 'none') out.push(over);
        continue;
      }
      out.push(await watchSite(deps, { ...site, purgeCron: site.purgeCron }, now));
    } catch (error) {
      problems.push({ site: site.name, error });
      out.push({ site: site.name, action: 'none' });
    }
  }
  if (problems.length === 0) return out;
  const text = problems.map((p) => `${p.site}: ${messageOf(p.error)}`).join('; ');
  if (problems.every((p) => p.error instanceof NotDeliveredError)) throw new NotDeliveredError(`purge-missed alert(s) not delivered: ${text}`);
  throw new FerryError('fatal', `the purge watch could not judge site(s): ${text}`, { cause: problems[0]!.error });
}
