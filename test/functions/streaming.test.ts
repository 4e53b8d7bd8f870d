import { describe, it, expect, vi } from 'vitest';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { streamed, replayPathParameters } from '../../functions/shared/streaming.ts';
import type { HttpEvent, HttpResult } from '../../functions/shared/http.ts';

// A stand-in for the Lambda runtime's `awslambda` global, shaped as the runtime documents it.
function fakeRuntime() {
  const seen: { metadata?: unknown; bytes: Buffer[] } = { bytes: [] };
  return {
    seen,
    runtime: {
      streamifyResponse: (fn: (e: HttpEvent, s: Writable, c: unknown) => Promise<void>) => fn,
      HttpResponseStream: {
        from(stream: Writable, metadata: unknown) {
          seen.metadata = metadata;
          return stream;
        },
      },
    },
  };
}

const event = (rawPath: string): HttpEvent => ({ rawPath, requestContext: { http: { method: 'GET' } } });

/** A streamed handler whose body has sent 'abc' and not ended. */
function unendingBody() {
  const { runtime } = fakeRuntime();
  const body = new Readable({ read() {} });
  body.push(Buffer.from('abc'));
  const wrapped = streamed(async (): Promise<HttpResult> => ({ statusCode: 200, headers: {}, body }), runtime) as unknown as (e: HttpEvent, s: Writable, c: unknown) => Promise<void>;
  return { body, wrapped };
}

describe('response streaming for the replay Function URL', () => {
  it('pipes a streamed body with its status and headers', async () => {
    const { runtime, seen } = fakeRuntime();
    const wrapped = streamed(async (): Promise<HttpResult> => ({ statusCode: 206, headers: { 'Content-Range': 'bytes 0-2/10' }, body: Readable.from([Buffer.from('abc')]) }), runtime) as unknown as (e: HttpEvent, s: Writable, c: unknown) => Promise<void>;
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => seen.bytes.push(c));
    await wrapped(event('/sites/a/recordings/r/audio'), sink, {});
    expect(seen.metadata).toEqual({ statusCode: 206, headers: { 'Content-Range': 'bytes 0-2/10' } });
    expect(Buffer.concat(seen.bytes).toString()).toBe('abc');
  });

  it('writes a whole body without aborting anything (no AbortError built for every response)', async () => {
    const { runtime, seen } = fakeRuntime();
    const abort = vi.spyOn(AbortController.prototype, 'abort');
    try {
      const body = Readable.from([Buffer.alloc(64 * 1024, 1), Buffer.alloc(1024, 2)]);
      const wrapped = streamed(async (): Promise<HttpResult> => ({ statusCode: 206, headers: {}, body }), runtime) as unknown as (e: HttpEvent, s: Writable, c: unknown) => Promise<void>;
      const sink = new PassThrough();
      sink.on('data', (c: Buffer) => seen.bytes.push(c));
      await wrapped(event('/sites/a/recordings/r/audio'), sink, {});
      expect(Buffer.concat(seen.bytes).length).toBe(65 * 1024);
      expect(abort).not.toHaveBeenCalled();
    } finally {
      abort.mockRestore();
    }
  });

  it('rejects and cuts the response when the body fails midway', async () => {
    const { body, wrapped } = unendingBody();
    const sink = new PassThrough();
    sink.on('data', () => body.destroy(new Error('the store reset the connection')));
    sink.on('error', () => undefined);
    await expect(wrapped(event('/x'), sink, {})).rejects.toThrow('the store reset the connection');
    expect(sink.destroyed).toBe(true);
  });

  it('rejects and releases the body when the response closes before the body ended (the client went away)', async () => {
    const { body, wrapped } = unendingBody();
    const sink = new PassThrough();
    sink.on('data', () => sink.destroy());
    await expect(wrapped(event('/x'), sink, {})).rejects.toThrow(/closed before the body was written|Premature close/);
    expect(body.destroyed).toBe(true);
  });

  it('ends with a string body (errors, 416)', async () => {
    const { runtime, seen } = fakeRuntime();
    const wrapped = streamed(async (): Promise<HttpResult> => ({ statusCode: 404, headers: {}, body: '{"error":"NotFoundError"}' }), runtime) as unknown as (e: HttpEvent, s: Writable, c: unknown) => Promise<void>;
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => seen.bytes.push(c));
    await wrapped(event('/x'), sink, {});
    expect(Buffer.concat(seen.bytes).toString()).toContain('NotFoundError');
  });

  it('returns the plain handler outside Lambda', () => {
    const h = async (): Promise<HttpResult> => ({ statusCode: 200, headers: {}, body: '' });
    expect(streamed(h, undefined)).toBe(h);
    expect(streamed(h, {})).toBe(h); // what the AWS SDK leaves on globalThis
  });

  it('reads site and recording id from a Function URL raw path', () => {
    expect(replayPathParameters(event('/sites/site-a/recordings/r0123456789abcdef0123456/audio'))).toEqual({ site: 'site-a', rid: 'r0123456789abcdef0123456' });
    expect(replayPathParameters(event('/elsewhere'))).toEqual({});
    expect(replayPathParameters({ ...event('/ignored'), pathParameters: { site: 's', rid: 'r' } })).toEqual({ site: 's', rid: 'r' });
  });
});
