import { describe, it, expect } from 'vitest';
import { StabilityTracker } from '../../agent/sources/stability.ts';

// The stability window of a backup is measured on the agent's clock across passes (kept in the
// state directory). A clock set back after a first sight must not hold the file for as long as
// it was ahead.

const MIN = 60_000;
const file = { name: 'db.bak', size: 50_000, mtimeMs: 1_000 };

describe('stability window', () => {
  it('counts a first sight dated in the future (the clock was ahead, then set back) from now, so the file ships one window later, not a day later', () => {
    const now = Date.parse('2026-12-05T10:00:00Z');
    const tracker = StabilityTracker.restore({ 'db.bak': [file.size, file.mtimeMs, now + 24 * 60 * MIN] });
    tracker.observe([file], now);
    expect(tracker.isStable(file, now + 1.5 * MIN, 90)).toBe(true);
    expect(tracker.snapshot()['db.bak']).toEqual([file.size, file.mtimeMs, now]);
  });

  it('keeps a first sight in the past across passes: the window spans them', () => {
    const now = Date.parse('2026-12-05T10:00:00Z');
    const tracker = StabilityTracker.restore({ 'db.bak': [file.size, file.mtimeMs, now - MIN] });
    tracker.observe([file], now);
    expect(tracker.isStable(file, now + 0.5 * MIN, 90)).toBe(true);
    expect(tracker.isStable(file, now, 90)).toBe(false);
  });
});
