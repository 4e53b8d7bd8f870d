import type { Progress } from '../agent/agent.ts';
import { formatBytes } from '../core/format-bytes.ts';

// A one-line progress bar for a person draining a large backlog at a terminal.

export { formatBytes } from '../core/format-bytes.ts';

/** `2m05s`, `1h04m`, `45s`: narrow enough for the bar (alerts and reports spell it out: core/alert-text.ts formatDuration). */
function barDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The bar of a run: `p` counted over every pass of it so far (a `--once` catch-up is pass after
 * pass, each counting from zero), the rate over the time since its first pack was under way,
 * and an estimate of the time left for the packs found so far.
 */
export function renderBar(p: Progress, elapsedSec: number, width = 30): string {
  const ratio = p.packsTotal === 0 ? 1 : p.packsDone / p.packsTotal;
  const filled = Math.round(ratio * width);
  const rate = elapsedSec > 0 ? `  ${formatBytes(p.bytes / elapsedSec)}/s` : '';
  const left = p.packsTotal - p.packsDone;
  const eta = p.packsDone > 0 && left > 0 && elapsedSec > 0 ? `  about ${barDuration((elapsedSec / p.packsDone) * left)} left` : '';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.packsDone}/${p.packsTotal} packs  ${p.recordings} recordings  ${formatBytes(p.bytes)}${rate}${eta}`;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, now: () => number = () => performance.now()): { update(p: Progress): void; end(): void } {
  let started: number | undefined;
  let last = 0;
  let shown = false;
  // What the passes before this one did: each pass reports its own counts from zero.
  const before = { packs: 0, recordings: 0, bytes: 0 };
  let current = { packsDone: 0, recordings: 0, bytes: 0 };
  return {
    update(p) {
      const t = now();
      if (p.packsDone < current.packsDone || p.bytes < current.bytes) {
        before.packs += current.packsDone;
        before.recordings += current.recordings;
        before.bytes += current.bytes;
      }
      current = { packsDone: p.packsDone, recordings: p.recordings, bytes: p.bytes };
      if (p.packsTotal === 0 || (t - last < 100 && p.packsDone !== p.packsTotal)) return;
      started ??= t;
      last = t;
      shown = true;
      const run = { ...p, packsDone: before.packs + p.packsDone, packsTotal: before.packs + p.packsTotal, recordings: before.recordings + p.recordings, bytes: before.bytes + p.bytes };
      stream.write(`\r${renderBar(run, (t - started) / 1000)}\x1b[K`);
    },
    end() {
      if (shown) stream.write('\n');
      shown = false;
    },
  };
}

/** What a byte-counted file transfer reports to `bytePrinter`. */
export interface ByteStep {
  bytesDone: number;
  bytesTotal: number;
  /** The last step: always drawn, however soon after the one before. */
  finished: boolean;
  /** After the bar, e.g. `file 3/10 name.wav`. */
  label: string;
}

/**
 * A one-line bar of bytes done on a terminal (nothing when the stream is not a TTY), redrawn at
 * most every 100 ms; `end()` moves past it. Shared by restore fetch and tree restore.
 */
export function bytePrinter<P>(step: (p: P) => ByteStep, stream: NodeJS.WriteStream = process.stderr): { update(p: P): void; end(): void } {
  if (!stream.isTTY) return { update: () => undefined, end: () => undefined };
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const s = step(p);
      const now = performance.now();
      if (now - last < 100 && !s.finished) return;
      last = now;
      shown = true;
      const width = 30;
      const filled = s.bytesTotal === 0 ? width : Math.round((s.bytesDone / s.bytesTotal) * width);
      stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)}  ${s.label}\x1b[K`);
    },
    end() {
      if (shown) stream.write('\n');
    },
  };
}
