import { setFlagsFromString } from 'node:v8';

// The agent runs on the recorder's own machine, whose memory belongs to the recorder. V8 grows
// a busy heap in steps of up to 4× what survived the last full collection; the agent's
// allocations are short-lived (buffers, stamps, requests), so it collects more often instead:
// steps of 25%. On the 200,000-file benchmark tree that halves the peak RSS for a few percent
// of CPU (docs/benchmarks.md). An operator's own --heap-growing-percent wins.

export const HEAP_GROWING_PERCENT = 25;

export function leanHeap(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if ([...execArgv, nodeOptions].some((a) => a.includes('heap-growing-percent'))) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
