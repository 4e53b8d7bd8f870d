// Figures and verdicts. Units: MB = MiB (2^20 bytes) for throughput and memory alike;
// files = recordings (a recording's sidecar travels with it but is not counted as a file).

export interface ResultRow {
  scenario: string;
  tool: string;
  files: number;
  bytes: number;
  seconds: number;
  filesPerSec: number;
  mbPerSec: number;
  /**
   * Peak resident memory, conservative: the larger of the summed VmRSS of the tool's process
   * tree (sampled every 50 ms) and the main process's own VmHWM (which a sample can miss).
   */
  peakRssMb: number;
}

export interface RunDetail extends ResultRow {
  /** Objects the tool left in its bucket. */
  objects: number;
  /** Peak of the summed VmRSS of the process tree, sampled every 50 ms. */
  treeRssMb: number;
  /** VmHWM of the tool's main process. */
  mainHwmMb: number;
  /** user + system CPU seconds of the tool's process tree. */
  cpuSeconds: number;
  /** CPU seconds the s3rver process spent during the run (same machine: it competes for the cores). */
  serverCpuSeconds: number;
  ok: boolean;
  problems: string[];
  /** Ferry only: seconds from spawn to its first published pack (from its log). */
  firstPackSec?: number;
  /** The 1-minute load average when the run ended. */
  load?: number;
}

const MIB = 1024 * 1024;

export function row(scenario: string, tool: string, files: number, bytes: number, seconds: number, peakRssMb: number): ResultRow {
  return {
    scenario,
    tool,
    files,
    bytes,
    seconds: round(seconds, 2),
    filesPerSec: round(files / seconds, 1),
    mbPerSec: round(bytes / MIB / seconds, 2),
    peakRssMb: round(peakRssMb, 1),
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function pad(cells: string[][]): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-GB', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function scenarioTable(title: string, runs: RunDetail[]): string {
  const head = ['tool', 'files', 'objects', 'MB', 'seconds', 'files/s', 'MB/s', 'peak RSS MB', 'tree RSS MB (sampled)', 'VmHWM MB (main)', 'CPU s', 's3rver CPU s', 'status'];
  const body = runs.map((r) => [
    r.tool,
    fmt(r.files),
    fmt(r.objects),
    fmt(r.bytes / MIB, 1),
    fmt(r.seconds, 2),
    fmt(r.filesPerSec, 1),
    fmt(r.mbPerSec, 2),
    fmt(r.peakRssMb, 1),
    fmt(r.treeRssMb, 1),
    fmt(r.mainHwmMb, 1),
    fmt(r.cpuSeconds, 1),
    fmt(r.serverCpuSeconds, 1),
    r.ok ? 'ok' : 'FAILED',
  ]);
  return `${title}\n${pad([head, ...body])}`;
}

export interface Verdict {
  what: string;
  value: string;
  target: string;
  outcome: 'PASS' | 'MISS' | 'n/a';
}

// The targets and verdicts of the agent's rows: scripts/bench/agent-rows.ts.

export function verdictTable(list: Verdict[]): string {
  return pad([['check', 'measured', 'target', ''], ...list.map((v) => [v.what, v.value, v.target, v.outcome])]);
}
