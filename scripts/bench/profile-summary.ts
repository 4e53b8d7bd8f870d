// Where a Ferry run's CPU went, from a V8 .cpuprofile (`npm run bench -- --cpu-prof --keep`
// writes one per agent run under <work>/profiles/<scenario>/):
//   node --import tsx scripts/bench/profile-summary.ts <file.cpuprofile> [top]
// Self time is grouped by function and by area (project module, AWS SDK, zod, node internals,
// GC…), which is what tells a start-up cost from a per-file or per-byte cost.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/')[0] ?? url;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!.startsWith('@aws-sdk/') || nm[1]!.startsWith('@smithy/') ? 'AWS SDK (@aws-sdk, @smithy)' : nm[1]!;
  const project = /\/work\/[^/]+\/(.+)$/.exec(url.replace(/^file:\/\//, ''));
  return project ? project[1]! : url;
}

export function summarize(profile: CpuProfile): { totalMs: number; byArea: [string, number][]; byFunction: [string, number][] } {
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  // Each sample's time is the delta to the next one: the time spent where that sample was taken.
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i + 1] ?? 0));
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const a = area(url, functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
    const key = `${functionName || '(anonymous)'} ${a}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) => [...m.entries()].map(([k, v]) => [k, v / 1000] as [string, number]).sort((x, y) => y[1] - x[1]);
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byArea: sorted(byArea), byFunction: sorted(byFunction) };
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: profile-summary.ts <file.cpuprofile> [top]\n');
    process.exitCode = 2;
    return;
  }
  const top = Number(topArg ?? 25);
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const line = ([k, ms]: [string, number]) => `${ms.toFixed(0).padStart(8)} ms ${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%  ${k}`;
  process.stdout.write(`profile ${file}: ${s.totalMs.toFixed(0)} ms wall\n\nby area\n${s.byArea.slice(0, top).map(line).join('\n')}\n\nby function (self time)\n${s.byFunction.slice(0, top).map(line).join('\n')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
