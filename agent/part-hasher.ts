import { Worker } from 'node:worker_threads';

// Hashes part buffers on a worker thread, so that the main thread of the agent reads files and
// frames tar members while the bytes already in a part buffer are hashed beside it. Per upload,
// the worker keeps the SHA-256 of the whole object (fed every filled part, in order) and answers
// each part with its MD5 (Content-MD5, the ETag check) and, where the store checks it, its own
// SHA-256. Part buffers live on a SharedArrayBuffer (PartPool), so a part crosses to the worker
// without a copy: the caller must not write to or release a buffer before its answer arrived.
// Messages to one worker are delivered in the order they were posted, which keeps the object's
// SHA-256 in byte order. The member SHA-256 (one per recording, in the manifest) stays on the
// main thread: it is taken from the bytes as they are read, before they reach a part buffer.

export interface PartDigests {
  md5: Buffer;
  /** The part's own SHA-256, when asked for. */
  sha256?: Buffer;
}

/** What StreamUploader needs of a hasher; one object hash per upload (`stream`). */
export interface PartHashing {
  /** Adds the part to the stream's object hash and digests the part itself. */
  part(stream: number, bytes: Uint8Array, options: { sha256: boolean }): Promise<PartDigests>;
  /** The object's SHA-256 (hex) of every part added, in order; the stream is then forgotten. */
  digest(stream: number): Promise<string>;
  /** Forgets a stream without a digest (an aborted upload). */
  drop(stream: number): void;
  /** A new stream id. */
  open(): number;
}

type Request =
  | { op: 'part'; id: number; stream: number; buffer: SharedArrayBuffer; offset: number; length: number; sha256: boolean }
  | { op: 'digest'; id: number; stream: number }
  | { op: 'drop'; stream: number };
type Reply = { id: number; md5?: Uint8Array; sha256?: Uint8Array; hex?: string; error?: string };

// Plain JavaScript evaluated as the worker's script: it needs no file of its own, so it runs the
// same from the agent's bundle and from source.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const objects = new Map();
parentPort.on('message', (m) => {
  try {
    if (m.op === 'drop') return void objects.delete(m.stream);
    if (m.op === 'digest') {
      const hash = objects.get(m.stream) ?? createHash('sha256');
      objects.delete(m.stream);
      return parentPort.postMessage({ id: m.id, hex: hash.digest('hex') });
    }
    const bytes = new Uint8Array(m.buffer, m.offset, m.length);
    let hash = objects.get(m.stream);
    if (!hash) objects.set(m.stream, (hash = createHash('sha256')));
    hash.update(bytes);
    const md5 = createHash('md5').update(bytes).digest();
    const sha256 = m.sha256 ? createHash('sha256').update(bytes).digest() : undefined;
    parentPort.postMessage({ id: m.id, md5, sha256 });
  } catch (error) {
    parentPort.postMessage({ id: m.id, error: String(error && error.stack || error) });
  }
});
`;

export class PartHasher implements PartHashing {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { worker: Worker; resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private nextStream = 1;

  open(): number {
    return this.nextStream++;
  }

  async part(stream: number, bytes: Uint8Array, options: { sha256: boolean }): Promise<PartDigests> {
    if (!(bytes.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('PartHasher hashes buffers on a SharedArrayBuffer only (PartPool)');
    }
    const id = this.nextId++;
    const { byteOffset: offset, byteLength: length } = bytes;
    const reply = await this.ask(id, { op: 'part', id, stream, buffer: bytes.buffer, offset, length, sha256: options.sha256 });
    return { md5: Buffer.from(reply.md5 as Uint8Array), ...(reply.sha256 ? { sha256: Buffer.from(reply.sha256) } : {}) };
  }

  async digest(stream: number): Promise<string> {
    const id = this.nextId++;
    return (await this.ask(id, { op: 'digest', id, stream })).hex as string;
  }

  drop(stream: number): void {
    this.worker?.postMessage({ op: 'drop', stream } satisfies Request);
  }

  /** Stops the worker; answers still awaited fail. A later call starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private ask(id: number, request: Request): Promise<Reply> {
    const worker = this.start();
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { worker, resolve, reject });
      // Only while answers are awaited does the worker keep the process alive.
      worker.ref();
      worker.postMessage(request);
    });
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: 'ferry part hasher' });
    worker.unref();
    worker.on('message', (reply: Reply) => this.settle(reply));
    // A worker that died fails every answer awaited from it (those uploads fail and are shipped
    // again); the next request starts a new one.
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, w] of this.waiting) {
        if (w.worker !== worker) continue;
        this.waiting.delete(id);
        w.reject(error);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the part hasher thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle(reply: Reply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (![...this.waiting.values()].some((other) => other.worker === w.worker)) w.worker.unref();
    if (reply.error !== undefined) w.reject(new Error(`part hasher: ${reply.error}`));
    else w.resolve(reply);
  }
}

let shared: PartHasher | undefined;

/** The process's hasher (one thread for every upload), started on first use. */
export function sharedPartHasher(): PartHasher {
  shared ??= new PartHasher();
  return shared;
}
