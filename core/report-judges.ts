import type { ArtefactEntry } from './ports.ts';
import { alertProblems } from './report-alerts.ts';
import { catalogueGapProblems } from './report-gaps.ts';
import { dayBounds } from './report-keys.ts';
import { hhmm } from './report-render.ts';
import { timeZoneOffsetMs } from './time-format.ts';
import type { AgentSignals, ExpectedSource, SiteDayFacts, SourceLine, SourceType } from './report.ts';

// How the daily report judges each source of a day from the facts gathered (core/report.ts):
// what it shipped and what is missing, by its type (recordings, rotated, binlog, archive, tree),
// with what the agent said of it (losses, a source it could not read, the alerts it held open).

const HOUR = 3_600_000;

function age(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 6) / 10;
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}


type Judged = { shipped: string; problems: string[] };

/** The day's losses of one recordings source, as the agent named them: recordings lost, batches lost unseen, recordings gone before shipping again. */
function lossProblems(mine: AgentSignals['lost']): string[] {
  const problems: string[] = [];
  const told = (lost: typeof mine, what: string) => {
    if (lost.length === 0) return;
    const shown = lost.filter((l) => l.files === undefined).slice(0, 5).map((l) => l.path).join(', ');
    const count = lost.reduce((n, l) => n + (l.files ?? 1), 0);
    problems.push(`${count} ${what}: ${shown}${count > 5 ? ', …' : ''}`);
  };
  told(mine.filter((l) => !l.shippedBefore && !l.unseen), 'recording(s) lost before they could be shipped');
  // A loss unseen names batch directories: how many recordings each held no pass saw (written and evicted between two looks, or unreadable to the agent until evicted).
  told(mine.filter((l) => l.unseen), 'batch(es) lost unseen, evicted by the recorder before any pass could read them (their recordings are not known)');
  // Offsite if the recorder only touched them, or they were copies cut short (held back as shorter than the one shipped);
  // lost if it was replaced (the agent cannot tell: their content is gone).
  told(mine.filter((l) => l.shippedBefore), 'recording(s) gone before they shipped again, a recording of the same name and the same size or longer shipped before (offsite if the recorder only touched them or a copy cut them short, lost if it was replaced)');
  return problems;
}

function judgeRecordings(e: ExpectedSource, f: SiteDayFacts, judged: number): Judged {
  const packs = f.packs.filter((p) => p.source === e.name);
  const recordings = packs.reduce((n, p) => n + p.members, 0);
  const problems = lossProblems((f.signals?.lost ?? []).filter((l) => l.source === e.name));
  const bound = (e.maxUnshippedHours ?? 24) * HOUR;
  // The heartbeat after the day tells of the backlog as the day closed: a batch waiting only since
  // after the day's end (its agent first saw it then) says nothing of the day.
  const waiting = (f.signals?.unshipped ?? []).filter((x) => x.source === e.name && Date.parse(x.since) < judged);
  for (const u of waiting) {
    const waited = judged - Date.parse(u.since);
    if (waited > bound) problems.push(`batch ${u.batch} has waited ${age(waited)} to ship (bound ${age(bound)})`);
  }
  const missing = (f.uncatalogued ?? []).filter((u) => u.source === e.name);
  if (missing.length > 0) {
    const calls = missing.reduce((n, u) => n + u.members, 0);
    problems.push(`${missing.length} batch(es) (${calls} recording(s)) shipped but not in the catalogue (its ingest failed): no search finds them; run \`ferry catalogue rebuild --site ${f.site}\` (first: ${missing[0]!.packId})`);
  }
  // Packs are found under the date of their oldest recording, a few days back: a backfill or a
  // catch-up of older recordings arrives under older dates. The agent's heartbeat names its last pack.
  const older = packs.length === 0 ? olderArrival(e, f, judged) : undefined;
  if (older) return { shipped: older, problems };
  // Nothing shipped is a problem unless the agent said, during or after the day, that nothing waited.
  const heard = f.signals?.heartbeatAt === undefined ? undefined : Date.parse(f.signals.heartbeatAt);
  if (packs.length === 0 && (!f.signals || (heard !== undefined && heard < dayBounds(f.day, f.timeZone).start))) {
    problems.push(`no batch shipped in the day${heard !== undefined ? ` (the agent's last heartbeat was at ${hhmm(f.signals!.heartbeatAt!)})` : ''}`);
  } else if (packs.length === 0 && waiting.length > 0) {
    // The agent was heard, and it said batches were waiting: it did not ship them (a bandwidth limit too low, a store refusing every pack).
    const said = f.signals?.heartbeatAt === undefined ? '' : `, as the agent's heartbeat at ${hhmm(f.signals.heartbeatAt)} said`;
    problems.push(`no batch shipped in the day while batches waited (the oldest, ${waiting[0]!.batch}, since ${hhmm(waiting[0]!.since)}${said})`);
  }
  return { shipped: `${packs.length} batch(es), ${recordings} recording(s) shipped`, problems };
}

/** A recordings source whose last pack (as its agent said) arrived in the day, though none is dated within the days the report reads: what to say of it. */
export function olderArrival(e: ExpectedSource, f: SiteDayFacts, judged: number): string | undefined {
  const last = f.signals?.lastShipped?.find((l) => l.source === e.name);
  const at = last === undefined ? Number.NaN : Date.parse(last.at);
  if (!last || !(at >= dayBounds(f.day, f.timeZone).start && at <= judged)) return undefined;
  return `batches of older recordings shipped (a backfill or a catch-up: a batch is dated by its oldest recording, and the report reads the day and the ${REPORT_LOOKBACK_DAYS} days before; the last, ${last.key}, at ${hhmm(last.at)}): not counted here`;
}

/** Days before the day whose manifests the report reads (a batch is dated by its oldest recording). */
export const REPORT_LOOKBACK_DAYS = 2;

/**
 * How often a rotated source's vendor makes a new full, by its profile, with six hours' slack:
 * rostrvm's scheduler takes one a week (Sunday 03:00, its manual), and CVP's only copyable file,
 * `cvp_backup_data.old`, is by construction the backup before the newest (its time 24-48 h
 * before the day is judged). Any other: a day.
 */
export function defaultEveryHours(profile: string | undefined): number {
  if (profile === 'rostrvm') return 7 * 24 + 6;
  if (profile === 'cvp') return 48 + 6;
  return 24;
}

/**
 * The time a site's clocks went back within the `window` before `judged` (0 when they did not,
 * or went forward): a copy taken by a local schedule every `window` is then that much more than
 * `window` after the last (25 hours for a daily one on the day of the change, 49 for one every
 * 48 hours the day after it), so the schedule's window grows by it.
 */
function clockChangeSlack(f: SiteDayFacts, judged: number, window: number): number {
  if (f.timeZone === undefined) return 0;
  return Math.max(0, timeZoneOffsetMs(judged - window, f.timeZone) - timeZoneOffsetMs(judged, f.timeZone));
}

function judgeRotated(e: ExpectedSource, f: SiteDayFacts, judged: number): Judged {
  const newest = f.newest[e.name];
  const fulls = f.artefacts.filter((a) => a.source === e.name && a.role === 'full');
  const every = (e.everyHours ?? defaultEveryHours(newest?.profile ?? fulls.at(-1)?.profile)) * HOUR;
  const window = every + clockChangeSlack(f, judged, every);
  const inWindow = (a: ArtefactEntry | undefined): a is ArtefactEntry => a !== undefined && a.role === 'full' && Date.parse(a.takenAt) > judged - window && Date.parse(a.takenAt) <= judged;
  const best = [newest, ...fulls].filter(inWindow).sort((a, b) => b.takenAt.localeCompare(a.takenAt))[0];
  if (best) return { shipped: `full backup ${best.name} taken ${hhmm(best.takenAt)}, ${best.size} bytes`, problems: [] };
  const was = newest ? `${newest.name} taken ${hhmm(newest.takenAt)}` : 'none ever';
  return {
    shipped: `no full backup in the last ${age(window)}`,
    problems: [`the expected backup is not offsite: no full backup taken in the ${age(window)} before ${hhmm(new Date(judged).toISOString())} (newest: ${was})`],
  };
}

function judgeBinlog(e: ExpectedSource, f: SiteDayFacts, judged: number): Judged {
  const bound = (e.rpoMinutes ?? 60) * 60_000;
  const newest = f.newest[e.name];
  const segments = f.artefacts.filter((a) => a.source === e.name && a.role === 'segment');
  if (!newest) return { shipped: `${segments.length} segment(s) shipped`, problems: ['no binlog segment has ever been shipped'] };
  const newestAt = Date.parse(newest.span?.to ?? newest.takenAt);
  const at = hhmm(new Date(newestAt).toISOString());
  const problems = judged - newestAt > bound ? [`binlog RPO ${age(judged - newestAt)} exceeds its bound of ${age(bound)} (newest shipped event ${at})`] : [];
  for (const g of (f.logGaps ?? []).filter((x) => x.source === e.name)) {
    const what = g.first === g.last ? `${g.first} is` : `${g.first} to ${g.last} are`;
    const partial = g.partialOnly.length ? ` (${g.partialOnly.join(', ')} only as a partial snapshot)` : '';
    const where = g.restarted ? ' where the binlog numbering restarted (RESET MASTER, or a new or restored server)' : '';
    problems.push(`the log chain is broken${where}: ${what} not offsite${partial}; no point in time after ${hhmm(g.lastEventBefore)} can be restored from a full taken before the break`);
  }
  return { shipped: `${segments.length} segment(s) shipped, newest event ${at}`, problems };
}

function judgeTree(e: ExpectedSource, f: SiteDayFacts, judged: number): Judged {
  const every = (e.everyHours ?? 24) * HOUR;
  const window = every + clockChangeSlack(f, judged, every);
  const snaps = f.snapshots.filter((s) => s.source === e.name);
  const newestAt = f.newestSnapshot[e.name];
  const problems: string[] = [];
  if (newestAt === undefined || Date.parse(newestAt) <= judged - window) problems.push(`no snapshot in the ${age(window)} before ${hhmm(new Date(judged).toISOString())} (newest: ${newestAt ? hhmm(newestAt) : 'none ever'})`);
  const troubled = snaps.filter((s) => s.problems > 0);
  if (troubled.length > 0) problems.push(`${troubled.length} snapshot(s) left paths out or skipped them (${troubled.reduce((n, s) => n + s.problems, 0)} in all: unreadable, changing while read, or special files; \`ferry snapshots list --problems\` names them)`);
  for (const s of snaps) {
    const m = s.massChange;
    if (!m) continue;
    const restore = `ferry restore tree --site ${f.site} --source ${e.name} --at ${m.parentTakenAt} --to DIR`;
    const where = m.snapshots ? `over ${m.snapshots} snapshots up to the one taken ${hhmm(s.takenAt)}` : `in the snapshot taken ${hhmm(s.takenAt)}`;
    problems.push(`${m.changed} of ${m.previousFiles} files changed ${where}: ransomware or a mass rewrite? the snapshot before ${m.snapshots ? 'the first of them' : 'it'}, taken ${hhmm(m.parentTakenAt)}, is the one to restore from (\`${restore}\`)`);
  }
  return { shipped: `${snaps.length} snapshot(s)${newestAt ? `, newest ${hhmm(newestAt)}` : ''}`, problems };
}

const JUDGES: Record<SourceType, (e: ExpectedSource, f: SiteDayFacts, judged: number) => Judged> = {
  recordings: judgeRecordings,
  rotated: judgeRotated,
  binlog: judgeBinlog,
  archive: (e, f) => ({ shipped: `${f.artefacts.filter((a) => a.source === e.name).length} archive(s) shipped`, problems: [] }),
  tree: judgeTree,
};

export function judgeSource(e: ExpectedSource, f: SiteDayFacts, judged: number): SourceLine {
  const judgedLine = JUDGES[e.type](e, f, judged);
  const { shipped } = judgedLine;
  // A source that left the configuration owes no copy on schedule; a recordings source's losses and uncatalogued batches are still real.
  const gaps = e.type === 'recordings' ? { problems: [], instead: false } : catalogueGapProblems(e.name, f);
  const judgedProblems = gaps.instead ? gaps.problems : [...judgedLine.problems, ...gaps.problems];
  const problems = e.left && e.type !== 'recordings' ? gaps.problems : judgedProblems;
  // The agent could not look: its "nothing waited" is no word on the source, and what the site writes meanwhile does not ship.
  const unreadable = e.left ? undefined : f.signals?.unreadable?.find((u) => u.source === e.name);
  const when = f.signals?.heartbeatAt === undefined ? '' : ` at its heartbeat of ${hhmm(f.signals.heartbeatAt)}`;
  if (unreadable) problems.push(`the agent could not read it${when}: ${unreadable.problem} (nothing of it ships until it can be read)`);
  problems.push(...alertProblems(f, e.name));
  const note = e.left ? `; left the agent's configuration (its heartbeat of ${hhmm(e.left.heartbeatAt)} no longer names it): not expected once ${e.left.days} days pass without a copy of it` : '';
  return { source: e.name, type: e.type, ok: problems.length === 0, shipped: `${shipped}${note}`, problems };
}
