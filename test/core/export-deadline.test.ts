import { describe, expect, it } from 'vitest';
import { deadlineOf, judgeOverdue, requestedDeadline, startedDeadline } from '../../core/export-deadline.ts';
import type { ExportStatus } from '../../core/exports.ts';

// When a console export whose invocation died counts as failed, and what the officer reads.

const AT = new Date('2026-04-02T09:30:00Z');
const running: ExportStatus = {
  site: 'site-a',
  exportId: 'exp-20260402T093000Z-0badcafe',
  state: 'running',
  requestedBy: 'alice',
  requestedAt: AT.toISOString(),
  reason: 'court order 118',
  calls: 2,
  key: 'exports/site-a/exp-20260402T093000Z-0badcafe.tar',
  bytes: 0,
  deadline: requestedDeadline(AT, 900),
};
const at = (minutes: number) => new Date(AT.getTime() + minutes * 60_000);

describe('export deadlines', () => {
  it('gives a requested export its queue wait (5 min), the timeout and a 2 min margin; a started one the timeout and the margin', () => {
    expect(requestedDeadline(AT, 900)).toBe(at(22).toISOString());
    expect(startedDeadline(at(3), 900)).toBe(at(20).toISOString());
  });

  it('leaves a running export alone up to its deadline and judges it failed one millisecond after, naming the minutes', () => {
    expect(judgeOverdue(running, at(22))).toBeUndefined();
    const failed = judgeOverdue(running, new Date(at(22).getTime() + 1));
    expect(failed).toMatchObject({ state: 'failed', error: 'the export did not finish within 22 minutes; request it again', finishedAt: '2026-04-02T09:52:00.001Z' });
  });

  it('counts the minutes from when the function took the job once it has', () => {
    const started = { ...running, startedAt: at(3).toISOString(), deadline: startedDeadline(at(3), 900) };
    expect(judgeOverdue(started, at(21))?.error).toBe('the export did not finish within 17 minutes; request it again');
  });

  it('never judges an export that ended, however late the read', () => {
    expect(judgeOverdue({ ...running, state: 'done' }, at(10_000))).toBeUndefined();
    expect(judgeOverdue({ ...running, state: 'failed', error: 'x' }, at(10_000))).toBeUndefined();
  });

  it('judges a record written without a deadline from its request time with the longest timeout', () => {
    const { deadline: _none, ...old } = running;
    expect(deadlineOf(old).toISOString()).toBe(at(22).toISOString());
    expect(judgeOverdue(old, at(23))?.state).toBe('failed');
  });
});
