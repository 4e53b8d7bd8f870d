import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider, SourceData } from '@smithy/types';

// SigV4 for Ferry's own HTTP endpoints: the catalogue API (API Gateway, IAM authorization,
// service `execute-api`) and the replay Function URL (AWS_IAM auth, service `lambda`). The same
// signer verifies signatures on the local cloud's stand-ins of both.

function toBytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** node:crypto as the hash SignatureV4 expects (sha256, optionally keyed). */
export class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

export type SigningCredentials = AwsCredentialIdentity | AwsCredentialIdentityProvider;

/**
 * A signer; without credentials, the SDK's standard chain (env, profiles, SSO, roles).
 * `applyChecksum: false` signs exactly the headers given (a verifier recomputing what another
 * client, e.g. curl, signed must not add x-amz-content-sha256 of its own).
 */
export function sigV4Signer(
  service: 'execute-api' | 'lambda' | 's3' | 'dynamodb',
  region: string,
  credentials?: SigningCredentials,
  o: { applyChecksum?: boolean } = {},
): SignatureV4 {
  const applyChecksum = o.applyChecksum ?? true;
  const signing = { credentials: credentials ?? defaultProvider(), sha256: NodeSha256 };
  // S3 signs the path as sent (no second escaping); the other services escape it again.
  return new SignatureV4({ service, region, ...signing, uriEscapePath: service !== 's3', applyChecksum });
}

export interface SignedFetchOptions {
  service: 'execute-api' | 'lambda';
  region: string;
  credentials?: SigningCredentials;
  method?: 'GET' | 'HEAD' | 'POST';
  headers?: Record<string, string>;
  /** A request body (JSON for the API's POST routes); signed as the payload. */
  body?: string;
}

/** fetch() with a SigV4 Authorization header over method, path, query and `host`. */
export async function signedFetch(url: string, o: SignedFetchOptions): Promise<Response> {
  const target = new URL(url);
  const query: Record<string, string | string[]> = {};
  for (const [k, v] of target.searchParams) {
    const prior = query[k];
    query[k] = prior === undefined ? v : [...(Array.isArray(prior) ? prior : [prior]), v];
  }
  const method = o.method ?? 'GET';
  const signed = await sigV4Signer(o.service, o.region, o.credentials).sign({
    method,
    protocol: target.protocol,
    hostname: target.hostname,
    port: target.port ? Number(target.port) : undefined,
    path: target.pathname,
    query,
    headers: { host: target.host, ...o.headers },
    ...(o.body === undefined ? {} : { body: o.body }),
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) if (k !== 'host') headers[k] = v;
  return fetch(url, { method, headers, ...(o.body === undefined ? {} : { body: o.body }) });
}
