import type { BlobStore } from '../core/ports.ts';
import type { BandwidthSchedule, Rate } from '../core/bandwidth.ts';
import { paceable, type UploadPacer } from '../adapters/upload-pacing.ts';

// The token bucket behind the agent's bandwidth limit (the schedule is core/bandwidth.ts): one
// per agent, shared by every upload stream, the heartbeat and every retry included. A body sent
// to the store (a single PUT or one multipart part) is handed to its socket a slice at a time, a
// quarter-second's worth of bytes at the current limit at most, and each slice waits here for its
// turn (the store's view withUploadPacer, adapters/upload-pacing.ts), so the line carries the limit second by second, not just on
// average over a part, and a schedule boundary crossed mid-part takes effect at the next slice.
// No credit builds up while the agent is idle: a burst is at most one slice per stream.

/** Slice reserved at a time: a quarter of a second's worth of bytes at the current limit. */
const SLICE_SECONDS = 0.25;
/** A slice woken later than this after its time pushes the later ones back (a timer's usual lateness is a few ms). */
const LATE_MS = 20;

/** The token bucket every upload of one agent shares. */
export class Throttle implements UploadPacer {
  /** When (ms, wall clock) the bytes reserved so far have all been paid for. */
  private paidUntil = 0;
  private waitedMs = 0;
  /** How far late slices have pushed every later one back (ms), see until(). */
  private shiftedMs = 0;
  private sent = 0;
  lastUploadAt: number | undefined;

  constructor(
    readonly schedule: BandwidthSchedule,
    /** The instant the schedule is read at (the agent's clock). */
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** The limit in force now. */
  get limit(): Rate {
    return this.schedule.limitAt(this.now());
  }

  get limited(): boolean {
    return this.limit !== undefined;
  }

  /** Total time upload streams have waited for the limit, in seconds. */
  get waitedSeconds(): number {
    return this.waitedMs / 1000;
  }

  get bytesSent(): number {
    return this.sent;
  }

  sliceBytes(max: number): number {
    const rate = this.limit;
    return rate === undefined ? max : Math.min(max, Math.max(1, Math.floor(rate * SLICE_SECONDS)));
  }

  /** Counts `bytes` about to be sent; undefined when they may go now, else a promise resolved when the limit lets them go. */
  take(bytes: number): Promise<void> | undefined {
    this.sent += bytes;
    if (this.limit === undefined) {
      this.paidUntil = 0;
      return undefined;
    }
    return this.pay(bytes);
  }

  private async pay(bytes: number): Promise<void> {
    let left = bytes;
    while (left > 0) {
      const rate = this.limit;
      if (rate === undefined) {
        this.paidUntil = 0;
        return;
      }
      const chunk = Math.min(left, Math.max(1, Math.floor(rate * SLICE_SECONDS)));
      this.paidUntil = Math.max(Date.now(), this.paidUntil) + (chunk / rate) * 1000;
      left -= chunk;
      await this.until(this.paidUntil);
    }
  }

  /**
   * Waits until `due`, pushed back by the time slices lost waking late after it was set. Timers
   * held up by a busy event loop (hashing, packing) all fire together once it frees: the slices
   * due meanwhile would leave at once, a burst of what the limit had spread over the stall.
   * Instead the first slice late by more than LATE_MS pushes every later one back by its
   * lateness, so the line resumes at the limit (the time lost is not made up).
   */
  private async until(due: number): Promise<void> {
    const shiftedAt = this.shiftedMs;
    for (;;) {
      const at = due + this.shiftedMs - shiftedAt;
      const wait = at - Date.now();
      if (wait <= 0) {
        if (-wait > LATE_MS) {
          this.shiftedMs -= wait;
          this.paidUntil -= wait;
        }
        return;
      }
      this.waitedMs += wait;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * The store with every upload body (PUT, part) paced by the throttle on its way to the socket:
 * the store's HTTP handler (adapters/http-handler.ts) asks for the pacer of the request it sends.
 * A store that sends no body through that handler (one in memory) is paid for once the call
 * returns, so the bytes are counted and later uploads wait as the limit says.
 */
export function throttledStore<S extends Pick<BlobStore, 'put' | 'uploadPart'>>(store: S, throttle: Throttle): S {
  const paced = async <T>(bytes: number, send: (pacer: UploadPacer) => Promise<T>): Promise<T> => {
    let handed = false;
    const pacer: UploadPacer = {
      get limited() {
        return throttle.limited;
      },
      sliceBytes: (max) => throttle.sliceBytes(max),
      take: (n) => ((handed = true), throttle.take(n)),
    };
    const r = await send(pacer);
    if (!handed) await throttle.take(bytes);
    throttle.lastUploadAt = Date.now();
    return r;
  };
  return new Proxy(store, {
    get(target, prop) {
      const via = (pacer: UploadPacer) => (paceable(target) ? target.withUploadPacer(pacer) : target);
      if (prop === 'put') return (...args: Parameters<BlobStore['put']>) => paced(args[1].length, (pacer) => via(pacer).put(...args));
      if (prop === 'uploadPart') return (...args: Parameters<BlobStore['uploadPart']>) => paced(args[3].length, (pacer) => via(pacer).uploadPart(...args));
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
