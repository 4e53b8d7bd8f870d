import { describe, it, expect } from 'vitest';
import { agentVerdicts, medianCeiling } from '../../scripts/bench/agent-rows.ts';
import { row, type RunDetail } from '../../scripts/bench/report.ts';

// The agent rows' verdicts: each a ratio of two figures of the same run, judged against the
// issue's targets; a missing or failed run gives n/a, never a pass.

function run(scenario: string, tool: string, seconds: number, extra: Partial<RunDetail> = {}): RunDetail {
  const files = scenario === 'small' ? 10_000 : 100;
  const bytes = scenario === 'small' ? 300 * 1024 * 1024 : 200 * 1024 * 1024;
  return { ...row(scenario, tool, files, bytes, seconds, 100), objects: 0, treeRssMb: 100, mainHwmMb: 100, cpuSeconds: 1, serverCpuSeconds: 1, ok: true, problems: [], ...extra };
}

describe('bench verdicts of the agent rows', () => {
  it('passes small at 10× rclone files/s and misses just under it', () => {
    const pass = agentVerdicts([run('small', 'ferry', 10), run('small', 'rclone', 100)]);
    expect(pass.find((v) => v.what.startsWith('small: Ferry files/s'))?.outcome).toBe('PASS');
    const miss = agentVerdicts([run('small', 'ferry', 10.1), run('small', 'rclone', 100)]);
    expect(miss.find((v) => v.what.startsWith('small: Ferry files/s'))?.outcome).toBe('MISS');
  });

  it('judges small MB/s against the ceiling measured in the run, n/a without one', () => {
    const ceiling = { bytes: 1, seconds: 1, mbPerSec: 60, parts: 1, partConcurrency: 4, serverCpuSeconds: 1 };
    const withCeiling = agentVerdicts([run('small', 'ferry', 10)], ceiling); // 30 MB/s ÷ 60
    expect(withCeiling.find((v) => v.what.includes('ceiling'))).toMatchObject({ outcome: 'PASS', value: expect.stringMatching(/^0\.50×/) });
    expect(agentVerdicts([run('small', 'ferry', 10)]).find((v) => v.what.includes('ceiling'))?.outcome).toBe('n/a');
  });

  it('compares one batch with the best peer that succeeded, and gives n/a when Ferry failed', () => {
    const runs = [run('batch', 'ferry', 10), run('batch', 'rclone', 9, { ok: false }), run('batch', 'aws-cli', 11)];
    expect(agentVerdicts(runs).find((v) => v.what.startsWith('batch'))).toMatchObject({ outcome: 'PASS', what: expect.stringContaining('aws-cli') });
    const failed = [run('batch', 'ferry', 10, { ok: false }), run('batch', 'aws-cli', 11)];
    expect(agentVerdicts(failed).find((v) => v.what.startsWith('batch'))?.outcome).toBe('n/a');
  });

  it('judges the tree on peak RSS ≤ 250 MB and first pack ≤ 3 s, n/a when no pack was published', () => {
    const tree = (extra: Partial<RunDetail>) => agentVerdicts([run('tree', 'ferry', 100, extra)]);
    expect(tree({ peakRssMb: 250, firstPackSec: 3 }).map((v) => v.outcome)).toEqual(['PASS', 'PASS']);
    expect(tree({ peakRssMb: 535, firstPackSec: 117.7 }).map((v) => v.outcome)).toEqual(['MISS', 'MISS']);
    expect(tree({ peakRssMb: 100 }).map((v) => v.outcome)).toEqual(['PASS', 'n/a']);
  });
});

describe('the store ceiling of a run', () => {
  const upload = (mbPerSec: number, seconds: number) => ({ bytes: 1, seconds, mbPerSec, parts: 1, partConcurrency: 4, serverCpuSeconds: 1 });

  it('is the upload with the median MB/s, every upload listed in the order taken', () => {
    const c = medianCeiling([upload(7.2, 8), upload(26.6, 2.2), upload(18, 3.2)]);
    expect(c).toMatchObject({ mbPerSec: 18, seconds: 3.2, samples: [7.2, 26.6, 18] });
  });

  it('takes the lower middle of an even count and refuses none', () => {
    expect(medianCeiling([upload(40, 1), upload(10, 4)]).mbPerSec).toBe(10);
    expect(() => medianCeiling([])).toThrow(RangeError);
  });
});
