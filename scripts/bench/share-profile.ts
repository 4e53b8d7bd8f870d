import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ManualClock } from '../../core/clock.ts';
import { parseAgentConfig, type TreeSourceConfig } from '../../core/config.ts';
import { MemoryBlobStore } from '../../core/memory-blob-store.ts';
import { takeTreeSnapshot } from '../../agent/tree/snapshot.ts';
import { summarize } from './profile-summary.ts';
import { cachedShareTree, changeOnePercent } from './share-tree.ts';

// Where the second snapshot of the share's time goes, without process start-up or a store in
// another process: the snapshot code on an in-memory store, the cached share tree (share-tree.ts),
// a first snapshot, 1 % of the files rewritten, a second snapshot under the V8 profiler. Prints
// both times, the ratio, files read, the profile by area and by function, and keeps the profile:
//   node --import tsx scripts/bench/share-profile.ts [--files 100000] [--file-kb KB] [--top 25] [--out DIR] [--no-profile] [--again N]
// `--no-profile` times the second snapshot without the profiler (which slows it, not the first,
// by several per cent). The CPU seconds of each snapshot are printed beside the wall time: on a
// shared machine they move less than the wall time does. `--again N` then takes N more
// snapshots, each after the same 1 % changed again (put back, rewritten, …), and prints each one's
// CPU and their median: one first snapshot, several seconds, so that a difference of a tenth of
// a CPU-second between two versions of the code shows through the noise of a loaded machine.
// `--walk-here` walks the tree on the snapshot's own thread (walk.ts) instead of its own (walk-ahead.ts).
// Investigation only (the `share` scenario of `npm run bench` is what is reported).

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '100000' }, 'file-kb': { type: 'string' }, top: { type: 'string', default: '25' }, out: { type: 'string' }, 'no-profile': { type: 'boolean', default: false }, again: { type: 'string', default: '0' }, 'walk-here': { type: 'boolean', default: false } } });
  const files = Number(values.files);
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const fileKb = values['file-kb'] === undefined ? undefined : Number(values['file-kb']);
  const tree = cachedShareTree(files, say, fileKb);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-share-profile-'));
  try {
    const config = parseAgentConfig(`site: bench\nstate: ${join(dir, 'state')}\nsources:\n  - { name: share, type: tree, path: "${tree.root}" }\n`);
    const clock = new ManualClock(new Date('2026-03-01T10:00:00Z'));
    const store = new MemoryBlobStore();
    const ctx = { site: 'bench', source: config.sources[0] as TreeSourceConfig, store, clock, verify: 'checksum' as const, state: config.state, partSize: 8 << 20, partConcurrency: 4, walkOnThisThread: values['walk-here'] };
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    let started = performance.now();
    let cpu = cpuMs();
    const first = await takeTreeSnapshot(ctx);
    const firstMs = performance.now() - started;
    const firstCpu = cpuMs() - cpu;
    changeOnePercent(tree.root, files, fileKb);
    clock.advance(3_600_000);
    const session = values['no-profile'] ? undefined : new Session();
    session?.connect();
    await session?.post('Profiler.enable');
    await session?.post('Profiler.setSamplingInterval', { interval: 200 });
    await session?.post('Profiler.start');
    started = performance.now();
    cpu = cpuMs();
    const second = await takeTreeSnapshot(ctx);
    const secondMs = performance.now() - started;
    const secondCpu = cpuMs() - cpu;
    const profile = session && (await session.post('Profiler.stop')).profile;
    session?.disconnect();
    const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)} %`;
    say(`first snapshot ${(firstMs / 1000).toFixed(2)} s, CPU ${(firstCpu / 1000).toFixed(2)} s (${first.manifest.counts.filesRead} read); second ${(secondMs / 1000).toFixed(2)} s, CPU ${(secondCpu / 1000).toFixed(2)} s (${second.manifest.counts.filesRead} read): ${pct(secondMs, firstMs)} of the first (CPU ${pct(secondCpu, firstCpu)}), ${((1000 * secondMs) / files).toFixed(1)} µs a path; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
    const again: number[] = [];
    for (let n = 1; n <= Number(values.again); n++) {
      changeOnePercent(tree.root, files, fileKb, n % 2 === 1 ? 0 : 1);
      clock.advance(3_600_000);
      cpu = cpuMs();
      const next = await takeTreeSnapshot(ctx);
      again.push(cpuMs() - cpu);
      say(`again ${n}: CPU ${(again.at(-1)! / 1000).toFixed(2)} s (${next.manifest.counts.filesRead} read)`);
    }
    if (again.length > 0) {
      const sorted = [...again, secondCpu].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      say(`median CPU of the ${sorted.length} later snapshots ${(median / 1000).toFixed(2)} s: ${pct(median, firstCpu)} of the first's`);
    }
    if (!profile) return;
    mkdirSync(values.out ?? tmpdir(), { recursive: true });
    const out = join(values.out ?? tmpdir(), `share-second-${files}-${Date.now()}.cpuprofile`);
    writeFileSync(out, JSON.stringify(profile));
    const s = summarize(profile as Parameters<typeof summarize>[0]);
    const top = Number(values.top);
    const line = ([k, ms]: [string, number]) => `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%  ${k}`;
    say(`profile ${out}: ${s.totalMs.toFixed(0)} ms\nby area\n${s.byArea.slice(0, top).map(line).join('\n')}\nby function (self)\n${s.byFunction.slice(0, top).map(line).join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
