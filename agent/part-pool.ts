// Part buffers, shared by every upload of an agent. Allocating a fresh multi-megabyte buffer
// per part makes the garbage collector chase a gigabyte of dead buffers on a big backlog; a
// pool keeps a fixed set and hands them round. It also bounds memory for the whole agent, not
// per upload: partSize × capacity, whatever the number of packs and parts. A pack shipping
// alone may use every buffer the others are not using; waiters are served first come, first
// served (a backup, segment or archive, like a tree snapshot, takes a share: see `share`).
// Buffers are allocated on first need, so a pool that is never busy stays small.

/** A buffer on shared memory: the hash threads (agent/part-hasher.ts) read it without a copy. */
export function sharedBuffer(size: number): Buffer {
  return Buffer.from(new SharedArrayBuffer(size));
}

export class PartPool {
  private readonly free: Buffer[] = [];
  private readonly waiting: ((buffer: Buffer) => void)[] = [];
  private allocated = 0;

  /** `parent`: this pool is a share of that one (see `share`), whose buffers it lends. */
  constructor(
    readonly partSize: number,
    readonly capacity: number,
    private readonly parent?: PartPool,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`part pool capacity must be a positive integer, got ${capacity}`);
  }

  /**
   * A share of this pool that lends at most `limit` of its buffers at once (the pool's own bound
   * still holds for all its users): an upload that goes on alone for long, such as a tree
   * snapshot's packs one after another, keeps its parts in flight to what it sends at once
   * instead of taking every buffer the others leave free and keeping them allocated.
   */
  share(limit: number): PartPool {
    return new PartPool(this.partSize, limit, this);
  }

  /** Buffers in the pool's hands or lent out. */
  get size(): number {
    return this.allocated;
  }

  /** Buffers lent out now. */
  get inUse(): number {
    return this.allocated - this.free.length;
  }

  /** A buffer of `partSize` bytes (contents undefined); waits while all are lent out. */
  acquire(): Promise<Buffer> {
    const buffer = this.free.pop();
    if (buffer) return Promise.resolve(buffer);
    if (this.allocated < this.capacity) {
      this.allocated++;
      return this.parent ? this.parent.acquire() : Promise.resolve(sharedBuffer(this.partSize));
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Gives a buffer back; the caller must not touch it (or any view of it) afterwards. */
  release(buffer: Buffer): void {
    if (buffer.length !== this.partSize) throw new RangeError('buffer released to a pool it does not belong to');
    const next = this.waiting.shift();
    if (next) next(buffer);
    else if (!this.parent) this.free.push(buffer);
    else {
      // A share keeps no buffer it does not use: it goes back to the pool it came from.
      this.allocated--;
      this.parent.release(buffer);
    }
  }
}
