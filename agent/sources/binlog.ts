import type { BinlogSourceConfig } from '../../core/config.ts';
import type { ArtefactWork, Span } from '../ship-artefact.ts';
import type { ArtefactRecord } from '../artefact-ledger.ts';
import type { SiteFile } from './files.ts';

// Numbered binlog segments (`mysql-bin.000123`, rostrvm's `rtmbinlog.000123`). Every segment
// but the active one is closed and immutable: closed segments ship in ascending order, at once.
// The active segment — the highest number, or the last line of the index file — ships as a
// *partial* (a prefix snapshot) when it has grown and the partial interval has passed; when it
// closes, the final segment ships and the catalogue prefers it. A number missing between the
// lowest seen (on disk or shipped) and the highest is a gap: point-in-time restore cannot cross
// it. It is reported, never filled.

export interface Segment extends SiteFile {
  sequence: number;
}

export interface Gap {
  /** First and last missing sequence numbers (inclusive). */
  from: number;
  to: number;
}

const SEGMENT_NAME = /^(.+)\.(\d{6,})$/;
/** Numbered files in a data directory that are not binlogs (Aria and InnoDB logs, relay logs). */
const NOT_BINLOG = /^(aria_log|ib_logfile|ibtmp|undo)|relay/i;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The segment series in a directory: the configured base name, or the only one there is. */
export function detectBasename(names: readonly string[], configured?: string): { basename: string } | { problem: string } {
  if (configured) return { basename: configured };
  const candidates = [...new Set(names.flatMap((n) => SEGMENT_NAME.exec(n)?.[1] ?? []))].filter((b) => !NOT_BINLOG.test(b)).sort();
  const indexed = candidates.filter((b) => names.includes(`${b}.index`));
  if (indexed.length === 1) return { basename: indexed[0] as string };
  if (candidates.length === 1) return { basename: candidates[0] as string };
  if (candidates.length === 0) return { problem: 'no binlog segments found (files named like mysql-bin.000001); check path, or set basename' };
  return { problem: `several segment series found (${candidates.join(', ')}); set basename to the one to ship` };
}

export function segmentSelector(basename: string): (name: string) => boolean {
  const re = new RegExp(`^${escape(basename)}\\.\\d{6,}$`);
  return (name) => re.test(name);
}

export function sequenceOf(name: string): number {
  return Number(SEGMENT_NAME.exec(name)?.[2] ?? Number.NaN);
}

/** Sequences an index file lists (lines are paths, `./mysql-bin.000001` or `.\rtmbinlog.000001`). */
export function parseIndex(text: string, basename: string): number[] {
  const select = segmentSelector(basename);
  return text
    .split(/\r?\n/)
    .map((l) => l.trim().split(/[\\/]/).pop() ?? '')
    .filter(select)
    .map(sequenceOf);
}

/** Missing numbers between the lowest and highest known (on disk or shipped), as ranges. */
export function findGaps(known: Iterable<number>): Gap[] {
  const sorted = [...new Set(known)].sort((a, b) => a - b);
  const gaps: Gap[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as number;
    const b = sorted[i] as number;
    if (b > a + 1) gaps.push({ from: a + 1, to: b - 1 });
  }
  return gaps;
}

export interface BinlogLedger {
  shipped(name: string, size: number, mtimeMs: number, partial?: boolean): ArtefactRecord | undefined;
  lastPartial(name: string): ArtefactRecord | undefined;
  /** Sequences shipped as final segments (including ones the site has since purged), and those shipped only as partial snapshots. */
  shippedSequences(): number[];
  /** Sequences shipped only as partial snapshots that the site has since purged: their closed segment never went offsite (in a gap). */
  purgedPartials?(): number[];
}

/** `gaps` with each purged partial-only segment in it: joined to the gap beside it, or a gap of its own. */
export function withPurgedPartials(gaps: Gap[], purged: readonly number[]): Gap[] {
  const missing = new Set<number>(purged);
  for (const g of gaps) for (let n = g.from; n <= g.to; n++) missing.add(n);
  return runsOf([...missing].sort((a, b) => a - b));
}

function runsOf(sorted: number[]): Gap[] {
  const out: Gap[] = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last.to + 1) last.to = n;
    else out.push({ from: n, to: n });
  }
  return out;
}

export interface BinlogPlan {
  ready: ArtefactWork[];
  /** Closed segments not shipped yet (all of them are ready; they wait only for their turn). */
  waiting: Segment[];
  active?: Segment;
  gaps: Gap[];
}

function fallbackSpan(seg: Segment, previous: Segment | undefined): Span {
  // The previous segment closed when this one opened; else the creation time where known.
  const opened = previous?.mtimeMs ?? (seg.birthtimeMs > 0 ? seg.birthtimeMs : seg.mtimeMs);
  return { from: new Date(Math.min(opened, seg.mtimeMs)), to: new Date(seg.mtimeMs) };
}

export function planBinlog(source: BinlogSourceConfig, basename: string, files: readonly SiteFile[], indexed: readonly number[] | undefined, ledger: BinlogLedger, nowMs: number): BinlogPlan {
  const segments = files.map((f) => ({ ...f, sequence: sequenceOf(f.name) })).sort((a, b) => a.sequence - b.sequence);
  const gaps = withPurgedPartials(findGaps([...segments.map((s) => s.sequence), ...ledger.shippedSequences()]), ledger.purgedPartials?.() ?? []);
  const active = segments.at(-1);
  if (!active) return { ready: [], waiting: [], gaps };
  // While the server rotates, a new file may exist before the index lists it: the lower of the two is still open.
  const lastIndexed = indexed && indexed.length > 0 ? Math.max(...indexed) : active.sequence;
  const closedBelow = Math.min(active.sequence, lastIndexed);
  const work = (seg: Segment, partial: boolean, i: number): ArtefactWork => ({
    sourceType: 'binlog',
    source: source.name,
    root: source.path,
    stamp: { name: seg.name, size: seg.size, mtimeMs: seg.mtimeMs },
    role: 'segment',
    partial,
    sequence: seg.sequence,
    series: basename,
    binlog: { fallback: fallbackSpan(seg, segments[i - 1]) },
    ...(partial && source.partialLockDays > 0 ? { lock: { days: source.partialLockDays, mode: source.partialLockMode === 'compliance' ? ('COMPLIANCE' as const) : ('GOVERNANCE' as const) } } : {}),
  });
  const ready: ArtefactWork[] = [];
  const waiting: Segment[] = [];
  segments.forEach((seg, i) => {
    if (seg.sequence >= closedBelow || ledger.shipped(seg.name, seg.size, seg.mtimeMs)) return;
    waiting.push(seg);
    ready.push(work(seg, false, i));
  });
  if (source.partialIntervalSeconds > 0 && active.sequence === closedBelow) {
    const last = ledger.lastPartial(active.name);
    const grown = active.size > (last?.size ?? 0);
    // A last partial dated ahead of the clock (the clock was fast, then set right) holds nothing back.
    const since = last ? nowMs - Date.parse(last.at) : Infinity;
    const due = since < 0 || since >= source.partialIntervalSeconds * 1000;
    if (grown && due) ready.push(work(active, true, segments.length - 1));
  }
  return { ready, waiting, active, gaps };
}
