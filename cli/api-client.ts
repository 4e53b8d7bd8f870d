import type { CloudConfig } from '../core/config.ts';
import { loadConfig } from './build-agent.ts';
import { resolveApi, resolveCloud } from './cloud.ts';

// The catalogue API as the CLI uses it (calls, backups, restore): JSON in, JSON out, the status
// kept so a refusal (422) can be told from a failure.

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
  return opts.config ? loadConfig(opts.config).cloud : undefined;
}

export function apiBaseFor(opts: CloudOptions): string {
  return resolveApi(configuredCloud(opts), opts.api).replace(/\/$/, '');
}

export function cloudFor(opts: CloudOptions): CloudConfig {
  return resolveCloud(configuredCloud(opts));
}

/** GETs JSON; a non-2xx answer becomes an ApiError carrying the status and the body. */
export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { message: text };
  }
  if (!res.ok) {
    const b = (body ?? {}) as Record<string, unknown>;
    throw new ApiError(res.status, b, `catalogue API answered ${res.status}: ${typeof b.message === 'string' ? b.message : text}`);
  }
  return body as T;
}
