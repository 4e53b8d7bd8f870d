import { closeSync, openSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { AlertBook } from './alert-book.ts';
import { isDiskFull } from './atomic-file.ts';
import { DISK_FULL_SUBJECT } from './state-space.ts';

// The full-disk alert sent while the state directory could not record it: a new directory on a
// disk already full has no alert book yet, and the book keeps its room (alert-book.ts) only once
// written. An empty file needs no data block, so a disk with no byte free still takes it: its
// modification time is when the alert was sent. The next run reads it (and says nothing within
// alerts.repeatHours); the first run with room moves it into the book, whose pass resolves it.

const FILE = 'state-disk-full.sent';

/** When the full-disk alert was last sent without being recorded in the book, or undefined. */
export function unrecordedSentAt(state: string): Date | undefined {
  try {
    return statSync(join(state, FILE)).mtime;
  } catch {
    return undefined;
  }
}

/** Remembers that the full-disk alert was sent at `at` (an empty file, dated then). */
export function noteUnrecordedSent(state: string, at: Date): void {
  const file = join(state, FILE);
  closeSync(openSync(file, 'a'));
  utimesSync(file, at, at);
}

/** The book holds it now. */
export function clearUnrecorded(state: string): void {
  rmSync(join(state, FILE), { force: true });
}

/** A full-disk alert a run sent when the state directory could not record it: into the book, which the pass resolves. */
export function adoptUnrecordedDiskFull(alerts: AlertBook, state: string): void {
  try {
    if (alerts.adoptUnrecorded('state-disk-low', { subject: DISK_FULL_SUBJECT, severity: 'critical' }, unrecordedSentAt(state), true)) clearUnrecorded(state);
  } catch (error) {
    // Still no room: the file stays, and the book holds it for this run.
    if (!isDiskFull(error)) throw error;
  }
}
