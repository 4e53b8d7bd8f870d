import type { FileStamp } from '../journal.ts';

// "Complete" for a file another program writes: its size and mtime stayed the same across a
// window measured on the agent's clock between scans (a file still being written, or copied
// in, keeps changing). The first-seen times are kept in the state directory (see
// state/observations.ts), so the window spans passes of different processes: an agent run
// from cron ships a backup once it has been stable across two runs.

/** A file dated this far past the agent's clock says the clocks disagree (it cannot settle until the clock passes it): recordings and backups alike. */
export const AHEAD_SLACK_MS = 60_000;

/** [size, mtimeMs, sinceMs]: a file's state and when it was first seen in that state. */
export type StabilityEntry = [number, number, number];

export class StabilityTracker {
  private readonly seen = new Map<string, { size: number; mtimeMs: number; sinceMs: number }>();

  static restore(entries: Record<string, StabilityEntry>): StabilityTracker {
    const t = new StabilityTracker();
    for (const [name, [size, mtimeMs, sinceMs]] of Object.entries(entries)) t.seen.set(name, { size, mtimeMs, sinceMs });
    return t;
  }

  snapshot(): Record<string, StabilityEntry> {
    return Object.fromEntries([...this.seen].map(([name, s]) => [name, [s.size, s.mtimeMs, s.sinceMs]]));
  }

  /** Records this scan; names not in it are forgotten. */
  observe(files: readonly FileStamp[], nowMs: number): void {
    const present = new Set<string>();
    for (const f of files) {
      present.add(f.name);
      const prev = this.seen.get(f.name);
      // A first sight dated after now was taken while the clock was ahead (NTP has set it back
      // since): counted from now, or the file would wait, silently, until the clock caught up.
      if (!prev || prev.size !== f.size || prev.mtimeMs !== f.mtimeMs || prev.sinceMs > nowMs) this.seen.set(f.name, { size: f.size, mtimeMs: f.mtimeMs, sinceMs: nowMs });
    }
    for (const name of [...this.seen.keys()]) if (!present.has(name)) this.seen.delete(name);
  }

  /** True when the file's current state was first seen at least `stableSeconds` ago and its mtime is at least `minAgeSeconds` old. */
  isStable(file: FileStamp, nowMs: number, stableSeconds: number, minAgeSeconds = 0): boolean {
    const s = this.seen.get(file.name);
    if (!s || s.size !== file.size || s.mtimeMs !== file.mtimeMs) return false;
    return nowMs - s.sinceMs >= stableSeconds * 1000 && nowMs - file.mtimeMs >= minAgeSeconds * 1000;
  }
}

/** Ready versions left unshipped at the end of the previous cycle that are gone now: lost. */
export function findLostVersions(previous: ReadonlyMap<string, FileStamp>, now: readonly FileStamp[], isShipped: (f: FileStamp) => boolean): FileStamp[] {
  const current = new Map(now.map((f) => [f.name, f]));
  return [...previous.values()].filter((p) => {
    const c = current.get(p.name);
    const same = c !== undefined && c.size === p.size && c.mtimeMs === p.mtimeMs;
    return !same && !isShipped(p);
  });
}

/**
 * Versions an earlier pass saw waiting (not yet judged complete: first seen `sinceMs`) that are
 * gone now and were never shipped: a backup the site removed or rotated away before two passes
 * could find it unchanged. Left out: the ready versions findLostVersions reports (`reported`),
 * content still there under another name (a file of this scan with the same size and mtime: a
 * rename), and versions that were still being written when last seen (modified within
 * `stableMs` of their first sight: a partial file a failed job cleaned up is not a backup).
 */
export function vanishedUnjudged(seen: Readonly<Record<string, StabilityEntry>>, now: readonly FileStamp[], o: { stableMs: number; isShipped: (f: FileStamp) => boolean; reported: ReadonlySet<string> }): (FileStamp & { sinceMs: number })[] {
  const names = new Set(now.map((f) => f.name));
  const contents = new Set(now.map((f) => `${f.size}:${f.mtimeMs}`));
  const out: (FileStamp & { sinceMs: number })[] = [];
  for (const [name, [size, mtimeMs, sinceMs]] of Object.entries(seen)) {
    const f = { name, size, mtimeMs };
    if (names.has(name) || o.reported.has(name) || contents.has(`${size}:${mtimeMs}`) || o.isShipped(f)) continue;
    if (sinceMs - mtimeMs >= o.stableMs) out.push({ ...f, sinceMs });
  }
  return out;
}
