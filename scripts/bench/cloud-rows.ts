import { join } from 'node:path';
import { startBenchCloud, type BenchCloud, type BenchCloudOptions } from './cloud.ts';
import { runIngestBench, type IngestRow } from './ingest.ts';
import { runReplayBench, type ReplayRow } from './replay.ts';
import { runSearchBench, type SearchRow } from './search.ts';
import { runRestoreFetchBench, type RestoreFetchRow } from './restore-fetch.ts';
import type { Verdict } from './report.ts';

// The cloud rows of `npm run bench` (replay, ingest, search, restore fetch), each against one fresh local
// cloud started for it, the raw baseline in the same run. Sizes: 0 skips a scenario.

export interface CloudCounts {
  /** Concurrent players. */
  replay: number;
  /** Manifests of 100 calls. */
  ingest: number;
  /** Calls in the catalogue searched. */
  search: number;
  /** MB (MiB) of the restore plan fetched. */
  restoreFetch: number;
}

export interface CloudPeers {
  /** The AWS CLI, for the restore-fetch row; absent: Ferry alone. */
  aws?: string;
  /** Where the local cloud of the ingest, replay and search rows runs (default: its own process) and its node flags. */
  cloud?: Pick<BenchCloudOptions, 'mode' | 'nodeFlags' | 'replayEnvironments'>;
  /** `--cpu-prof`: Ferry's restore-fetch CLI writes a V8 profile under <work>/profiles/restore-fetch/. */
  cpuProf?: boolean;
}

export type CloudRow = ReplayRow | IngestRow | SearchRow | RestoreFetchRow;

export interface CloudResults {
  rows: CloudRow[];
  verdicts: Verdict[];
  failures: string[];
}

const ratioVerdict = (what: string, value: number, detail: string, target: string, pass: boolean, ok: boolean): Verdict => ({
  what,
  value: `${value.toFixed(2)}× (${detail})`,
  target,
  outcome: ok ? (pass ? 'PASS' : 'MISS') : 'n/a',
});

export async function runCloudScenarios(counts: CloudCounts, work: string, say: (line: string) => void, peers: CloudPeers = {}): Promise<CloudResults> {
  const out: CloudResults = { rows: [], verdicts: [], failures: [] };
  const withCloud = async (name: string, run: (bench: BenchCloud) => Promise<CloudRow[]>): Promise<CloudRow[]> => {
    say(`[${name}] starting the local cloud (functions from their bundles, IAM gateway) ${peers.cloud?.mode === 'in-process' ? 'in this process' : 'in its own process'}…`);
    const bench = await startBenchCloud(join(work, `cloud-${name}`), peers.cloud);
    try {
      return await run(bench);
    } finally {
      await bench.stop();
    }
  };
  const scenarios: [string, number, () => Promise<CloudRow[]>][] = [
    ['ingest', counts.ingest, () => withCloud('ingest', (b) => runIngestBench(b, counts.ingest, say))],
    ['replay', counts.replay, () => withCloud('replay', (b) => runReplayBench(b, counts.replay, say))],
    // Its own cloud, on the cached catalogue.
    ['search', counts.search, () => runSearchBench(counts.search, work, say, peers.cloud)],
    ['restore-fetch', counts.restoreFetch, () => runRestoreFetchBench({ work, mb: counts.restoreFetch, aws: peers.aws, say, nodeFlags: peers.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', join(work, 'profiles', 'restore-fetch')] : [] })],
  ];
  for (const [name, n, run] of scenarios) {
    if (n === 0) continue;
    const rows = await run();
    out.rows.push(...rows);
    for (const r of rows) if (!r.ok) out.failures.push(`${name}/${r.tool}: ${r.problems.join('; ')}`);
  }
  out.verdicts.push(...cloudVerdicts(out.rows));
  return out;
}

export function cloudVerdicts(rows: CloudRow[]): Verdict[] {
  const verdicts: Verdict[] = [];
  const ingest = rows.filter((r): r is IngestRow => r.scenario === 'ingest');
  const [fi, ri] = [ingest.find((r) => r.tool === 'ferry'), ingest.find((r) => r.tool !== 'ferry')];
  if (fi && ri) {
    const v = fi.entriesPerSec / ri.entriesPerSec;
    verdicts.push(ratioVerdict('ingest: catalogue entries/s ÷ raw BatchWriteItem', v, `${fi.entriesPerSec} / ${ri.entriesPerSec}`, '≥ 0.8×', v >= 0.8, fi.ok && ri.ok));
  }
  const replay = rows.filter((r): r is ReplayRow => r.scenario === 'replay');
  const [fr, rr] = [replay.find((r) => r.tool === 'ferry'), replay.find((r) => r.tool !== 'ferry')];
  if (fr && rr) {
    for (const p of ['p50Ms', 'p99Ms'] as const) {
      const v = fr[p] / rr[p];
      verdicts.push(ratioVerdict(`replay: time to first byte ${p.slice(0, 3)} ÷ raw ranged GET`, v, `${fr[p]} ms / ${rr[p]} ms`, '≤ 1.5×', v <= 1.5, fr.ok && rr.ok));
    }
  }
  const search = rows.filter((r): r is SearchRow => r.scenario === 'search');
  const [fs, rs] = [search.find((r) => r.tool === 'ferry'), search.find((r) => r.tool !== 'ferry')];
  if (fs && rs) {
    const v = fs.p50Ms / rs.p50Ms;
    verdicts.push(ratioVerdict(`search: page latency p50 ÷ raw Query (${fs.calls.toLocaleString('en-GB')} calls)`, v, `${fs.p50Ms} ms / ${rs.p50Ms} ms`, '≤ 1.5×', v <= 1.5, fs.ok && rs.ok));
  }
  const fetch = rows.filter((r): r is RestoreFetchRow => r.scenario === 'restore-fetch');
  const [ff, af] = [fetch.find((r) => r.tool === 'ferry'), fetch.find((r) => r.tool === 'aws-cli')];
  if (ff && af) {
    const v = ff.mbPerSec / af.mbPerSec;
    verdicts.push(ratioVerdict(`restore fetch: MB/s ÷ aws s3 cp (${Math.round(ff.bytes / 2 ** 20)} MB plan)`, v, `${ff.mbPerSec} / ${af.mbPerSec} MB/s`, '≥ 1.0×', v >= 1.0, ff.ok && af.ok));
  }
  return verdicts;
}
