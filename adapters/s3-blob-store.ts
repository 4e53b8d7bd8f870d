// BlobStore over the S3 API (AWS, the local s3rver stand-in, MinIO). SDK errors become Ferry
// errors in translateS3Error (adapters/s3-errors.ts) and nowhere else.
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
  ListPartsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCommand,
  type S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import {
  FerryError,
  InvalidInputError,
  NotFoundError,
} from '../core/errors.ts';
import { readsInto } from './direct-get.ts';
import type { PacedRequestOptions, UploadPacer } from './upload-pacing.ts';
import { credentialsUnusable, deniedAsMissing, totalFromContentRange, translateS3Error, withCredentialsSource } from './s3-errors.ts';
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
  /** Where the credentials are set when the configuration gives none (a profile, the environment): named in a refusal of the key. */
  credentialsSource?: () => string;
}

export { deniedAsMissing, totalFromContentRange, translateS3Error } from './s3-errors.ts';

/** A write's own Object Lock retention (PutObject, CreateMultipartUpload), when it asks for one. */
function lockParams(options: Pick<PutOptions, 'retainUntil' | 'lockMode'>): { ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE'; ObjectLockRetainUntilDate?: Date } {
  return options.retainUntil ? { ObjectLockMode: options.lockMode ?? 'GOVERNANCE', ObjectLockRetainUntilDate: options.retainUntil } : {};
}

export class S3BlobStore implements BlobStore {
  readonly features: BlobStoreFeatures;
  private readonly readsWithoutList: boolean;
  private readonly explainCredentials: (() => string | undefined) | undefined;
  private readonly credentialsSource: (() => string) | undefined;
  /** What paces this view's upload bodies (withUploadPacer). */
  private uploadPacer: UploadPacer | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    options: S3BlobStoreOptions = {},
  ) {
    // AWS with SSE-KMS (Ferry's bucket) gives ETags that are not MD5s: declared by the caller.
    this.features = { verifiesChecksums: true, conditionalPut: true, md5ETags: false, ...options.features };
    this.readsWithoutList = options.readsWithoutList ?? false;
    this.explainCredentials = options.explainCredentials;
    this.credentialsSource = options.credentialsSource;
  }

  /** A view of this store whose PUT and part bodies are paced by `pacer` on their way to the socket (upload-pacing.ts). */
  withUploadPacer(pacer: UploadPacer): this {
    const view = Object.create(this) as this;
    view.uploadPacer = pacer;
    return view;
  }

  /** The handler options of an upload: its pacer, when it has one. */
  private uploadOptions(): PacedRequestOptions | undefined {
    return this.uploadPacer ? { uploadPacer: this.uploadPacer } : undefined;
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
          ...lockParams(options),
        }),
        this.uploadOptions(),
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
          ...lockParams(options),
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
        this.uploadOptions(),
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

  async uploadOpen(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.call('uploadOpen', key, () => this.client.send(new ListPartsCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, MaxParts: 1 })));
      return true;
    } catch (error) {
      if (error instanceof NotFoundError) return false;
      throw error;
    }
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
      if (this.credentialsSource && credentialsUnusable(translated)) withCredentialsSource(translated, this.credentialsSource());
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
