import type { Progress } from '../agent/agent.ts';

// A one-line progress bar for a person draining a large backlog at a terminal.

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

export function renderBar(p: Progress, elapsedSec: number, width = 30): string {
  const ratio = p.packsTotal === 0 ? 1 : p.packsDone / p.packsTotal;
  const filled = Math.round(ratio * width);
  const rate = elapsedSec > 0 ? `${formatBytes(p.bytes / elapsedSec)}/s` : '';
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.packsDone}/${p.packsTotal} packs  ${p.recordings} recordings  ${formatBytes(p.bytes)}  ${rate}`;
}

export function terminalProgress(stream: NodeJS.WriteStream = process.stderr): { update(p: Progress): void; end(): void } {
  const started = performance.now();
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = performance.now();
      if (p.packsTotal === 0 || (now - last < 100 && p.packsDone !== p.packsTotal)) return;
      last = now;
      shown = true;
      stream.write(`\r${renderBar(p, (now - started) / 1000)}\x1b[K`);
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
