import type { BlobStore } from '../core/ports.ts';
import type { BandwidthSchedule, Rate } from '../core/bandwidth.ts';

// The token bucket behind the agent's bandwidth limit (the schedule is core/bandwidth.ts): one
// per agent, shared by every upload stream. Each body sent to the store (a single PUT or one
// multipart part) first reserves its bytes, a quarter-second's worth at a time, so concurrent
// streams interleave and the limit is re-read as the reservation goes on (a schedule boundary
// crossed mid-part takes effect at once). The rate holds on average over a part; on the wire
// a part still leaves at link speed once its bytes are reserved.

/** Slice reserved at a time: a quarter of a second's worth of bytes at the current limit. */
const SLICE_SECONDS = 0.25;

/** The token bucket every upload of one agent shares. */
export class Throttle {
  /** When (ms, wall clock) the bytes reserved so far have all been paid for. */
  private paidUntil = 0;
  private waitedMs = 0;
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

  /** Total time upload streams have waited for the limit, in seconds. */
  get waitedSeconds(): number {
    return this.waitedMs / 1000;
  }

  get bytesSent(): number {
    return this.sent;
  }

  /** Waits until `bytes` more may be sent under the limit. */
  async take(bytes: number): Promise<void> {
    let left = bytes;
    this.sent += bytes;
    while (left > 0) {
      const rate = this.limit;
      if (rate === undefined) {
        this.paidUntil = 0;
        return;
      }
      const chunk = Math.min(left, Math.max(1, Math.floor(rate * SLICE_SECONDS)));
      const now = Date.now();
      this.paidUntil = Math.max(now, this.paidUntil) + (chunk / rate) * 1000;
      left -= chunk;
      const wait = this.paidUntil - now;
      if (wait > 0) {
        this.waitedMs += wait;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
  }
}

/** The store with every upload body (PUT, part) passed through the throttle first. */
export function throttledStore<S extends Pick<BlobStore, 'put' | 'uploadPart'>>(store: S, throttle: Throttle): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'put') {
        return async (...args: Parameters<BlobStore['put']>) => {
          await throttle.take(args[1].length);
          const r = await target.put(...args);
          throttle.lastUploadAt = Date.now();
          return r;
        };
      }
      if (prop === 'uploadPart') {
        return async (...args: Parameters<BlobStore['uploadPart']>) => {
          await throttle.take(args[3].length);
          const r = await target.uploadPart(...args);
          throttle.lastUploadAt = Date.now();
          return r;
        };
      }
      const value: unknown = Reflect.get(target, prop);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
