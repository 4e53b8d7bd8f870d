import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../../core/errors.ts';
import type { Clock } from '../../core/clock.ts';
import { writeFileAtomic } from './atomic-file.ts';

// `pass.json`: when the agent's latest pass started, and by which process. status.json is written
// as a pass ends, so after a kill -9 (the OOM killer, a reboot) it still shows the pass before,
// and `agent status` read "last pass ok 02:10" while the runs of 02:12, 02:14 … all died. A pass
// that started after the last one status.json records did not finish (or still runs: the lock
// says whether its process lives). Agents run from cron, a process a pass: this is on disk, not
// in memory.

export interface PassMarker {
  startedAt: string;
  pid: number;
  /** The pass ended on an error (status.json is not written then): when, and the error. */
  failed?: { at: string; error: string };
}

export const PASS_MARKER_FILE = 'pass.json';

/** Records that a pass starts now (atomically: a crash leaves the old marker or the new one). */
export function markPassStarted(state: string, at: Date): void {
  writeFileAtomic(join(state, PASS_MARKER_FILE), `${JSON.stringify({ startedAt: at.toISOString(), pid: process.pid } satisfies PassMarker)}\n`);
}

/** The latest pass's start; undefined when no pass was marked (an agent before it) or the file cannot be read. */
export function readPassMarker(state: string): PassMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(join(state, PASS_MARKER_FILE), 'utf8')) as Partial<PassMarker>;
    if (typeof m.startedAt !== 'string' || typeof m.pid !== 'number') return undefined;
    const failed = typeof m.failed?.at === 'string' && typeof m.failed.error === 'string' ? { failed: { at: m.failed.at, error: m.failed.error } } : {};
    return { startedAt: m.startedAt, pid: m.pid, ...failed };
  } catch {
    return undefined;
  }
}

/**
 * Runs a pass and, when it throws, records on its marker that it ended on that error: a service
 * agent goes on holding the lock after a failed pass (it tries again each pollSeconds), so
 * without it `agent status` said the pass was running; a cron run exits 1, not killed. Only
 * this process's marker is written over (a pass that failed before marking its start leaves
 * another process's marker alone).
 */
export async function failureMarked<T>(state: string, clock: Clock, pass: () => Promise<T>): Promise<T> {
  try {
    return await pass();
  } catch (error) {
    const marker = readPassMarker(state);
    if (marker?.pid === process.pid) {
      const failed = { at: clock.now().toISOString(), error: messageOf(error).slice(0, 300) };
      try {
        writeFileAtomic(join(state, PASS_MARKER_FILE), `${JSON.stringify({ startedAt: marker.startedAt, pid: marker.pid, failed } satisfies PassMarker)}\n`);
      } catch {
        // A state directory that cannot take it (the disk full): status says the pass did not finish.
      }
    }
    throw error;
  }
}
