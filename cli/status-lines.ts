import type { ArtefactSourceStatus } from '../agent/artefact-runner.ts';
import type { StatusReport } from './agent-commands.ts';
import { formatBytes } from './progress.ts';
import type { AlertState } from '../agent/state/alert-book.ts';
import { mostUrgentFirst } from '../agent/heartbeat-contents.ts';

// `agent status`'s lines for the backup, binlog, archive and tree sources, and for the losses.

/** Why backups wait that are not shipped yet: still being judged complete, across passes (a cron agent's next run ships them). */
function settlingText(settling: ArtefactSourceStatus['settling']): string {
  if (!settling) return '';
  const age = settling.minAgeSeconds > 0 ? ` and at least ${settling.minAgeSeconds} s old (minAgeSeconds)` : '';
  return `; ${settling.files} not yet judged complete: a file ships once a later pass finds it unchanged for ${settling.stableSeconds} s (stableSeconds)${age}`;
}

const segments = (gs: NonNullable<ArtefactSourceStatus['gaps']>) => gs.map((g) => (g.from === g.to ? `${g.from}` : `${g.from}-${g.to}`)).join(', ');

/**
 * A binlog source's gaps: those no full backup after them bridges block point-in-time restore;
 * a bridged one (its alert resolved) blocks only the times between the last full before it and
 * the gap, and names the full that brought the later times back.
 */
function gapsText(gaps: NonNullable<ArtefactSourceStatus['gaps']>): string {
  const open = gaps.filter((g) => !g.bridgedBy);
  const bridged = gaps.filter((g) => g.bridgedBy);
  const parts: string[] = [];
  if (open.length) parts.push(`; GAP in segments ${segments(open)}: point-in-time restore cannot cross it`);
  for (const g of bridged) parts.push(`; gap in segments ${segments([g])} bridged by ${g.bridgedBy!.source}/${g.bridgedBy!.name} (${g.bridgedBy!.at}, offsite): restore reaches every time after that full, not the times between the full before the gap and the gap`);
  return parts.join('');
}

/** One line per backup, binlog, archive and tree source. */
export function artefactAndTreeLines(s: Pick<StatusReport, 'artefactSources' | 'treeSources'>): string[] {
  const lines: string[] = [];
  for (const a of s.artefactSources) {
    const last = a.lastShipped ? `last shipped ${a.lastShipped.name}${a.lastShipped.partial ? ' (partial)' : ''} at ${a.lastShipped.at}` : 'nothing shipped yet';
    const gaps = gapsText(a.gaps ?? []);
    // A source that cannot be read shows what its last readable pass left waiting, and says it cannot be read.
    const unreadable = a.problem ? `; CANNOT BE READ at the last pass (${a.problem}): what waits there is not counted` : '';
    lines.push(`${`${a.name} (${a.type})`.padEnd(17)} ${a.backlog.files} waiting (${formatBytes(a.backlog.bytes)}${settlingText(a.settling)}), ${last}${a.lost ? `, ${a.lost} lost` : ''}${gaps}${unreadable}`);
  }
  for (const t of s.treeSources) {
    const l = t.lastSnapshot;
    const last = l ? `last snapshot ${l.takenAt}: ${l.files} files, ${formatBytes(l.bytesTotal)} (${l.filesRead} read, ${formatBytes(l.bytesAdded)} added)${l.problems ? `, ${l.problems} problem(s)` : ''}` : 'no snapshot yet';
    lines.push(`${`${t.name} (tree)`.padEnd(17)} ${last}${t.problem ? `; last attempt failed: ${t.problem}` : ''}`);
  }
  return lines;
}

function duration(sec: number): string {
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172800) return `${(sec / 3600).toFixed(1)} h`;
  return `${(sec / 86400).toFixed(1)} days`;
}

/**
 * How long the recordings backlog takes at the rate the agent shipped over the minutes up to its
 * last pass (status.json's `shipRate`): what an administrator watching a first upload asks. None
 * when nothing waits, or before the agent's first pass.
 */
export function drainLine(s: Pick<StatusReport, 'backlog' | 'shipRate'>): string | undefined {
  const rate = s.shipRate;
  if (!rate || s.backlog.bytes <= 0 || rate.seconds <= 0) return undefined;
  const over = `over the ${duration(rate.seconds)} to ${rate.until}`;
  if (rate.bytes <= 0) return `nothing shipped ${over} while the backlog waited`;
  const perSecond = rate.bytes / rate.seconds;
  return `${formatBytes(perSecond * 60)}/min ${over}: at that rate the backlog (${formatBytes(s.backlog.bytes)}) ships in about ${duration(s.backlog.bytes / perSecond)}`;
}

/** Packs found already offsite (shipped by an earlier state directory) and not sent again, from the journal's totals; nothing when none. */
export function foundTotals(t: { foundPacks?: number; foundRecordings?: number; foundBytes?: number }): { foundPacks?: number; foundRecordings?: number; foundBytes?: number } {
  return t.foundPacks ? { foundPacks: t.foundPacks, foundRecordings: t.foundRecordings ?? 0, foundBytes: t.foundBytes ?? 0 } : {};
}

/** `; N pack(s), M recording(s), X already offsite (found, not sent again)` after the shipped totals, or nothing. */
export function foundSuffix(t: { foundPacks?: number; foundRecordings?: number; foundBytes?: number }): string {
  return t.foundPacks ? `; ${t.foundPacks} pack(s), ${t.foundRecordings ?? 0} recording(s), ${formatBytes(t.foundBytes ?? 0)} already offsite (found, not sent again)` : '';
}

/** Days a loss is listed as recent by `agent status`; older ones are counted, the newest named by its date. */
export const RECENT_LOSS_DAYS = 30;

/**
 * The losses of the last RECENT_LOSS_DAYS (the newest five), or, when there were none, when the
 * last one was: on a site that has run for years, losses of long ago are not listed as recent
 * (`agent status --losses` lists every one).
 */
export function lossLines(s: Pick<StatusReport, 'recentLosses' | 'lossRecords' | 'lastLossAt' | 'recentLossesSince'>): string[] {
  const every = `${s.lossRecords} loss records in all: \`ferry agent status --losses\` lists every one with its paths`;
  const since = s.recentLossesSince;
  const recent = since === undefined ? s.recentLosses : s.recentLosses.filter((l) => l.at >= since);
  if (recent.length === 0) return s.lossRecords > 0 ? [`losses            none in the last ${RECENT_LOSS_DAYS} days (the last recorded ${s.lastLossAt ?? 'at an unknown time'}; ${every})`] : [];
  const shown = recent.slice(-5);
  // A loss unseen lists batch directories, not recordings (how many each held is not known).
  const lines = [`recent losses (last ${RECENT_LOSS_DAYS} days)`, ...shown.map((l) => `  lost ${l.at} ${l.source}/${l.batch}: ${l.files.length} ${l.unseen ? 'batch(es) never seen' : 'file(s)'}, ${l.reason}`)];
  if (s.lossRecords > shown.length) lines.push(`  (${every})`);
  return lines;
}

/**
 * The open alerts, right under the site's name, critical first and then the oldest: on a site
 * that has run for years they came last, after every source's line and the losses.
 */
export function alertLines(open: readonly AlertState[]): string[] {
  return [...open]
    .sort(mostUrgentFirst)
    .map((a) => `ALERT ${a.severity.padEnd(12)}${a.subject} (since ${a.raisedAt})${a.undelivered !== undefined ? ` NOT DELIVERED: ${a.undelivered}` : ''}`);
}
