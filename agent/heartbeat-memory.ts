import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Heartbeat } from '../core/fleet.ts';
import type { Logger } from './log.ts';
import { readJsonFile, writeFileAtomic } from './state/atomic-file.ts';

// `heartbeat.json` in the state directory: what the agent's heartbeats remember from one pass to
// the next (a cron pass is a process of its own). Written by the end-of-pass heartbeat
// (agent/heartbeat.ts), which alone measures the write rate, and by the heartbeats written while
// a pass runs (agent/pass-heartbeat.ts), which only add their times to `recent` and mark
// themselves (`midPass`): never both at once (the pass awaits a mid-pass one before its own).

/** Another agent's heartbeat this recent, under this site's name, means two agents ship as one site. */
export const SHARED_SITE_WINDOW_MS = 3600_000;
/**
 * How many of its own heartbeats' times an agent keeps (heartbeat.json `recent`): more than the
 * window above can hold at one a minute (cron's finest), whatever the clock did in between.
 */
const RECENT_OWN_KEPT = 120;

/** The newest RECENT_OWN_KEPT times, and every one within the window (and its slack) of `now`, before or after it. */
export function keptOwnTimes(times: readonly string[], now: number): string[] {
  const window = SHARED_SITE_WINDOW_MS + 5 * 60_000;
  return times.filter((at, i) => i >= times.length - RECENT_OWN_KEPT || Math.abs(Date.parse(at) - now) <= window);
}

export interface SourceMemory {
  /** Bytes seen at the source so far (shipped + backlog) at the last pass, and when. */
  seenBytes?: number;
  seenAt?: string;
  /** Backlog bytes at the last pass. */
  backlogBytes?: number;
  /** Bytes per second, smoothed. */
  rate?: number;
  lastGood?: { at: string; key: string };
  /** Why the source could not be scanned at the last pass that ended: a mid-pass heartbeat still says so. */
  problem?: string;
}

export interface HeartbeatMemory {
  /** This agent's id (made once, kept here): its heartbeats say who wrote them. */
  agentId?: string;
  lastWritten?: string;
  /** When this agent wrote its heartbeats of the last hour (ISO): its own, among the site's (newestOther). */
  recent?: string[];
  /**
   * Since when `recent` is kept (this memory made, or an agent of an earlier version upgraded):
   * a heartbeat older than that of this agent's id, or of this host and state directory, is its
   * own, not another agent's.
   */
  recentSince?: string;
  /** The losses (count) and the failures of the pass the last written heartbeat carried. */
  lastLosses?: number;
  /** The keys of the open alerts the last written heartbeat carried. */
  lastAlerts?: string[];
  /** When this agent's last daily heartbeat (`heartbeats-daily/`) was written: one a UTC day. */
  lastDaily?: string;
  lastFailed?: number;
  shippedBytes?: number;
  /** The last pass that ended, as its heartbeat said (written or held back): a mid-pass heartbeat carries it. */
  lastPass?: Heartbeat['lastPass'];
  /**
   * When the newest heartbeat this agent wrote was a mid-pass one (it says a pass runs): the next
   * end-of-pass heartbeat goes out whatever the interval, or the site would read as mid-pass
   * until then. Left set by a pass killed after one.
   */
  midPass?: string;
  /**
   * When the newest mid-pass heartbeat the store took was written (midPass is set before its
   * write): a store that cannot be reached at the end of a long pass has been out of reach since
   * then, not since the last end-of-pass heartbeat (heartbeat-alerts.ts, UNREACHABLE_PAGE_MINUTES).
   */
  midPassOut?: string;
  /**
   * The newest heartbeat under this agent's id that this state directory did not write when it
   * was found restored from an older copy (staleState's `found`): it and those before it were
   * written by this directory before it went back in time, not by a copy running elsewhere,
   * which goes on writing after it (newestOther).
   */
  restoredOver?: string;
  /**
   * The store the last heartbeat that went out reached (storeAddress): one that cannot be reached
   * after the configuration named another never worked (a misspelt cloud.endpoint), so the agent
   * pages at once, not after the hour a line that dropped is given (heartbeat-alerts.ts).
   */
  storeAddress?: string;
  /**
   * The heartbeat (its time) that reached storeAddress. An agent of an older release put back on
   * this directory (a rollback) writes heartbeats and keeps storeAddress as it found it: once a
   * later heartbeat went out, storeAddress says the store of an earlier one (reachedStore).
   */
  storeAddressAt?: string;
  sources: Record<string, SourceMemory>;
}

/** Remembers that the heartbeat of `at` went out to the store the configuration names. */
export function rememberStore(memory: HeartbeatMemory, cloud: { endpoint?: string; region: string } | undefined, at: string): void {
  memory.storeAddress = storeAddress(cloud);
  memory.storeAddressAt = at;
}

/**
 * The store the newest heartbeat that went out (end-of-pass or mid-pass) reached; undefined when
 * unknown: none went out, or the newest was written by a release that does not record it (one of
 * before 2026-12-07, or a rollback to it since), whatever store an earlier one reached.
 */
export function reachedStore(memory: HeartbeatMemory): string | undefined {
  const newest = [memory.lastWritten, memory.midPassOut].filter((t) => t !== undefined).sort().at(-1);
  return memory.storeAddressAt !== undefined && memory.storeAddressAt === newest ? memory.storeAddress : undefined;
}

/** Where the configuration sends the agent's writes: cloud.endpoint, AWS's S3 in cloud.region, or the local store (no cloud block). */
export const storeAddress = (cloud: { endpoint?: string; region: string } | undefined) => (cloud ? (cloud.endpoint ?? `AWS S3 in ${cloud.region}`) : 'the local store');

export const heartbeatMemoryFile = (state: string) => join(state, 'heartbeat.json');

/** The memory as the last heartbeat left it (an id made when there is none yet). */
export function readHeartbeatMemory(state: string): HeartbeatMemory {
  const memory = readJsonFile<HeartbeatMemory>(heartbeatMemoryFile(state)) ?? { sources: {} };
  memory.sources ??= {};
  memory.agentId ??= randomUUID();
  return memory;
}

/**
 * Remembers a heartbeat of this agent's before it is written, so a crash right after the write
 * does not leave one its state directory does not know (staleState, newestOther). Kept by count
 * and by time: after a pass under a clock that ran hours fast, the heartbeats written before it
 * are still this directory's own when the clock is set right (dropped, they would read as a copy
 * of it running elsewhere); and a service that ships every few seconds writes more than the
 * count in the hour another agent is looked for.
 */
export function rememberOwn(memory: HeartbeatMemory, at: string): void {
  memory.recent = keptOwnTimes([...(memory.recent ?? []), at], Date.parse(at));
  memory.recentSince ??= at;
}

/**
 * Remembers that the heartbeats under this agent's id up to `found` are this restored state
 * directory's own (HeartbeatMemory.restoredOver). Not when `found` is a copy's: a heartbeat
 * written by this directory before it went back carries the `restoredOver` the directory had
 * then, which the older copy has too (`foundRestoredOver`); one that carries another was written
 * by a copy that found itself older and went its own way (a cloned VM left running, its cron
 * off this one's), and must read as another agent's, however long apart the two run. Nor once
 * in the window another agent is looked for: a directory found older again within it, after it
 * wrote heartbeats of its own, is not going back again but meeting a copy that goes on writing.
 */
export function rememberRestoredOver(state: string, found: string, foundRestoredOver: string | undefined, now: Date, log: Pick<Logger, 'warn'>): void {
  const memory = readHeartbeatMemory(state);
  if (memory.restoredOver !== foundRestoredOver) return;
  if (memory.restoredOver !== undefined && now.getTime() - Date.parse(memory.restoredOver) < SHARED_SITE_WINDOW_MS) return;
  memory.restoredOver = found;
  try {
    writeFileAtomic(heartbeatMemoryFile(state), JSON.stringify(memory));
  } catch (error) {
    log.warn('heartbeat memory not saved in the state directory', { error: error instanceof Error ? error.message : String(error) });
  }
}
