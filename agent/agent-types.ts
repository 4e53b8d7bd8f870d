import type { ShipRate } from './ship-rate.ts';
import type { AgentConfig } from '../core/config.ts';
import type { BlobStore, Notifier } from '../core/ports.ts';
import type { Clock } from '../core/clock.ts';
import type { JournalSync, Totals } from './journal.ts';
import type { Logger } from './log.ts';
import type { Backlog } from './sources/recordings.ts';
import type { ShipContext } from './ship-batch.ts';
import type { VerifyMode } from './verify.ts';
import type { PassHeartbeatTimer } from './pass-heartbeat.ts';
import type { ArtefactSourceStatus } from './artefact-runner.ts';
import type { TreeSourceStatus } from './sources/tree.ts';
import type { LossEntry } from './state/loss-log.ts';
import type { AlertState } from './state/alert-book.ts';

// The shapes the agent takes and gives: its dependencies, one pass's report and outcome, each
// source's status, and `status.json`. Kept apart from the Agent so that the pass's parts
// (recordings-pass, ship-recordings) and the readers (cli, metrics) share them without a cycle.

export interface AgentDeps {
  config: AgentConfig;
  store: BlobStore;
  /** Where `store` is (`s3://bucket`, with ` at ENDPOINT` off AWS): remembered in the state directory, a change alerted. */
  target?: string;
  clock: Clock;
  log: Logger;
  notifier: Notifier;
  verify: VerifyMode;
  agentVersion?: string;
  /** Delay before retry n (1-based); tests shorten it. */
  retryDelayMs?: (attempt: number) => number;
  onProgress?: (p: Progress) => void;
  /** Opens source files (tests inject failures here). */
  openFile?: ShipContext['openFile'];
  /** Makes the journal's appended lines durable (fdatasync by default; tests stop a process there). */
  syncJournal?: JournalSync;
  /** Called after every pass with each source's share of it (the metrics server listens here). */
  onPass?: (pass: PassOutcome) => void;
  /** Starts a pass's mid-pass heartbeats (agent/pass-heartbeat.ts; every HEARTBEAT_MIN_SECONDS by default): tests beat by hand. */
  passHeartbeatTimer?: PassHeartbeatTimer;
}

/** One source's share of a pass. */
export interface SourcePass {
  source: string;
  type: SourceStatus['type'];
  packs: number;
  bytes: number;
  artefacts: number;
  failed: number;
  lost: number;
  status: SourceStatus;
}

export interface PassOutcome {
  at: Date;
  sources: SourcePass[];
  /** Set when the pass threw (it is retried next poll). */
  error?: string;
}

export interface Progress {
  phase: 'scan' | 'ship' | 'done';
  packsDone: number;
  packsTotal: number;
  recordings: number;
  bytes: number;
}

export interface RecordingsSourceStatus {
  name: string;
  type: 'recordings';
  backlog: Backlog;
  lastScan: string;
  /** Why the source could not be scanned, when it could not. */
  problem?: string;
  /** The last pack manifest this source published in the pass (the heartbeat's lastGood). */
  lastManifest?: string;
}

export type SourceStatus = RecordingsSourceStatus | ArtefactSourceStatus | TreeSourceStatus;

/** `status.json` in the state directory: written by the agent after every pass, read by `agent status`. */
export interface AgentStatusFile {
  site: string;
  updatedAt: string;
  pid: number;
  totals: Totals & { lostArtefacts: number };
  sources: SourceStatus[];
  lastCycle?: Omit<CycleReport, 'sources' | 'manifests'>;
  inflight: number;
  /** The last ten losses, each with its first RECENT_LOSS_PATHS files and, when it has more, how many in `filesInAll`. */
  recentLosses: Array<LossEntry & { filesInAll?: number }>;
  /** Loss records in the loss log (`agent status --losses` lists them all). */
  lossRecords: number;
  openAlerts: AlertState[];
  lastError?: string;
  /** Recordings' bytes shipped over the last few minutes up to this pass (agent/ship-rate.ts). */
  shipRate?: ShipRate;
  /** The pass this file reports, as pass.json marked its start (status.json only; absent from agents before it). */
  pass?: { startedAt: string; pid: number };
}

export interface CycleReport {
  packs: number;
  recordings: number;
  bytes: number;
  failed: number;
  lost: number;
  /** Artefacts published (backups, segments and partials, archives) and their bytes. */
  artefacts: number;
  artefactBytes: number;
  /** Packs found already offsite (an earlier state directory shipped them) and not sent again: not in packs, recordings, bytes. */
  found?: { packs: number; recordings: number; bytes: number };
  sources: SourceStatus[];
  /** Manifest keys published in this cycle (a backup window verifies each). */
  manifests: string[];
  /** Uploads the line stopped, left open for the next run to go on with (`source/name: stopped at … of …: the line failed`). */
  kept?: string[];
  /** Recordings were left for the next pass when this pass's time slice ran out (the next pass starts at once). */
  more?: boolean;
}

/** A report with nothing in it yet. */
export function emptyReport(): CycleReport {
  return { packs: 0, recordings: 0, bytes: 0, failed: 0, lost: 0, artefacts: 0, artefactBytes: 0, sources: [], manifests: [] };
}

/** Adds `r`'s counts, manifests and sources to `into` (and its `more`). */
export function mergeReport(into: CycleReport, r: CycleReport): void {
  into.packs += r.packs;
  into.recordings += r.recordings;
  into.bytes += r.bytes;
  into.failed += r.failed;
  into.lost += r.lost;
  into.artefacts += r.artefacts;
  into.artefactBytes += r.artefactBytes;
  if (r.found) {
    const f = (into.found ??= { packs: 0, recordings: 0, bytes: 0 });
    f.packs += r.found.packs;
    f.recordings += r.found.recordings;
    f.bytes += r.found.bytes;
  }
  into.manifests.push(...r.manifests);
  into.sources.push(...r.sources);
  if (r.more) into.more = true;
  if (r.kept) (into.kept ??= []).push(...r.kept);
}
