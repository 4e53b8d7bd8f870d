import { ObjectStreams } from '../agent/part-hasher.ts';

// The SHA-256 of a `.part`'s prefix for `ferry restore fetch`, fed in byte order, taken on a
// thread of its own (the agent's object streams, `agent/part-hasher.ts`): the main thread
// receives, writes and records ranges while the bytes already whole are hashed beside it. The
// bytes cross to the thread without a copy, so they must live on a SharedArrayBuffer
// (`sharedBuffer`, `agent/part-pool.ts`) and must not be written again before `update` has settled.
//
// A file's hash is one sequence, but files are independent: with two threads, the files
// downloaded at once (a run of binlog segments, a full backup's end and the first segment) are
// hashed side by side. The hash was the fetch's busiest thread, and what it had not hashed yet
// when the last byte arrived was the fetch's tail: with a second core free once the store is
// done sending, that backlog is worked off by both.

/** One file's hash: its bytes in order, then its digest. */
export interface PrefixHash {
  /** Adds the bytes after those added before; settles once the thread is done reading them. */
  update(bytes: Buffer): Promise<void>;
  /** The SHA-256 (hex) of every byte added; the hash is then forgotten. */
  digest(): Promise<string>;
  /** Forgets the hash without a digest. */
  drop(): void;
}

/** Hash threads of a fetch by default (this host class has two cores). */
export const HASH_THREADS = 2;

interface Thread {
  streams: ObjectStreams;
  /** Files open on it. */
  files: number;
  /** Bytes posted to it and not hashed yet. */
  pending: number;
}

/** The hash threads of a fetch; each file opens its hash on the least busy one (a thread starts only when a file is given to it). */
export class PrefixHashes {
  private readonly threads: Thread[];
  /** Indexes of the threads given a file so far. */
  readonly used = new Set<number>();

  constructor(threads = HASH_THREADS) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`hash threads must be a positive integer, got ${threads}`);
    this.threads = Array.from({ length: threads }, (_, i) => ({ streams: new ObjectStreams(`ferry restore hasher ${i + 1}`), files: 0, pending: 0 }));
  }

  /** A file's hash, on the thread with the fewest bytes waiting, then the fewest files open. */
  open(): PrefixHash {
    const index = this.threads.reduce((best, t, i) => {
      const b = this.threads[best]!;
      return t.pending < b.pending || (t.pending === b.pending && t.files < b.files) ? i : best;
    }, 0);
    const thread = this.threads[index]!;
    this.used.add(index);
    thread.files++;
    const stream = thread.streams.open();
    let open = true;
    const close = () => {
      if (open) thread.files--;
      open = false;
    };
    return {
      update: async (bytes) => {
        thread.pending += bytes.length;
        try {
          await thread.streams.update(stream, bytes);
        } finally {
          thread.pending -= bytes.length;
        }
      },
      digest: () => {
        close();
        return thread.streams.digest(stream);
      },
      drop: () => {
        close();
        thread.streams.drop(stream);
      },
    };
  }

  /** Stops the threads (answers still awaited fail). */
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.streams.close()));
  }
}
