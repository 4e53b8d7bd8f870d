// The HTTP handler every AWS SDK client of Ferry sends through: keep-alive agents, timeouts
// that end a stalled request, and the site's outbound proxy when the process was given one.
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { isLoopback, proxyEnvironmentInUse } from './proxy-environment.ts';
import { SlicedBody, sliceable } from './sliced-body.ts';
import type { PacedRequestOptions } from './upload-pacing.ts';

// The proxy's settings live in proxy-environment.ts, which loads no SDK: the CLI's entry points
// set them before they know whether the command needs a client at all.
export { isLoopback, proxySetting, proxyUrl, shownProxy, useProxyEnvironment } from './proxy-environment.ts';

/** Sockets per host; default 64 (pack uploads run many parts in parallel). */
const DEFAULT_MAX_SOCKETS = 64;

export interface RequestTimeouts {
  connectMs?: number;
  idleMs?: number;
}

/**
 * Every request fails, rather than waits for ever, when its connection does not open in
 * `connectMs` or nothing moves on it either way for `idleMs`: a stateful firewall or proxy that
 * drops a connection mid-upload, or an endpoint that accepts and never answers, would otherwise
 * hold the agent (and under cron its lock) for good. The SDK's S3 client sets neither by
 * default (S3 itself drops a connection idle for 20 s). The failure is a network error, asked
 * again by the SDK; a pass whose store did not answer ships no more batches (agent/ship-recordings.ts).
 * Under a bandwidth limit a body waits for it slice by slice (upload-pacing.ts), a quarter of a
 * second's worth at a time, well inside idleMs. A body that leaves slowly but steadily (a slow
 * uplink, a limit) is progress, not silence (sliced-body.ts).
 */
export const REQUEST_TIMEOUTS = { connectMs: 15_000, idleMs: 60_000 } as const;

/**
 * The handler builds its own keep-alive agents from these options: importing node:http here
 * would build its ES module face, which loads the WebSocket client (undici) at every start.
 * `proxyEnv` is Node's own proxy support in its agents (CONNECT for https).
 */
export function requestHandler(opts: { maxSockets?: number; endpoint?: string; timeouts?: RequestTimeouts; requestTimeoutMs?: number } = {}): NodeHttpHandler {
  const maxSockets = opts.maxSockets ?? DEFAULT_MAX_SOCKETS;
  const proxyEnvironment = proxyEnvironmentInUse();
  const proxy = proxyEnvironment !== undefined && !isLoopback(opts.endpoint) ? { proxyEnv: proxyEnvironment } : {};
  const agent = { keepAlive: true, maxSockets, ...proxy };
  return new SlicingHandler(opts.timeouts?.idleMs ?? REQUEST_TIMEOUTS.idleMs, {
    httpAgent: agent,
    httpsAgent: agent,
    connectionTimeout: opts.timeouts?.connectMs ?? REQUEST_TIMEOUTS.connectMs,
    socketTimeout: opts.timeouts?.idleMs ?? REQUEST_TIMEOUTS.idleMs,
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeout: opts.requestTimeoutMs, throwOnRequestTimeout: true }),
  });
}

type HttpRequest = Parameters<NodeHttpHandler['handle']>[0];

/**
 * Sends a body held in memory a slice at a time (sliced-body.ts), a fresh stream for each attempt,
 * each slice paced by the upload's bandwidth limit when it has one (every attempt counts on the line).
 */
class SlicingHandler extends NodeHttpHandler {
  constructor(
    private readonly idleMs: number,
    options: ConstructorParameters<typeof NodeHttpHandler>[0],
  ) {
    super(options);
  }

  override handle(request: HttpRequest, options?: Parameters<NodeHttpHandler['handle']>[1]): ReturnType<NodeHttpHandler['handle']> {
    const pacer = (options as PacedRequestOptions | undefined)?.uploadPacer;
    if (!sliceable(request.body, pacer)) {
      if (pacer && request.body instanceof Uint8Array) void pacer.take(request.body.byteLength); // counted; no limit in force now
      return super.handle(request, options);
    }
    // The SDK sends the same request again on a retry: the stream is the copy's, the bytes stay the request's.
    const sliced = Object.assign(Object.create(Object.getPrototypeOf(request) as object) as HttpRequest, request, { body: new SlicedBody(request.body, this.idleMs, Date.now, pacer) });
    return super.handle(sliced, options);
  }
}
