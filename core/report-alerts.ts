import { heartbeatKeyPlausible, heartbeatMatchesKey, type Heartbeat } from './fleet.ts';
import { readHeartbeat, type HeartbeatListing, type ListedHeartbeat } from './heartbeat-read.ts';
import { mapLimit } from './map-limit.ts';
import { alertOpen } from './report-render.ts';
import type { SiteDayFacts } from './report.ts';

// The alerts the agent held open in a day, for the daily report. Each heartbeat carries the
// alerts its agent holds open (core/fleet.ts `alerts`), and goes out at once when one is raised or
// resolved; so the heartbeats of the day (and each agent's first after it, which says what was
// still open as the day closed) tell which alerts were open in it, and from when to when. An
// alert raised and resolved within the day (a recordings mass change is an event the agent
// closes one repeat period later) is in none of the heartbeats after the day: the report reads
// them all, one GET each (an agent writes at most one every 5 minutes, or one a pass that
// shipped: a few hundred a day).
//
// A critical alert open at any heartbeat of the day is a problem of the day (on its source's line
// when its key names one, `{kind}:{source}:…`): the day is at best PARTIAL, as it is for a tree's
// mass change the snapshot itself records. A warning is listed and does not change the verdict:
// the agent did what it could and says what to look at, as the fleet view's WARN row does.

/** One alert the agent held open in the day: open from `since` to `until` (the first heartbeat of its agent that no longer carried it), or still open at the last heartbeat read. */
export interface DayAlert {
  key: string;
  severity: 'warning' | 'critical';
  subject: string;
  since: string;
  until?: string;
}

/**
 * Alerts whose condition the report names from facts of its own, and judges there: a loss from
 * the heartbeat's `recentLosses`, a tree's mass change from the snapshot's manifest (with the
 * snapshot to restore from), an agent refused as the site from its own record (core/refused-agent.ts).
 * Naming them again from the alert would say one thing twice.
 */
const JUDGED_OTHERWISE = ['loss:', 'tree-mass-change:', 'site-refused-agent'];

/** Heartbeats of one day read at most (newest first): past it the day's earliest are not read. */
export const DAY_HEARTBEATS_READ = 5000;

/**
 * The heartbeats that tell the alerts of the day [start, judged]: every one written in it, and each
 * agent's first written at or after `judged` (keys alone tell agents apart); one that cannot be
 * read, or is not its key's, is passed over.
 */
async function dayHeartbeats(listing: HeartbeatListing, start: number, judged: number, now: number): Promise<{ agent: string; t: number; hb: Heartbeat }[]> {
  const firstAfter = new Map<string, ListedHeartbeat>();
  const within: ListedHeartbeat[] = [];
  for await (const item of listing.keys()) {
    if (item.t < start) break;
    if (!heartbeatKeyPlausible(item.t, now)) continue;
    if (item.t >= judged) firstAfter.set(item.agent ?? '', item);
    else if (within.length < DAY_HEARTBEATS_READ) within.push(item);
  }
  const read = await mapLimit([...firstAfter.values(), ...within], 16, async (item) => {
    try {
      const hb = await readHeartbeat(listing.blobs, item.key);
      return heartbeatMatchesKey(hb, item.t, item.agent) ? { agent: item.agent ?? '', t: item.t, hb } : undefined;
    } catch {
      return undefined;
    }
  });
  return read.filter((r) => r !== undefined);
}

/** An agent that wrote as the site in the day: its host and id, its first and last heartbeat in the day. */
export interface DayAgent {
  host: string;
  id: string;
  first: string;
  last: string;
}

/**
 * The agents whose heartbeats were written in the day [start, judged], oldest first: named only when
 * more than one did (a failover, a host rebuilt with a new state directory), which the day's report says.
 */
function dayAgents(beats: readonly { agent: string; t: number; hb: Heartbeat }[], start: number, judged: number): DayAgent[] {
  const byId = new Map<string, DayAgent>();
  for (const b of [...beats].sort((x, y) => x.t - y.t)) {
    if (b.t < start || b.t >= judged || !b.hb.agent) continue;
    const at = new Date(b.t).toISOString();
    const had = byId.get(b.hb.agent.id);
    byId.set(b.hb.agent.id, { host: b.hb.agent.host, id: b.hb.agent.id, first: had?.first ?? at, last: at });
  }
  return byId.size > 1 ? [...byId.values()] : [];
}

/**
 * The warning and critical alerts open at any heartbeat of the day [start, judged], critical first, then the oldest (none when the
 * heartbeats carry none: an agent before they did); and the agents that wrote as the site in the day when more than one did.
 */
export async function dayAlerts(listing: HeartbeatListing, opts: { start: number; judged: number; now: number }): Promise<{ alerts: DayAlert[]; agents: DayAgent[] }> {
  const beats = await dayHeartbeats(listing, opts.start, opts.judged, opts.now);
  const byAgent = new Map<string, { t: number; hb: Heartbeat }[]>();
  for (const b of beats) byAgent.set(b.agent, [...(byAgent.get(b.agent) ?? []), b]);
  // One opening of an alert is its key and since (raised again after it resolved: another since).
  const found = new Map<string, DayAlert>();
  for (const seq of byAgent.values()) {
    seq.sort((a, b) => a.t - b.t);
    for (const [i, { hb }] of seq.entries()) {
      for (const a of hb.alerts ?? []) {
        if (a.severity === 'info' || Date.parse(a.since) >= opts.judged || JUDGED_OTHERWISE.some((p) => a.key.startsWith(p))) continue;
        const next = seq.slice(i + 1).find((later) => !(later.hb.alerts ?? []).some((b) => b.key === a.key && b.since === a.since));
        const id = `${a.key}\n${a.since}`;
        const until = next === undefined ? undefined : new Date(next.t).toISOString();
        const had = found.get(id);
        // Two agents holding one alert: open as long as either held it.
        if (had && (had.until === undefined || (until !== undefined && had.until >= until))) continue;
        found.set(id, { key: a.key, severity: a.severity, subject: a.subject, since: a.since, ...(until ? { until } : {}) });
      }
    }
  }
  const rank = (a: DayAlert) => (a.severity === 'critical' ? 0 : 1);
  const alerts = [...found.values()].sort((a, b) => rank(a) - rank(b) || a.since.localeCompare(b.since) || a.key.localeCompare(b.key));
  return { alerts, agents: dayAgents(beats, opts.start, opts.judged) };
}

/** The source an alert's key names (`{kind}:{source}` or `{kind}:{source}:{what}`), when the report has that source. */
export function alertSource(key: string, sources: ReadonlySet<string>): string | undefined {
  const source = key.split(':')[1];
  return source !== undefined && sources.has(source) ? source : undefined;
}

/** The subject without the source name it starts with, on the line of that source. */
const subjectOn = (a: DayAlert, source: string | undefined) => (source !== undefined && a.subject.startsWith(`${source}: `) ? a.subject.slice(source.length + 2) : a.subject);

/**
 * The problems the day's critical alerts make, for the source `source` (undefined: those of the
 * site as a whole, whose keys name no source of the report). A source the agent could not read
 * at the heartbeat that speaks for the day already says so: its `source-unavailable` alert is not
 * named again.
 */
export function alertProblems(f: Pick<SiteDayFacts, 'signals' | 'expected'>, source: string | undefined): string[] {
  const sources = new Set(f.expected.map((e) => e.name));
  const unreadable = new Set((f.signals?.unreadable ?? []).map((u) => `source-unavailable:${u.source}`));
  return (f.signals?.alerts ?? [])
    .filter((a) => a.severity === 'critical' && alertSource(a.key, sources) === source && !unreadable.has(a.key))
    .map((a) => `the agent held a critical alert ${alertOpen(a)}: ${subjectOn(a, source)}`);
}
