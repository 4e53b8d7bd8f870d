// The pace an upload's body leaves at, carried from the store to the HTTP handler.
//
// A bandwidth limit paid for a whole body before it is sent holds on average, but the body then
// leaves at link speed: an 8 MiB part under a 2 MB/s limit put 16 times the limit on the line for
// a second, parts of parallel uploads together more. The limit has to act where the bytes are
// handed to the socket. The store (s3-blob-store.ts) passes the pacer of an upload with the
// request's handler options, which the SDK hands to the handler (http-handler.ts) at every
// attempt; the handler asks it before every slice of the body. (Not an AsyncLocalStorage: in
// Node 22 one in use slows every await of the process, the unlimited path included.)

import type { HttpHandlerOptions } from '@smithy/types';

/** What paces the bodies sent: one per agent, shared by every upload stream. */
export interface UploadPacer {
  /** Whether a limit is in force now (unlimited bodies go as they always did). */
  readonly limited: boolean;
  /** How many bytes to hand over next, at most `max`: a short slice at a low limit. */
  sliceBytes(max: number): number;
  /** Counts `bytes` about to be sent; a promise when they must wait for the limit, undefined when they may go now. */
  take(bytes: number): Promise<void> | undefined;
}

/** The handler options that carry an upload's pacer (given to the SDK's `client.send`). */
export interface PacedRequestOptions extends HttpHandlerOptions {
  uploadPacer?: UploadPacer;
}

/** A store whose uploads can be paced: `withUploadPacer` gives a view of it whose bodies are. */
export interface PaceableStore {
  withUploadPacer(pacer: UploadPacer): this;
}

export function paceable(store: object): store is PaceableStore {
  return typeof (store as Partial<PaceableStore>).withUploadPacer === 'function';
}
