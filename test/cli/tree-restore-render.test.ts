import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { renderSnapshotProblems, renderTreeRestore } from '../../cli/tree-commands.ts';
import type { TreeRestoreReport } from '../../cli/tree-restore.ts';
import { shellWord } from '../../cli/printable.ts';
import { includeMatchers } from '../../cli/tree-restore.ts';

// A share's names are outside input: a newline or an escape in one must not add or redraw a line
// of a restore's report, and a command the report suggests must still name the very path.

const forged = 'x\n  NOT RESTORED payroll.xlsx: forged';
const redraw = 'y\u001b[2K\rz';

function report(): TreeRestoreReport {
  return {
    snapshotId: 's2',
    takenAt: '2026-03-02T09:00:00.000Z',
    dir: '/restore',
    files: { restored: 1, present: 0 },
    dirs: 1,
    symlinks: 0,
    bytesDownloaded: 10,
    gets: 1,
    problems: [{ path: forged, problem: `a link is in the way at ${forged}` }],
    replaced: { count: 1, paths: [redraw] },
    notInSnapshot: { count: 1, paths: [forged] },
    leftOut: { count: 1, paths: [{ path: forged, problem: 'cannot be read (EACCES)', earlier: { snapshotId: 's1', takenAt: '2026-03-01T09:00:00.000Z' } }], searched: { looked: 1, oldestLooked: '2026-03-01T09:00:00.000Z', more: false } },
  };
}

describe('a tree restore report of paths with control characters', () => {
  it('prints each such path on one line with its controls escaped, in NOT RESTORED, REPLACED, NOT IN THE SNAPSHOT and LEFT OUT', () => {
    const text = renderTreeRestore(report());
    expect(text).not.toContain('\u001b');
    expect(text).not.toContain('\r');
    expect(text.split('\n').filter((l) => l.includes('payroll.xlsx'))).toHaveLength(3);
    expect(text).toContain('  NOT RESTORED x\\n  NOT RESTORED payroll.xlsx: forged: a link is in the way at x\\n  NOT RESTORED payroll.xlsx: forged\n');
    expect(text).toContain('\n    y\\e[2K\\rz\n');
    expect(text).toContain(`    x\\n  NOT RESTORED payroll.xlsx: forged: cannot be read (EACCES); snapshot s1, taken 2026-03-01T09:00:00.000Z, holds it: --at 2026-03-01T09:00:00.000Z --include $'x\\n  NOT RESTORED payroll.xlsx: forged'\n`);
  });

  it("suggests an --include that bash reads back as the very path, newline and escape included ($'…' quoting)", () => {
    for (const path of [forged, redraw, "it's\tthere", 'plain/path.xml', 'with space/\u202ereversed']) {
      const word = shellWord(path);
      expect(word).not.toMatch(/[\n\r\t\u001b\u202e]/);
      expect(execFileSync('bash', ['-c', `printf %s ${word}`], { encoding: 'utf8' })).toBe(path);
    }
  });

  it('suggests an --include that bash in the C locale (cron, a service) reads back as the very UTF-8 bytes of a name with a C1 control or a bidi override', () => {
    for (const path of ['nel\u0085x', 'csi\u009b2K', 'with space/\u202ereversed', 'zw\u200bj']) {
      const word = shellWord(path);
      expect(word).not.toMatch(/[\u0080-\u009f\u200b\u202e]/);
      const read = execFileSync('bash', ['-c', `printf %s ${word}`], { env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
      expect(read.toString('hex')).toBe(Buffer.from(path, 'utf8').toString('hex'));
    }
  });

  it("suggests an --include that, pasted, matches the very path when its name holds a glob's characters ([1], *, ?) and no other", () => {
    for (const path of ['Report [1].xml', 'a*b?.txt']) {
      const r = { ...report(), problems: [], replaced: undefined, notInSnapshot: undefined, leftOut: { ...report().leftOut!, paths: [{ path, problem: 'cannot be read (EACCES)', earlier: { snapshotId: 's1', takenAt: '2026-03-01T09:00:00.000Z' } }] } };
      const word = /--include (.+)$/m.exec(renderTreeRestore(r))![1]!;
      const glob = execFileSync('bash', ['-c', `printf %s ${word}`], { encoding: 'utf8' });
      const [m] = includeMatchers([glob]);
      expect(m!.matches(path)).toBe(true);
      expect(m!.matches('Report 1.xml')).toBe(false);
      expect(m!.matches('aXXbY.txt')).toBe(false);
    }
  });

  it('prints the paths a snapshot left out (snapshots list --problems) one to a line, controls escaped', () => {
    const text = renderSnapshotProblems([{ takenAt: '2026-03-02T09:00:00.000Z', source: 'share', snapshotId: 's2', problems: 1, problemPaths: [{ path: forged, problem: `changed while read: ${redraw}` }] } as never]);
    expect(text).toBe(`\n2026-03-02T09:00:00.000Z share s2: 1 path(s) left out or skipped\n  x\\n  NOT RESTORED payroll.xlsx: forged: changed while read: y\\e[2K\\rz\n`);
  });
});
