// BlobStore over the S3 API (AWS, the local s3rver stand-in, MinIO). SDK errors become Ferry
// errors in translateS3Error and nowhere else.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import {
  AlreadyExistsError,
  ArchivedError,
  FerryError,
  IntegrityError,
  InvalidInputError,
  NotFoundError,
  RangeNotSatisfiableError,
  TransientError,
  messageOf,
} from '../core/errors.ts';
import { readsInto } from './direct-get.ts';
import type {
  BlobBody,
  BlobInfo,
  BlobStore,
  BlobStoreFeatures,
  ByteRange,
  CompletedPart,
  MultipartUpload,
  PutOptions,
} from '../core/ports.ts';

export interface S3BlobStoreOptions {
  /** What the target honours; default everything (AWS). Stand-ins declare less. */
  features?: Partial<BlobStoreFeatures>;
  /**
   * The principal may read its keys but not list the whole bucket (a site's agent or DR role):
   * S3 then answers 403 AccessDenied, not 404, for a key that does not exist, so a read answered
   * 403 without a KMS reason is taken as absent (head: undefined, get: NotFoundError). A
   * principal that may read nothing there fails at its next write or listing, loudly.
   */
  readsWithoutList?: boolean;
  /**
   * Says why no credentials could be had (a misspelt AWS_PROFILE, a credential_process that
   * failed), when a request failed for want of them: the SDK's own message names no cause.
   */
  explainCredentials?: () => string | undefined;
}

/** What a 403 to a read is named: AccessDenied (GET's XML), or, for a HEAD (no body), whatever the SDK makes of a bare status. */
const DENIED = new Set(['AccessDenied', 'Forbidden', 'Unknown', 'UnknownError', '']);

/** A read refused as S3 refuses a missing key to a principal that may not list (403 AccessDenied, no KMS reason; not a signature error), by S3 itself. */
function deniedAsMissing(error: unknown): boolean {
  const cause = (error as { cause?: SdkErrorShape & { message?: string } }).cause;
  const name = cause?.name ?? cause?.Code ?? '';
  return cause?.$metadata?.httpStatusCode === 403 && DENIED.has(name) && !/kms/i.test(cause.message ?? '') && notFromS3(cause) === undefined;
}

/** What an answer said, when the SDK kept its body (a block page names the policy that refused): `: "…"`, or nothing. */
function bodyWords(e: SdkErrorShape): string {
  const text = (e as { $responseBodyText?: string }).$responseBodyText?.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return text ? `: "${text.length > 160 ? `${text.slice(0, 160)}…` : text}"` : '';
}

/** What the SDK names an error answer it could not read a code from: its status, not S3's word. */
const STATUS_NAMES = new Set(['Error', 'Unknown', 'UnknownError', 'NotFound', 'Forbidden', 'BadRequest', 'MovedPermanently', 'Found', 'TemporaryRedirect', 'ServiceUnavailable', 'InternalServerError', 'BadGateway', 'GatewayTimeout', 'ProxyAuthenticationRequired']);

/**
 * An HTTP error answer that S3 did not give: every answer of S3 (and of S3-compatible stores)
 * names its request (x-amz-request-id); a proxy's block page or a firewall's refusal does not.
 * Said with what the answer was (its type, its server or proxy), so that the site's network is
 * asked, not the credentials. Undefined for S3's own answers and for errors with no answer.
 */
function notFromS3(e: SdkErrorShape): string | undefined {
  // A body the SDK could not parse at all (a proxy's plain-text 502) leaves the answer only in $response.
  const unparsed = e.$metadata?.httpStatusCode === undefined && e.$response?.statusCode !== undefined;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const headers = e.$response?.headers;
  // An answer whose body was an S3 error document (a named code) is S3's, whatever its headers;
  // the names the SDK makes of a bare status (NotFound, Forbidden…) say nothing of who answered.
  const name = e.name ?? e.Code ?? '';
  const named = !unparsed && name !== '' && !STATUS_NAMES.has(name);
  if (status === undefined || headers === undefined || status < 300 || named) return undefined;
  const header = (name: string) => Object.entries(headers).find(([k]) => k.toLowerCase() === name)?.[1];
  if (e.$metadata?.requestId || header('x-amz-request-id') || header('x-amz-id-2')) return undefined;
  const said = [header('content-type'), header('server') && `server ${header('server')}`, header('via') && `via ${header('via')}`].filter(Boolean).join(', ');
  return `HTTP ${status}${said ? ` (${said})` : ''}${bodyWords(e)} that did not come from S3 (no x-amz-request-id): a proxy or firewall between this machine and the store answered; ask the site's network team (HTTPS_PROXY, the proxy's policy for the store's host)`;
}

const NOT_FOUND = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);
const CONFLICT = new Set(['PreconditionFailed', 'ConditionalRequestConflict']);
const INTEGRITY = new Set(['BadDigest', 'InvalidDigest', 'XAmzContentSHA256Mismatch']);
const INVALID = new Set(['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'InvalidArgument', 'InvalidStorageClass', 'KeyTooLongError']);
const TRANSIENT = new Set([
  // Ferry's XML bodies are written by the SDK: one the store cannot parse was torn on the way.
  'MalformedXML',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
]);
/** Not 501 NotImplemented: asking again will not implement it. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

interface SdkErrorShape {
  name?: string;
  Code?: string;
  code?: string;
  ActualObjectSize?: string | number;
  /** InvalidObjectState: the class the object is in. */
  StorageClass?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = /\/(\d+)\s*$/.exec(contentRange ?? '');
  return match ? Number(match[1]) : undefined;
}

function rangeSize(e: SdkErrorShape): number {
  const actual = Number(e.ActualObjectSize);
  if (e.ActualObjectSize !== undefined && Number.isFinite(actual)) return actual;
  return totalFromContentRange(e.$response?.headers?.['content-range']) ?? -1;
}

/**
 * An S3 error as an operator reads it: its name and message. An answer without a body (a HEAD)
 * leaves the SDK nothing but the status: named by it, so that a refused key reads as one, not
 * as "Unknown: UnknownError".
 */
function describeS3Error(name: string, status: number | undefined, message: string): string {
  const unnamed = name === '' || name === 'Unknown' || name === 'UnknownError';
  if (!unnamed) return `${name}: ${message}`;
  const label = status === 403 ? 'HTTP 403 Forbidden (the store refused these credentials or this request: check cloud.credentials and what the role may do)' : status ? `HTTP ${status}` : '';
  if (!label) return message;
  return message === 'UnknownError' || message === 'Unknown' ? label : `${label}: ${message}`;
}

/** An answer a proxy or firewall gave (notFromS3) as the error callers act on: its 502/503/504 (its upstream timed out) is asked again, as S3's own. */
function foreignAnswer(e: SdkErrorShape, what: string, error: unknown): Error | undefined {
  const foreign = notFromS3(e);
  if (foreign === undefined) return undefined;
  return (e.$metadata?.httpStatusCode ?? e.$response?.statusCode ?? 0) >= 500 ? new TransientError(`${what}: ${foreign}`, { cause: error }) : new FerryError('fatal', `${what}: ${foreign}`, { cause: error });
}

/** A TLS certificate this machine does not trust: Node's words for it. */
function untrustedCertificate(error: unknown): boolean {
  return /unable to verify the first certificate|self[- ]signed certificate|unable to get local issuer certificate|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN/i.test(messageOf(error) + String((error as { code?: string }).code ?? ''));
}

const UNTRUSTED_CERTIFICATE_HINT =
  " (the store's certificate is not one this machine trusts: behind a TLS-intercepting proxy, give the proxy's CA as NODE_EXTRA_CA_CERTS=/path/to/ca.pem; Ferry, like the AWS SDK for JavaScript, does not read AWS_CA_BUNDLE)";

/** Maps one SDK (or network) error to the Ferry error callers act on. Ferry errors pass through. */
export function translateS3Error(error: unknown, operation: string, key: string): Error {
  if (error instanceof FerryError) return error;
  const e = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const name = e.name ?? e.Code ?? '';
  const status = e.$metadata?.httpStatusCode;
  const foreign = foreignAnswer(e, `S3 ${operation} ${key}`, error);
  if (foreign) return foreign;
  const what = `S3 ${operation} ${key}: ${describeS3Error(name, status, messageOf(error))}${untrustedCertificate(error) ? UNTRUSTED_CERTIFICATE_HINT : ''}`;
  if (name === 'NoSuchBucket') return new FerryError('fatal', what, { cause: error });
  if (NOT_FOUND.has(name) || status === 404) return new NotFoundError(what, { cause: error });
  if (name === 'InvalidRange' || status === 416) {
    const rangeError = new RangeNotSatisfiableError(what, rangeSize(e));
    rangeError.cause = error;
    return rangeError;
  }
  if (CONFLICT.has(name) || status === 412) return new AlreadyExistsError(what, { cause: error });
  if (name === 'InvalidObjectState') {
    const storageClass = e.StorageClass ?? 'an archive class';
    const message =
      `${key} is in the archive tier (${storageClass}); request a recall and play it once it is restored ` +
      `(S3 ${operation}: ${messageOf(error)})`;
    return new ArchivedError(message, storageClass, { cause: error });
  }
  if (INTEGRITY.has(name)) return new IntegrityError(what, { cause: error });
  if (INVALID.has(name)) return new InvalidInputError(what, { cause: error });
  if (TRANSIENT.has(name) || NETWORK_CODES.has(e.code ?? '') || (status !== undefined && TRANSIENT_STATUS.has(status))) {
    return new TransientError(what, { cause: error });
  }
  return new FerryError('fatal', what, { cause: error });
}

export class S3BlobStore implements BlobStore {
  readonly features: BlobStoreFeatures;
  private readonly readsWithoutList: boolean;
  private readonly explainCredentials: (() => string | undefined) | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3BlobStoreOptions = {},
  ) {
    // AWS with SSE-KMS (Ferry's bucket) gives ETags that are not MD5s: declared by the caller.
    this.features = { verifiesChecksums: true, conditionalPut: true, md5ETags: false, ...options.features };
    this.readsWithoutList = options.readsWithoutList ?? false;
    this.explainCredentials = options.explainCredentials;
  }

  /** The SDK keeps the offset of S3's clock from every answer's Date header (and signs with it). */
  clockOffsetMs(): number | undefined {
    const offset = (this.client.config as { systemClockOffset?: number }).systemClockOffset;
    return typeof offset === 'number' && Number.isFinite(offset) ? offset : undefined;
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag?: string }> {
    const out = await this.call('put', key, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          // Every write carries a checksum the store checks, AWS or S3-compatible alike.
          ContentMD5: options.md5 ?? md5Base64(body),
          ContentType: options.contentType,
          Metadata: options.metadata,
          StorageClass: options.storageClass as StorageClass | undefined,
          ...(options.sha256 === undefined ? {} : { ChecksumAlgorithm: 'SHA256', ChecksumSHA256: options.sha256 }),
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      ),
    );
    return { etag: out.ETag };
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const out = await this.call('head', key, () => this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key })));
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag,
        lastModified: out.LastModified,
        storageClass: out.StorageClass ?? 'STANDARD',
        metadata: out.Metadata ?? {},
      };
    } catch (error) {
      if (error instanceof NotFoundError || (this.readsWithoutList && deniedAsMissing(error))) return undefined;
      throw error;
    }
  }

  async get(key: string, range?: ByteRange): Promise<BlobBody> {
    if (range) checkRange(range);
    const out = await this.call('get', key, () =>
      this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
      ),
    ).catch((error: unknown) => {
      if (this.readsWithoutList && deniedAsMissing(error)) throw new NotFoundError(`S3 get ${key}: not found (403 AccessDenied: S3's answer for a missing key to a principal that may not list the bucket)`, { cause: error });
      throw error;
    });
    const length = out.ContentLength ?? 0;
    const body = (out.Body as Readable | undefined) ?? Readable.from([]);
    return {
      body,
      ...(readsInto(body) ? { readInto: (target: Uint8Array) => body.readInto(target) } : {}),
      size: totalFromContentRange(out.ContentRange) ?? length,
      length,
      contentType: out.ContentType,
      etag: out.ETag,
      ...(out.VersionId ? { versionId: out.VersionId } : {}),
    };
  }

  async *list(prefix: string, options: { pageSize?: number } = {}): AsyncIterable<BlobInfo> {
    let token: string | undefined;
    do {
      const page = await this.call('list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token, ...(options.pageSize === undefined ? {} : { MaxKeys: options.pageSize }) })),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        yield { key: item.Key, size: item.Size ?? 0, etag: item.ETag, lastModified: item.LastModified, storageClass: item.StorageClass ?? 'STANDARD' };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    try {
      await this.call('delete', key, () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key })));
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
  }

  async createMultipart(key: string, options: Omit<PutOptions, 'sha256' | 'ifNoneMatch'> = {}): Promise<string> {
    const out = await this.call('createMultipart', key, () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ContentType: options.contentType,
          Metadata: options.metadata,
          StorageClass: options.storageClass as StorageClass | undefined,
          ...(options.retainUntil ? { ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: options.retainUntil } : {}),
          // With an algorithm declared, S3 checks every part's SHA-256 and reports it back.
          ...(this.features.verifiesChecksums ? { ChecksumAlgorithm: 'SHA256' } : {}),
        }),
      ),
    );
    if (!out.UploadId) throw new FerryError('fatal', `S3 createMultipart ${key}: no UploadId in the response`);
    return out.UploadId;
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Uint8Array,
    sha256?: string,
    md5?: string,
  ): Promise<CompletedPart> {
    const checksum = this.features.verifiesChecksums || sha256 !== undefined;
    const out = await this.call('uploadPart', key, () =>
      this.client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: body,
          ContentLength: body.byteLength,
          ContentMD5: md5 ?? md5Base64(body),
          // Without a value the SDK computes it; with one, S3 checks the bytes against it.
          ...(checksum ? { ChecksumAlgorithm: 'SHA256' } : {}),
          ...(sha256 === undefined ? {} : { ChecksumSHA256: sha256 }),
        }),
      ),
    );
    if (!out.ETag) throw new FerryError('fatal', `S3 uploadPart ${key} #${partNumber}: no ETag in the response`);
    const reported = out.ChecksumSHA256 ?? sha256;
    return { partNumber, etag: out.ETag, ...(reported === undefined ? {} : { sha256: reported }) };
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[], options: { ifNoneMatch?: boolean } = {}): Promise<{ etag?: string }> {
    if (parts.length === 0) throw new InvalidInputError(`completing ${key} needs at least one part`);
    const out = await this.call('completeMultipart', key, () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          MultipartUpload: {
            Parts: parts.map((part) => ({
              PartNumber: part.partNumber,
              ETag: part.etag,
              ...(this.features.verifiesChecksums && part.sha256 !== undefined ? { ChecksumSHA256: part.sha256 } : {}),
            })),
          },
        }),
      ),
    );
    return { etag: out.ETag };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.call('abortMultipart', key, () =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId })),
      );
    } catch (error) {
      // Unknown or already finished: the upload is gone either way.
      if (!(error instanceof NotFoundError)) throw error;
    }
  }

  async *listMultipart(prefix: string): AsyncIterable<MultipartUpload> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.call('listMultipart', prefix, () =>
        this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
        ),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined) continue;
        yield { key: upload.Key, uploadId: upload.UploadId, ...(upload.Initiated ? { initiated: upload.Initiated } : {}) };
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
  }

  private async call<T>(operation: string, key: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const translated = translateS3Error(error, operation, key);
      if ((error as { name?: string }).name === 'CredentialsProviderError' && this.explainCredentials) {
        const why = this.explainCredentials();
        if (why) translated.message = `${translated.message} (${why})`;
      }
      throw translated;
    }
  }
}

/** Base64 MD5 of a body: the Content-MD5 every write to the bucket carries. */
export function md5Base64(body: Uint8Array | string): string {
  return createHash('md5').update(body).digest('base64');
}

export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  // S3 ignores a malformed Range and sends the whole object; refuse it before it gets there.
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new InvalidInputError(`invalid byte range ${start}-${end}`);
  }
}
