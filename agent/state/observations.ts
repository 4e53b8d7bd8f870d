import { join } from 'node:path';
import type { FileStamp } from '../journal.ts';
import { StabilityTracker, type StabilityEntry } from '../sources/stability.ts';
import { readJsonFile, writeFileAtomic } from './atomic-file.ts';

// What the agent saw of each source, kept in the state directory so that every conclusion
// drawn from two observations (a file stable for `stableSeconds`, a pending recording that is
// gone now, a ready backup overwritten before it shipped) holds across passes of different
// processes: a cron-driven `--once`, a restart, a `kill -9`. Rewritten atomically at the end of
// each source's pass; a crash before that leaves the previous observation, which at worst makes
// a file wait one more window and finds the same losses again (the loss log records each once).

interface SourceFile {
  /** Recordings: batch → listing of the files seen and not shipped ("name\tsize\tmtime", NUL-separated). */
  pending?: Record<string, string>;
  /** Recordings: how many batch directories the last scan found (an empty root after that is suspicious). */
  batchesSeen?: number;
  /** When the source was last scanned successfully. */
  lastScan?: string;
  /** Artefacts: first-seen times of each file's current state, [size, mtimeMs, sinceMs]. */
  stability?: Record<string, StabilityEntry>;
  /** Artefacts: complete versions not shipped at the end of the last pass, [size, mtimeMs]. */
  readyUnshipped?: Record<string, [number, number]>;
}

interface ObservationsFile {
  format: 1;
  sources: Record<string, SourceFile>;
}

const SEP = '\0';
const encode = (files: readonly FileStamp[]) => files.map((f) => `${f.name}\t${f.size}\t${Math.trunc(f.mtimeMs)}`).join(SEP);
function decode(text: string): FileStamp[] {
  if (text === '') return [];
  return text.split(SEP).map((item) => {
    const [name = '', size = '0', mtime = '0'] = item.split('\t');
    return { name, size: Number(size), mtimeMs: Number(mtime) };
  });
}

export interface PendingView {
  batches: Map<string, FileStamp[]>;
  batchesSeen: number;
  lastScan?: string;
}

export class Observations {
  private readonly file: string;
  private readonly sources: Record<string, SourceFile>;
  private readonly trackers = new Map<string, StabilityTracker>();

  constructor(directory: string) {
    this.file = join(directory, 'observations.json');
    this.sources = readJsonFile<ObservationsFile>(this.file)?.sources ?? {};
  }

  private of(source: string): SourceFile {
    return (this.sources[source] ??= {});
  }

  /** The recordings seen and not shipped at the last pass of any process (empty before the first). */
  pending(source: string): PendingView | undefined {
    const s = this.sources[source];
    if (!s?.pending) return undefined;
    return { batches: new Map(Object.entries(s.pending).map(([b, list]) => [b, decode(list)])), batchesSeen: s.batchesSeen ?? 0, lastScan: s.lastScan };
  }

  setPending(source: string, batches: ReadonlyMap<string, readonly FileStamp[]>, batchesSeen: number, at: Date): void {
    const s = this.of(source);
    s.pending = Object.fromEntries([...batches].map(([b, files]) => [b, encode(files)]));
    s.batchesSeen = batchesSeen;
    s.lastScan = at.toISOString();
  }

  /** The source's stability tracker, restored from the last pass; `save()` keeps its changes. */
  stability(source: string): StabilityTracker {
    let t = this.trackers.get(source);
    if (!t) {
      t = StabilityTracker.restore(this.sources[source]?.stability ?? {});
      this.trackers.set(source, t);
    }
    return t;
  }

  readyUnshipped(source: string): Map<string, FileStamp> {
    const saved = this.sources[source]?.readyUnshipped ?? {};
    return new Map(Object.entries(saved).map(([name, [size, mtimeMs]]) => [name, { name, size, mtimeMs }]));
  }

  setReadyUnshipped(source: string, files: ReadonlyMap<string, FileStamp>, at: Date): void {
    const s = this.of(source);
    s.readyUnshipped = Object.fromEntries([...files.values()].map((f) => [f.name, [f.size, Math.trunc(f.mtimeMs)]]));
    s.lastScan = at.toISOString();
  }

  /** When the source was last scanned by any process. */
  lastScan(source: string): string | undefined {
    return this.sources[source]?.lastScan;
  }

  /** Writes everything observed so far, atomically. */
  save(): void {
    for (const [source, t] of this.trackers) this.of(source).stability = t.snapshot();
    writeFileAtomic(this.file, JSON.stringify({ format: 1, sources: this.sources } satisfies ObservationsFile));
  }
}
