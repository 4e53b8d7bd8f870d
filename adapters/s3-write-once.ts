// Write-once PUTs of small objects for the functions' audit seals (core/audit-coalesce.ts: the
// copy of each audited request's record to `audit/{site}/{seq}.json`, one a search page or a
// listen): a signed PUT (signed-http.ts) instead of the SDK's PutObject, whose middleware stack
// cost the catalogue function more CPU per seal than the rest of the page's audit. What it sends
// is what S3BlobStore.put sends for the same call: the body's Content-MD5 (S3 requires an
// integrity header on a bucket with Object Lock), its SHA-256 as the signed payload hash, the
// content type and `If-None-Match: *`. A key that exists already is an AlreadyExistsError, and
// S3's other answers are mapped by translateS3Error, as for the SDK's calls; what is transient
// (network errors, 5xx, SlowDown) is retried, and a retry that meets its own earlier write is
// refused as existing, which the seal counts as copied.
import { createHash } from 'node:crypto';
import { InvalidInputError } from '../core/errors.ts';
import type { BlobStore, PutOptions } from '../core/ports.ts';
import { md5Base64, translateS3Error } from './s3-blob-store.ts';
import { s3Error, SignedBucketRequests, type S3RangeGetOptions } from './s3-range-get.ts';
import { readText, retrying } from './signed-http.ts';

/** The bucket and how to reach it: what the range reader takes. */
export type S3WriteOnceOptions = S3RangeGetOptions;

const ERROR_BODY_LIMIT = 64 * 1024;
/** The PutOptions this writer honours; any other is refused rather than silently dropped. */
const HONOURED = new Set<keyof PutOptions>(['contentType', 'md5', 'ifNoneMatch']);

export class S3WriteOnce extends SignedBucketRequests implements Pick<BlobStore, 'put'> {
  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag?: string }> {
    const unhonoured = Object.keys(options).filter((name) => options[name as keyof PutOptions] !== undefined && !HONOURED.has(name as keyof PutOptions));
    if (unhonoured.length > 0) throw new InvalidInputError(`S3 put ${key}: the write-once writer does not send ${unhonoured.join(', ')} (use S3BlobStore)`);
    const headers: Record<string, string> = {
      'content-md5': options.md5 ?? md5Base64(body),
      'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
      ...(options.contentType === undefined ? {} : { 'content-type': options.contentType }),
      ...(options.ifNoneMatch ? { 'if-none-match': '*' } : {}),
    };
    return retrying(() => this.attempt(key, body, headers), (error) => translateS3Error(error, 'put', key), this.o.retry);
  }

  private async attempt(key: string, body: Uint8Array, headers: Record<string, string>): Promise<{ etag?: string }> {
    const response = await this.http.send({ method: 'PUT', path: this.pathOf(key), headers, body, what: `PUT ${key}` });
    const status = response.statusCode ?? 0;
    if (status !== 200) throw s3Error(status, response.headers, await readText(response, ERROR_BODY_LIMIT));
    // The answer has no body to speak of; read it to the end so the socket is kept for the next PUT.
    await readText(response, 0);
    return { etag: response.headers.etag };
  }
}
