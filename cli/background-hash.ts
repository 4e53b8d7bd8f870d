import { Worker } from 'node:worker_threads';

// SHA-256 of a stream of bytes, computed on a worker thread: the thread that reads the network
// and writes the file is not held up hashing each 8 MiB range (about as long, at this size,
// as receiving it), and on a busy host the hash is scheduled beside it rather than in turn.
// The worker's code is inline (CommonJS, `eval`), so the single-file bundle needs no other file.

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
let hash = createHash('sha256');
parentPort.on('message', (message) => {
  if (message === 'digest') {
    parentPort.postMessage(hash.digest('hex'));
    hash = createHash('sha256');
  } else {
    for (const chunk of message) hash.update(chunk);
  }
});
`;

export class BackgroundHash {
  private readonly worker = new Worker(SOURCE, { eval: true });
  private failure: Error | undefined;
  private waiting: { resolve: (hex: string) => void; reject: (error: Error) => void } | undefined;

  constructor() {
    this.worker.unref();
    this.worker.on('message', (hex: string) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.resolve(hex);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.waiting?.reject(error);
      this.waiting = undefined;
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the hashing thread exited (code ${code})`)));
  }

  /** Adds bytes, in order (copied to the worker: the caller may reuse them at once). */
  update(chunks: readonly Uint8Array[]): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(chunks);
  }

  /** The SHA-256 (hex) of every byte added since the last digest; the hash then starts afresh. */
  digest(): Promise<string> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.worker.postMessage('digest');
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the hashing thread was closed');
    await this.worker.terminate();
  }
}
