import type { Clock } from '../core/clock.ts';

// How fast the agent ships recordings, for `agent status`: a first install over a recorder's
// backlog of weeks, or a catch-up after an outage, leaves its administrator asking how long until
// it is offsite. The journal records what shipped, not when, so the agent samples its shipped
// bytes each time it writes status.json (each pass) and keeps the samples of the last
// RATE_WINDOW_MS: the rate then follows a bandwidth schedule, or a cron run that stopped, instead
// of averaging a service's whole life.

/** How far back the rate looks. */
export const RATE_WINDOW_MS = 10 * 60_000;

/** Recordings' bytes shipped from `since` to `until` (`seconds` apart). */
export interface ShipRate {
  since: string;
  until: string;
  seconds: number;
  bytes: number;
}

export class ShipRateWindow {
  private readonly samples: { at: number; bytes: number }[];

  /** Starts with what was shipped when the agent started (`bytes`, the journal's total). */
  constructor(
    private readonly clock: Clock,
    bytes: number,
  ) {
    this.samples = [{ at: clock.now().getTime(), bytes }];
  }

  /** Takes the shipped total now; the rate over the window, or undefined when no time has passed. */
  sample(bytes: number): ShipRate | undefined {
    const at = this.clock.now().getTime();
    this.samples.push({ at, bytes });
    // Keep one sample at or before the window's start, so the window is spanned whole.
    while (this.samples.length > 2 && at - this.samples[1]!.at >= RATE_WINDOW_MS) this.samples.shift();
    const first = this.samples[0]!;
    if (at <= first.at) return undefined;
    return { since: new Date(first.at).toISOString(), until: new Date(at).toISOString(), seconds: Math.round((at - first.at) / 1000), bytes: Math.max(0, bytes - first.bytes) };
  }
}
