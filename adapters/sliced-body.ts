// Request bodies sent so that a slow uplink is not taken for a dead one.
//
// The SDK hands a part or a pack to Node as one write (`req.end(buffer)`), and Node's idle timer
// (REQUEST_TIMEOUTS.idleMs) moves only when a write is handed over and when it completes: an
// 8 MiB part sharing a 3 Mbit/s uplink with two other uploads takes 67 s to leave, so it "timed
// out after 60000 ms of inactivity" while its bytes left steadily, again at every attempt, and
// the pass then shipped no more recordings. Sent as slices, every slice the kernel takes is
// progress. What the kernel took but has not sent yet when the last slice is handed over (the
// socket's buffer: megabytes on a fast first hop, to a proxy on the LAN) still has to leave before
// the store can answer, and nothing shows it leave: the wait for that answer is lengthened by the
// time the whole body takes at the rate its last quarter was taken (once the buffers are full,
// the kernel takes bytes as fast as they leave), or, for a body the kernel took at once, at
// FLOOR_RATE. The whole body, not the part still queued, which cannot be seen: the queue is never
// longer, and the buffers grow as the body goes, so the last quarter's rate can be higher than the
// line's. A connection on which nothing moves still fails after idleMs in the middle of a body, as
// before; one that dies once the kernel took the whole body fails after the lengthened wait, which
// a dead path cannot make long: it lets the kernel take no more than its buffers hold.
import { Readable, type Writable } from 'node:stream';
import type { Socket } from 'node:net';
import type { UploadPacer } from './upload-pacing.ts';

const SLICE_BYTES = 64 * 1024;
/** Bodies smaller than this go as they are: one slice would change nothing. */
const MIN_SLICED_BYTES = 2 * SLICE_BYTES;
/** The most the wait for an answer is lengthened for bytes still queued (a bound on a bad estimate). */
const MAX_DRAIN_MS = 15 * 60_000;

/** The slowest share of the line (bytes/ms) an upload is waited for at: 32 KiB/s, 256 kbit/s. */
export const FLOOR_RATE = 32 * 1024 / 1000;

/**
 * Whether a request body is worth slicing: bytes in memory, larger than two slices, or any size
 * under a bandwidth limit in force (each slice waits for the limit before it is handed over).
 */
export function sliceable(body: unknown, pacer?: UploadPacer): body is Uint8Array {
  return body instanceof Uint8Array && (body.byteLength >= MIN_SLICED_BYTES || (pacer?.limited === true && body.byteLength > 0));
}

/**
 * A body of `bytes` that yields them a slice at a time and, once the last one is handed to the
 * socket, lengthens the socket's idle timeout by the time the bytes still queued should take to leave.
 */
export class SlicedBody extends Readable {
  private at = 0;
  /** When the last quarter of the body began to be handed over, and from which byte. */
  private lastQuarter: { bytes: number; at: number } | undefined;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly idleMs: number,
    private readonly now: () => number = Date.now,
    /** The bandwidth limit each slice waits for before it is handed over (upload-pacing.ts). */
    private readonly pacer?: UploadPacer,
  ) {
    super({ highWaterMark: SLICE_BYTES });
  }

  override _read(): void {
    const total = this.bytes.byteLength;
    if (this.at >= total) {
      this.push(null);
      return;
    }
    if (!this.lastQuarter && this.at >= total * 0.75) this.lastQuarter = { bytes: this.at, at: this.now() };
    const end = Math.min(this.at + (this.pacer ? this.pacer.sliceBytes(SLICE_BYTES) : SLICE_BYTES), total);
    const slice = this.bytes.subarray(this.at, end);
    this.at = end;
    const wait = this.pacer?.take(slice.byteLength);
    if (wait) wait.then(() => this.push(slice), (error: unknown) => this.destroy(error as Error));
    else this.push(slice);
  }

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    const request = destination as unknown as Writable & { socket?: Socket | null };
    request.once('finish', () => {
      const socket = request.socket;
      if (socket) this.lengthenWait(socket, request);
    });
    return super.pipe(destination, options);
  }

  /**
   * The idle timeout once every byte is handed over: idleMs plus the time the queue may take to
   * leave. The SDK sets its idle timeout 3 s into a request (a longer one): a body the kernel took
   * at once is handed over before that, so the SDK's later setting is lengthened as well, until
   * the request ends and the socket goes back to the pool.
   */
  private lengthenWait(socket: Socket, request: Writable): void {
    const waitMs = this.idleMs + this.drainMs();
    const idleMs = this.idleMs;
    const own = Object.prototype.hasOwnProperty.call(socket, 'setTimeout');
    const original = socket.setTimeout;
    socket.setTimeout = function (this: Socket, ms: number, callback?: () => void) {
      return original.call(this, ms === idleMs ? waitMs : ms, callback);
    } as Socket['setTimeout'];
    request.once('close', () => {
      if (own) socket.setTimeout = original;
      else delete (socket as Partial<Socket>).setTimeout;
    });
    socket.setTimeout(idleMs);
  }

  /** How long the body's bytes handed over but not yet sent may take to leave. */
  drainMs(): number {
    const now = this.now();
    const quarter = this.lastQuarter;
    // Less than a second for the last quarter: the kernel took it at once, which says nothing of the line.
    const measured = quarter && now - quarter.at >= 1_000 ? (this.bytes.byteLength - quarter.bytes) / (now - quarter.at) : undefined;
    return Math.min(MAX_DRAIN_MS, Math.ceil(this.bytes.byteLength / (measured ?? FLOOR_RATE)));
  }
}
