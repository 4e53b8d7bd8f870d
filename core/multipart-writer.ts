import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { BlobStore, CompletedPart } from './ports.ts';

// A Writable that streams into one object of the store by multipart upload: bytes fill one part
// buffer, a full part is uploaded before more is accepted (backpressure), so memory stays at
// about one part whatever the object's size. Nothing is visible under the key until commit()
// completes the upload; abort() discards it. Used by the console's case export (functions/export).

export type MultipartStore = Pick<BlobStore, 'createMultipart' | 'uploadPart' | 'completeMultipart' | 'abortMultipart'> & { readonly features?: BlobStore['features'] };

/** S3's smallest part (every part but the last). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

export class MultipartWriter extends Writable {
  private uploadId: string | undefined;
  private buffer: Buffer;
  private fill = 0;
  private readonly parts: CompletedPart[] = [];
  private readonly hash = createHash('sha256');
  bytes = 0;

  constructor(
    private readonly store: MultipartStore,
    readonly key: string,
    private readonly options: { partSize?: number; contentType?: string; retainUntil?: Date } = {},
  ) {
    super();
    this.buffer = Buffer.alloc(Math.max(options.partSize ?? 8 * 1024 * 1024, MIN_PART_SIZE));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.take(chunk).then(() => done(), done);
  }

  private async take(chunk: Buffer): Promise<void> {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const n = Math.min(chunk.length - at, this.buffer.length - this.fill);
      chunk.copy(this.buffer, this.fill, at, at + n);
      this.fill += n;
      at += n;
      if (this.fill === this.buffer.length) await this.sendPart();
    }
  }

  private async sendPart(): Promise<void> {
    const { contentType, retainUntil } = this.options;
    this.uploadId ??= await this.store.createMultipart(this.key, { ...(contentType ? { contentType } : {}), ...(retainUntil ? { retainUntil } : {}) });
    const body = this.buffer.subarray(0, this.fill);
    // Where the store checks checksums (S3), each part carries its SHA-256 and a torn part is refused.
    const sha256 = this.store.features?.verifiesChecksums ? createHash('sha256').update(body).digest('base64') : undefined;
    const md5 = createHash('md5').update(body).digest('base64');
    this.parts.push(await this.store.uploadPart(this.key, this.uploadId, this.parts.length + 1, body, sha256, md5));
    this.fill = 0;
  }

  /** Ends the stream, sends the last part and completes the upload: the object exists from now on. */
  async commit(): Promise<{ bytes: number; sha256: string }> {
    await new Promise<void>((resolve, reject) => this.end((error?: Error | null) => (error ? reject(error) : resolve())));
    if (this.fill > 0 || this.parts.length === 0) await this.sendPart();
    // If-None-Match: a bundle is never replaced (and the bucket policy refuses writes without it).
    await this.store.completeMultipart(this.key, this.uploadId!, this.parts, { ifNoneMatch: true });
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  /** Discards the upload and its parts (idempotent); nothing ever appears under the key. */
  async abort(): Promise<void> {
    this.destroy();
    if (this.uploadId) await this.store.abortMultipart(this.key, this.uploadId);
  }
}
