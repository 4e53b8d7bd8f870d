// An SDK request handler that reads GET bodies straight into the caller's memory. Node's HTTP
// client gives every socket read a fresh 64 KiB buffer and every body chunk a stream event; a
// 2 GB restore fetch spent a fifth of its main thread collecting those buffers. Here each
// keep-alive socket reads with `onread` (plain TCP or TLS): the response head into a small
// scratch buffer, and the body, when its length is known, straight into the buffer given to
// `readInto`, so a ranged GET's bytes are copied once, by the kernel. Signing, retries, error
// parsing and the rest stay the SDK's: only the transport of GETs changes; every other request
// goes to the Node handler given. A body read as a stream (the SDK reading an error, or a
// checksum wrapper) works as any Node stream, but the socket is not paused for a slow reader
// (a body is held in memory up to its length): for readers that take each body at once.
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { buildQueryString } from '@smithy/core/protocols';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { ChunkedDecoder, ResponseHead, type BodyFraming } from './http-head.ts';

type HttpRequest = Parameters<NodeHttpHandler['handle']>[0];
type HandlerOptions = Parameters<NodeHttpHandler['handle']>[1];
type HandlerResult = Awaited<ReturnType<NodeHttpHandler['handle']>>;

const SCRATCH_BYTES = 64 * 1024;
/** How long a request may wait on a silent connection (no byte of its answer) before it fails. */
export const DIRECT_GET_IDLE_MS = 60_000;

/** A body whose bytes can be read straight into the caller's buffer. */
export interface DirectReadable {
  /**
   * Reads the whole body into `target` from its start and resolves with its length. Rejects, and
   * discards the body, when the body is longer than `target` or the connection ends before it.
   */
  readInto(target: Uint8Array): Promise<number>;
}

export function readsInto(body: unknown): body is DirectReadable {
  return typeof (body as Partial<DirectReadable> | undefined)?.readInto === 'function';
}

function networkError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

/** One response's body, fed by its connection: to `readInto`'s target, or as a stream. */
class DirectBody extends Readable implements DirectReadable {
  private pending: Buffer[] = [];
  private streaming = false;
  private target: { bytes: Uint8Array; at: number; resolve: (n: number) => void; reject: (e: Error) => void } | undefined;
  ended = false;

  constructor(
    /** Bytes still to come, when the head gave a length. */
    private readonly length: number | undefined,
    private readonly abandon: (error: Error) => void,
  ) {
    super();
  }

  /** Where the next socket read may go straight to: the unfilled rest of the target. */
  space(): Uint8Array | undefined {
    return this.target && this.target.at < this.target.bytes.length ? this.target.bytes.subarray(this.target.at) : undefined;
  }

  /** `n` bytes were read straight into `space()`. */
  filled(n: number): void {
    this.target!.at += n;
  }

  /** Bytes that came in the scratch buffer (copied here: the scratch is reused). */
  accept(bytes: Uint8Array): void {
    const copy = Buffer.from(bytes);
    if (this.streaming) this.push(copy);
    else if (this.target && this.target.at + copy.length <= this.target.bytes.length) {
      this.target.bytes.set(copy, this.target.at);
      this.target.at += copy.length;
    } else this.pending.push(copy);
  }

  end(): void {
    this.ended = true;
    if (this.streaming) this.push(null);
    const t = this.target;
    if (!t) return;
    this.target = undefined;
    if (this.pending.length > 0) t.reject(new RangeError(`the body is longer than the ${t.bytes.length} bytes given for it`));
    else t.resolve(t.at);
  }

  fail(error: Error): void {
    const t = this.target;
    this.target = undefined;
    if (t) t.reject(error);
    else this.destroy(error);
  }

  readInto(target: Uint8Array): Promise<number> {
    if (this.streaming) return Promise.reject(new Error('the body is already read as a stream'));
    if (this.length !== undefined && this.length > target.length) {
      const error = new RangeError(`the body holds ${this.length} bytes, more than the ${target.length} given for it`);
      this.abandon(error);
      return Promise.reject(error);
    }
    let at = 0;
    for (const b of this.pending.splice(0)) {
      if (at + b.length > target.length) return Promise.reject(new RangeError(`the body is longer than the ${target.length} bytes given for it`));
      target.set(b, at);
      at += b.length;
    }
    if (this.ended) return Promise.resolve(at);
    return new Promise((resolve, reject) => {
      this.target = { bytes: target, at, resolve, reject };
    });
  }

  override _read(): void {
    if (this.streaming) return;
    this.streaming = true;
    for (const b of this.pending.splice(0)) this.push(b);
    if (this.ended) this.push(null);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) this.abandon(error ?? new Error('the body was discarded before its end'));
    callback(error);
  }
}

/** One keep-alive socket; one request at a time. */
class Connection {
  readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private given: Uint8Array | undefined;
  private head: ResponseHead | undefined;
  private body: DirectBody | undefined;
  private framing: BodyFraming | undefined;
  private remaining = 0;
  private chunked: ChunkedDecoder | undefined;
  private answer: { resolve: (r: HandlerResult) => void; reject: (e: Error) => void } | undefined;
  closed = false;
  reusable = true;

  constructor(
    readonly origin: string,
    request: HttpRequest,
    tls: ConnectionOptions,
    private readonly done: (c: Connection) => void,
    private readonly idleMs: number,
  ) {
    const onread = { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) };
    const host = request.hostname.replace(/^\[(.*)\]$/, '$1');
    this.socket =
      request.protocol === 'https:'
        ? // Node's TLS sockets take `onread` as its TCP sockets do (the types do not list it).
          tlsConnect({ ...tls, host, port: request.port ?? 443, ...(isIP(host) ? {} : { servername: host }), onread } as ConnectionOptions)
        : netConnect({ host, port: request.port ?? 80, onread });
    this.socket.setNoDelay(true);
    this.socket.on('error', (error) => this.close(error));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.close(networkError('the connection closed')));
    // A store that stops answering mid-request (a dead path, a stalled peer) would otherwise
    // hold a restore forever: the request fails as a transient one and is sent again.
    this.socket.on('timeout', () => this.close(networkError(`no byte from the store for ${this.idleMs / 1000} s`)));
  }

  send(request: HttpRequest, path: string): Promise<HandlerResult> {
    this.head = new ResponseHead();
    this.reusable = true;
    this.socket.setTimeout(this.idleMs);
    const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`)];
    this.socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    return new Promise((resolve, reject) => {
      this.answer = { resolve, reject };
    });
  }

  private nextBuffer(): Uint8Array {
    this.given = this.framing === 'length' ? (this.body?.space()?.subarray(0, this.remaining) ?? this.scratch) : this.scratch;
    return this.given;
  }

  /** Always reads on: a body not taken yet is held (copied), bounded by its length. */
  private onRead(n: number, buf: Uint8Array): boolean {
    if (buf !== this.scratch) {
      this.remaining -= n;
      this.body!.filled(n);
      if (this.remaining === 0) this.finishBody();
      return true;
    }
    try {
      this.feed(this.scratch.subarray(0, n));
    } catch (error) {
      this.close(error as Error);
    }
    return true;
  }

  private feed(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.head) {
      const rest = this.head.add(bytes);
      if (rest === undefined) return;
      this.startBody(rest);
      return;
    }
    if (!this.body) return this.close(new Error('the server sent bytes with no request waiting'));
    if (this.framing === 'length') {
      if (bytes.length > this.remaining) return this.close(new Error('the server sent more than the body it announced'));
      this.remaining -= bytes.length;
      this.body.accept(bytes);
      if (this.remaining === 0) this.finishBody();
    } else if (this.framing === 'chunked') {
      const end = this.chunked!.add(bytes, (piece) => this.body!.accept(piece));
      if (end !== undefined) {
        if (end < bytes.length) return this.close(new Error('the server sent bytes after the chunked body'));
        this.finishBody();
      }
    } else this.body.accept(bytes);
  }

  private startBody(rest: Uint8Array): void {
    const head = this.head!;
    if (head.status >= 100 && head.status < 200) {
      this.head = new ResponseHead();
      return this.feed(rest);
    }
    this.head = undefined;
    const framing = head.framing();
    this.framing = framing.kind;
    this.remaining = framing.kind === 'length' ? framing.length : 0;
    this.chunked = framing.kind === 'chunked' ? new ChunkedDecoder() : undefined;
    this.reusable = head.keepAlive && framing.kind !== 'close';
    const body = new DirectBody(framing.kind === 'length' ? framing.length : undefined, (error) => this.close(error));
    this.body = body;
    const answer = this.answer!;
    this.answer = undefined;
    answer.resolve({ response: { statusCode: head.status, reason: head.reason, headers: head.headers, body } });
    if (framing.kind === 'length' && framing.length === 0) this.finishBody();
    else if (rest.length > 0) this.feed(rest);
  }

  private finishBody(): void {
    const body = this.body!;
    this.body = undefined;
    this.framing = undefined;
    body.end();
    this.socket.setTimeout(0);
    if (this.reusable) this.done(this);
    else this.close(networkError('the connection is not kept alive'));
  }

  private onEnd(): void {
    if (this.framing === 'close' && this.body) {
      this.reusable = false;
      return this.finishBody();
    }
    this.close(networkError(this.body || this.answer ? 'the connection closed before the whole response came' : 'the connection closed'));
  }

  /** Ends the connection; a response or body still awaited fails with `error`. */
  close(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.reusable = false;
    this.answer?.reject(error);
    this.answer = undefined;
    this.body?.fail(error);
    this.body = undefined;
    this.socket.destroy();
    this.done(this);
  }
}

/** The request line's target, its query built as the SDK's Node handler builds it (what was signed). */
function pathOf(request: HttpRequest): string {
  const query = request.query ? buildQueryString(request.query) : '';
  return query ? `${request.path}?${query}` : request.path;
}

export class DirectGetHandler {
  readonly metadata = { handlerProtocol: 'http/1.1' };
  private readonly idle = new Map<string, Connection[]>();

  constructor(
    /** Every request but a GET without a body. */
    private readonly other: NodeHttpHandler,
    /** Extra TLS options (a CA for a test's server). */
    private readonly tls: ConnectionOptions = {},
    /** A request fails when its connection stays silent this long. */
    private readonly idleMs = DIRECT_GET_IDLE_MS,
  ) {}

  handle(request: HttpRequest, options: HandlerOptions = {}): Promise<HandlerResult> {
    if (request.method !== 'GET' || request.body !== undefined) return this.other.handle(request, options);
    const signal = options.abortSignal as AbortSignal | undefined;
    if (signal?.aborted) return Promise.reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
    const origin = `${request.protocol}//${request.hostname}:${request.port ?? ''}`;
    const connection = this.idle.get(origin)?.pop() ?? new Connection(origin, request, this.tls, (c) => this.settle(c), this.idleMs);
    connection.socket.ref();
    const onAbort = () => connection.close(Object.assign(new Error('Request aborted'), { name: 'AbortError' }));
    signal?.addEventListener?.('abort', onAbort, { once: true });
    return connection.send(request, pathOf(request)).finally(() => signal?.removeEventListener?.('abort', onAbort));
  }

  /** A connection done with its response: kept for the next GET, or forgotten once closed. */
  private settle(c: Connection): void {
    const list = this.idle.get(c.origin) ?? [];
    const at = list.indexOf(c);
    if (c.closed) {
      if (at >= 0) list.splice(at, 1);
      return;
    }
    c.socket.unref();
    if (at < 0) list.push(c);
    this.idle.set(c.origin, list);
  }

  updateHttpClientConfig(key: Parameters<NodeHttpHandler['updateHttpClientConfig']>[0], value: Parameters<NodeHttpHandler['updateHttpClientConfig']>[1]): void {
    this.other.updateHttpClientConfig(key, value);
  }

  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.other.httpHandlerConfigs();
  }

  destroy(): void {
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.close(new Error('the handler was destroyed'));
    this.other.destroy();
  }
}
