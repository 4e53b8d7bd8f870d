import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
    return typeof m.startedAt === 'string' && typeof m.pid === 'number' ? { startedAt: m.startedAt, pid: m.pid } : undefined;
  } catch {
    return undefined;
  }
}
