import { describe, expect, it } from 'vitest';
import { logChains, logGapsOf } from '../../core/log-gaps.ts';
import { supersededPartials } from '../../cli/backups-commands.ts';
import { T0, makeSegment, min } from '../support/artefact-fixtures.ts';

// One binlog source whose server's numbering restarted: segments 1-6 closed and 7 offsite only
// as a partial, then RESET MASTER and mysql-bin.000001 to 000004 again, closed, with 5 partial.
const oldRun = [...Array.from({ length: 6 }, (_, i) => makeSegment(i + 1, min(10 * i), min(10 * i + 9))), makeSegment(7, min(60), min(61), { partial: true })];
const newRun = Array.from({ length: 5 }, (_, i) => makeSegment(i + 1, min(64 + 2 * i), min(65 + 2 * i), i === 4 ? { partial: true } : {}));
const DAY = [T0, T0 + 86_400_000] as const;

describe('binlog chains across a restart of the numbering', () => {
  it('cuts the segments into the two runs, in any order, each partial with its own run', () => {
    for (const segments of [[...oldRun, ...newRun], [...newRun, ...oldRun].reverse()]) {
      const chains = logChains(segments);
      expect(chains.map((c) => c.map((s) => `${s.sequence}${s.partial ? 'p' : ''}`).sort().join(','))).toEqual(['1,2,3,4,5,6,7p', '1,2,3,4,5p']);
      expect(chains[0]!.every((s) => oldRun.includes(s))).toBe(true);
    }
  });

  it('keeps a closed segment and its own earlier partial in one run', () => {
    const partial = makeSegment(3, min(20), min(24), { partial: true });
    expect(logChains([...oldRun.slice(0, 6), partial])).toHaveLength(1);
  });

  it("reports the first run's unclosed segment as a break at the restart, and a gap of the first run though the second has those numbers", () => {
    const gaps = logGapsOf('binlog', [...oldRun.filter((s) => s.sequence !== 3 && s.sequence !== 4), ...newRun], ...DAY);
    expect(gaps).toEqual([
      { source: 'binlog', first: 'mysql-bin.000003', last: 'mysql-bin.000004', partialOnly: [], lastEventBefore: min(19) },
      { source: 'binlog', first: 'mysql-bin.000007', last: 'mysql-bin.000007', partialOnly: ['mysql-bin.000007'], lastEventBefore: min(61), restarted: true },
    ]);
  });

  it("marks a partial superseded only by the closed segment of its own run, not by the other run's segment of that name", () => {
    const newFive = makeSegment(5, min(72), min(73));
    const superseded = supersededPartials([...oldRun, ...newRun.slice(0, 4), newFive, makeSegment(7, min(80), min(81))]);
    // Old 7p: the other run's 000007 closed later, which is not its own.
    expect(superseded.has(oldRun[6]!.artefactId)).toBe(false);
    const withOwn = supersededPartials([...oldRun, makeSegment(7, min(60), min(62))]);
    expect(withOwn.has(oldRun[6]!.artefactId)).toBe(true);
  });
});
