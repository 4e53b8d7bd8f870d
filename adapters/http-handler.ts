// The HTTP handler every AWS SDK client of Ferry sends through: keep-alive agents, timeouts
// that end a stalled request, and the site's outbound proxy when the process was given one.
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { isLoopback, proxyEnvironmentInUse } from './proxy-environment.ts';

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
 * Uploads wait for the bandwidth limit before a body starts, never in the middle of one.
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
  return new NodeHttpHandler({
    httpAgent: agent,
    httpsAgent: agent,
    connectionTimeout: opts.timeouts?.connectMs ?? REQUEST_TIMEOUTS.connectMs,
    socketTimeout: opts.timeouts?.idleMs ?? REQUEST_TIMEOUTS.idleMs,
    ...(opts.requestTimeoutMs === undefined ? {} : { requestTimeout: opts.requestTimeoutMs, throwOnRequestTimeout: true }),
  });
}
