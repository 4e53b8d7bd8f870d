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
  /** The break is the end of a run of the server's numbering (`RESET MASTER`, a new server): `logChains`. */
  restarted?: true;
}

const endOf = (a: ArtefactEntry) => a.span?.to ?? a.takenAt;
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const secondOf = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** `items` grouped by `key`, in their order (one array a group, appended to, never copied). */
export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/**
 * The segments of one series cut into chains, oldest first: one chain a run of the server's
 * numbering. `RESET MASTER`, a new server or one restored from a backup writes
 * `mysql-bin.000001` again, and the catalogue then holds two segments under one name. In time
 * order (a segment's last event: a closed segment ends with its rotation, so closed segments of
 * one chain end in the order of their numbers), a number lower than one already seen, or a
 * second closed segment of one number, starts a new chain. A partial snapshot belongs to the
 * chain running when it was taken. Sequence numbers alone would join the two runs into one chain
 * and a restore would replay the other run's segment under the same name.
 */
export function logChains(segments: ArtefactEntry[]): ArtefactEntry[][] {
  const sorted = segments.filter((s) => s.sequence !== undefined).sort((a, b) => cmp(endOf(a), endOf(b)) || a.sequence! - b.sequence! || Number(Boolean(b.partial)) - Number(Boolean(a.partial)));
  const chains: ArtefactEntry[][] = [];
  let chain: ArtefactEntry[] = [];
  let top = -1;
  const finals = new Set<number>();
  const partials = new Map<number, ArtefactEntry>();
  for (const s of sorted) {
    // A partial snapshot is a prefix of its closed segment: both start with the same event. A
    // closed segment (or a later snapshot) that starts elsewhere is another file under that
    // name (RESET MASTER while the server was still writing it).
    const prefix = partials.get(s.sequence!);
    const elsewhere = prefix?.span !== undefined && s.span !== undefined && secondOf(prefix.span.from) !== secondOf(s.span.from);
    const again = s.sequence! < top || (!s.partial && finals.has(s.sequence!)) || elsewhere;
    if (again) {
      chains.push(chain);
      chain = [];
      top = -1;
      finals.clear();
      partials.clear();
    }
    chain.push(s);
    top = Math.max(top, s.sequence!);
    if (!s.partial) finals.add(s.sequence!);
    else partials.set(s.sequence!, s);
  }
  if (chain.length > 0) chains.push(chain);
  return chains;
}

/** The chains of each series of a source's segments (`logChains`), series by series. */
export function logChainsBySeries(segments: ArtefactEntry[]): Map<string, ArtefactEntry[][]> {
  return new Map([...groupBy(segments.filter((s) => s.sequence !== undefined), (s) => s.series ?? '')].map(([series, list]) => [series, logChains(list)]));
}

/**
 * The breaks in a log source's chain that came to light in [start, end): the closed segment after
 * the break arrived then, so a break is reported on the day it is seen, not every day after.
 */
export function logGapsOf(source: string, segments: ArtefactEntry[], start: number, end: number): LogGap[] {
  const gaps: LogGap[] = [];
  const when = (a: ArtefactEntry) => Date.parse(a.createdAt) >= start && Date.parse(a.createdAt) < end;
  for (const [series, chains] of logChainsBySeries(segments)) {
    const name = (n: number) => segmentName(series || undefined, n);
    chains.forEach((list, c) => {
      const closed = new Map<number, ArtefactEntry>();
      const partial = new Map<number, ArtefactEntry>();
      for (const s of list) (s.partial ? partial : closed).set(s.sequence!, s);
      let before: ArtefactEntry | undefined;
      for (const [seq, final] of [...closed].sort((a, b) => a[0] - b[0])) {
        if (before && before.sequence! < seq - 1 && when(final)) {
          const from = before.sequence! + 1;
          const missing = Array.from({ length: seq - from }, (_, i) => from + i);
          // Events of the first missing segment that a partial snapshot shipped are still reachable.
          const lastEventBefore = endOf(partial.get(from) ?? before);
          gaps.push({ source, first: name(from), last: name(seq - 1), partialOnly: missing.filter((n) => partial.has(n)).map(name), lastEventBefore });
        }
        before = final;
      }
      // The numbering restarted after this chain: segments of its end offsite only as partial
      // snapshots never closed offsite. Seen on the day the next chain's first closed segment arrived.
      const next = chains[c + 1]?.find((s) => !s.partial);
      const top = Math.max(...list.map((s) => s.sequence!));
      const open = [...partial.keys()].filter((n) => n > (before?.sequence ?? -1)).sort((a, b) => a - b);
      if (next && open.length > 0 && when(next)) {
        gaps.push({ source, first: name(open[0]!), last: name(top), partialOnly: open.map(name), lastEventBefore: endOf(partial.get(open[0]!)!), restarted: true });
      }
    });
  }
  return gaps;
}
