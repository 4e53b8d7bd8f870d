import type { BlobStore } from '../../core/ports.ts';
import type { Clock } from '../../core/clock.ts';
import type { TreeSourceConfig } from '../../core/config.ts';
import type { TreeSnapshotManifest } from '../../core/tree-manifest.ts';
import type { ShippedBy } from '../../core/manifest.ts';
import type { PartPool } from '../part-pool.ts';
import type { VerifyMode } from '../verify.ts';
import type { Logger } from '../log.ts';
import type { ReadAheadOptions } from './read-ahead.ts';
import type { OpenTreeFile, OpenTreeFileSync } from './read-file.ts';
import type { ReadTreeDir } from './walk.ts';

// What one snapshot of a tree source is given (snapshot.ts), and what it gives back.

export interface TreeSnapshotContext {
  site: string;
  source: TreeSourceConfig;
  store: BlobStore;
  clock: Clock;
  verify: VerifyMode;
  /** The agent's state directory. */
  state: string;
  /** Who takes the snapshot (agent/shipped-by.ts): its manifest says so. */
  shippedBy?: ShippedBy;
  partSize: number;
  partConcurrency: number;
  pool?: PartPool;
  log?: Logger;
  /** Times a file that changes while it is read is read again before it is reported. */
  readAttempts?: number;
  /** Pause before reading a changed file again (ms). */
  retryDelayMs?: number;
  /**
   * Opens files and lists directories of the tree; tests inject failures here. `now`: the wall
   * clock (ms) the tree's ctimes are compared with (SETTLED_MS); tests move it.
   */
  fs?: { open?: OpenTreeFile; openSync?: OpenTreeFileSync; readdir?: ReadTreeDir; now?: () => number };
  /** Walk the tree on the snapshot's own thread (walk.ts) rather than on one of its own (walk-ahead.ts): tests and comparisons. */
  walkOnThisThread?: boolean;
  /** When and how files are read ahead of the snapshot's own reads (read-ahead.ts); tests tune it. */
  readAhead?: ReadAheadOptions;
}

export interface TreeSnapshotResult {
  manifest: TreeSnapshotManifest;
  manifestKey: string;
  /** Files read ahead because the tree was read from disk (read-ahead.ts). */
  readAhead: number;
  /** rewrittenPathHash of each file rewritten in place since the last snapshot (slow-change.ts). */
  rewritten: readonly number[];
}
