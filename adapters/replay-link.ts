import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity, SourceData } from '@smithy/types';

// Short-lived replay links: the replay Function URL uses IAM auth, so a browser can only play
// a recording from a SigV4-presigned URL, signed with the officer's own credentials and valid
// for a few minutes. A new link is minted for each listen.

function toBytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

/** node:crypto as the hash SignatureV4 expects (sha256, optionally keyed). */
class NodeSha256 {
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

export interface ReplayLinkOptions {
  /** The replay Function URL (stack output ReplayUrl). */
  replayUrl: string;
  region: string;
  site: string;
  rid: string;
  expiresInSeconds?: number;
  download?: boolean;
  credentials?: AwsCredentialIdentity;
  /** Signing time (tests). */
  now?: Date;
}

export async function presignReplayLink(o: ReplayLinkOptions): Promise<string> {
  const expiresIn = o.expiresInSeconds ?? 300;
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > 3600) throw new RangeError(`link lifetime must be 1-3600 seconds (got ${o.expiresInSeconds})`);
  const base = new URL(o.replayUrl);
  const path = `${base.pathname.replace(/\/$/, '')}/sites/${encodeURIComponent(o.site)}/recordings/${encodeURIComponent(o.rid)}/audio`;
  const signer = new SignatureV4({ service: 'lambda', region: o.region, credentials: o.credentials ?? defaultProvider(), sha256: NodeSha256, uriEscapePath: true });
  const signed = await signer.presign(
    { method: 'GET', protocol: base.protocol, hostname: base.hostname, path, headers: { host: base.host }, query: o.download ? { download: '1' } : {} },
    { expiresIn, ...(o.now ? { signingDate: o.now } : {}) },
  );
  const url = new URL(`${base.protocol}//${base.host}${path}`);
  for (const [k, v] of Object.entries(signed.query ?? {})) url.searchParams.set(k, Array.isArray(v) ? v.join(',') : String(v));
  return url.toString();
}
