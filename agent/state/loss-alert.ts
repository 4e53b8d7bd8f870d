import { createHash } from 'node:crypto';
import type { Alert } from '../../core/ports.ts';
import { sentence } from '../../core/alert-text.ts';
import { compareBatches } from '../sources/batch-order.ts';
import type { LossEntry } from './loss-log.ts';

// The texts of loss alerts. One loss record reads as itself (its batch, its recordings). The
// losses one pass found for one source go out together as one alert, counted and named by their
// oldest and newest batch: a recorder evicting 56 unshipped batches at once paged the on-call
// operator 56 times for one event. Every loss stays in the loss log, and `--losses` lists them.

const LIST_COMMAND = '`ferry agent status --losses`';
const ARTEFACT_ADVICE = "Check the agent's errors and the link to the cloud.";
const UNSEEN_ADVICE = 'Passes must look at the recorder more often than it evicts: check that no pass was held up (a slow or unreachable store keeps a pass, and the state directory, for as long as it retries), the agent\'s schedule, and its backlog and bandwidth.';
const RECORDINGS_ADVICE = "Check the agent's backlog and bandwidth; the recorder's disk may be too small for the shipping rate.";
const SHIPPED_BEFORE_ADVICE = 'If the recorder (or a scanner, or a copy without times) only changed their file times, the copies shipped before are these recordings and nothing is lost. If the recorder was replaced or its numbering restarted, these are new calls and they are lost: `ferry calls search` by call id shows what is offsite.';
const CUT_SHORT_ADVICE = 'If the calls folder was being copied (a recorder moved to a new PC), these were copies cut short of recordings already offsite and nothing is lost. If the recorder restarted its numbering, these were new calls under old names and they are lost: `ferry calls search` by call id shows what is offsite.';
/** Paths a grouped alert names (the rest are in the loss log). */
const PATHS_NAMED = 5;

/** The alert of one loss record. */
export function lossAlert(site: string, entry: LossEntry): Alert {
  const names = entry.files.map((f) => f.name);
  const list = `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … (${names.length} in all)` : ''}`;
  const seen = entry.lastSeen ? ` It was last seen on ${entry.lastSeen}.` : '';
  const base = { site, key: `loss:${entry.id}`, details: { ...entry } };
  if (entry.kind === 'artefact') {
    const f = entry.files[0];
    return {
      ...base,
      severity: 'critical',
      subject: `${entry.source}: ${entry.batch} lost before shipping`,
      // A segment the agent never saw (purged before its first look) has no size or time to give.
      message: `The version of ${entry.batch}${f && f.mtimeMs > 0 ? ` (${f.size} bytes, modified ${new Date(f.mtimeMs).toISOString()})` : ''} of source ${entry.source} was ${entry.reason}.${seen} ${entry.advice ?? ARTEFACT_ADVICE}`,
    };
  }
  if (entry.unseen) {
    return {
      ...base,
      severity: 'critical',
      subject: `${entry.source}: ${entry.files.length} batch(es) lost unseen (${entry.batch})`,
      message: `Batch director${entry.files.length === 1 ? 'y' : 'ies'} ${entry.batch} of source ${entry.source} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} How many recordings ${entry.files.length === 1 ? 'it' : 'they'} held is not known. ${entry.advice ?? `${UNSEEN_ADVICE} ${LIST_COMMAND} lists them.`}`,
    };
  }
  if (entry.cutShort) {
    return {
      ...base,
      severity: 'warning',
      subject: `${entry.files.length} recording(s) gone while held back: shorter than the one of their name already offsite`,
      message: `Batch ${entry.batch} of source ${entry.source}: ${list} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} ${CUT_SHORT_ADVICE.replace(/\.$/, '')}, and ${LIST_COMMAND} lists them.`,
    };
  }
  if (entry.shippedBefore) {
    return {
      ...base,
      severity: 'warning',
      subject: `${entry.files.length} recording(s) gone before shipping again: shipped before under another file time`,
      message: `Batch ${entry.batch} of source ${entry.source}: ${list} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} ${SHIPPED_BEFORE_ADVICE.replace(/\.$/, '')}, and ${LIST_COMMAND} lists them.`,
    };
  }
  return {
    ...base,
    severity: 'critical',
    subject: `${entry.files.length} recording(s) lost before shipping`,
    message: `Batch ${entry.batch} of source ${entry.source}: ${list} ${entry.files.length === 1 ? 'was' : 'were'} ${entry.reason}.${seen} ${RECORDINGS_ADVICE} ${LIST_COMMAND} lists every lost recording.`,
  };
}

/**
 * The alerts of the loss records one pass found for one source (or that earlier passes could not
 * deliver): one alert per severity (a loss that may have shipped before is a warning, kept apart).
 * A group of one reads as that loss's own alert. Each alert lists the ids of the records it tells
 * in `details.lossIds`, so the reporter marks exactly those alerted once a hook took it.
 */
export function lossAlerts(site: string, entries: readonly LossEntry[]): { alert: Alert; ids: string[] }[] {
  const groups = new Map<string, LossEntry[]>();
  for (const e of entries) {
    const key = `${e.source}\t${e.cutShort ? 'cut short' : e.shippedBefore ? 'warning' : 'critical'}`;
    const group = groups.get(key);
    if (group) group.push(e);
    else groups.set(key, [e]);
  }
  return [...groups.values()].map((group) => ({ alert: group.length === 1 ? lossAlert(site, group[0]!) : groupAlert(site, group), ids: group.map((e) => e.id) }));
}

/** One lost thing a grouped alert counts: a batch (recordings) or a file version (artefacts). */
interface Lost {
  name: string;
  paths: string[];
}

/** What the records lost, oldest first: a batch recorded twice in one pass (some recordings by the walk, more while shipping) counts once. */
function lostOf(group: readonly LossEntry[]): Lost[] {
  const lost = new Map<string, string[]>();
  const add = (name: string, paths: string[]) => {
    const known = lost.get(name);
    if (known) known.push(...paths);
    else lost.set(name, paths);
  };
  for (const e of group) {
    // A batch lost unseen has one "file" per batch directory; an artefact record one per version.
    if (e.kind === 'artefact' || e.unseen) for (const f of e.files) add(f.name, [f.path]);
    else add(e.batch, e.files.map((f) => f.path));
  }
  return [...lost].map(([name, paths]) => ({ name, paths })).sort((a, b) => compareBatches(a.name, b.name));
}

/** The grouped alert of two or more loss records of one source and severity. */
function groupAlert(site: string, group: readonly LossEntry[]): Alert {
  const source = group[0]!.source;
  const lost = lostOf(group);
  const oldest = lost[0]!.name;
  const newest = lost.at(-1)!.name;
  const span = oldest === newest ? oldest : `${oldest} to ${newest}`;
  const paths = lost.flatMap((l) => l.paths);
  const named = `${paths.slice(0, PATHS_NAMED).join(', ')}${paths.length > PATHS_NAMED ? `, … (${paths.length} in all)` : ''}`;
  const reasons = [...new Set(group.map((e) => e.reason))];
  const why = reasons.length === 1 ? reasons[0] : `${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? `; and ${reasons.length - 3} other reason(s)` : ''}`;
  const advice = [...new Set(group.map(adviceOf))].join(' ');
  const counts = countsOf(group, lost.length);
  const ids = group.map((e) => e.id);
  const details = { source, kind: group[0]!.kind, lossRecords: group.length, ...counts, oldest, newest, reasons, paths: paths.slice(0, 20), lossIds: ids, list: 'ferry agent status --losses' };
  const key = `loss:g${createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 20)}`;
  const tail = `Why: ${sentence(why ?? '')} First: ${named}. Each is recorded lost; ${LIST_COMMAND} lists them all with their paths. ${advice}`;
  if (group[0]!.kind === 'artefact') {
    return { severity: 'critical', site, key, subject: `${source}: ${lost.length} file(s) lost before shipping (${span})`, message: `${lost.length} file version(s) of source ${source}, ${span}, were lost before they could be shipped. ${tail}`, details };
  }
  if (group[0]!.cutShort) {
    return { severity: 'warning', site, key, subject: `${source}: ${counts.recordings} recording(s) in ${counts.batches} batch(es) gone while held back: shorter than the ones of their names already offsite`, message: `${counts.recordings} recording(s) in ${counts.batches} batch(es) of source ${source}, ${span}, were gone while held back as shorter than the recordings of their names already offsite: these shorter copies never shipped. ${tail}`, details };
  }
  if (group[0]!.shippedBefore) {
    return { severity: 'warning', site, key, subject: `${source}: ${counts.recordings} recording(s) in ${counts.batches} batch(es) gone before shipping again: shipped before under another file time`, message: `${counts.recordings} recording(s) in ${counts.batches} batch(es) of source ${source}, ${span}, are gone before they could be shipped again. ${tail}`, details };
  }
  const unseen = counts.unseenBatches > 0 ? `, and ${counts.unseenBatches} batch(es) no pass saw (how many recordings they held is not known)` : '';
  return {
    severity: 'critical',
    site,
    key,
    subject: `${source}: ${counts.batches} batch(es), ${counts.recordings} recording(s) lost before shipping (${span})`,
    message: `${counts.batches} batch(es) of source ${source}, ${span}, were lost before they could be shipped: ${counts.recordings} recording(s)${unseen}. ${tail}`,
    details,
  };
}

function countsOf(group: readonly LossEntry[], things: number): { batches: number; recordings: number; unseenBatches: number } {
  let recordings = 0;
  let unseenBatches = 0;
  for (const e of group) {
    if (e.kind === 'artefact') continue;
    if (e.unseen) unseenBatches += e.files.length;
    else recordings += e.files.length;
  }
  return { batches: things, recordings, unseenBatches };
}

function adviceOf(e: LossEntry): string {
  if (e.advice) return e.advice;
  if (e.kind === 'artefact') return ARTEFACT_ADVICE;
  if (e.unseen) return UNSEEN_ADVICE;
  if (e.cutShort) return CUT_SHORT_ADVICE;
  return e.shippedBefore ? SHIPPED_BEFORE_ADVICE : RECORDINGS_ADVICE;
}
