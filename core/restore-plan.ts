import { normalizeIso } from './catalogue-table.ts';
import { InvalidInputError } from './errors.ts';
import { logChains, segmentName } from './log-gaps.ts';
import type { ArtefactEntry } from './ports.ts';
import { binlogDatetime, loadStep, renderCommands, type RestoreStep } from './restore-commands.ts';
import type { PlanFile, PlanOptions, RefusalCode, RestorePlan, RestorePlanResult, RestoreRefusal } from './restore-plan-types.ts';
import { localNames, otherSeries } from './restore-series.ts';

// Point-in-time restore planning (pure). The rostrvm manual's procedure made exact: the newest
// full taken at or before T, then every log segment from the full's binlog position up to the
// first segment whose events reach T, contiguous, then `--stop-datetime=T`. When T cannot be
// reached the planner refuses, says exactly why and the nearest time it can reach.
//
// Binlog times have 1-second resolution, so T is cut to its second: stopAt is the first
// instant whose events are not applied.

export type { PlanFile, PlanOptions, RefusalCode, RestorePlan, RestorePlanResult, RestoreRefusal } from './restore-plan-types.ts';
export { seriesOf } from './restore-series.ts';

interface Slot {
  final?: ArtefactEntry;
  partial?: ArtefactEntry;
}

const endOf = (a: ArtefactEntry): string => a.span?.to ?? a.takenAt;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const secondOf = (iso: string): string => new Date(Math.floor(Date.parse(iso) / 1000) * 1000).toISOString();

/** `mysql-bin.000123` (with or without a directory) → series and sequence. */
export function parseLogFile(logFile: string): { series: string; sequence: number } | undefined {
  const m = /([^/\\]+)\.(\d+)$/.exec(logFile);
  return m ? { series: m[1]!, sequence: Number(m[2]) } : undefined;
}

function normalized(a: ArtefactEntry): ArtefactEntry {
  const span = a.span && { from: normalizeIso(a.span.from, 'span.from'), to: normalizeIso(a.span.to, 'span.to') };
  return { ...a, takenAt: normalizeIso(a.takenAt, 'takenAt'), ...(span ? { span } : {}) };
}

/** One slot per sequence: the final if shipped, and the newest partial snapshot. */
function slotsOf(segments: ArtefactEntry[], series: string | undefined): Map<number, Slot> {
  const slots = new Map<number, Slot>();
  for (const s of segments) {
    if (s.sequence === undefined || (series !== undefined && s.series !== undefined && s.series !== series)) continue;
    const slot = slots.get(s.sequence) ?? {};
    if (!s.partial) slot.final = s;
    else if (!slot.partial || endOf(s) > endOf(slot.partial) || (endOf(s) === endOf(slot.partial) && s.size > slot.partial.size)) slot.partial = s;
    slots.set(s.sequence, slot);
  }
  return slots;
}

interface Walk {
  chain: ArtefactEntry[];
  end?: string;
  stop: 'reached' | 'missing' | 'partial';
  /** Nothing of the run is offsite after the chain: it reaches to the end of its last event's second. */
  endsOffsite?: true;
  /** T lies in the second after the last event offsite: the plan applies every event shipped. */
  wholeLastSecond?: true;
  /** Sequence that is missing (stop 'missing'). */
  missing?: number;
  /** Next sequence shipped after where the walk stopped: proves a gap rather than the end of the logs. */
  nextPresent?: number;
}

/**
 * The end of the second of a chain's last event, when nothing of its run is offsite after it:
 * every event shipped is applied with `--stop-datetime` there (binlog times are whole seconds, so
 * a plan cut at the last event's own second would leave that second's events out).
 */
const plusSecond = (iso: string): string => new Date(Date.parse(iso) + 1000).toISOString();

/**
 * From `start`, one segment per sequence while each is final, until one reaches `until` (T cut
 * to its second); `at` (T itself) is reached by the last segment offsite up to the end of its last
 * event's second.
 */
function walk(slots: Map<number, Slot>, start: number, until: string | undefined, at?: string): Walk {
  const chain: ArtefactEntry[] = [];
  const next = (after: number) => [...slots.keys()].filter((k) => k > after).sort((a, b) => a - b)[0];
  for (let seq = start; ; seq++) {
    const slot = slots.get(seq);
    const segment = slot?.final ?? slot?.partial;
    const end = chain.length ? endOf(chain.at(-1)!) : undefined;
    if (!segment) return { chain, end, stop: 'missing', missing: seq, nextPresent: next(seq) };
    chain.push(segment);
    // A partial is a prefix of its segment: usable only as the last one, up to its last event.
    if (until !== undefined && endOf(segment) >= until) return { chain, end: endOf(segment), stop: 'reached' };
    const last = next(seq) === undefined;
    if (at !== undefined && last && at <= plusSecond(endOf(segment))) return { chain, end: endOf(segment), stop: 'reached', wholeLastSecond: true };
    if (!slot?.final) return { chain, end: endOf(segment), stop: 'partial', nextPresent: next(seq), ...(last ? { endsOffsite: true } : {}) };
    if (last) return { chain, end: endOf(segment), stop: 'missing', missing: seq + 1, endsOffsite: true };
  }
}

interface Start {
  slots: Map<number, Slot>;
  start?: number;
  series?: string;
  /** The numbering restarted after this chain (`logChains`): what the walk cannot reach here, no later segment of that name gives. */
  restarted?: boolean;
}

/**
 * Where replay starts: the segment holding the full's recorded position, else the first segment
 * still active when the full completed; and the chain of segments (one run of the server's
 * numbering, `logChains`) that segment is in. Of two segments under the position's name (the
 * numbering restarted), the one of the full's run: the first that was still open when the full
 * completed.
 */
function startOf(full: ArtefactEntry, index: SegmentIndex): Start {
  const pos = full.position && parseLogFile(full.position.logFile);
  const taken = secondOf(full.takenAt);
  if (pos) {
    const chains = index.chainsOf(pos.series);
    // The segment itself may be missing: then the run that was going on when the full completed.
    const chain =
      chains.find((c) => c.some((s) => s.sequence === pos.sequence && endOf(s) >= taken)) ?? chains.find((c) => c.some((s) => endOf(s) >= taken)) ?? chains.at(-1);
    return { slots: index.slotsOf(chain, pos.series), start: pos.sequence, series: pos.series, restarted: chain !== undefined && chain !== chains.at(-1) };
  }
  const first = index.firstEndingAtOrAfter(full.takenAt);
  const series = first?.series;
  const chains = index.chainsOf(series);
  const chain = chains.find((c) => first !== undefined && c.includes(first));
  return { slots: index.slotsOf(chain, series), start: first?.sequence, series, restarted: chain !== undefined && chain !== chains.at(-1) };
}

/**
 * A source's log segments with what every full of a plan asks of them worked out once: each
 * series' runs of the numbering (`logChains`) and their slots, and the segments in the order
 * their events end.
 */
class SegmentIndex {
  private readonly chains = new Map<string | undefined, ArtefactEntry[][]>();
  private readonly slots = new Map<ArtefactEntry[] | undefined, Map<number, Slot>>();
  private byEnd: ArtefactEntry[] | undefined;

  constructor(private readonly segments: ArtefactEntry[]) {}

  /** The runs of `series` (segments that name no series belong to every one; undefined: all). */
  chainsOf(series: string | undefined): ArtefactEntry[][] {
    let chains = this.chains.get(series);
    if (!chains) this.chains.set(series, (chains = logChains(this.segments.filter((s) => series === undefined || s.series === undefined || s.series === series))));
    return chains;
  }

  slotsOf(chain: ArtefactEntry[] | undefined, series: string | undefined): Map<number, Slot> {
    let slots = this.slots.get(chain);
    if (!slots) this.slots.set(chain, (slots = slotsOf(chain ?? [], series)));
    return slots;
  }

  /** The first segment, by the end of its events (then by number), still being written at `at`. */
  firstEndingAtOrAfter(at: string): ArtefactEntry | undefined {
    this.byEnd ??= this.segments.filter((s) => s.sequence !== undefined).sort((a, b) => cmp(endOf(a), endOf(b)) || a.sequence! - b.sequence!);
    return this.byEnd.find((s) => endOf(s) >= at);
  }
}


const withNearest = (nearestReachable: string | undefined) => (nearestReachable ? { nearestReachable } : {});

function refuse(at: string, code: RefusalCode, reason: string, nearestReachable?: string): RestoreRefusal {
  return { ok: false, code, reason, at, ...withNearest(nearestReachable) };
}

/** Explains why a walk did not reach T (the nearest reachable time is the caller's). */
function chainRefusal(at: string, full: ArtefactEntry, s: Start, w: Walk): RestoreRefusal {
  const from = `the log chain from the full taken at ${full.takenAt}`;
  if (w.nextPresent === undefined && s.restarted && w.chain.length > 0) {
    const last = w.chain.at(-1)!;
    const how = last.partial ? `${last.name}, offsite only as a partial snapshot up to ${endOf(last)}` : `${last.name} (${endOf(last)})`;
    return refuse(at, 'gap', `${from} ends where the binlog numbering restarted (RESET MASTER, or a new or restored server): its last segment offsite is ${how}; the segments under the same names after the restart belong to another run and are not replayed after it`);
  }
  if (w.stop === 'partial') {
    const last = w.chain.at(-1)!;
    if (w.nextPresent !== undefined) return refuse(at, 'gap', `${from} has a gap: ${last.name} is offsite only as a partial snapshot up to ${endOf(last)}; its closed segment is missing`);
    return refuse(at, 'after-last-event', `T (${at}) is after the last shipped log event (${endOf(last)}, in the partial snapshot of ${last.name})`);
  }
  if (w.nextPresent !== undefined) {
    const a = w.missing!;
    const b = w.nextPresent - 1;
    const what = b > a ? `${segmentName(s.series, a)} to ${segmentName(s.series, b)} are` : `${segmentName(s.series, a)} is`;
    const holding = w.chain.length === 0 && full.position ? ` (it holds the full's binlog position ${full.position.logFile}:${full.position.logPos})` : '';
    return refuse(at, 'gap', `${from} has a gap: ${what} not offsite${holding}`);
  }
  if (w.end === undefined) return refuse(at, 'after-last-event', `T (${at}) is after the last shipped log event: no log segment reaching past the full taken at ${full.takenAt} has been shipped`);
  return refuse(at, 'after-last-event', `T (${at}) is after the last shipped log event (${w.end})`);
}

/** What a plan without log segments restores: the archives covering T, or the full as taken. */
function withoutLogsNote(opts: PlanOptions, full: ArtefactEntry, others: ArtefactEntry[]): string {
  if (full.role === 'archive') {
    const list = [full, ...others].map((a) => `${a.name} (${a.span ? `${a.span.from} → ${a.span.to}` : a.takenAt})`).join(', ');
    return `the archive(s) covering T: ${list}; each is a closed archive, fetched and checked as it was shipped`;
  }
  if (opts.logsLeftOut) return `the log segments are left out on request (--log-source none): the plan restores the full as taken at ${full.takenAt}, not T`;
  return `the source has no log segments: the plan restores the full as taken at ${full.takenAt}, not T`;
}

function buildPlan(opts: PlanOptions, at: string, stopAt: string, full: ArtefactEntry, segments: ArtefactEntry[], others: ArtefactEntry[] = []): RestorePlan {
  const names = localNames([full, ...segments, ...others]);
  const files: PlanFile[] = [full, ...segments, ...others].map((a, i) => ({
    name: names[i]!,
    role: a.role === 'segment' ? 'segment' : a.role === 'archive' ? 'archive' : 'full',
    artefactId: a.artefactId,
    key: a.key,
    size: a.size,
    sha256: a.sha256,
    ...(a.sequence !== undefined && a.role === 'segment' ? { sequence: a.sequence } : {}),
    ...(a.partial ? { partial: true } : {}),
  }));
  const load = loadStep(full, names[0]!);
  // The other names' backups first, oldest first, the newest last: where they are rotations of
  // one database after all (a weekday's name), what is applied last is the newest state.
  const steps: RestoreStep[] = [...others.map((o, i) => loadStep(o, names[1 + segments.length + i]!)), load];
  const notes: string[] = [];
  if (others.length > 0 && full.role !== 'archive') {
    const list = others.map((o) => `${o.name} (taken ${o.takenAt})`).join(', ');
    notes.push(`the source holds backups under ${others.length + 1} names: besides ${full.name} (taken ${full.takenAt}), the newest at or before T of ${list} ${others.length === 1 ? 'is' : 'are'} in the plan; restore each into its own database (if they are rotations of one database, the steps apply the newest last)`);
  }
  if (segments.length > 0) {
    // Only a replay cuts at stopAt: a plan without log segments restores the full as it was taken.
    if (at !== stopAt) notes.push(`binlog times have 1-second resolution: events logged during ${binlogDatetime(stopAt)} UTC are not applied (to apply those before a given statement, plan a second later and stop at its position: STOP_POSITION=N ./apply.sh, docs/restore.md)`);
    const family = load.kind === 'load-sql' ? load.family : 'mariadb';
    const startPosition = full.position?.logPos;
    if (startPosition === undefined) {
      notes.push(
        `the full records no binlog position: replay starts at its completion time (${full.takenAt}); if the dump was a consistent snapshot (--single-transaction), the changes committed while it was being written are in neither the dump nor the replay, and events logged during that second may be applied twice or missed`,
      );
    }
    if (load.kind === 'load-sql' && load.database) {
      notes.push(`the replay keeps the events of database ${load.database} only (--database, as the rostrvm manual's command): with statement-based or mixed binlogs, a change made from a session whose default database is another one is left out (none with binlog_format=ROW)`);
    }
    if (segments.at(-1)!.partial) notes.push(`the last segment is a partial snapshot (up to ${endOf(segments.at(-1)!)}), enough to reach T`);
    steps.push({
      kind: 'binlog',
      family,
      files: names.slice(1),
      ...(startPosition !== undefined ? { startPosition } : { startDatetime: binlogDatetime(full.takenAt) }),
      stopDatetime: binlogDatetime(stopAt),
      ...(load.kind === 'load-sql' && load.database ? { database: load.database, port: load.port } : {}),
    });
  } else {
    notes.push(withoutLogsNote(opts, full, others));
  }
  const logSource = opts.logSource ?? segments[0]?.source;
  return {
    ok: true,
    site: opts.site ?? full.site,
    source: opts.source ?? full.source,
    ...(logSource === undefined ? {} : { logSource }),
    at,
    stopAt,
    reachedAt: segments.length > 0 ? stopAt : full.takenAt,
    full,
    segments,
    ...(others.length > 0 ? { others } : {}),
    ...(full.position && segments.length > 0 ? { startPosition: full.position } : {}),
    files,
    totalBytes: files.reduce((sum, f) => sum + f.size, 0),
    steps,
    commands: renderCommands(steps),
    notes,
  };
}

/**
 * For each full, the times it can reach: from its completion to the end of its contiguous log
 * chain. A chain reaches the full's own time when it reaches the second it was taken in, as a
 * plan at T does (binlog times are whole seconds: a full completed at 05:25:53.589 with its last
 * event at 05:25:53 is restored at 05:25:53.589).
 */
function reachable(fulls: ArtefactEntry[], index: SegmentIndex, fullOnly: boolean): [string, string][] {
  const spans: [string, string][] = [];
  for (const f of fulls) {
    if (fullOnly) {
      spans.push([f.takenAt, f.takenAt]);
      continue;
    }
    const s = startOf(f, index);
    const w = s.start === undefined ? undefined : walk(s.slots, s.start, undefined);
    const end = w?.end === undefined ? undefined : w.endsOffsite ? plusSecond(w.end) : w.end;
    if (end !== undefined && w!.end! >= secondOf(f.takenAt)) spans.push([f.takenAt, end >= f.takenAt ? end : f.takenAt]);
  }
  return spans;
}

/** The reachable time closest to T, before or after it. */
function nearestTo(at: string, spans: [string, string][]): string | undefined {
  let best: { time: string; distance: number } | undefined;
  for (const [from, to] of spans) {
    const time = at < from ? from : at > to ? to : at;
    const distance = Math.abs(Date.parse(time) - Date.parse(at));
    if (!best || distance < best.distance) best = { time, distance };
  }
  return best?.time;
}

/**
 * An archive source's plan (rostrvm's voice, e-mail, SMS and chat archives): the closed archives
 * whose span holds T, each fetched and checked as shipped; refused, naming the nearest covered
 * time, when none does.
 */
function planArchives(all: ArtefactEntry[], opts: PlanOptions, at: string): RestorePlanResult {
  const from = (a: ArtefactEntry) => a.span?.from ?? a.takenAt;
  const to = (a: ArtefactEntry) => a.span?.to ?? a.takenAt;
  const spans = all.map((a): [string, string] => [from(a), to(a)]);
  if (at > opts.now.toISOString()) return refuse(at, 'in-future', `T (${at}) is in the future (now ${opts.now.toISOString()})`, nearestTo(at, spans));
  const covering = all.filter((a) => from(a) <= at && at <= to(a)).sort((a, b) => cmp(from(a), from(b)) || cmp(a.name, b.name) || cmp(a.artefactId, b.artefactId));
  if (covering.length === 0) return refuse(at, 'no-full', `no archive of ${opts.source ?? 'this source'} covers T (${at}): ${all.length} archive(s) offsite`, nearestTo(at, spans));
  return buildPlan(opts, at, secondOf(at), covering[0]!, [], covering.slice(1));
}

/** Plans the restore of one database to its state at T from its catalogued fulls and log segments (or, for an archive source, the archives covering T). */
export function planRestore(artefacts: ArtefactEntry[], opts: PlanOptions): RestorePlanResult {
  // A time without a zone means a different instant on every machine: refuse to guess.
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(opts.at.trim())) throw new InvalidInputError(`at must be an ISO 8601 date-time with a time zone (Z or ±hh:mm), got "${opts.at}"`);
  const at = normalizeIso(opts.at, 'at');
  const all = artefacts.map(normalized);
  if (all.length > 0 && all.every((a) => a.role === 'archive')) return planArchives(all, opts, at);
  // Fulls taken in the same instant (two databases' dumps stamped alike) in name order: the plan is the same whatever order the entries came in.
  const fulls = all.filter((a) => a.role === 'full').sort((a, b) => cmp(a.takenAt, b.takenAt) || cmp(a.name, b.name) || cmp(a.artefactId, b.artefactId));
  const index = new SegmentIndex(all.filter((a) => a.role === 'segment'));
  const what = opts.source ?? fulls[0]?.source ?? 'this source';
  const fullOnly = opts.fullOnly ?? false;
  const nearest = () => nearestTo(at, reachable(fulls, index, fullOnly));
  if (at > opts.now.toISOString()) return refuse(at, 'in-future', `T (${at}) is in the future (now ${opts.now.toISOString()})`, nearest());

  const candidates = fulls.filter((f) => f.takenAt <= at).reverse();
  const full = candidates[0];
  if (!full) {
    const first = fulls[0];
    const tail = first ? `; the first was taken at ${first.takenAt}` : '; none has been shipped';
    return refuse(at, 'no-full', `no full backup of ${what} was taken at or before T (${at})${tail}`, nearest());
  }
  const stopAt = secondOf(at);
  if (fullOnly) return buildPlan(opts, at, stopAt, full, [], otherSeries(candidates, full));
  const walkFrom = (f: ArtefactEntry) => {
    const s = startOf(f, index);
    return { full: f, s, w: s.start === undefined ? ({ chain: [], stop: 'missing' } as Walk) : walk(s.slots, s.start, stopAt, at) };
  };
  // The newest full normally decides; an older one helps only when the newest's chain is on
  // another series (binlogs reset since), so its refusal is the one reported. Older fulls are
  // walked only until one reaches T.
  const newest = walkFrom(full);
  let reached = newest.w.stop === 'reached' ? newest : undefined;
  for (const f of candidates.slice(1)) {
    if (reached) break;
    const c = walkFrom(f);
    if (c.w.stop === 'reached') reached = c;
  }
  if (!reached) {
    const refusal = chainRefusal(at, full, newest.s, newest.w);
    // Nothing shipped after the newest full (an idle database since it was taken): the full alone is its state at its time.
    if (refusal.code === 'after-last-event') refusal.reason += `; the newest full at or before T (taken at ${full.takenAt}) restores alone to its own time with --log-source none`;
    return { ...refusal, ...withNearest(nearest()) };
  }
  const p = buildPlan(opts, at, stopAt, reached.full, reached.w.chain);
  if (reached.w.wholeLastSecond) p.notes.push(`T is in the second after the last log event offsite (${reached.w.end}): every event shipped is applied; any the server logged after it are not offsite`);
  if (reached.full !== full) p.notes.unshift(`the newest full before T (taken at ${full.takenAt}) cannot reach T: ${chainRefusal(at, full, newest.s, newest.w).reason}`);
  return p;
}
