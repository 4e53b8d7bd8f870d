import type { LogGap } from './log-gaps.ts';
import type { AlertSeverity, ArtefactEntry, BlobStore } from './ports.ts';
import { dailyReportKey, dayBounds, putOnce } from './report-keys.ts';
import { gatherSiteDay, type GatherOptions } from './report-gather.ts';
import type { SnapshotSummary } from './tree-manifest.ts';
import { overdueErasureText, type OverdueErasure } from './erasure-overdue.ts';
import { COLLISION_ADVICE, collisionText, type DayCollisions } from './report-collisions.ts';

export { dayBounds } from './report-keys.ts';
export { gatherSiteDay, type GatherOptions } from './report-gather.ts';
export { renderDailyReport, reportSubject } from './report-render.ts';
import type { ScrubResult } from './verify.ts';
import type { UncataloguedCopy } from './report-gaps.ts';
import { daysUpTo } from './catalogue-gaps.ts';
import { alertProblems, type DayAgent, type DayAlert } from './report-alerts.ts';
import type { ShippedInDay } from './report-shipped.ts';
import { judgeSource, olderArrival, REPORT_LOOKBACK_DAYS } from './report-judges.ts';

export { defaultEveryHours, REPORT_LOOKBACK_DAYS } from './report-judges.ts';

// The daily report of one site, from the catalogue and the bucket alone (nothing the agent
// says about itself is needed, though what it reports is used when present): FULL when every
// source shipped what it should have in the day, PARTIAL naming what is missing and why,
// FAILED when nothing arrived at all. The judgement (computeDailyReport) is a pure function
// of the facts gathered (gatherSiteDay), so it is tested on its own.

export const DAILY_REPORT_FORMAT = 'ferry.daily-report/1';

export type SourceType = 'recordings' | 'rotated' | 'binlog' | 'archive' | 'tree';

export interface ExpectedSource {
  name: string;
  type: SourceType;
  /** rotated, tree: a new copy at least this often (default 24). */
  everyHours?: number;
  /** binlog: the newest shipped event is at most this old when the day is judged (default 60). */
  rpoMinutes?: number;
  /** recordings: no batch waits longer than this to ship (default 24). */
  maxUnshippedHours?: number;
  /**
   * The source left the agent's configuration: the heartbeat that speaks for the day (written at
   * `heartbeatAt`) no longer names it. It is still expected while a copy of it is among the
   * report's `days` (the day and the lookback days before), as a removed recordings source is,
   * and said so instead of judged against its schedule; after that it is not expected at all.
   */
  left?: { heartbeatAt: string; days: number };
}

/** What the site's agent reported about itself (its heartbeat), when the cloud has it. */
export interface AgentSignals {
  /** Recordings lost before they could be shipped, reported in the day; an entry with `files` stands for that many not named. */
  lost: { source: string; path: string; at: string; reason?: string; files?: number; shippedBefore?: true; unseen?: true }[];
  /** The oldest batch not yet shipped, per recordings source. */
  unshipped: { source: string; batch: string; since: string }[];
  /** When the heartbeat these come from was written. */
  heartbeatAt?: string;
  /**
   * Set when that heartbeat is the site's first ever, written after the day ended (no heartbeat,
   * recent or daily, before it): the agent was not reporting yet in the day. Its time.
   */
  firstHeartbeatAt?: string;
  /** The recordings sources the agent ships (expected even when none of their packs is recent). */
  recordingSources?: string[];
  /** Every source the heartbeat names (the agent's configuration): a source it does not name has left it. Absent: not known. */
  sources?: string[];
  /** The type of each source the heartbeat names (recordings, rotated, binlog, archive, tree). */
  sourceTypes?: Record<string, string>;
  /**
   * Each source's last copy as the agent said (its manifest and when): a recordings source's of
   * the day that the day's manifests do not hold is a pack of older recordings; a backup or tree
   * source's, when the catalogue has no copy of the source, one the catalogue lacks.
   */
  lastShipped?: { source: string; type?: string; at: string; key: string }[];
  /** The sources the agent could not read at that heartbeat (an unmounted share, a path gone), with why. */
  unreadable?: { source: string; problem: string }[];
  /** The warning and critical alerts the agent held open at any heartbeat of the day (core/report-alerts.ts). */
  alerts?: DayAlert[];
  /** What the agents shipped in the day whatever the recordings' dates, from their heartbeats' totals (core/report-shipped.ts). */
  shipped?: ShippedInDay;
  /** The agents that wrote as the site in the day, when more than one did (core/report-alerts.ts). */
  agents?: DayAgent[];
}

export interface DrillResult {
  format: 'ferry.drill/1';
  site: string;
  source: string;
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  /** The point restored to and what was fetched and verified. */
  target?: string;
  artefacts: number;
  bytes: number;
  applied?: { dsn: string; check: string; result: string };
  problems: string[];
}

export interface SiteDayFacts {
  site: string;
  day: string;
  /** The instant the day is judged at: its end, or now when the day is not over. */
  judgedAt: string;
  /** The zone whose midnights bound the day (the site's own); absent: UTC, not said. */
  timeZone?: string;
  expected: ExpectedSource[];
  /** Packs whose manifest was written in the day. */
  packs: { source: string; packId: string; createdAt: string; members: number }[];
  /** Packs of the day, shipped over an hour before the report was made, that the catalogue has no record of (ingest failed): found by no search. */
  uncatalogued?: { source: string; packId: string; members: number }[];
  /** Artefacts written in the day, and the newest of each source whenever written. */
  artefacts: ArtefactEntry[];
  newest: Record<string, ArtefactEntry | undefined>;
  snapshots: { source: string; takenAt: string; problems: number; massChange?: SnapshotSummary['massChange'] }[];
  newestSnapshot: Record<string, string | undefined>;
  /** Backups and tree snapshots of the report's days in the bucket that the catalogue lacks (core/report-gaps.ts); counted as the copies they are. */
  uncataloguedCopies?: UncataloguedCopy[];
  /** Breaks in a log source's chain that came to light in the day (logGaps). */
  logGaps?: LogGap[];
  signals?: AgentSignals;
  scrubs: ScrubResult[];
  drills: DrillResult[];
  /** The site is retired from this day (YYYY-MM-DD) on, and the day is one of them: nothing is expected of it. */
  retired?: string;
  /** The site's erasure requests pending past ERASURE_WARN_DAYS when the day is judged (core/erasure-overdue.ts). */
  erasures?: OverdueErasure[];
  /** Why the site's erasure requests could not be read. */
  erasuresUnread?: string;
  /** Calls of the day's packs shipped under another call's id, or catalogued twice (core/report-collisions.ts). */
  collisions?: DayCollisions;
}

/**
 * RETIRED: the site no longer ships (its deployment `retired` day reached) and nothing it keeps is
 * damaged. NOT-STARTED: a day before the site's first heartbeat, from which nothing arrived and
 * nothing was owed: its agent was not reporting yet (the first report read after installing is
 * yesterday's).
 */
export type ReportStatus = 'FULL' | 'PARTIAL' | 'FAILED' | 'RETIRED' | 'NOT-STARTED';

export interface SourceLine {
  source: string;
  type: SourceType;
  ok: boolean;
  shipped: string;
  problems: string[];
}

export interface DailyReport {
  format: typeof DAILY_REPORT_FORMAT;
  site: string;
  day: string;
  status: ReportStatus;
  judgedAt: string;
  generatedAt: string;
  /** The zone the day is the site's day in (midnight to midnight there); absent: UTC, not said. */
  timeZone?: string;
  sources: SourceLine[];
  /** Every problem, each naming its source: what is missing and why. */
  problems: string[];
  /** The day's scrubs: what they read, the damage found, and how many were cut short (their time was up: not a complete check). */
  scrub?: { runs: number; objects: number; problems: { key: string; member?: string; reason: string }[]; cutShort?: number };
  drills?: { source: string; ok: boolean; target?: string; problems: string[] }[];
  /** A retired site's report: the first day it no longer ships, and how much arrived in the day all the same. */
  retired?: { since: string; arrived: number };
  /** The alerts the agent held open in the day: each critical one is a problem too, a warning only listed. */
  alerts?: DayAlert[];
  /**
   * What the site shipped in the day whatever its recordings' dates (its agents' heartbeats'
   * totals); `olderPacks`: those of them not on the source lines, whose recordings are dated before
   * `olderThan`, the first of the report's days (a first install's backlog, a catch-up). Absent: no heartbeat says.
   */
  shipped?: ShippedInDay & { olderPacks: number; olderThan: string };
  /** The agents (host, id, first and last heartbeat in the day) that wrote as the site in the day, when more than one did: a failover, a host rebuilt. */
  agents?: DayAgent[];
  /**
   * The site's erasure requests pending past ERASURE_WARN_DAYS (7) when the day was judged, each
   * with its words: one past ERASURE_CRITICAL_DAYS (25) is a problem too (`erasure: …`), a warning
   * only listed. `unread`: why they could not be read (listed).
   */
  erasures?: { overdue: (OverdueErasure & { text: string })[]; unread?: string };
  /**
   * Calls of the day's packs that collided with calls catalogued before (core/ingest-collide.ts):
   * how many, the first few in words with both calls' metadata, and what to do. A warning, listed:
   * both recordings are kept, but one call's metadata is not searchable.
   */
  collisions?: DayCollisions & { texts: string[]; advice: string };
  /** A NOT-STARTED report: when the site's first heartbeat was written (after the day), and the batches it found already waiting since the day or before (the recorder's, before the agent ran). */
  notStarted?: { firstHeartbeatAt: string; waiting?: AgentSignals['unshipped'] };
}



function scrubSummary(scrubs: ScrubResult[]): DailyReport['scrub'] {
  if (scrubs.length === 0) return undefined;
  const cutShort = scrubs.filter((s) => s.cutShort).length;
  const problems = scrubs.flatMap((s) => s.problems.map((p) => ({ key: p.key, ...(p.member ? { member: p.member } : {}), reason: p.reason })));
  return { runs: scrubs.length, objects: scrubs.reduce((n, s) => n + s.objects, 0), problems, ...(cutShort ? { cutShort } : {}) };
}

/** The site's overdue erasure requests as the report carries them; none when none is overdue and they were read. */
function erasuresOfDay(f: SiteDayFacts): Pick<DailyReport, 'erasures'> {
  if (!f.erasures?.length && !f.erasuresUnread) return {};
  return { erasures: { overdue: (f.erasures ?? []).map((e) => ({ ...e, text: overdueErasureText(e, f.site) })), ...(f.erasuresUnread ? { unread: f.erasuresUnread } : {}) } };
}

/** The day's call collisions as the report carries them. */
function collisionsOfDay(f: SiteDayFacts): Pick<DailyReport, 'collisions'> {
  if (!f.collisions) return {};
  return { collisions: { ...f.collisions, texts: f.collisions.examples.map(collisionText), advice: COLLISION_ADVICE } };
}

/** The problems the overdue erasure requests make: each critical one (past ERASURE_CRITICAL_DAYS). */
const erasureProblems = (r: Pick<DailyReport, 'erasures'>): string[] => (r.erasures?.overdue ?? []).filter((o) => o.severity === 'critical').map((o) => `erasure: ${o.text}`);

/** Reasons a retired site's report is not RETIRED: damage to what it keeps (scrub, drills) and calls no search finds. */
function retiredProblems(f: SiteDayFacts): string[] {
  const problems: string[] = [];
  for (const u of f.uncatalogued ?? []) problems.push(`${u.source}: batch ${u.packId} (${u.members} recording(s)) shipped but not in the catalogue (its ingest failed): no search finds it; run \`ferry catalogue rebuild --site ${f.site}\``);
  for (const c of f.uncataloguedCopies ?? []) problems.push(`${c.source}: ${c.key} shipped but not in the catalogue (its ingest failed): no restore plan or listing finds it; run \`ferry catalogue rebuild --site ${f.site}\``);
  for (const s of f.scrubs) for (const p of s.problems) problems.push(`scrub: ${p.key}${p.member ? ` member ${p.member}` : ''}: ${p.reason}`);
  for (const d of f.drills) for (const p of d.problems) problems.push(`drill ${d.source}: ${p}`);
  problems.push(...erasureProblems(erasuresOfDay(f)));
  return problems;
}

/**
 * A retired site's day: no source is expected, so none is judged and nothing arriving is no
 * failure; RETIRED, or PARTIAL when what it keeps is damaged or not findable.
 */
function computeRetiredReport(f: SiteDayFacts & { retired: string }, generatedAt: string): DailyReport {
  const problems = retiredProblems(f);
  const scrub = scrubSummary(f.scrubs);
  const drills = f.drills.length > 0 ? f.drills.map((d) => ({ source: d.source, ok: d.ok, ...(d.target ? { target: d.target } : {}), problems: d.problems })) : undefined;
  const erasures = erasuresOfDay(f);
  return {
    format: DAILY_REPORT_FORMAT,
    site: f.site,
    day: f.day,
    status: problems.length > 0 ? 'PARTIAL' : 'RETIRED',
    judgedAt: f.judgedAt,
    generatedAt,
    sources: [],
    problems,
    retired: { since: f.retired, arrived: f.packs.length + f.artefacts.length + f.snapshots.length },
    ...(scrub ? { scrub } : {}),
    ...(drills ? { drills } : {}),
    ...erasures,
  };
}

/**
 * A day before the site's first heartbeat (written after the day ended, none before it) from which
 * nothing arrived and whose sources owe nothing: NOT-STARTED, naming that heartbeat. Judged as
 * FAILED, it said "nothing arrived" and "no batch shipped while batches waited" of a day its agent
 * was not yet installed, from the backlog its first heartbeat found the next day.
 */
function notStartedReport(f: SiteDayFacts, firstHeartbeatAt: string, generatedAt: string): DailyReport {
  const waiting = (f.signals?.unshipped ?? []).filter((u) => Date.parse(u.since) < Date.parse(f.judgedAt));
  return { format: DAILY_REPORT_FORMAT, site: f.site, day: f.day, status: 'NOT-STARTED', judgedAt: f.judgedAt, generatedAt, sources: [], problems: [], notStarted: { firstHeartbeatAt, ...(waiting.length ? { waiting } : {}) } };
}

/** The signals without the sources their heartbeat could not read. */
function withoutUnreadable(signals: AgentSignals): AgentSignals {
  const { unreadable: _unreadable, ...rest } = signals;
  return rest;
}

/** What the heartbeats say shipped in the day, and how many of those packs the source lines do not count (dated before the report's days). */
function shippedOfDay(f: SiteDayFacts): Pick<DailyReport, 'shipped'> {
  const s = f.signals?.shipped;
  if (!s) return {};
  return { shipped: { ...s, olderPacks: Math.max(0, s.packs - f.packs.length), olderThan: daysUpTo(f.day, REPORT_LOOKBACK_DAYS + 1)[0]! } };
}

/** The agents that wrote as the site in the day, when the heartbeats name more than one. */
const agentsOfDay = (f: SiteDayFacts): Pick<DailyReport, 'agents'> => (f.signals?.agents?.length ? { agents: f.signals.agents } : {});

/** FULL, PARTIAL or FAILED, with what is missing and why, from one site's facts of one day; RETIRED for a day of a retired site. */
export function computeDailyReport(f: SiteDayFacts, generatedAt: string): DailyReport {
  const report = judgeDay(f, generatedAt);
  return f.timeZone === undefined ? report : { ...report, timeZone: f.timeZone };
}

function judgeDay(f: SiteDayFacts, generatedAt: string): DailyReport {
  dayBounds(f.day, f.timeZone);
  if (f.retired !== undefined) return computeRetiredReport({ ...f, retired: f.retired }, generatedAt);
  const judged = Date.parse(f.judgedAt);
  const olderOnly = f.expected.filter((e) => e.type === 'recordings' && !f.packs.some((p) => p.source === e.name) && olderArrival(e, f, judged) !== undefined).length;
  const shipped = shippedOfDay(f);
  // Packs of older recordings the day's manifests do not hold arrived all the same (the heartbeats' totals say how many).
  const arrived = Math.max(f.packs.length + olderOnly, shipped.shipped?.packs ?? 0) + f.artefacts.length + f.snapshots.length;
  // A day before the site's first heartbeat from which nothing arrived: its agent was not running
  // yet, so what waited on the recorder then (its first heartbeat's backlog) was not its to ship,
  // and a source that heartbeat could not read (a path or permission still wrong at install) is
  // the next day's problem, judged then.
  const first = arrived === 0 ? f.signals?.firstHeartbeatAt : undefined;
  const facts = first !== undefined ? { ...f, signals: { ...withoutUnreadable(f.signals!), unshipped: [] } } : f;
  const sources = f.expected.map((e) => judgeSource(e, facts, judged)).sort((a, b) => a.source.localeCompare(b.source));
  const problems = sources.flatMap((s) => s.problems.map((p) => `${s.source}: ${p}`));
  const scrub = scrubSummary(f.scrubs);
  for (const p of scrub?.problems ?? []) problems.push(`scrub: ${p.key}${p.member ? ` member ${p.member}` : ''}: ${p.reason}`);
  let drills: DailyReport['drills'];
  if (f.drills.length > 0) {
    drills = f.drills.map((d) => ({ source: d.source, ok: d.ok, ...(d.target ? { target: d.target } : {}), problems: d.problems }));
    for (const d of f.drills) for (const p of d.problems) problems.push(`drill ${d.source}: ${p}`);
  }
  problems.push(...alertProblems(f, undefined));
  const erasures = erasuresOfDay(f);
  problems.push(...erasureProblems(erasures));
  // Nothing owed either (no loss, no damage, no critical alert): no failure, and said as it is.
  if (first !== undefined && problems.length === 0) return notStartedReport(f, first, generatedAt);
  if (f.expected.length === 0) problems.unshift('no source of this site has ever shipped anything');
  const status: ReportStatus = arrived === 0 ? 'FAILED' : problems.length > 0 ? 'PARTIAL' : 'FULL';
  if (arrived === 0) problems.unshift('nothing arrived from the site in the day');
  return {
    format: DAILY_REPORT_FORMAT,
    site: f.site,
    day: f.day,
    status,
    judgedAt: f.judgedAt,
    generatedAt,
    sources,
    problems,
    ...(scrub ? { scrub } : {}),
    ...(drills ? { drills } : {}),
    ...(f.signals?.alerts?.length ? { alerts: f.signals.alerts } : {}),
    ...erasures,
    ...collisionsOfDay(f),
    ...agentsOfDay(f),
    ...shipped,
  };
}

const STATUS_SEVERITY: Record<ReportStatus, AlertSeverity> = { FULL: 'info', PARTIAL: 'warning', FAILED: 'critical', RETIRED: 'info', 'NOT-STARTED': 'info' };
const RANK: Record<AlertSeverity, number> = { info: 0, warning: 1, critical: 2 };

/**
 * The severity of the report's worst finding, the one its e-mail goes out at (and that a topic's
 * filter policy sorts on): the status's (FAILED critical, PARTIAL warning), raised by what it
 * lists: an erasure request pending past ERASURE_CRITICAL_DAYS or an agent's critical alert of the
 * day (critical), a warning alert, an erasure request pending past a week or unread, call
 * collisions (warning). A PARTIAL day whose one problem is an overdue erasure is critical.
 */
export function reportSeverity(r: DailyReport): AlertSeverity {
  const found: AlertSeverity[] = [STATUS_SEVERITY[r.status]];
  for (const a of r.alerts ?? []) found.push(a.severity);
  for (const o of r.erasures?.overdue ?? []) found.push(o.severity);
  if (r.erasures?.unread) found.push('warning');
  if (r.collisions) found.push('warning');
  return found.reduce((worst, s) => (RANK[s] > RANK[worst] ? s : worst), 'info');
}

export async function dailyReport(deps: Parameters<typeof gatherSiteDay>[0], site: string, day: string, options: GatherOptions = {}): Promise<DailyReport> {
  const facts = await gatherSiteDay(deps, site, day, options);
  return computeDailyReport(facts, (options.now ?? (() => new Date()))().toISOString());
}

/** Keeps the report in the bucket under a new key (write-once); returns the key. */
export async function storeDailyReport(blobs: Pick<BlobStore, 'put'>, report: DailyReport): Promise<string> {
  return putOnce(blobs, dailyReportKey(report.site, report.day, report.generatedAt), Buffer.from(`${JSON.stringify(report, null, 1)}\n`), 'application/json');
}
