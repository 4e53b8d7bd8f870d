import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';

/** Lambda's limit on a synchronous invocation's response, as its error names it (6 MB). */
export const MAX_RESPONSE_BYTES = 6_291_556;

// One deployed function on the local cloud: its bundle loaded in a worker thread with its own
// environment (what CDK sets on the function, pointed at the stand-ins), invoked with a JSON
// event. A failed invocation rejects with a FunctionError named by the runtime's errorType,
// as Step Functions sees a Lambda error. A streaming function (awslambda.streamifyResponse, see
// lambda-runtime.mjs) resolves as soon as its metadata is written, with its body as a Readable
// that the chunks flow into; destroying that Readable tells the function the client went away.

/** A function's error as Lambda reports it: `name` is the errorType. */
export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    readonly errorMessage: string,
  ) {
    super(errorMessage);
    // The errorType is the function's own error name (a literal in core/errors.ts), not this class's.
    this.name = errorType;
  }
}

export interface LocalLambdaOptions {
  functionName: string;
  /** The bundle's `index.mjs` (local/function-bundles.ts). */
  bundle: string;
  /** The function's whole environment: nothing of this process's leaks in. */
  environment: Record<string, string>;
  /** Each line the function writes to stdout or stderr (its CloudWatch log). Absent: dropped. */
  onLog?: (line: string) => void;
  /** The function's timeout (its template's Timeout): an invocation still running then fails and its runtime is stopped. Absent: none. */
  timeoutSeconds?: number;
  /** The function's memory (MemorySize), the runtime's heap limit: past it the runtime dies as out of memory. Absent: Node's default. */
  memoryMb?: number;
}

type Reply =
  | { id: string; ok: true; payload: string }
  | { id: string; ok: false; errorType: string; errorMessage: string }
  | { id: string; stream: 'head'; statusCode: number; headers: Record<string, string> }
  | { id: string; stream: 'chunk'; data: Uint8Array }
  | { id: string; stream: 'end' }
  | { id: string; stream: 'error'; errorMessage: string };

/**
 * Bytes of a streamed body taken by its reader before the runtime is told (one message for many
 * chunks); half the runtime's window (lambda-runtime.mjs), so a writer waiting on a full window
 * is always released once its reader has taken half of it.
 */
const ACK_BYTES = 256 * 1024;

/** A streamed body on its way: bytes pushed but not yet wanted by the reader, and bytes taken but not yet reported. */
interface BodyFlow {
  body: Readable;
  owed: number;
  taken: number;
}

/** What a streaming function wrote: its metadata, and its body as it comes. */
export interface StreamedResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
}

/** What the invocation is made through (the Lambda context's invokedFunctionArn: an alias, a URL's qualifier). */
export interface InvocationOptions {
  invokedFunctionArn?: string;
}

export class LocalLambda {
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private readonly bodies = new Map<string, BodyFlow>();
  private exited?: Error;

  private constructor(
    readonly functionName: string,
    /** The bundle this function runs (the file its runtime imported). */
    readonly bundle: string,
    private readonly worker: Worker,
    private readonly timeoutSeconds?: number,
  ) {
    worker.on('message', (m: Reply | { ready: true }) => {
      if (!('id' in m)) return;
      if ('stream' in m) return this.streamed(m);
      const call = this.pending.get(m.id);
      this.pending.delete(m.id);
      // Lambda refuses a synchronous result over its payload limit (the caller gets an error, not the result).
      if (m.ok && Buffer.byteLength(m.payload) > MAX_RESPONSE_BYTES) call?.reject(new FunctionError('Function.ResponseSizeTooLarge', `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`));
      else if (m.ok) call?.resolve(JSON.parse(m.payload));
      else call?.reject(new FunctionError(m.errorType, m.errorMessage));
    });
    // As Lambda reports a runtime that ended mid-invocation (Runtime.ExitError, Runtime.OutOfMemory).
    worker.on('exit', (code) => this.fail(new FunctionError('Runtime.ExitError', `function ${functionName}: Runtime exited with error: exit status ${code}`)));
    worker.on('error', (error: Error & { code?: string }) => {
      if (error.code !== 'ERR_WORKER_OUT_OF_MEMORY') return this.fail(error);
      this.fail(new FunctionError('Runtime.OutOfMemory', `function ${functionName}: Runtime exited with error: signal: killed (out of memory)`));
    });
  }

  /** Starts the function's runtime and waits until its bundle is loaded. */
  static async start(options: LocalLambdaOptions): Promise<LocalLambda> {
    const worker = new Worker(new URL('./lambda-runtime.mjs', import.meta.url), {
      workerData: { bundle: options.bundle, functionName: options.functionName },
      env: { ...options.environment, AWS_LAMBDA_FUNCTION_NAME: options.functionName },
      ...(options.memoryMb ? { resourceLimits: { maxOldGenerationSizeMb: options.memoryMb } } : {}),
      stdout: true,
      stderr: true,
    });
    for (const stream of [worker.stdout, worker.stderr]) {
      if (options.onLog) createInterface({ input: stream }).on('line', options.onLog);
      else stream.resume();
    }
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`function ${options.functionName}: bundle did not load (exit ${code})`)));
    });
    return new LocalLambda(options.functionName, options.bundle, worker, options.timeoutSeconds);
  }

  /**
   * Runs the handler on a copy of `event` (JSON, as Lambda receives it). Resolves with the
   * handler's result, or for a streaming function with a StreamedResponse.
   */
  invoke(event: unknown, options: InvocationOptions = {}): Promise<unknown> {
    if (this.exited) return Promise.reject(this.exited);
    const id = randomUUID();
    const timeoutMs = this.timeoutSeconds === undefined ? undefined : this.timeoutSeconds * 1000;
    return new Promise((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => this.timedOut(id), timeoutMs);
      const settle = <T>(fn: (v: T) => void) => (v: T) => (clearTimeout(timer), fn(v));
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
      // As JSON text, parsed by the runtime: one serialization on this thread, the parse on the function's.
      this.worker.postMessage({ id, event: JSON.stringify(event ?? null), ...options, ...(deadline ? { deadline } : {}) });
    });
  }

  /** As Lambda ends an invocation at its timeout: it fails as timed out, and the runtime is stopped (the next invocation gets a fresh one). */
  private timedOut(id: string): void {
    const call = this.pending.get(id);
    if (!call) return;
    this.pending.delete(id);
    call.reject(new FunctionError('Sandbox.Timedout', `function ${this.functionName}: Task timed out after ${this.timeoutSeconds!.toFixed(2)} seconds`));
    this.fail(new FunctionError('Runtime.ExitError', `function ${this.functionName}: the runtime was stopped when an invocation timed out`));
    void this.worker.terminate();
  }

  private streamed(m: Extract<Reply, { stream: string }>): void {
    if (m.stream === 'head') {
      const call = this.pending.get(m.id);
      this.pending.delete(m.id);
      // The runtime writes ahead up to its window and goes on as the reader takes what it sent
      // (backpressure from the client down to the function), told in batches of ACK_BYTES.
      const flow: BodyFlow = { owed: 0, taken: 0, body: new Readable({ read: () => this.took(m.id, flow, flow.owed, true) }) };
      flow.body.on('close', () => {
        // Closed before the function finished writing: the client went away.
        if (this.bodies.delete(m.id) && !this.exited) this.worker.postMessage({ id: m.id, cancel: true });
      });
      this.bodies.set(m.id, flow);
      call?.resolve({ statusCode: m.statusCode, headers: m.headers, body: flow.body } satisfies StreamedResponse);
      return;
    }
    const flow = this.bodies.get(m.id);
    if (!flow) return;
    if (m.stream === 'chunk') {
      if (flow.body.push(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength))) this.took(m.id, flow, m.data.byteLength);
      else flow.owed += m.data.byteLength;
      return;
    }
    this.bodies.delete(m.id);
    if (m.stream === 'end') flow.body.push(null);
    else flow.body.destroy(new Error(`function ${this.functionName}: the response stream failed: ${m.errorMessage}`));
  }

  /** The reader took `bytes` more (pushed without backpressure, or the owed ones once it wants more); the runtime hears of it every ACK_BYTES. */
  private took(id: string, flow: BodyFlow, bytes: number, wanted = false): void {
    if (wanted) flow.owed = 0;
    flow.taken += bytes;
    if (flow.taken < ACK_BYTES || this.exited) return;
    this.worker.postMessage({ id, took: flow.taken });
    flow.taken = 0;
  }

  /** False once the runtime exited (a crash, or stop()): it answers no more invocations. */
  get running(): boolean {
    return this.exited === undefined;
  }

  async stop(): Promise<void> {
    this.exited ??= new Error(`function ${this.functionName} stopped`);
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.exited ??= error;
    for (const call of this.pending.values()) call.reject(error);
    this.pending.clear();
    // A body nobody reads (yet) is ended without the error: with no listener, its 'error' event
    // would be an uncaught exception in the process that stopped the runtime.
    for (const { body } of this.bodies.values()) body.destroy(body.listenerCount('error') > 0 ? error : undefined);
    this.bodies.clear();
  }
}

/** Where the stand-ins are, as a function's environment needs them. */
export interface StandInCloud {
  s3Endpoint: string;
  dynamoEndpoint: string;
  bucket: string;
  table: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
}

/**
 * A function's environment on the local cloud: the names CDK sets (infra/functions.ts,
 * infra/workflows/build.ts) plus the SDK's standard variables pointing at the stand-ins.
 */
export function standInEnvironment(cloud: StandInCloud, extra: Record<string, string> = {}): Record<string, string> {
  return {
    BUCKET: cloud.bucket,
    TABLE: cloud.table,
    AWS_REGION: cloud.region,
    AWS_ENDPOINT_URL_S3: cloud.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint,
    AWS_ACCESS_KEY_ID: cloud.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: cloud.credentials.secretAccessKey,
    ...extra,
  };
}
