import type { ArtefactEntry } from './ports.ts';

// Which backups of a source a restore plan takes besides its full, and the names they get on
// the restoring machine's disk (core/restore-plan.ts).

/** Each artefact's local file name: its base name, prefixed with its id when two would clash. */
export function localNames(entries: ArtefactEntry[]): string[] {
  const bases = entries.map((e) => e.name.split(/[\\/]/).pop() ?? e.name);
  return bases.map((b, i) => (bases.indexOf(b) !== i ? `${entries[i]!.artefactId}-${b}` : b));
}

/**
 * The series a backup's name belongs to: its name with every run of digits of a date, a time or
 * a counter as one, so that the dated or numbered rotations of one dump (`full-20260301.sql`,
 * `full-20260302.sql`, `rtc.bak.1`) are one series, and two databases' dumps (`rtc_full.bak`,
 * `rtcconfig_full.bak`) are two. A run of four digits or more, or one set apart by separators,
 * is a rotation's; fewer digits written into a word name a server or a database
 * (`ocspool1server1.litware.com.xml`, `ocspool1server2.litware.com.xml`, `sql01_rtc.bak`): each
 * such name is a series of its own.
 */
export function seriesOf(name: string): string {
  return name.replace(/\d+/g, (run: string, offset: number) => {
    if (run.length >= 4) return '#';
    const beside = `${name[offset - 1] ?? ''}${name[offset + run.length] ?? ''}`;
    return /\p{L}/u.test(beside) ? run : '#';
  });
}

/** The newest full at or before T of each series other than `full`'s, oldest first (`candidates`: newest first). */
export function otherSeries(candidates: ArtefactEntry[], full: ArtefactEntry): ArtefactEntry[] {
  const newest = new Map<string, ArtefactEntry>();
  for (const f of candidates) if (!newest.has(seriesOf(f.name))) newest.set(seriesOf(f.name), f);
  newest.delete(seriesOf(full.name));
  return [...newest.values()].reverse();
}
