import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { batchDirName, generateBatches, type GenerateOptions, type GeneratedRecording } from './site.ts';

// A recorder that behaves like ContactStore on a nearly full disk: it writes batch after batch
// and, to make room, deletes the OLDEST batch directory (lowest batch number) with everything
// in it — whether or not anyone has copied it yet. That race is what the agent must win.

export interface RecorderOptions {
  root: string;
  /** Keep at most this many batch directories. */
  keepBatches?: number;
  /** Keep the batches' total size at most this many bytes (the newest batch always stays). */
  maxBytes?: number;
  perBatch?: number;
  seconds?: GenerateOptions['seconds'];
  seed?: number;
  /** First call's start (default 2024-03-25T08:00:00Z, fixed so runs are reproducible). */
  start?: Date;
  sidecar?: 'xml' | 'json';
  oddNames?: boolean;
  timezone?: string;
  /** Number of the first batch when the root holds none (default 1). */
  firstBatch?: number;
  bank?: GenerateOptions['bank'];
}

export interface RecorderState {
  /** Batch directory names, oldest first. */
  batches: string[];
  /** Total bytes of the files in them. */
  bytes: number;
}

export interface WrittenBatch {
  batch: number;
  dir: string;
  recordings: GeneratedRecording[];
  /** Batches deleted afterwards to stay within keepBatches / maxBytes. */
  evicted: string[];
}

const BATCH_NAME = /^\d+$/;

export class SimulatedRecorder {
  private nextStart: number;
  private lastBatch: number | undefined;

  constructor(private readonly opts: RecorderOptions) {
    this.nextStart = (opts.start ?? new Date('2024-03-25T08:00:00Z')).getTime();
  }

  get root(): string {
    return this.opts.root;
  }

  /** Batch directory names in the root, oldest (lowest number) first; other entries are ignored. */
  async batches(): Promise<string[]> {
    let entries;
    try {
      entries = await readdir(this.opts.root, { withFileTypes: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    return entries
      .filter((e) => e.isDirectory() && BATCH_NAME.test(e.name))
      .map((e) => e.name)
      .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  }

  async state(): Promise<RecorderState> {
    const batches = await this.batches();
    let bytes = 0;
    for (const b of batches) {
      for (const f of await readdir(join(this.opts.root, b), { withFileTypes: true }).catch(() => [])) {
        if (f.isFile()) bytes += (await stat(join(this.opts.root, b, f.name)).catch(() => ({ size: 0 }))).size;
      }
    }
    return { batches, bytes };
  }

  /** Writes the next batch (file by file), then evicts to stay within the limits. */
  async writeBatch(overrides: Partial<Pick<GenerateOptions, 'perBatch' | 'seconds' | 'oddNames' | 'sidecar' | 'onFile'>> = {}): Promise<WrittenBatch> {
    const existing = await this.batches();
    const newest = existing.length > 0 ? Number(existing[existing.length - 1]) : undefined;
    const batch = Math.max(newest ?? -Infinity, this.lastBatch ?? -Infinity) + 1;
    const number = Number.isFinite(batch) ? batch : (this.opts.firstBatch ?? 1);
    const recordings = await generateBatches({
      root: this.opts.root,
      firstBatch: number,
      batches: 1,
      perBatch: overrides.perBatch ?? this.opts.perBatch ?? 100,
      seconds: overrides.seconds ?? this.opts.seconds,
      start: new Date(this.nextStart),
      seed: this.opts.seed ?? 1,
      sidecar: overrides.sidecar ?? this.opts.sidecar,
      oddNames: overrides.oddNames ?? this.opts.oddNames,
      timezone: this.opts.timezone,
      bank: this.opts.bank,
      onFile: overrides.onFile,
    });
    this.lastBatch = number;
    const last = recordings[recordings.length - 1];
    if (last) this.nextStart = Date.parse(last.metadata.start) + 60_000;
    return { batch: number, dir: batchDirName(number), recordings, evicted: await this.enforceLimits() };
  }

  /** Deletes the oldest batch directory and everything in it; undefined when there is none. */
  async evictOldest(): Promise<string | undefined> {
    const [oldest] = await this.batches();
    if (oldest === undefined) return undefined;
    await rm(join(this.opts.root, oldest), { recursive: true, force: true });
    return oldest;
  }

  /** Evicts oldest batches until `done` holds (checked before each eviction) or none is left. */
  async evictUntil(done: (state: RecorderState) => boolean | Promise<boolean>): Promise<string[]> {
    const evicted: string[] = [];
    for (;;) {
      const state = await this.state();
      if (state.batches.length === 0 || (await done(state))) return evicted;
      const name = await this.evictOldest();
      if (name === undefined) return evicted;
      evicted.push(name);
    }
  }

  /** Applies keepBatches and maxBytes, never deleting the newest batch. */
  enforceLimits(): Promise<string[]> {
    const { keepBatches, maxBytes } = this.opts;
    if (keepBatches === undefined && maxBytes === undefined) return Promise.resolve([]);
    return this.evictUntil(
      (s) => s.batches.length <= 1 || ((keepBatches === undefined || s.batches.length <= keepBatches) && (maxBytes === undefined || s.bytes <= maxBytes)),
    );
  }
}
