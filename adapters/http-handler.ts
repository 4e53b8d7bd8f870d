// The HTTP handler every AWS SDK client of Ferry sends through: keep-alive agents, timeouts
// that end a stalled request, and the site's outbound proxy when the process was given one.
import { NodeHttpHandler } from '@smithy/node-http-handler';

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

/** The proxy settings (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) the process was started with; set once by the composition root. */
let proxyEnvironment: Record<string, string | undefined> | undefined;

/**
 * Sends every AWS request of this process through the outbound proxy its environment names
 * (`HTTPS_PROXY`/`HTTP_PROXY`, upper or lower case, with `NO_PROXY`), as the AWS CLI does; the
 * SDK for JavaScript reads none of them. Called by the CLI's entry point; the functions never do.
 * Returns the proxy in use, for `agent check` to name.
 */
export function useProxyEnvironment(env: Record<string, string | undefined>): string | undefined {
  const https = proxySetting(env, 'HTTPS_PROXY');
  const http = proxySetting(env, 'HTTP_PROXY');
  const proxy = https ?? http;
  // NO_PROXY is a list of hosts, taken as written (not a URL).
  proxyEnvironment = proxy ? { HTTPS_PROXY: https, HTTP_PROXY: http, NO_PROXY: env.NO_PROXY ?? env.no_proxy } : undefined;
  return proxy;
}

/**
 * A proxy setting as a URL: one written without a scheme (`proxy.corp.example:3128`, as curl and
 * the AWS CLI take it) is http://…; one that is no http(s) URL even so (SOCKS) is left out.
 */
export function proxyUrl(value: string | undefined): string | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  try {
    return ['http:', 'https:'].includes(new URL(url).protocol) ? url : undefined;
  } catch {
    return undefined;
  }
}

/** A proxy variable (upper case, else lower, as curl reads them) as a URL: see proxyUrl. */
export function proxySetting(env: Record<string, string | undefined>, name: 'HTTPS_PROXY' | 'HTTP_PROXY'): string | undefined {
  return proxyUrl(env[name] ?? env[name.toLowerCase()]);
}

/** A proxy URL as it may be shown: its password masked. */
export function shownProxy(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Whether a URL names this machine (a stand-in here is never reached through the site's proxy, and plain HTTP to it crosses no network). */
export function isLoopback(endpoint: string | undefined): boolean {
  if (endpoint === undefined) return false;
  try {
    return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/i.test(new URL(endpoint).hostname);
  } catch {
    return false;
  }
}

/**
 * The handler builds its own keep-alive agents from these options: importing node:http here
 * would build its ES module face, which loads the WebSocket client (undici) at every start.
 * `proxyEnv` is Node's own proxy support in its agents (CONNECT for https).
 */
export function requestHandler(opts: { maxSockets?: number; endpoint?: string; timeouts?: RequestTimeouts; requestTimeoutMs?: number } = {}): NodeHttpHandler {
  const maxSockets = opts.maxSockets ?? DEFAULT_MAX_SOCKETS;
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
