// A test that reads the day (or the half day) from the wall clock, then ships, reports or
// checks what that day holds, sees two days when it runs across midnight UTC (a CI run started
// at 23:59:30): what it shipped lands on one day and what it expects names the other.

const DAY_MS = 86_400_000;

/** Time left before the next multiple of `everyMs` since the epoch (midnight UTC for a day). */
export function msToUtcBoundary(now: number, everyMs = DAY_MS): number {
  return everyMs - (now % everyMs);
}

/**
 * Returns at once when the next UTC boundary (midnight, or every `everyMs`) is at least
 * `roomMs` away; otherwise waits until it has passed, so the next `roomMs` fall within one day.
 * The test's own timeout must allow `roomMs` more.
 */
export async function roomBeforeUtcBoundary(roomMs: number, everyMs = DAY_MS): Promise<void> {
  const left = msToUtcBoundary(Date.now(), everyMs);
  if (left < roomMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}
