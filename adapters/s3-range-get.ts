// Ranged GETs of a pack for the replay function, whose every request is one: a signed GET
// (signed-http.ts) instead of the SDK's GetObject. What stays the SDK's: the signature, S3's
// errors (its XML error body read and mapped by translateS3Error, so an archived pack is still an
// ArchivedError naming its class), retries of what is transient (network errors, 5xx, SlowDown)
// before any byte is given out, keep-alive sockets. Nothing but GET goes through here.
import type { IncomingMessage } from 'node:http';
import type { BlobBody, BlobStore, ByteRange } from '../core/ports.ts';
import { checkRange, totalFromContentRange, translateS3Error } from './s3-blob-store.ts';
import { awsDomain, readText, retrying, signedHttpFor, targetOf, type SignedClientOptions, type SignedHttp } from './signed-http.ts';

export interface S3RangeGetOptions extends SignedClientOptions {
  bucket: string;
}

const ERROR_BODY_LIMIT = 64 * 1024;

/** An S3 key escaped for the request path, '/' kept (RFC 3986, as S3 signs it). */
export function escapeKey(key: string): string {
  return key
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' };

/** One element of S3's XML error body (`<Error><Code>…</Code>…`), unescaped. */
function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  return match?.[1]?.replace(/&(lt|gt|quot|apos|amp|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec !== undefined ? String.fromCodePoint(Number(dec)) : hex !== undefined ? String.fromCodePoint(parseInt(hex, 16)) : ENTITIES[name]!,
  );
}

/** An error shaped as the SDK's (name, status, S3's extra fields), for translateS3Error. */
export function s3Error(status: number, headers: IncomingMessage['headers'], xml: string): Error {
  const code = xmlField(xml, 'Code') ?? (status === 404 ? 'NotFound' : `HTTP ${status}`);
  const error = new Error(xmlField(xml, 'Message') ?? `status ${status}`) as Error & Record<string, unknown>;
  error.name = code;
  error.$metadata = { httpStatusCode: status };
  error.$response = { headers: { 'content-range': headers['content-range'] } };
  const storageClass = xmlField(xml, 'StorageClass');
  if (storageClass !== undefined) error.StorageClass = storageClass;
  const actual = xmlField(xml, 'ActualObjectSize');
  if (actual !== undefined) error.ActualObjectSize = actual;
  return error;
}

/**
 * Where a GET of the bucket goes: AWS virtual-hosted over HTTPS (path-style when the bucket's
 * name has dots, which S3's wildcard certificate does not cover, as the SDK does), a custom
 * endpoint path-style. `basePath` ends in '/': the escaped key follows it.
 */
export function requestTarget(o: Pick<S3RangeGetOptions, 'bucket' | 'region' | 'endpoint'>): { protocol: 'http:' | 'https:'; hostname: string; port: number | undefined; host: string; basePath: string } {
  const pathStyle = o.endpoint !== undefined || o.bucket.includes('.');
  const { pathname, ...target } = targetOf(o.endpoint ?? (pathStyle ? `https://s3.${o.region}.${awsDomain(o.region)}` : `https://${o.bucket}.s3.${o.region}.${awsDomain(o.region)}`));
  const prefix = pathname.replace(/\/+$/, '');
  return { ...target, basePath: pathStyle ? `${prefix}/${escapeKey(o.bucket)}/` : `${prefix}/` };
}

/** Signed requests to one bucket's objects (keep-alive sockets, the SDK's credentials): what the range reader and the write-once writer share. */
export class SignedBucketRequests {
  protected readonly http: SignedHttp;
  private readonly basePath: string;

  constructor(protected readonly o: S3RangeGetOptions) {
    const { basePath, ...target } = requestTarget(o);
    this.basePath = basePath;
    this.http = signedHttpFor('s3', o, target);
  }

  /** The request path of an object. */
  protected pathOf(key: string): string {
    return `${this.basePath}${escapeKey(key)}`;
  }

  /** Closes the kept-alive sockets. */
  destroy(): void {
    this.http.destroy();
  }
}

export class S3RangeReader extends SignedBucketRequests implements Pick<BlobStore, 'get'> {

  async get(key: string, range?: ByteRange): Promise<BlobBody> {
    if (range) checkRange(range);
    return retrying(() => this.attempt(key, range), (error) => translateS3Error(error, 'get', key), this.o.retry);
  }

  private async attempt(key: string, range: ByteRange | undefined): Promise<BlobBody> {
    const response = await this.http.send({
      method: 'GET',
      path: this.pathOf(key),
      headers: { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...(range ? { range: `bytes=${range.start}-${range.end}` } : {}) },
      what: `GET ${key}`,
    });
    const status = response.statusCode ?? 0;
    if (status !== 200 && status !== 206) throw s3Error(status, response.headers, await readText(response, ERROR_BODY_LIMIT));
    const length = Number(response.headers['content-length'] ?? 0);
    const versionId = response.headers['x-amz-version-id'];
    return {
      body: response,
      size: totalFromContentRange(response.headers['content-range']) ?? length,
      length,
      contentType: response.headers['content-type'],
      etag: response.headers.etag,
      ...(typeof versionId === 'string' ? { versionId } : {}),
    };
  }
}
