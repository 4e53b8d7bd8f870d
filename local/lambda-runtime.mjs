// The Lambda runtime of the local cloud, run in a worker thread per function: it loads the
// function's bundle (local/function-bundles.ts) and answers invocations as the Node.js
// runtime does: the handler's result through a JSON round trip, or the error as
// { errorType: error.name, errorMessage }, which is what Step Functions matches on.
// Like the Node.js runtime it provides the global `awslambda` before the bundle loads, so a
// handler wrapped with `awslambda.streamifyResponse` (the replay function, InvokeMode
// RESPONSE_STREAM) streams: its metadata (status, headers) and then its body chunks go to
// the parent as they are written.
// Plain JavaScript: it runs the built bundle, never the TypeScript sources.
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const STREAMING = Symbol.for('ferry.local.streamingHandler');
/** Bytes of a response a function may have written ahead of its reader (local-lambda.ts acknowledges them in batches). */
const WINDOW = 512 * 1024;

/** The response stream a streaming handler writes to: each chunk is posted to the parent. */
class ResponseStream extends Writable {
  constructor(id) {
    super();
    this.id = id;
    this.headSent = false;
    // A client that goes away ends the stream; the handler learns it from its pending write or
    // pipeline, never as an uncaught 'error' that would take the whole runtime down.
    this.on('error', () => undefined);
  }

  sendHead(metadata = { statusCode: 200, headers: {} }) {
    if (this.headSent) return;
    this.headSent = true;
    parentPort.postMessage({ id: this.id, stream: 'head', statusCode: metadata.statusCode ?? 200, headers: metadata.headers ?? {} });
  }

  // Up to WINDOW bytes in flight: a write returns at once while the parent holds less than that
  // unread, then waits until it reports bytes taken (its reader wanted more). A slow client still
  // slows the function down instead of filling memory, and a short body (a 64 KiB range) crosses
  // without waiting for any acknowledgement.
  _write(chunk, _encoding, callback) {
    this.sendHead();
    const data = new Uint8Array(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
    this.inFlight = (this.inFlight ?? 0) + data.byteLength;
    parentPort.postMessage({ id: this.id, stream: 'chunk', data }, [data.buffer]);
    if (this.inFlight < WINDOW) callback();
    else this.taken = callback;
  }

  took(bytes) {
    this.inFlight -= bytes;
    if (this.inFlight >= WINDOW) return;
    const callback = this.taken;
    this.taken = undefined;
    callback?.();
  }

  _destroy(error, callback) {
    const pending = this.taken;
    this.taken = undefined;
    pending?.(error ?? new Error('the client went away: the response stream was closed'));
    callback(error);
  }
}

globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = true;
    return handler;
  },
  HttpResponseStream: {
    from(stream, metadata) {
      stream.sendHead(metadata);
      return stream;
    },
  },
};

const { handler } = await import(pathToFileURL(workerData.bundle).href);
const context = { functionName: workerData.functionName, awsRequestId: '' };
// Lambda's time left before the invocation's timeout (the parent's deadline); 900 s without one.
const remaining = (deadline) => () => (deadline === undefined ? 900_000 : Math.max(0, deadline - Date.now()));
const open = new Map();

function failure(id, error) {
  const errorType = error instanceof Error ? error.name : 'Error';
  const errorMessage = error instanceof Error ? error.message : String(error);
  return { id, ok: false, errorType, errorMessage };
}

async function invokeStreaming(id, event, invocationContext) {
  const stream = new ResponseStream(id);
  open.set(id, stream);
  try {
    await handler(event, stream, invocationContext);
    stream.sendHead();
    parentPort.postMessage({ id, stream: 'end' });
  } catch (error) {
    // Before the head: the invocation failed (Lambda answers 502). After: the body is cut.
    parentPort.postMessage(stream.headSent ? { id, stream: 'error', errorMessage: String(error?.message ?? error) } : failure(id, error));
  } finally {
    open.delete(id);
  }
}

parentPort.on('message', async ({ id, event: eventJson, cancel, took, invokedFunctionArn, deadline }) => {
  if (cancel) return open.get(id)?.destroy();
  if (took) return open.get(id)?.took(took);
  // The event comes as JSON text (what Lambda hands the runtime), parsed here, off the caller's thread.
  const event = JSON.parse(eventJson);
  const invocationContext = { ...context, awsRequestId: id, getRemainingTimeInMillis: remaining(deadline), ...(invokedFunctionArn ? { invokedFunctionArn } : {}) };
  if (handler[STREAMING]) return invokeStreaming(id, event, invocationContext);
  try {
    const result = await handler(event, invocationContext);
    parentPort.postMessage({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (error) {
    parentPort.postMessage(failure(id, error));
  }
});
parentPort.postMessage({ ready: true });
