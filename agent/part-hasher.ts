import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

// Hashes part buffers on worker threads, so that the main thread of the agent reads files and
// frames tar members while the bytes already in a part buffer are hashed beside it. Two jobs,
// on threads of their own, because they are needed at different times:
// - each part's digests (its MD5 for Content-MD5 and the ETag check, and its own SHA-256 where
//   the store checks it) are needed before the part is sent: they are taken on the digest
//   threads (parts are independent, so a lone large pack has two digested at once);
// - the SHA-256 of the whole object is needed only at completion: it is kept, per upload, on
//   the object thread, fed every part in order. A part never waits for it to be sent.
// Part buffers live on a SharedArrayBuffer (PartPool), so a part crosses to a thread without a
// copy: the caller must not write to or release a buffer before every thread is done with it
// (`HashedPart.read`). Messages to one worker are delivered in the order they were posted, which
// keeps the object's SHA-256 in byte order; each part names its offset in the object, and the
// object thread refuses a part that does not follow the bytes it holds (a thread that died and
// was replaced mid-upload), so a digest is never one of part of the bytes. The SHA-256 of each
// member (one per recording, in the manifest) is taken there too: the uploader names the member's
// range in the object before the part that holds its first byte, and the object thread hashes the
// range's bytes as the parts go by (an object sent whole: the digest thread, from the same request).
// The first objects a process sends whole, up to INLINE_WHOLE_BYTES, are hashed on the calling
// thread instead: for a few small objects a thread costs more to start than they cost to hash.

export interface PartDigests {
  md5: Buffer;
  /** The part's own SHA-256, when asked for. */
  sha256?: Buffer;
}

/** One part handed to the hasher. */
export interface HashedPart {
  /** The part's own digests: all the part waits for before it is sent. */
  digests: Promise<PartDigests>;
  /**
   * Settles once no thread reads the part's bytes any more (the digests taken, the object hash
   * fed, or the thread gone): only then may the buffer be written again or go back to the pool.
   * Rejects when the object hash did not take the part (the upload must then fail).
   */
  read: Promise<void>;
}

/** A range of an object's bytes (a tar member's body) whose own SHA-256 is wanted. */
export interface ByteRange {
  start: number;
  length: number;
}

/** What StreamUploader needs of a hasher; one object hash per upload (`stream`). */
export interface PartHashing {
  /** Adds the part to the stream's object hash (after the parts before it) and digests the part itself. */
  part(stream: number, bytes: Uint8Array, options: { sha256: boolean }): HashedPart;
  /** The object's SHA-256 (hex) of every part added, in order; the stream is then forgotten. */
  digest(stream: number): Promise<string>;
  /**
   * The SHA-256 of the stream's bytes [start, start + length), taken by the object hash from the
   * parts added after this call (it must come before the part holding `start`). Rejects when the
   * stream is dropped or digested before the range was whole.
   */
  range(stream: number, range: ByteRange): Promise<Buffer>;
  /**
   * The digests of an object sent whole in one request (a one-part pack): its MD5 and SHA-256 in
   * one request to one digest thread, with the SHA-256 of each of `ranges` (in order); no object
   * hash is kept. Settles once that thread is done with the bytes (or gone).
   */
  whole(bytes: Uint8Array, ranges?: ByteRange[]): Promise<Required<PartDigests> & { ranges: Buffer[] }>;
  /** Forgets a stream without a digest (an aborted upload, or one sent whole). */
  drop(stream: number): void;
  /** A new stream id. */
  open(): number;
  /** Starts a digest thread ahead of the first part (a thread takes a while to start on a loaded host). */
  warm?(): void;
}

type Request =
  | { op: 'part'; id: number; buffer: SharedArrayBuffer; offset: number; length: number; sha256: boolean; ranges?: ByteRange[] }
  | { op: 'range'; id: number; stream: number; start: number; length: number }
  | { op: 'update'; id: number; stream: number; at: number; buffer: SharedArrayBuffer; offset: number; length: number }
  | { op: 'digest'; id: number; stream: number; size: number }
  | { op: 'drop'; stream: number };
type Reply = { id: number; md5?: Uint8Array; sha256?: Uint8Array; hex?: string; ranges?: Uint8Array[]; error?: string };

// Plain JavaScript evaluated as each worker's script: it needs no file of its own, so it runs the
// same from the agent's bundle and from source. A digest thread answers `part`; the object
// thread answers `range`, `update`, `digest` and `drop`. A range is answered once the update
// holding its last byte is hashed (before that update is answered, so the buffer is still lent).
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const objects = new Map();
const fail = (id, error) => parentPort.postMessage({ id, error: String(error && error.stack || error) });
const forget = (stream, why) => {
  for (const r of objects.get(stream)?.ranges ?? []) fail(r.id, why);
  objects.delete(stream);
};
parentPort.on('message', (m) => {
  try {
    if (m.op === 'part') {
      const bytes = new Uint8Array(m.buffer, m.offset, m.length);
      const md5 = createHash('md5').update(bytes).digest();
      const sha256 = m.sha256 ? createHash('sha256').update(bytes).digest() : undefined;
      const ranges = (m.ranges ?? []).map((r) => createHash('sha256').update(bytes.subarray(r.start, r.start + r.length)).digest());
      return parentPort.postMessage({ id: m.id, md5, sha256, ranges });
    }
    if (m.op === 'drop') return forget(m.stream, 'stream ' + m.stream + ' dropped before the range was hashed');
    const object = objects.get(m.stream) ?? { hash: createHash('sha256'), size: 0, ranges: [] };
    objects.set(m.stream, object);
    if (m.op === 'digest') {
      forget(m.stream, 'stream ' + m.stream + ' digested before the range was whole');
      if (object.size !== m.size) throw new Error('object hash holds ' + object.size + ' bytes of stream ' + m.stream + ', expected ' + m.size);
      return parentPort.postMessage({ id: m.id, hex: object.hash.digest('hex') });
    }
    if (m.op === 'range') {
      if (m.start < object.size) throw new Error('range at ' + m.start + ' of stream ' + m.stream + ' named after ' + object.size + ' bytes were hashed');
      if (m.length === 0) return parentPort.postMessage({ id: m.id, sha256: createHash('sha256').digest() });
      return void object.ranges.push({ id: m.id, start: m.start, end: m.start + m.length, hash: createHash('sha256') });
    }
    if (object.size !== m.at) throw new Error('object hash holds ' + object.size + ' bytes of stream ' + m.stream + ', the part starts at ' + m.at);
    const bytes = new Uint8Array(m.buffer, m.offset, m.length);
    object.hash.update(bytes);
    object.size += m.length;
    object.ranges = object.ranges.filter((r) => {
      if (r.start >= object.size) return true;
      r.hash.update(bytes.subarray(Math.max(r.start - m.at, 0), Math.min(r.end, object.size) - m.at));
      if (r.end > object.size) return true;
      parentPort.postMessage({ id: r.id, sha256: r.hash.digest() });
      return false;
    });
    parentPort.postMessage({ id: m.id });
  } catch (error) {
    fail(m.id, error);
  }
});
`;

/** One worker thread and the answers awaited from it; a thread that died is replaced on the next request. */
export class HashThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { worker: Worker; resolve: (r: Reply) => void; reject: (e: Error) => void }>();

  constructor(private readonly name: string) {}

  /** Answers awaited now (to spread parts over the digest threads). */
  get load(): number {
    return this.waiting.size;
  }

  /** Starts the worker now rather than on the first request. */
  warm(): void {
    this.start();
  }

  /** Whether a worker is started (booting or ready). */
  get running(): boolean {
    return this.worker !== undefined;
  }

  ask(id: number, request: Request): Promise<Reply> {
    const worker = this.start();
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(id, { worker, resolve, reject });
      // Only while answers are awaited does the worker keep the process alive.
      worker.ref();
      worker.postMessage(request);
    });
  }

  /** Posts a request that has no answer (to the running worker only: a new one knows nothing to forget). */
  tell(request: Request): void {
    this.worker?.postMessage(request);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: this.name });
    worker.unref();
    worker.on('message', (reply: Reply) => this.settle(reply));
    // A worker that died fails every answer awaited from it (those uploads fail and are shipped
    // again); the next request starts a new one. Once it has died it reads no buffer any more.
    const fail = (error: Error) => {
      if (this.worker === worker) this.worker = undefined;
      for (const [id, w] of this.waiting) {
        if (w.worker !== worker) continue;
        this.waiting.delete(id);
        w.reject(error);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the ${this.name} thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private settle(reply: Reply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    if (![...this.waiting.values()].some((other) => other.worker === w.worker)) w.worker.unref();
    if (reply.error !== undefined) w.reject(new Error(`${this.name}: ${reply.error}`));
    else w.resolve(reply);
  }
}

/** Threads that take part digests: two, so that one part is digested while the next is. */
export const DIGEST_THREADS = 2;

/**
 * Bytes of objects sent whole that a process hashes on its own thread before it starts a digest
 * thread. Starting one took 70-135 ms of CPU here (its own copy of Node's internals and of
 * node:crypto), what hashing 25-45 MiB costs on the calling thread (MD5 and SHA-256, 3 ms a MiB);
 * an agent run from cron that sends a few small objects (an incremental share snapshot: a pack
 * and its index) never pays for one, and a long run starts one once past this.
 */
export const INLINE_WHOLE_BYTES = 16 * 1024 * 1024;

/**
 * Object hashes kept on one thread, one per stream: a stream's bytes are fed in order (each
 * update names its offset, and the thread refuses bytes that do not follow those it holds), then
 * digested or dropped. The object's SHA-256 of an upload (PartHasher) and of a file fetched by
 * `ferry restore fetch` (`cli/prefix-hash.ts`) are both taken so.
 */
export class ObjectStreams {
  private readonly thread: HashThread;
  /** Bytes posted so far per open stream: where its next bytes start in the object. */
  private readonly posted = new Map<number, number>();
  private nextId = 1;
  private nextStream = 1;

  constructor(name: string) {
    this.thread = new HashThread(name);
  }

  open(): number {
    const stream = this.nextStream++;
    this.posted.set(stream, 0);
    return stream;
  }

  /**
   * Adds `bytes` (on shared memory) to the stream's hash, after the bytes added before; settles
   * once the thread is done reading them (or is gone). Throws at once for bytes not on shared
   * memory or a stream not open.
   */
  update(stream: number, bytes: Uint8Array): Promise<void> {
    const { buffer, offset, length } = sharedView(bytes);
    const at = this.posted.get(stream);
    if (at === undefined) throw new RangeError(`stream ${stream} is not open`);
    this.posted.set(stream, at + length);
    const id = this.nextId++;
    return this.thread.ask(id, { op: 'update', id, stream, at, buffer, offset, length }).then(() => undefined);
  }

  range(stream: number, range: ByteRange): Promise<Buffer> {
    if (!this.posted.has(stream)) return Promise.reject(new RangeError(`stream ${stream} is not open`));
    const id = this.nextId++;
    return this.thread.ask(id, { op: 'range', id, stream, ...range }).then((reply) => Buffer.from(reply.sha256 as Uint8Array));
  }

  /** The SHA-256 (hex) of every byte added, in order; the stream is then forgotten. */
  async digest(stream: number): Promise<string> {
    const size = this.posted.get(stream) ?? 0;
    this.posted.delete(stream);
    const id = this.nextId++;
    return (await this.thread.ask(id, { op: 'digest', id, stream, size })).hex as string;
  }

  /** Forgets a stream without a digest. */
  drop(stream: number): void {
    this.posted.delete(stream);
    this.thread.tell({ op: 'drop', stream });
  }

  /** Stops the thread; answers still awaited fail. A later call starts a new one. */
  async close(): Promise<void> {
    await this.thread.close();
  }
}

export class PartHasher implements PartHashing {
  private readonly digesters: HashThread[];
  private readonly object = new ObjectStreams('ferry object hasher');
  private nextId = 1;
  /** Bytes of whole objects this thread may still hash itself while no digest thread runs (INLINE_WHOLE_BYTES). */
  private inlineLeft: number;
  /** Objects sent whole that were hashed on this thread (tests). */
  hashedHere = 0;

  constructor(options: { digestThreads?: number; inlineWholeBytes?: number } = {}) {
    const n = options.digestThreads ?? DIGEST_THREADS;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`digest threads must be a positive integer, got ${n}`);
    this.digesters = Array.from({ length: n }, (_, i) => new HashThread(`ferry part hasher ${i + 1}`));
    this.inlineLeft = options.inlineWholeBytes ?? INLINE_WHOLE_BYTES;
  }

  open(): number {
    return this.object.open();
  }

  /** Whether a digest thread is started. */
  get threaded(): boolean {
    return this.digesters.some((d) => d.running);
  }

  /** Starts a digest thread, unless objects sent whole are still hashed on this thread (INLINE_WHOLE_BYTES). */
  warm(): void {
    if (this.inlineLeft <= 0) this.digesters[0]?.warm();
  }

  part(stream: number, bytes: Uint8Array, options: { sha256: boolean }): HashedPart {
    const view = sharedView(bytes);
    const read = this.object.update(stream, bytes);
    const digests = this.digests(view, options.sha256);
    // Read by both threads: done when both answered (or died), whichever way each ended.
    const done = Promise.allSettled([read, digests]).then(() => read);
    return { digests, read: done };
  }

  async whole(bytes: Uint8Array, ranges: ByteRange[] = []): Promise<Required<PartDigests> & { ranges: Buffer[] }> {
    const view = sharedView(bytes);
    if (ranges.some((r) => r.start < 0 || r.length < 0 || r.start + r.length > view.length)) throw new RangeError('a range lies outside the object');
    if (!this.threaded && view.length <= this.inlineLeft) {
      this.inlineLeft -= view.length;
      this.hashedHere++;
      const at = (r: ByteRange) => bytes.subarray(r.start, r.start + r.length);
      return { md5: createHash('md5').update(bytes).digest(), sha256: createHash('sha256').update(bytes).digest(), ranges: ranges.map((r) => createHash('sha256').update(at(r)).digest()) };
    }
    // Past the budget, the next uploads warm a thread ahead of their first part.
    this.inlineLeft = 0;
    const reply = await this.digests(view, true, ranges);
    return { md5: reply.md5, sha256: reply.sha256 as Buffer, ranges: reply.ranges };
  }

  range(stream: number, range: ByteRange): Promise<Buffer> {
    return this.object.range(stream, range);
  }

  /** A part's digests, from the digest thread with the fewest answers awaited. */
  private async digests(view: { buffer: SharedArrayBuffer; offset: number; length: number }, sha256: boolean, ranges?: ByteRange[]): Promise<PartDigests & { ranges: Buffer[] }> {
    const id = this.nextId++;
    const digester = this.digesters.reduce((a, b) => (b.load < a.load ? b : a));
    const reply = await digester.ask(id, { op: 'part', id, ...view, sha256, ...(ranges ? { ranges } : {}) });
    return {
      md5: Buffer.from(reply.md5 as Uint8Array),
      ...(reply.sha256 ? { sha256: Buffer.from(reply.sha256) } : {}),
      ranges: (reply.ranges ?? []).map((r) => Buffer.from(r)),
    };
  }

  digest(stream: number): Promise<string> {
    return this.object.digest(stream);
  }

  drop(stream: number): void {
    this.object.drop(stream);
  }

  /** Stops the threads; answers still awaited fail. A later call starts new ones. */
  async close(): Promise<void> {
    await Promise.all([this.object.close(), ...this.digesters.map((t) => t.close())]);
  }
}

/** The bytes' place in shared memory: a part crosses to a thread without a copy, or not at all. */
function sharedView(bytes: Uint8Array): { buffer: SharedArrayBuffer; offset: number; length: number } {
  if (!(bytes.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError('the hash threads read buffers on a SharedArrayBuffer only (sharedBuffer, PartPool)');
  }
  return { buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength };
}

let shared: PartHasher | undefined;

/** The process's hasher (its threads serve every upload), started on first use. */
export function sharedPartHasher(): PartHasher {
  shared ??= new PartHasher();
  return shared;
}
