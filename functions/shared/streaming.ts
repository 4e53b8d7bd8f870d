import type { Readable, Writable } from 'node:stream';
import type { Handler } from './lambda.ts';
import type { HttpEvent, HttpResult } from './http.ts';
import { decodePathSegment } from '../../core/errors.ts';

// Lambda response streaming for a Function URL (InvokeMode RESPONSE_STREAM): the Node.js
// runtime provides a global `awslambda` whose `streamifyResponse` must wrap the exported
// handler when the module loads. Outside Lambda (local server, tests) the plain handler is
// returned, so the same module serves both.

interface AwsLambdaRuntime {
  streamifyResponse(fn: (event: HttpEvent, stream: Writable, context: unknown) => Promise<void>): unknown;
  HttpResponseStream: { from(stream: Writable, metadata: { statusCode: number; headers: Record<string, string> }): Writable };
}

export function streamed(handler: Handler<HttpEvent, HttpResult>, runtime = (globalThis as { awslambda?: Partial<AwsLambdaRuntime> }).awslambda): Handler<HttpEvent, HttpResult> {
  // The AWS SDK itself sets an empty `globalThis.awslambda`; only the Lambda runtime gives it streamifyResponse.
  if (typeof runtime?.streamifyResponse !== 'function' || !runtime.HttpResponseStream) return handler;
  return wrap(handler, runtime as AwsLambdaRuntime);
}

function wrap(handler: Handler<HttpEvent, HttpResult>, runtime: AwsLambdaRuntime): Handler<HttpEvent, HttpResult> {
  return runtime.streamifyResponse(async (event, stream, context) => {
    const result = await handler(event, context);
    const out = runtime.HttpResponseStream.from(stream, { statusCode: result.statusCode, headers: result.headers });
    if (typeof result.body === 'string') {
      await new Promise<void>((resolve, reject) => out.end(result.body, (error?: Error | null) => (error ? reject(error) : resolve())));
      return;
    }
    await pipeBody(result.body, out);
  }) as Handler<HttpEvent, HttpResult>;
}

/**
 * The body into the response stream, as `pipeline` would (backpressure; a failure of either
 * side destroys the other and rejects; a response closed before the body ended, the client
 * having gone away, rejects and releases the body), without what `pipeline` adds on every call:
 * an AbortController aborted at the end, whose AbortError (a DOMException with its stack, mapped
 * through the bundle's source map under --enable-source-maps) was a tenth of the replay
 * function's CPU for a 64 KiB range.
 */
export function pipeBody(body: Readable, out: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      body.unpipe(out);
      if (!error) return resolve();
      body.destroy();
      out.destroy(error);
      reject(error);
    };
    body.once('error', settle);
    out.once('error', settle);
    out.once('finish', () => settle());
    out.once('close', () => settle(new Error('the response stream closed before the body was written (the client went away)')));
    body.pipe(out);
  });
}

const AUDIO_PATH = /^\/sites\/([^/]+)\/recordings\/([^/]+)\/audio\/?$/;

/** Function URLs carry no path parameters: read them from the raw path. */
export function replayPathParameters(event: HttpEvent): { site?: string; rid?: string } {
  if (event.pathParameters?.site !== undefined || event.pathParameters?.rid !== undefined) return { site: event.pathParameters.site, rid: event.pathParameters.rid };
  const m = AUDIO_PATH.exec(event.rawPath ?? '');
  return m ? { site: decodePathSegment(m[1] ?? '', 'site'), rid: decodePathSegment(m[2] ?? '', 'rid') } : {};
}
