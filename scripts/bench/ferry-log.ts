import { readFileSync } from 'node:fs';

// Where Ferry's time went, from its own JSON log lines (`pack published … ms`, `pass complete`):
// start-up and scan before the first pack, then the steady pack rate.

export interface FerryLogSummary {
  packs: number;
  /** Seconds from spawn to the first published pack (process start, tsx, config, scan, first pack). */
  firstPackAfterSec?: number;
  lastPackAfterSec?: number;
  passCompleteAfterSec?: number;
  packMs?: { p50: number; p95: number; max: number; mean: number };
  warnings: number;
  errors: string[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

export function summarizeFerryLog(file: string, startedAt: number): FerryLogSummary {
  const out: FerryLogSummary = { packs: 0, warnings: 0, errors: [] };
  const ms: number[] = [];
  const at = (time: unknown) => (typeof time === 'string' ? (Date.parse(time) - startedAt) / 1000 : undefined);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) {
      if (line.trim()) out.errors.push(line.trim());
      continue;
    }
    let entry: { time?: string; level?: string; msg?: string; ms?: number; error?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.level === 'warn') out.warnings++;
    if (entry.level === 'error') out.errors.push(`${entry.msg}: ${entry.error ?? ''}`);
    if (entry.msg === 'pack published') {
      out.packs++;
      if (typeof entry.ms === 'number') ms.push(entry.ms);
      out.firstPackAfterSec ??= at(entry.time);
      out.lastPackAfterSec = at(entry.time);
    } else if (entry.msg === 'pass complete') {
      out.passCompleteAfterSec = at(entry.time);
    }
  }
  if (ms.length > 0) {
    const sorted = [...ms].sort((a, b) => a - b);
    out.packMs = { p50: percentile(sorted, 50), p95: percentile(sorted, 95), max: sorted.at(-1) ?? 0, mean: Math.round(ms.reduce((a, b) => a + b, 0) / ms.length) };
  }
  out.errors = out.errors.slice(0, 10);
  return out;
}

export function describeFerryLog(s: FerryLogSummary): string {
  const f = (n: number | undefined) => (n === undefined ? '?' : n.toFixed(2));
  const packs = s.packMs ? `per pack p50 ${s.packMs.p50} ms, p95 ${s.packMs.p95} ms, max ${s.packMs.max} ms (4 packs in flight)` : 'no pack timings';
  return `ferry log: ${s.packs} pack(s); first pack published ${f(s.firstPackAfterSec)} s after spawn, last ${f(s.lastPackAfterSec)} s, pass complete ${f(s.passCompleteAfterSec)} s; ${packs}; ${s.warnings} warning(s)`;
}
