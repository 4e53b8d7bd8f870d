import type { Heartbeat, HeartbeatSource } from '../core/fleet.ts';
import { OPEN_ALERTS_MAX, RECENT_LOSS_HOURS, RECENT_LOSS_MAX, RECENT_LOSS_PATHS } from '../core/fleet.ts';
import { countUnnamedLosses } from '../core/fleet-losses.ts';
import type { HeartbeatDeps, PassView } from './heartbeat.ts';

// What a heartbeat carries beside its sources' figures (agent/heartbeat.ts): the site's recent
// losses, the agent's open alerts, a binlog source's RPO.

/** The losses of the last RECENT_LOSS_HOURS a heartbeat carries: the newest RECENT_LOSS_MAX named (newest last), the others counted. */
export function recentLossesOf(losses: HeartbeatDeps['losses'], now: Date): Pick<Heartbeat, 'recentLosses' | 'unnamedLosses'> {
  const since = now.getTime() - RECENT_LOSS_HOURS * 3600_000;
  const all = (losses?.all() ?? []).filter((l) => Date.parse(l.at) >= since);
  const recent = all.slice(-RECENT_LOSS_MAX);
  if (recent.length === 0) return {};
  // The older ones are counted, so that the fleet row and the daily report count every loss.
  const unnamed = countUnnamedLosses(all.slice(0, -RECENT_LOSS_MAX).map((l) => ({ ...l, files: l.files.length })));
  return {
    ...(unnamed.length > 0 ? { unnamedLosses: unnamed } : {}),
    recentLosses: recent.map((l) => ({ id: l.id, source: l.source, batch: l.batch, kind: l.kind, at: l.at, reason: l.reason, files: l.files.length, paths: l.files.slice(0, RECENT_LOSS_PATHS).map((f) => f.path), ...(l.unseen ? { unseen: true as const } : {}), ...(l.shippedBefore ? { shippedBefore: true as const } : {}) })),
  };
}

const SEVERITY_ORDER = { critical: 0, warning: 1, info: 2 } as const;

/** Open alerts in the order they are shown (a heartbeat's, `agent status`'s): critical first, then the oldest. */
export const mostUrgentFirst = (a: { severity: keyof typeof SEVERITY_ORDER; raisedAt: string }, b: { severity: keyof typeof SEVERITY_ORDER; raisedAt: string }): number =>
  SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || a.raisedAt.localeCompare(b.raisedAt);

/** The open alerts a heartbeat carries: critical first, then the oldest; at most OPEN_ALERTS_MAX. */
export function openAlerts(alerts: PassView['openAlerts']): Pick<Heartbeat, 'alerts'> {
  const open = [...(alerts ?? [])].sort(mostUrgentFirst).slice(0, OPEN_ALERTS_MAX);
  return open.length === 0 ? {} : { alerts: open.map((a) => ({ key: a.key, severity: a.severity, subject: a.subject, since: a.raisedAt })) };
}

/** A binlog copy dated this far ahead of the clock is not a measure of the RPO. */
const RPO_AHEAD_SLACK_SECONDS = 60;

/**
 * A binlog source's RPO: the age of its newest shipped copy. One dated ahead of the clock
 * (shipped while it ran fast) says nothing of how old the newest offsite event is: a problem.
 */
export function binlogRpo(newestCopy: { at: string } | undefined, now: Date, out: HeartbeatSource): void {
  if (!newestCopy) return;
  const age = Math.round((now.getTime() - Date.parse(newestCopy.at)) / 1000);
  if (age < -RPO_AHEAD_SLACK_SECONDS) out.problem ??= `newest shipped binlog copy is dated ${newestCopy.at}, ahead of this machine's clock (it ran fast): the RPO is unknown until the next copy ships`;
  else out.rpoSeconds = Math.max(0, age);
}
