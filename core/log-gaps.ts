import type { ArtefactEntry } from './ports.ts';

// Breaks in a binlog source's chain as the catalogue shows them, for the daily report: runs of
// sequence numbers with no closed segment offsite between two that are. A point in time after
// such a break cannot be reached from a full taken before it.

/** A segment's name as the server writes it (`mysql-bin.000003`), from its series and sequence. */
export const segmentName = (series: string | undefined, n: number) => `${series ?? 'segment'}.${String(n).padStart(6, '0')}`;

/** Log segments of one source that never went offsite (or only as partial snapshots) while later ones did. */
export interface LogGap {
  source: string;
  /** The first and last segment missing, by name (`mysql-bin.000003`). */
  first: string;
  last: string;
  /** Of those, the ones offsite only as a partial snapshot. */
  partialOnly: string[];
  /** The last event shipped before the break: no point in time after it is reachable from an earlier full. */
  lastEventBefore: string;
}

const endOf = (a: ArtefactEntry) => a.span?.to ?? a.takenAt;

/**
 * The breaks in a log source's chain that came to light in [start, end): the closed segment after
 * the break arrived then, so a break is reported on the day it is seen, not every day after.
 */
export function logGapsOf(source: string, segments: ArtefactEntry[], start: number, end: number): LogGap[] {
  const gaps: LogGap[] = [];
  const bySeries = new Map<string, ArtefactEntry[]>();
  for (const s of segments) if (s.sequence !== undefined) bySeries.set(s.series ?? '', [...(bySeries.get(s.series ?? '') ?? []), s]);
  for (const [series, list] of bySeries) {
    const name = (n: number) => segmentName(series || undefined, n);
    const closed = new Map<number, ArtefactEntry>();
    const partial = new Map<number, ArtefactEntry>();
    for (const s of list) (s.partial ? partial : closed).set(s.sequence!, s);
    let before: ArtefactEntry | undefined;
    for (const [seq, final] of [...closed].sort((a, b) => a[0] - b[0])) {
      const createdAt = Date.parse(final.createdAt);
      if (before && before.sequence! < seq - 1 && createdAt >= start && createdAt < end) {
        const from = before.sequence! + 1;
        const missing = Array.from({ length: seq - from }, (_, i) => from + i);
        // Events of the first missing segment that a partial snapshot shipped are still reachable.
        const lastEventBefore = endOf(partial.get(from) ?? before);
        gaps.push({ source, first: name(from), last: name(seq - 1), partialOnly: missing.filter((n) => partial.has(n)).map(name), lastEventBefore });
      }
      before = final;
    }
  }
  return gaps;
}
