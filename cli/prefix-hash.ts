import { ObjectStreams } from '../agent/part-hasher.ts';

// The SHA-256 of a `.part`'s prefix for `ferry restore fetch`, fed in byte order, taken on a
// thread of its own (the agent's object streams, `agent/part-hasher.ts`): the main thread
// receives, writes and records ranges while the bytes already whole are hashed beside it. The
// bytes cross to the thread without a copy, so they must live on a SharedArrayBuffer
// (`sharedBuffer`, `agent/part-pool.ts`) and must not be written again before `update` has settled.

/** One file's hash: its bytes in order, then its digest. */
export interface PrefixHash {
  /** Adds the bytes after those added before; settles once the thread is done reading them. */
  update(bytes: Buffer): Promise<void>;
  /** The SHA-256 (hex) of every byte added; the hash is then forgotten. */
  digest(): Promise<string>;
  /** Forgets the hash without a digest. */
  drop(): void;
}

/** One hash thread for a fetch; each file opens its hash on it. */
export class PrefixHashes {
  private readonly streams = new ObjectStreams('ferry restore hasher');

  open(): PrefixHash {
    const stream = this.streams.open();
    return {
      update: async (bytes) => this.streams.update(stream, bytes),
      digest: () => this.streams.digest(stream),
      drop: () => this.streams.drop(stream),
    };
  }

  /** Stops the thread (answers still awaited fail). */
  async close(): Promise<void> {
    await this.streams.close();
  }
}
