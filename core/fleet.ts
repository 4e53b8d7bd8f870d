import { z } from 'zod';
import { Cron } from './fleet-cron.ts';
import { passRunningSchema, passStoppedText, type PassRunning } from './fleet-pass.ts';
import { unnamedLossSchema } from './fleet-losses.ts';
import { shippedTotalsSchema } from './fleet-shipped.ts';
import { purgeLateReasons, purgeWarnReasons, type FleetPurge } from './fleet-purge.ts';
import { overdueErasureText, type OverdueErasure } from './erasure-overdue.ts';
import type { RunOutcome, RunRecord } from './window.ts';
import { missedWindow, stuckWindow, WINDOW_MAX_MINUTES } from './fleet-window.ts';
import { HEARTBEAT_KEEP_DAYS } from './heartbeat-key.ts';
import { refusedAgentText, refusedReplaced, REFUSED_SHOW_HOURS, type RefusedAgent } from './refused-agent.ts';
import type { FleetShipper } from './fleet-handover.ts';

export { missedWindow, stuckWindow, WINDOW_GRACE_MINUTES, WINDOW_MAX_MINUTES } from './fleet-window.ts';
export {
  heartbeatKey, heartbeatKeyParts, heartbeatKeyPlausible, heartbeatMatchesKey, heartbeatPrefix, heartbeatTimeOfKey,
  HEARTBEAT_DAILY_KEEP_DAYS, HEARTBEAT_KEEP_DAYS, HEARTBEAT_MAX_AHEAD_MS, type HeartbeatClass,
} from './heartbeat-key.ts';

// Fleet status: what each site's agent last said about itself (its heartbeat) and what the
// cloud knows of its windows, judged into one row per site with a state an operator can sort
// on. Pure: the readers (cli/fleet-commands.ts, functions/deadman) fetch, this module judges.
// Where a heartbeat lives in the bucket, and why there: core/heartbeat-key.ts.

export const HEARTBEAT_FORMAT = 'ferry.heartbeat/1';

const iso = z.string().datetime({ offset: true });
const lastGood = z.object({ at: iso, key: z.string().min(1) });

export const heartbeatSourceSchema = z
  .object({
    name: z.string().min(1),
    type: z.string().min(1),
    /** The newest copy of this source that is offsite and committed (its manifest published). */
    lastGood: lastGood.optional(),
    /** Recordings: batches seen and not shipped. */
    pendingBatches: z.number().int().nonnegative().optional(),
    /** Recordings: age of the oldest unshipped batch, and its name. */
    oldestPendingSeconds: z.number().nonnegative().optional(),
    oldestPendingBatch: z.string().optional(),
    /** Recordings: estimated time until the recorder evicts the oldest unshipped batch (free space / write rate). */
    timeToLossSeconds: z.number().nonnegative().optional(),
    /** Binlog: age of the newest shipped position (final or partial segment). */
    rpoSeconds: z.number().nonnegative().optional(),
    /** Why the source could not be scanned at the last pass. */
    problem: z.string().optional(),
  });
export type HeartbeatSource = z.infer<typeof heartbeatSourceSchema>;

/** How far back a heartbeat carries the agent's losses: a daily report run the next morning, or a day late, still finds them. */
export const RECENT_LOSS_HOURS = 72;
export const RECENT_LOSS_MAX = 50;
/** Paths named a loss (the rest counted). */
export const RECENT_LOSS_PATHS = 20;

export const recentLossSchema = z
  .object({
    id: z.string().min(1),
    source: z.string().min(1),
    /** Batch directory (recordings) or file name (artefacts). */
    batch: z.string(),
    kind: z.enum(['recordings', 'artefact']),
    at: iso,
    reason: z.string(),
    /** How many files were lost; the first RECENT_LOSS_PATHS are named. */
    files: z.number().int().nonnegative(),
    /** Batch directories no pass ever saw (`files` counts the batches, their recordings not known). */
    unseen: z.literal(true).optional(),
    /** Recordings gone before they shipped again whose name and size had shipped before (offsite if only touched; lost if the recorder was replaced). */
    shippedBefore: z.literal(true).optional(),
    paths: z.array(z.string()).max(RECENT_LOSS_PATHS),
  });
export type RecentLoss = z.infer<typeof recentLossSchema>;

/** Open alerts a heartbeat carries. */
export const OPEN_ALERTS_MAX = 20;

/**
 * A heartbeat as the cloud reads it. Fields it does not know are dropped, not refused: agents
 * are upgraded site by site, often before the cloud, and a newer agent's heartbeat with a field
 * this release does not know must not make its site look SILENT (and page "agent silent").
 */
export const heartbeatSchema = z
  .object({
    format: z.literal(HEARTBEAT_FORMAT),
    site: z.string().min(1),
    at: iso,
    agentVersion: z.string().min(1),
    sources: z.array(heartbeatSourceSchema),
    /** Batches and artefact versions lost before they were shipped, since the agent was installed. */
    losses: z.number().int().nonnegative(),
    /** The agent's last pass: when, and what failed or was lost in it. */
    lastPass: z.object({ at: iso, failed: z.number().int().nonnegative(), lost: z.number().int().nonnegative(), error: z.string().optional() }),
    /**
     * The losses the agent recorded in the last RECENT_LOSS_HOURS (newest last, at most
     * RECENT_LOSS_MAX): what the daily report names, since the cloud never saw those files.
     */
    recentLosses: z.array(recentLossSchema).max(RECENT_LOSS_MAX).optional(),
    /** The losses of the same hours beyond the RECENT_LOSS_MAX named, counted (core/fleet-losses.ts). */
    unnamedLosses: z.array(unnamedLossSchema).optional(),
    /**
     * The alerts the agent holds open (at most OPEN_ALERTS_MAX, critical first): what it paged about
     * and is still true, so the fleet view shows it without the pager's mail.
     */
    alerts: z
      .array(z.object({ key: z.string().min(1), severity: z.enum(['info', 'warning', 'critical']), subject: z.string(), since: iso }))
      .max(OPEN_ALERTS_MAX)
      .optional(),
    /**
     * Which agent wrote it: an id kept in its state directory, its host and that directory (two agents under one site name tell apart);
     * `restoredOver`: the directory's heartbeat.json `restoredOver` when it wrote (a copy of the directory that went its own way carries another).
     */
    agent: z.object({ id: z.string().min(1), host: z.string(), state: z.string().optional(), restoredOver: iso.optional() }).optional(),
    /** Written while a pass runs (core/fleet-pass.ts); absent: written as a pass ended. */
    passRunning: passRunningSchema.optional(),
    /** What the agent shipped since its state directory began (core/fleet-shipped.ts); absent from agents before it was sent. */
    shipped: shippedTotalsSchema.optional(),
  });
export type Heartbeat = z.infer<typeof heartbeatSchema>;

// ---- judgement ----

/** Worst first; RETIRED last: a site switched off for good (its `retired` day reached) is expected to say nothing. */
export const FLEET_STATES = ['SILENT', 'LATE', 'WARN', 'OK', 'RETIRED'] as const;
export type FleetState = (typeof FLEET_STATES)[number];

export const DEFAULT_SILENT_AFTER_MINUTES = 90;
/** A recordings backlog that the recorder will evict within this horizon is a warning. */
export const TIME_TO_LOSS_WARN_SECONDS = 24 * 3600;
/**
 * A binlog whose newest shipped position is older than this is a warning: twelve times the
 * default partial-segment interval (300 s), so a pass or two that failed does not raise it and
 * a binlog source stuck for an hour does. (A database with no writes at all ages too: the
 * agent ships a partial segment only when the log grew.)
 */
export const RPO_WARN_SECONDS = 3600;
export interface FleetSiteInput {
  site: string;
  silentAfterMinutes?: number;
  /** EventBridge cron of the backup window (UTC); absent: on demand only. */
  backupCron?: string;
  /** A scheduled window with no record this long after its time did not run (default WINDOW_GRACE_MINUTES). */
  windowGraceMinutes?: number;
  /** A window started this long ago and not finished is stuck (default WINDOW_MAX_MINUTES; the deployment sets its lock wait + job timeout + grace). */
  windowMaxMinutes?: number;
  /** The first day (YYYY-MM-DD, UTC) the site no longer ships (the deployment's `retired`); from then on it is RETIRED. */
  retired?: string;
  heartbeat?: Heartbeat;
  /** `heartbeat` is a daily one (`heartbeats-daily/`): the site's recent heartbeats expired. */
  heartbeatDaily?: true;
  /** The newest heartbeat of each other agent that wrote as the site in the last LOSS_WARN_HOURS (a failover host, another state directory): their losses are the site's. */
  otherAgents?: Heartbeat[];
  /** The site's newest window run, if any. */
  lastRun?: RunRecord;
  /** Heartbeat keys passed over (dated more than a day ahead, or not the time their heartbeat says): named as a warning. */
  ignoredHeartbeats?: string[];
  /** The site's scheduled purge: its newest run and whether the dead-man's switch holds it missed (core/fleet-purge.ts). */
  purge?: FleetPurge;
  /** Agents refused as the site (a host it failed over from came back), each one's newest record of the last REFUSED_SHOW_HOURS (core/refused-agent.ts). */
  refusedAgents?: RefusedAgent[];
  /** Why the site's refused agents' records could not be listed (a warning: the row is still judged by its heartbeats). */
  refusedUnread?: string;
  /** Which agent ships the site, since when, and which shipped it before (core/fleet-handover.ts). */
  shipper?: FleetShipper;
  /** Why that could not be read (a warning: the row is still judged by its heartbeats, its shipper taken from the newest). */
  shipperUnread?: string;
  /** The site's erasure requests pending past ERASURE_WARN_DAYS, or why they could not be read (core/erasure-overdue.ts). */
  erasures?: { overdue?: OverdueErasure[]; problem?: string };
}

export interface FleetSourceRow extends HeartbeatSource {
  lastGoodAgeSeconds?: number;
}

export interface FleetRow {
  site: string;
  state: FleetState;
  /** Why the state is not OK, one line each. */
  reasons: string[];
  lastHeartbeat?: string;
  /** `lastHeartbeat` is the agent's last daily heartbeat: the ones after it (up to a day) expired. */
  lastHeartbeatDaily?: true;
  heartbeatAgeSeconds?: number;
  /** The newest heartbeat was written while a pass ran: since when, and what it had shipped. */
  passRunning?: PassRunning;
  agentVersion?: string;
  /** The host that ships the site (its newest heartbeat's), since when, and the one that shipped it before (a failover). */
  shippedBy?: FleetShipper;
  /** Why who ships the site since when, and who did before, could not be read (then `shippedBy` is the newest heartbeat's agent alone). */
  shippedByUnread?: string;
  silentAfterMinutes: number;
  sources: FleetSourceRow[];
  losses?: number;
  lastWindow?: { startedAt: string; outcome: RunOutcome | 'RUNNING'; state: 'started' | 'finished'; reasons: string[] };
  nextWindow?: string;
  /** A scheduled window that should have run (plus grace) and has no run record since. */
  missedWindow?: string;
  /** A window that started (its record says so) and has not finished within its maximum. */
  stuckWindow?: string;
  /** The site's purge: schedule, newest run, a purge-missed alert open (a missed one makes the site LATE). */
  purge?: FleetPurge;
  /** Agents refused as the site and still shown (not older than REFUSED_SHOW_HOURS, their host not running a new state directory since): each a critical reason. */
  refusedAgents?: RefusedAgent[];
  /** Erasure requests pending past ERASURE_WARN_DAYS (7): each a warning reason, a critical one past ERASURE_CRITICAL_DAYS (25). */
  overdueErasures?: OverdueErasure[];
}

const ageSeconds = (at: string, now: Date) => Math.max(0, Math.round((now.getTime() - Date.parse(at)) / 1000));

function sourceReasons(s: HeartbeatSource): string[] {
  const out: string[] = [];
  if (s.problem) out.push(`${s.name}: ${s.problem}`);
  if (s.timeToLossSeconds !== undefined && s.timeToLossSeconds < TIME_TO_LOSS_WARN_SECONDS) out.push(`${s.name}: oldest unshipped batch is evicted in about ${Math.round(s.timeToLossSeconds / 3600)} h`);
  if (s.rpoSeconds !== undefined && s.rpoSeconds > RPO_WARN_SECONDS) out.push(`${s.name}: newest shipped binlog position is ${Math.round(s.rpoSeconds / 60)} min old (RPO above ${RPO_WARN_SECONDS / 60} min)`);
  return out;
}

/**
 * The recent losses of several agents' heartbeats, each once (by id), oldest first; those a
 * heartbeat counts without naming them as one entry per group, with no paths (each agent's own:
 * one heartbeat an agent is read).
 */
export function unionLosses(heartbeats: readonly Heartbeat[]): RecentLoss[] {
  const byId = new Map<string, RecentLoss>();
  for (const hb of heartbeats) for (const loss of hb.recentLosses ?? []) if (!byId.has(loss.id)) byId.set(loss.id, loss);
  for (const hb of heartbeats) {
    for (const [i, u] of (hb.unnamedLosses ?? []).entries()) {
      const { records, ...loss } = u;
      const id = `unnamed:${hb.agent?.id ?? hb.at}:${i}`;
      byId.set(id, { ...loss, id, batch: `${records} earlier batch(es)`, reason: `not named by the heartbeat (it names the newest ${RECENT_LOSS_MAX}): \`ferry agent status --losses\` lists them`, paths: [] });
    }
  }
  return [...byId.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

function withHeartbeat(row: FleetRow, hb: Heartbeat, others: readonly Heartbeat[], now: Date): void {
  row.lastHeartbeat = hb.at;
  row.heartbeatAgeSeconds = ageSeconds(hb.at, now);
  row.agentVersion = hb.agentVersion;
  if (hb.passRunning) row.passRunning = hb.passRunning;
  // Each agent counts its own since it was installed: the site's are all of theirs.
  row.losses = [hb, ...others].reduce((n, h) => n + h.losses, 0);
  // What the heartbeat said, aged to now: a silent site's oldest batch keeps getting older and
  // its time to loss shorter after its last word.
  const since = row.heartbeatAgeSeconds;
  row.sources = hb.sources.map((s) => {
    const aged: FleetSourceRow = s.lastGood ? { ...s, lastGoodAgeSeconds: ageSeconds(s.lastGood.at, now) } : { ...s };
    if (aged.oldestPendingSeconds !== undefined && (aged.pendingBatches ?? 0) > 0) aged.oldestPendingSeconds += since;
    if (aged.timeToLossSeconds !== undefined) aged.timeToLossSeconds = Math.max(0, aged.timeToLossSeconds - since);
    return aged;
  });
}

/** A heartbeat dated this far ahead of the cloud's clock says the site's clock is ahead. */
export const CLOCK_AHEAD_WARN_SECONDS = 120;

/** A loss stays on the fleet view this long after the agent recorded it, whatever passes came after. */
export const LOSS_WARN_HOURS = 24;

function warnReasons(hb: Heartbeat | undefined, lastRun: RunRecord | undefined, now: Date, sources: readonly HeartbeatSource[] = hb?.sources ?? [], others: readonly Heartbeat[] = []): string[] {
  const warn: string[] = [];
  if (lastRun?.outcome === 'PARTIAL') warn.push(`last window PARTIAL: ${lastRun.reasons[0] ?? ''}`.trim());
  if (!hb) return warn;
  const ahead = Math.round((Date.parse(hb.at) - now.getTime()) / 1000);
  if (ahead > CLOCK_AHEAD_WARN_SECONDS) warn.push(`heartbeat dated ${Math.round(ahead / 60)} min in the future: the site's clock is ahead (set it right: until then a stopped agent would look alive)`);
  // Every agent's that wrote as the site in the window: a loss one agent recorded stays when another (a failover host) writes after it.
  const recent = unionLosses([hb, ...others]).filter((l) => now.getTime() - Date.parse(l.at) < LOSS_WARN_HOURS * 3600_000);
  if (recent.length > 0) {
    const certain = recent.filter((l) => !l.shippedBefore);
    const doubted = recent.filter((l) => l.shippedBefore);
    const sum = (ls: typeof recent, n: (l: (typeof recent)[number]) => number) => ls.reduce((t, l) => t + n(l), 0);
    const files = sum(certain, (l) => (l.unseen ? 0 : l.files));
    const unseen = sum(certain, (l) => (l.unseen ? l.files : 0));
    const what = [...(files > 0 ? [`${files} file(s)`] : []), ...(unseen > 0 ? [`${unseen} batch(es) never seen`] : [])].join(' and ');
    const named = (ls: typeof recent) => `${ls.map((l) => `${l.source}: ${l.batch}`).slice(0, 3).join(', ')}${ls.length > 3 ? ', …' : ''}`;
    if (certain.length > 0) warn.push(`${what} lost in the last ${LOSS_WARN_HOURS} h (${named(certain)})`);
    if (doubted.length > 0) warn.push(`${sum(doubted, (l) => l.files)} file(s) gone before shipping again in the last ${LOSS_WARN_HOURS} h, shipped before under another file time: offsite if the recorder only touched them, lost if it was replaced (${named(doubted)})`);
  } else if (hb.lastPass.lost > 0) warn.push(`${hb.lastPass.lost} lost in the last pass`);
  if (hb.lastPass.failed > 0) warn.push(`the last pass ended with ${hb.lastPass.failed} problem(s) (a batch, backup or snapshot not shipped, a source not read, or an alert raised): \`ferry agent status\` on the site host names them`);
  if (hb.lastPass.error) warn.push(`last pass error: ${hb.lastPass.error}`);
  for (const s of sources) warn.push(...sourceReasons(s));
  for (const a of hb.alerts ?? []) if (a.severity !== 'info' && !ALERTS_SHOWN_OTHERWISE.some((p) => a.key.startsWith(p))) warn.push(`${a.severity} alert open since ${a.since}: ${a.subject}`);
  return warn;
}

/** Alerts whose condition the row already names from the heartbeat's own fields (losses, failures, a source that cannot be read), or from the site's refused-agent records. */
const ALERTS_SHOWN_OTHERWISE = ['loss', 'source-unavailable:', 'heartbeat', 'ship-failed:', 'tree-failed:', 'site-refused-agent'];

/** Whether a site retired from `retired` (YYYY-MM-DD, UTC) is retired at `at`: from the start of that day on. */
export function isRetired(retired: string | undefined, at: Date): boolean {
  return retired !== undefined && Date.parse(`${retired}T00:00:00Z`) <= at.getTime();
}

/**
 * A retired site's reasons: nothing is expected of it, so silence, windows and warnings are not
 * judged; a heartbeat written after the day says its agent still runs, which the operator should know.
 */
function retiredReasons(retired: string, hb: Heartbeat | undefined): string[] {
  const out = [`retired ${retired}: no heartbeat or backup window is expected; its calls are kept and the purge deletes them at the end of their retention`];
  if (hb && Date.parse(hb.at) >= Date.parse(`${retired}T00:00:00Z`)) out.push(`a heartbeat arrived after the site was retired (${hb.at}): its agent still runs (stop it, or take \`retired\` out of the deployment if the site is back)`);
  return out;
}

/**
 * The refused agents the row names: refused in the last REFUSED_SHOW_HOURS, and whose host has not
 * written as the site since under another agent than the one that took it over (a new state directory).
 */
function shownRefused(input: FleetSiteInput, now: Date): RefusedAgent[] {
  const written = [...(input.heartbeat ? [input.heartbeat] : []), ...(input.otherAgents ?? [])];
  return (input.refusedAgents ?? []).filter((r) => now.getTime() - Date.parse(r.at) < REFUSED_SHOW_HOURS * 3600_000 && !refusedReplaced(r, written));
}

/** Why the site is SILENT: no heartbeat at all, none in silentAfterMinutes, or only a daily one left (the recent ones expired). */
function silentReasons(input: FleetSiteInput, row: FleetRow): string[] {
  const hb = input.heartbeat;
  if (!hb) return ['no heartbeat received yet'];
  const age = row.heartbeatAgeSeconds!;
  if (input.heartbeatDaily) return [`silent since ${hb.at}, ${Math.floor(age / 86400)} days (the agent's last daily heartbeat: the later ones expired after ${HEARTBEAT_KEEP_DAYS} days, so it may have run up to a day longer)`];
  if (age > row.silentAfterMinutes * 60) return [`no heartbeat for ${Math.round(age / 60)} min (silent after ${row.silentAfterMinutes} min)${hb.passRunning ? `; ${passStoppedText(hb.passRunning)}` : ''}`];
  return [];
}

/** Why the site is LATE (a window missed, stuck or FAILED); fills the row's window fields on the way. */
function lateReasons(input: FleetSiteInput, row: FleetRow, cron: Cron | undefined, now: Date): string[] {
  if (cron) row.nextWindow = cron.next(now)?.toISOString();
  const missed = cron ? missedWindow(cron, input.lastRun, now, input.windowGraceMinutes) : undefined;
  if (missed) row.missedWindow = missed.toISOString();
  const stuck = stuckWindow(input.lastRun, now, input.windowMaxMinutes);
  if (stuck) row.stuckWindow = stuck;
  const late: string[] = [];
  if (missed) late.push(`the window due ${missed.toISOString()} did not run`);
  if (stuck) late.push(`the window started ${stuck} has not finished after ${input.windowMaxMinutes ?? WINDOW_MAX_MINUTES} min`);
  if (input.lastRun?.outcome === 'FAILED') late.push(`last window FAILED: ${input.lastRun.reasons[0] ?? 'no reason recorded'}`);
  return late;
}

/** One site's row: RETIRED (its `retired` day reached, whatever else), SILENT (no heartbeat within silentAfterMinutes), LATE (a window missed, stuck or FAILED, a purge missed), WARN (PARTIAL, losses in the last pass, a source problem, loss close), OK. */
export function judgeSite(input: FleetSiteInput, now: Date): FleetRow {
  const silentAfterMinutes = input.silentAfterMinutes ?? DEFAULT_SILENT_AFTER_MINUTES;
  const hb = input.heartbeat;
  const cron = input.backupCron ? new Cron(input.backupCron) : undefined;
  const row: FleetRow = { site: input.site, state: 'OK', reasons: [], silentAfterMinutes, sources: [] };
  if (hb) withHeartbeat(row, hb, input.otherAgents ?? [], now);
  if (hb && input.heartbeatDaily) row.lastHeartbeatDaily = true;
  const shipperUnread = withShipper(row, input);
  if (input.lastRun) row.lastWindow = { startedAt: input.lastRun.startedAt, outcome: input.lastRun.outcome, state: input.lastRun.state ?? 'finished', reasons: input.lastRun.reasons };
  if (input.purge) row.purge = input.purge;
  // A retired site's purge still runs to the end of its retention: one that did not is named.
  if (isRetired(input.retired, now)) return { ...row, state: 'RETIRED', reasons: [...retiredReasons(input.retired!, hb), ...purgeLateReasons(input.purge)] };
  const silent = silentReasons(input, row);
  const late = [...lateReasons(input, row, cron, now), ...purgeLateReasons(input.purge)];
  const refused = shownRefused(input, now);
  if (refused.length) row.refusedAgents = refused;
  const warn = [...refused.map((r) => `critical: ${refusedAgentText(r)}`), ...(input.refusedUnread ? [input.refusedUnread] : []), ...shipperUnread, ...warnReasons(hb, input.lastRun, now, row.sources, input.otherAgents), ...purgeWarnReasons(input.purge)];
  const overdue = input.erasures?.overdue ?? [];
  if (overdue.length) row.overdueErasures = overdue;
  warn.push(...erasureReasons(input));
  if (input.ignoredHeartbeats?.length) warn.push(`heartbeat object(s) not believed, passed over: ${input.ignoredHeartbeats.join(', ')} (written with this site's agent credentials: find out who wrote them, and have an administrator remove them)`);

  row.state = silent.length ? 'SILENT' : late.length ? 'LATE' : warn.length ? 'WARN' : 'OK';
  row.reasons = [...silent, ...late, ...warn];
  return row;
}

/** Who ships the site on its row (the newest heartbeat's agent when nothing more is known), and the warning when that could not be read. */
function withShipper(row: FleetRow, input: FleetSiteInput): string[] {
  const hb = input.heartbeat;
  const shippedBy = input.shipper ?? (hb?.agent ? { host: hb.agent.host, id: hb.agent.id } : undefined);
  if (shippedBy) row.shippedBy = shippedBy;
  if (input.shipperUnread === undefined) return [];
  row.shippedByUnread = input.shipperUnread;
  return [`cannot read who ships the site and who did before (its daily heartbeats, heartbeats-daily/${input.site}/): ${input.shipperUnread}; a failover to or from this site would not be shown`];
}

/** What overdue erasure requests add to a site's warnings: each one (`critical: ` past ERASURE_CRITICAL_DAYS), or why they could not be read. */
function erasureReasons(input: FleetSiteInput): string[] {
  if (input.erasures?.problem) return [input.erasures.problem];
  return (input.erasures?.overdue ?? []).map((e) => `${e.severity === 'critical' ? 'critical: ' : ''}${overdueErasureText(e, input.site)}`);
}

/** Worst first: by state, then the longest silence, then site name. */
export function sortFleet(rows: FleetRow[]): FleetRow[] {
  const rank = (s: FleetState) => FLEET_STATES.indexOf(s);
  return [...rows].sort((a, b) => rank(a.state) - rank(b.state) || (b.heartbeatAgeSeconds ?? Number.MAX_SAFE_INTEGER) - (a.heartbeatAgeSeconds ?? Number.MAX_SAFE_INTEGER) || a.site.localeCompare(b.site));
}
