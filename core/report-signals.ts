import { unionLosses } from './fleet.ts';
import { heartbeatAsOf, heartbeatBefore, heartbeatListing, otherAgentsHeartbeats, type HeartbeatBlobs } from './heartbeat-read.ts';
import { dayBounds, type AgentSignals } from './report.ts';
import { dayAlerts, type DayAgent, type DayAlert } from './report-alerts.ts';
import { readRefusedAgents, refusedAgentText } from './refused-agent.ts';
import { shippedInDay } from './report-shipped.ts';

// What the agent reported about itself, for the daily report: its losses and its oldest
// unshipped batch travel in its heartbeat (agent/heartbeat.ts), the only place the cloud learns
// of recordings it never received. The heartbeat that speaks for a day is the first written
// after the day ended (or the report's judging time, for today): it carries the losses of the
// days before it (core/fleet.ts RECENT_LOSS_HOURS) and the backlog as the day closed. Its losses
// are one agent's memory: every other agent that wrote as the site from the day's start on (a
// failover host, another state directory) adds its own, chosen the same way (one GET each).

/** The agents of the day, when more than one wrote as the site in it (dayAlerts names none otherwise). */
const severalAgents = (agents: DayAgent[]): Pick<AgentSignals, 'agents'> => (agents.length ? { agents } : {});

/** The signals of `site` for `day` from its heartbeats; undefined when it has none (the report then judges by what shipped). */
export function heartbeatSignals(blobs: HeartbeatBlobs, now: () => Date = () => new Date()) {
  return async (site: string, day: string, timeZone?: string): Promise<AgentSignals | undefined> => {
    const { start, end } = dayBounds(day, timeZone);
    const nowMs = now().getTime();
    const judged = Math.min(end, nowMs);
    const listing = heartbeatListing(blobs, site);
    // Once the recent heartbeats expired (a site silent for over a month), its daily ones speak:
    // its recordings sources are still owed, and named with its last heartbeat.
    const recent = await heartbeatAsOf(listing, judged, nowMs);
    const daily = recent ? undefined : heartbeatListing(blobs, site, 'heartbeats-daily');
    const speaks = recent ?? (await heartbeatAsOf(daily!, judged, nowMs));
    if (!speaks) return undefined;
    const hb = speaks.heartbeat;
    // No heartbeat of the site before the day ended, neither recent nor daily (kept 400 days):
    // the one that speaks is its first ever, and the agent was not reporting yet in the day.
    const before = speaks.earlier || (recent !== undefined && (await heartbeatBefore(heartbeatListing(blobs, site, 'heartbeats-daily'), judged, nowMs)));
    const others = await otherAgentsHeartbeats(listing, { from: start, at: judged, now: nowMs, except: speaks.key });
    const lost: AgentSignals['lost'] = [];
    for (const l of unionLosses([hb, ...others.heartbeats])) {
      const at = Date.parse(l.at);
      if (l.kind !== 'recordings' || at < start || at >= end) continue;
      const marks = l.shippedBefore ? { shippedBefore: true as const } : l.unseen ? { unseen: true as const } : {};
      for (const path of l.paths) lost.push({ source: l.source, path, at: l.at, reason: l.reason, ...marks });
      if (l.files > l.paths.length) lost.push({ source: l.source, path: `${l.batch}/… (${l.files - l.paths.length} more)`, at: l.at, reason: l.reason, files: l.files - l.paths.length, ...marks });
    }
    const seen = Date.parse(hb.at);
    const unshipped: AgentSignals['unshipped'] = [];
    for (const s of hb.sources) {
      if (s.oldestPendingSeconds === undefined || (s.pendingBatches ?? 0) === 0) continue;
      unshipped.push({ source: s.name, batch: s.oldestPendingBatch ?? 'the oldest unshipped batch', since: new Date(seen - s.oldestPendingSeconds * 1000).toISOString() });
    }
    const recordings = hb.sources.filter((s) => s.type === 'recordings');
    // Every source's last copy: a recordings source's tells of older recordings shipped, a backup or tree source's of a copy the catalogue may lack.
    const lastShipped = hb.sources.flatMap((s) => (s.lastGood ? [{ source: s.name, type: s.type, at: s.lastGood.at, key: s.lastGood.key }] : []));
    const unreadable = hb.sources.flatMap((s) => (s.problem ? [{ source: s.name, problem: s.problem }] : []));
    // The alerts open at any heartbeat of the day (core/report-alerts.ts), from the listing that spoke.
    // An old primary refused in the day (it writes no heartbeat, core/refused-agent.ts): a critical alert of the site's, first.
    const heard = await dayAlerts(daily ?? listing, { start, judged, now: nowMs });
    const { agents } = heard;
    const alerts = [...(await refusedInDay(blobs, site, start, judged, nowMs)), ...heard.alerts];
    // What shipped in the day whatever the recordings' dates (a first install's backlog of last month's calls).
    const shipped = await shippedInDay({ recent: listing, daily: heartbeatListing(blobs, site, 'heartbeats-daily') }, start, judged, nowMs);
    return { lost, unshipped, ...(shipped ? { shipped } : {}), heartbeatAt: hb.at, ...(before ? {} : { firstHeartbeatAt: hb.at }), ...(unreadable.length ? { unreadable } : {}), ...(alerts.length ? { alerts } : {}), ...severalAgents(agents), recordingSources: recordings.map((s) => s.name), sources: hb.sources.map((s) => s.name), sourceTypes: Object.fromEntries(hb.sources.map((s) => [s.name, s.type])), ...(lastShipped.length ? { lastShipped } : {}) };
  };
}

/** Each agent refused as the site in [start, judged): its newest record there, as a critical alert held open since its first refusal. */
async function refusedInDay(blobs: HeartbeatBlobs, site: string, start: number, judged: number, now: number): Promise<DayAlert[]> {
  const { refused } = await readRefusedAgents(blobs, site, now, { from: start, to: judged });
  return refused.map((r) => ({ key: 'site-taken-over', severity: 'critical' as const, subject: refusedAgentText(r), since: r.refusedSince ?? r.at }));
}
