import { afterEach, describe, expect, it, vi } from 'vitest';
import { msToUtcBoundary, roomBeforeUtcBoundary } from './utc-boundary.ts';

afterEach(() => void vi.useRealTimers());

describe('room before a UTC boundary', () => {
  it('counts the time left to midnight UTC, and to noon for a 12-hour boundary', () => {
    expect(msToUtcBoundary(Date.parse('2026-12-07T23:59:30Z'))).toBe(30_000);
    expect(msToUtcBoundary(Date.parse('2026-12-08T00:00:00Z'))).toBe(86_400_000);
    expect(msToUtcBoundary(Date.parse('2026-12-07T11:59:59Z'), 43_200_000)).toBe(1_000);
  });

  it('waits until midnight UTC has passed when less than the room asked for is left, and not otherwise', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'Date'] });
    vi.setSystemTime(new Date('2026-12-07T23:59:30Z'));
    let done = false;
    const waiting = roomBeforeUtcBoundary(60_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(29_000);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(2_000);
    await waiting;
    expect(new Date().toISOString().slice(0, 10)).toBe('2026-12-08');
    vi.setSystemTime(new Date('2026-12-07T23:58:00Z'));
    await roomBeforeUtcBoundary(60_000); // two minutes left: no wait (fake timers never advance here)
  });
});
