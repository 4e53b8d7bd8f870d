import type { CloudConfig } from '../core/config.ts';
import { signedFetch } from '../adapters/sigv4.ts';
import { fetchFailureCause } from '../core/errors.ts';
import { loadConfig } from './build-agent.ts';
import { resolveApi, resolveCloud, resolveReplay, type EndpointTarget } from './cloud.ts';
import { credentialsInUse, signatureRefused, siteDeniedMessage, siteOfPath } from './site-access.ts';

// The catalogue API as the CLI uses it (calls, backups, restore): JSON in, JSON out, the status
// kept so a refusal (422) can be told from a failure. Every request is SigV4-signed, as the
// deployed API (API Gateway, IAM authorization) and replay URL (Function URL, AWS_IAM) require.

export interface CloudOptions {
  api?: string;
  /** An agent config whose `cloud:` block says where (a DR site uses its own). */
  config?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function configuredCloud(opts: CloudOptions): CloudConfig | undefined {
  return configured(opts).cloud;
}

/** The configuration's cloud block and its site, when --config was given. */
export function configured(opts: CloudOptions): { cloud?: CloudConfig; site?: string } {
  if (!opts.config) return {};
  const config = loadConfig(opts.config);
  return { cloud: config.cloud, site: config.site };
}

/** The catalogue API: its base URL, region and signing credentials. */
export function apiFor(opts: CloudOptions): EndpointTarget {
  const { cloud, site } = configured(opts);
  const target = resolveApi(cloud, opts.api);
  return { ...target, credentialsFrom: credentialsInUse(target.credentials, cloud?.credentials ? opts.config : undefined), ...(site ? { configuredSite: site } : {}) };
}

/** The replay URL: its base URL, region and signing credentials. */
export function replayFor(opts: CloudOptions & { replayUrl?: string }): EndpointTarget {
  return resolveReplay(configuredCloud(opts), opts.replayUrl);
}

export function cloudFor(opts: CloudOptions): CloudConfig {
  return resolveCloud(configuredCloud(opts));
}

/**
 * A GET to the API (service execute-api) or the replay URL (service lambda), signed. An endpoint
 * that cannot be reached is named, with the cause: fetch's own "fetch failed" says neither.
 */
export async function signedGet(target: EndpointTarget, pathAndQuery: string, service: 'execute-api' | 'lambda' = 'execute-api') {
  try {
    return await signedFetch(`${target.url}${pathAndQuery}`, { service, region: target.region, credentials: target.credentials });
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    const what = service === 'lambda' ? 'the replay URL' : 'the catalogue API';
    throw new Error(`${what} at ${target.url} could not be reached (${fetchFailureCause(error)}): check the URL (cloud.api / --api, cloud.replay / --replay-url) and the network`, { cause: error });
  }
}

/** GETs JSON from the API; a non-2xx answer becomes an ApiError carrying the status and the body. */
export async function getJson<T>(target: EndpointTarget, pathAndQuery: string): Promise<T> {
  const res = await signedGet(target, pathAndQuery);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { message: text };
  }
  if (!res.ok) {
    const b = (body ?? {}) as Record<string, unknown>;
    const said = `catalogue API answered ${res.status}: ${typeof b.message === 'string' ? b.message : text}`;
    // A 403 to a site's path (not to the signature) is what a misspelt --site gets: said so, the API's words after.
    const site = res.status === 403 && !signatureRefused(res.headers.get('x-amzn-errortype'), said) ? siteOfPath(pathAndQuery) : undefined;
    throw new ApiError(res.status, b, site === undefined ? said : siteDeniedMessage({ site, where: `through the catalogue API at ${target.url}`, credentials: target.credentialsFrom, configuredSite: target.configuredSite, api: true, said: `The ${said}` }));
  }
  return body as T;
}
