import { HashThread } from '../agent/part-hasher.ts';

// The SHA-256 of a `.part`'s prefix for `ferry restore fetch`, fed in byte order, taken on a
// thread of its own (the agent's object-hash thread, `agent/part-hasher.ts`): the main thread
// receives, writes and records ranges while the bytes already whole are hashed beside it. The
// bytes cross to the thread without a copy, so they must live on a SharedArrayBuffer
// (`sharedBuffer`) and must not be written again before `update` has settled.

/** A buffer on shared memory, which the hash thread reads without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

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
  private readonly thread = new HashThread('ferry restore hasher');
  private nextId = 1;
  private nextStream = 1;

  open(): PrefixHash {
    const stream = this.nextStream++;
    let size = 0;
    return {
      update: async (bytes) => {
        if (!(bytes.buffer instanceof SharedArrayBuffer)) throw new TypeError('the restore hasher reads bytes on a SharedArrayBuffer only');
        const id = this.nextId++;
        const at = size;
        size += bytes.length;
        await this.thread.ask(id, { op: 'update', id, stream, at, buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.length });
      },
      digest: async () => {
        const id = this.nextId++;
        return (await this.thread.ask(id, { op: 'digest', id, stream, size })).hex as string;
      },
      drop: () => this.thread.tell({ op: 'drop', stream }),
    };
  }

  /** Stops the thread (answers still awaited fail). */
  async close(): Promise<void> {
    await this.thread.close();
  }
}
