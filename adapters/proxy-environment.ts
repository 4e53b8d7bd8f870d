// The site's outbound proxy as the process's environment names it, for every AWS SDK client
// Ferry builds (http-handler.ts). No SDK here: the CLI's entry points set it at every start.

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

/** The proxy settings useProxyEnvironment took, for the request handlers; undefined: no proxy. */
export function proxyEnvironmentInUse(): Record<string, string | undefined> | undefined {
  return proxyEnvironment;
}
