import { parseArgs } from 'node:util';
import { TreeWalkAhead } from '../../agent/tree/walk-ahead.ts';
import { percentile } from './cloud.ts';
import { cachedShareTree } from './share-tree.ts';

// The tree walk on its own thread (agent/tree/walk-ahead.ts) alone: every run of the cached share
// tree (share-tree.ts) read and dropped, several times over, with the process's CPU (both
// threads) and wall time of each walk and their medians. An incremental snapshot's walk runs on
// that thread beside the snapshot's comparisons: on two cores its CPU is the snapshot's time as
// much as the comparisons' are. Investigation only (the `share` scenario of `npm run bench` is
// what is reported):
//   node --import tsx scripts/bench/walk-ahead.ts [--files 100000] [--walks 7]

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '100000' }, walks: { type: 'string', default: '7' } } });
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const tree = cachedShareTree(Number(values.files), say);
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let w = 0; w < Number(values.walks); w++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    let items = 0;
    for await (const run of new TreeWalkAhead(tree.root).runs(() => undefined)) items += run.length;
    const used = process.cpuUsage(cpu);
    walls.push(performance.now() - started);
    cpus.push((used.user + used.system) / 1000);
    say(`walk ${w + 1}: ${items.toLocaleString('en-GB')} items, ${walls.at(-1)!.toFixed(0)} ms, CPU ${cpus.at(-1)!.toFixed(0)} ms`);
  }
  say(`median of ${walls.length} walks: ${percentile(walls, 50).toFixed(0)} ms, CPU ${percentile(cpus, 50).toFixed(0)} ms`);
}

await main();
