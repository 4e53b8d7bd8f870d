import type { DailyReport } from './report.ts';
import type { DayAlert } from './report-alerts.ts';
import { dayBounds } from './report-keys.ts';
import { formatBytes } from './format-bytes.ts';
import { printable } from './printable.ts';

// The daily report as people read it: its e-mail's subject line and its text (core/report.ts
// works it out).

const HOUR = 3_600_000;

/** `yyyy-mm-dd hh:mmZ`: the times a report names. */
export const hhmm = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')}Z`;

/** When an alert of the day was open, as the report says it (`until`: the first heartbeat that no longer carried it). */
export function alertOpen(a: Pick<DayAlert, 'since' | 'until'>): string {
  return a.until === undefined ? `open since ${hhmm(a.since)}` : `open from ${hhmm(a.since)} to ${hhmm(a.until)}`;
}

/** The subject line of the report's email: status first, so a mailbox rule can sort on it. */
export function reportSubject(r: DailyReport): string {
  const why = r.status === 'FULL' ? 'every source shipped' : r.status === 'RETIRED' ? `retired ${r.retired?.since}, nothing expected` : r.notStarted ? `not reporting yet (first heartbeat ${hhmm(r.notStarted.firstHeartbeatAt)})` : `${r.problems.length} problem(s)`;
  return `[Ferry] ${r.status} ${r.site} ${r.day}: ${why}`.slice(0, 99);
}

/**
 * More than one agent wrote as the site in the day: which, and when each was heard from. One after
 * the other is a failover or a host rebuilt; an agent whose first heartbeat of the day came over an
 * hour before an earlier one's last wrote beside it (two agents on purpose, a copied configuration),
 * which is no handover (within the hour: a switchover of minutes, the old host's clock ahead).
 */
function agentsLines(agents: DailyReport['agents']): string[] {
  if (!agents?.length) return [];
  const named = agents.map((a) => `${printable(a.host || 'an unnamed host')} (id ${printable(a.id)}, heartbeats ${hhmm(a.first)} to ${hhmm(a.last)})`);
  const sideBySide = agents.some((a, i) => agents.slice(0, i).some((b) => Date.parse(b.last) - Date.parse(a.first) >= HOUR));
  if (sideBySide) return [`  ${agents.length} agents wrote as the site side by side in the day: ${named.join(', ')}`, ''];
  return [`  shipped by ${agents.length} agents in the day (a failover or a host rebuilt): ${named.join(', then ')}`, ''];
}

export function renderDailyReport(r: DailyReport): string {
  const lines = [`${r.status}  ${r.site}  ${r.day}  (judged at ${hhmm(r.judgedAt)})`, ...dayLines(r), ''];
  if (r.retired) lines.push(...retiredLines(r.site, r.retired));
  if (r.notStarted) lines.push(...notStartedLines(r.site, r.notStarted));
  lines.push(...shippedLines(r.shipped));
  lines.push(...agentsLines(r.agents));
  for (const s of r.sources) {
    lines.push(`  ${s.ok ? 'ok     ' : 'PROBLEM'} ${s.source} (${s.type}): ${s.shipped}`);
    for (const p of s.problems) lines.push(`          - ${p}`);
  }
  if (r.scrub) lines.push('', `  scrub: ${r.scrub.runs} run(s), ${r.scrub.objects} object(s) read, ${r.scrub.problems.length} damaged${r.scrub.cutShort ? `; ${r.scrub.cutShort} run(s) cut short when their time was up (an incomplete check)` : ''}`);
  for (const p of r.scrub?.problems ?? []) lines.push(`          - ${p.key}${p.member ? ` member ${p.member}` : ''}: ${p.reason}`);
  for (const d of r.drills ?? []) {
    lines.push(`  drill ${d.source}: ${d.ok ? 'restored and verified' : 'FAILED'}${d.target ? ` (${d.target})` : ''}`);
    for (const p of d.problems) lines.push(`          - ${p}`);
  }
  // Warnings are listed, not judged: the verdict stands (a critical alert is among the problems).
  const warnings = (r.alerts ?? []).filter((a) => a.severity === 'warning');
  if (warnings.length > 0) lines.push('', "  warnings the agent held open in the day (listed; they do not change the day's status):", ...warnings.map((a) => `          - ${alertOpen(a)}: ${a.subject}`));
  lines.push(...erasureLines(r.erasures));
  lines.push(...collisionLines(r.collisions));
  // The problems of the site as a whole (nothing arrived at all, …), which no source line carries.
  const bySource = new Set([...r.sources.flatMap((s) => s.problems), ...(r.drills ?? []).flatMap((d) => d.problems)]);
  const siteProblems = r.problems.filter((p) => !p.startsWith('scrub: ') && !p.startsWith('drill ') && !p.startsWith('erasure: ') && !bySource.has(p) && !r.sources.some((s) => s.problems.some((q) => p.endsWith(q))));
  if (siteProblems.length > 0) lines.push('', ...siteProblems.map((p) => `  - ${p}`));
  // A day judged long after it is judged on what the store holds now: what the retention purge deleted since reads as never shipped.
  if (r.status !== 'FULL' && r.status !== 'RETIRED' && r.status !== 'NOT-STARTED' && Date.parse(r.generatedAt) - dayBounds(r.day, r.timeZone).end > LATE_REPORT_DAYS * 24 * HOUR) {
    lines.push('', `  note: computed ${r.generatedAt.slice(0, 10)} from what the store holds now; packs the retention purge deleted since read as never shipped (\`ferry audit search --site ${r.site} --action purge\`), and the report stored that day is under reports/${r.site}/daily/`);
  }
  return `${lines.join('\n')}\n`;
}

/** Data subjects' erasure requests pending past ERASURE_WARN_DAYS: critical ones (a problem of the day) first. */
function erasureLines(e: DailyReport['erasures']): string[] {
  if (!e) return [];
  const lines = ['', "  data subjects' erasure requests pending for over a week (a month is allowed to answer one):"];
  for (const o of e.overdue) lines.push(`          - ${o.severity === 'critical' ? 'CRITICAL' : 'warning'}: ${o.text}`);
  if (e.unread) lines.push(`          - ${e.unread}`);
  return lines;
}

/** The day's call collisions (a warning, listed): how many, the first few with both calls' metadata, what to do. */
function collisionLines(c: DailyReport['collisions']): string[] {
  if (!c) return [];
  const said = c.count > 0 ? `${c.count} call(s) of the day's packs collided with calls catalogued before` : "the day's packs could not all be checked for call collisions";
  const lines = ['', `  warning: ${said} (listed; the day's status stands):`];
  for (const t of c.texts) lines.push(`          - ${printable(t)}`);
  if (c.count > c.texts.length) lines.push(`          - and ${c.count - c.texts.length} more`);
  if (c.unread) lines.push(`          - ${c.unread}`);
  if (c.count > 0) lines.push(`          what to do: ${c.advice}`);
  return lines;
}

/** Which day the report judges when the site's day is not UTC's: midnight to midnight in its zone, with the instants and the hours (23 or 25 when the clocks change). */
function dayLines(r: DailyReport): string[] {
  if (r.timeZone === undefined) return [];
  const { start, end } = dayBounds(r.day, r.timeZone);
  const hours = (end - start) / HOUR;
  const clocks = hours === 24 ? '' : `, ${hours} h: the clocks changed`;
  return [`  the site's day in ${r.timeZone}: ${hhmm(new Date(start).toISOString())} to ${hhmm(new Date(end).toISOString())}${clocks}`];
}

/** What the report of a day before the site's first heartbeat says instead of its sources. */
function notStartedLines(site: string, n: NonNullable<DailyReport['notStarted']>): string[] {
  const lines = [
    `  not reporting yet: ${site}'s first heartbeat was written at ${hhmm(n.firstHeartbeatAt)}, after this day. Nothing arrived from it in the day`,
    `  and nothing was owed: its agent was not running (or not installed) then. Reports judge the site from that day on.`,
  ];
  for (const w of n.waiting ?? []) lines.push(`  ${w.source}: its first heartbeat found batches already waiting on the recorder (the oldest, ${w.batch}, since ${hhmm(w.since)}), written before the agent ran.`);
  return lines;
}

/** What a retired site's report says instead of its sources. */
function retiredLines(site: string, retired: NonNullable<DailyReport['retired']>): string[] {
  const lines = [
    `  retired ${retired.since}: ${site} no longer ships and nothing is expected of it. Its calls stay searchable, playable and holdable`,
    `  until its purge deletes them at the end of their retention; remove the site from the deployment only once nothing of it is left (docs/deploy.md).`,
  ];
  // The retired day itself may hold the last copies the site shipped before it stopped.
  if (retired.arrived > 0) lines.push(`  ${retired.arrived} batch(es) or backup copies arrived in the day all the same: if after the site stopped, its agent still runs.`);
  return lines;
}

/** Days after which a daily report is "late": worked out from a store the purge may have thinned since. */
const LATE_REPORT_DAYS = 30;

/**
 * What the site shipped in the day whatever its recordings' dates: the source lines below count
 * only packs dated in the day and the days before, so a day that shipped a first install's backlog
 * of last month's calls would otherwise read as an idle site.
 */
export function shippedLines(s: DailyReport['shipped']): string[] {
  if (!s) return [];
  const artefacts = s.artefacts > 0 ? `; ${s.artefacts} backup/log/archive file(s), ${formatBytes(s.artefactBytes)}` : '';
  const lines = [`  shipped in the day: ${s.packs} pack(s), ${s.recordings} recording(s), ${formatBytes(s.bytes)}${artefacts} (whatever the recordings' dates, from the agent's heartbeats)`];
  if (s.olderPacks > 0) lines.push(`    of which ${s.olderPacks} pack(s) of recordings dated before ${s.olderThan} (a backlog or a catch-up: a pack is dated by its oldest recording; the source lines count those dated from ${s.olderThan} on)`);
  if (s.notCounted) lines.push(`    not counted: what ${s.notCounted} agent(s) shipped whose heartbeats carry no totals (an agent before they were sent, or upgraded in the day)`);
  if (s.notRead) lines.push(`    not counted: what ${s.notRead} more agent(s) shipped (at most ${s.agents + (s.notCounted ?? 0)} agents' heartbeats are read for a site, those that wrote last)`);
  lines.push('');
  return lines;
}
