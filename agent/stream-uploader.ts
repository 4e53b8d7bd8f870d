import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { BlobStore, CompletedPart } from '../core/ports.ts';
import { SourceChangedError } from '../core/errors.ts';
import { AlreadyExistsError } from '../core/errors.ts';
import { PartPool } from './part-pool.ts';

// Streams bytes into one object: from a source file into a part buffer and from there to the
// store, with no temporary copy on the site's disk. Part buffers come from a PartPool: the
// agent's shared one (memory bounded for all uploads together), or a pool of its own of
// partConcurrency + 1 buffers. Whatever the object size, memory is bounded by the pool. An
// object that fits in one part is sent as a single PUT (one request instead of three). Used by
// PackBuilder (tar packs) and by artefact shipping (one file, byte for byte).

export interface StreamUploaderOptions {
  key: string;
  partSize: number;
  /** Without a shared `pool`, the uploader's own pool holds partConcurrency + 1 buffers. */
  partConcurrency: number;
  /** The agent's shared part buffers; its partSize wins. */
  pool?: PartPool;
  /** Also take the MD5 of each part, to give the S3 ETag the object should have (`etag` mode). */
  etag?: boolean;
  contentType?: string;
  storageClass?: string;
  /** Called with the upload id before any part is sent, so a crash can always abort it. */
  onUploadStarted?: (uploadId: string) => void;
  onUploadEnded?: (uploadId: string) => void;
}

export interface UploadResult {
  size: number;
  sha256: string;
  parts: number;
  /** With the `etag` option: the S3 ETag of what was sent (MD5, or md5(part MD5s)-N). */
  etag?: string;
}

export type UploaderStore = Pick<BlobStore, 'put' | 'createMultipart' | 'uploadPart' | 'completeMultipart' | 'abortMultipart'> & { readonly features?: BlobStore['features'] };

export class StreamUploader {
  private readonly pool: PartPool;
  /** The buffer being filled (lent by the pool); none between a part sent and the next byte. */
  private buffer: Buffer | undefined;
  private fill = 0;
  private offset = 0;
  private readonly objectHash = createHash('sha256');
  private uploadId: string | undefined;
  private partNumber = 0;
  private readonly parts: CompletedPart[] = [];
  private readonly partMd5s: Buffer[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private finished = false;

  constructor(
    private readonly store: UploaderStore,
    private readonly options: StreamUploaderOptions,
  ) {
    this.pool = options.pool ?? new PartPool(options.partSize, options.partConcurrency + 1);
    this.sendChecksums = store.features?.verifiesChecksums ?? true;
  }

  private readonly sendChecksums: boolean;

  /** Bytes written so far (the offset the next byte will have in the object). */
  get position(): number {
    return this.offset;
  }

  private async target(): Promise<Buffer> {
    this.buffer ??= await this.pool.acquire();
    return this.buffer;
  }

  /** Appends bytes already in memory. */
  async write(bytes: Uint8Array, extraHash?: Hash): Promise<void> {
    extraHash?.update(bytes);
    let at = 0;
    while (at < bytes.length) {
      const buffer = await this.target();
      const n = Math.min(buffer.length - this.fill, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n), this.fill);
      this.account(bytes.subarray(at, at + n));
      this.fill += n;
      at += n;
      if (this.fill === buffer.length) await this.flush();
    }
  }

  /**
   * Appends the first `size` bytes of an open file, read straight into the part buffer. With
   * `exact`, the file must hold exactly `size` bytes (a file that grew is refused); without it,
   * a prefix of a growing file is taken (an append-only log's active segment).
   */
  async copyFrom(file: FileHandle, size: number, path: string, options: { exact: boolean; hash?: Hash; onChunk?: (bytes: Buffer) => void }): Promise<void> {
    let remaining = size;
    let position = 0;
    while (remaining > 0) {
      const buffer = await this.target();
      const want = Math.min(buffer.length - this.fill, remaining);
      const { bytesRead } = await file.read(buffer, this.fill, want, position);
      if (bytesRead === 0) throw new SourceChangedError(`${path} shrank while it was read (${position} of ${size} bytes)`, path);
      const chunk = buffer.subarray(this.fill, this.fill + bytesRead);
      this.account(chunk);
      options.hash?.update(chunk);
      options.onChunk?.(chunk);
      this.fill += bytesRead;
      position += bytesRead;
      remaining -= bytesRead;
      if (this.fill === buffer.length) await this.flush();
    }
    if (!options.exact) return;
    const { bytesRead: extra } = await file.read(Buffer.allocUnsafe(1), 0, 1, size);
    if (extra !== 0) throw new SourceChangedError(`${path} grew while it was read (more than ${size} bytes)`, path);
  }

  private account(bytes: Uint8Array): void {
    this.objectHash.update(bytes);
    this.offset += bytes.length;
  }

  private async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.uploadId === undefined) {
      this.uploadId = await this.store.createMultipart(this.options.key, { contentType: this.options.contentType, storageClass: this.options.storageClass });
      this.options.onUploadStarted?.(this.uploadId);
    }
    const buffer = this.buffer as Buffer;
    const body = buffer.subarray(0, this.fill);
    this.buffer = undefined;
    this.fill = 0;
    const partNumber = ++this.partNumber;
    if (this.options.etag) this.partMd5s[partNumber - 1] = createHash('md5').update(body).digest();
    // A per-part SHA-256 only helps a store that checks it (AWS S3); others ignore it, and the
    // object is verified after publishing anyway.
    const sha256 = this.sendChecksums ? createHash('sha256').update(body).digest('base64') : undefined;
    const uploadId = this.uploadId;
    const task = this.store
      .uploadPart(this.options.key, uploadId, partNumber, body, sha256)
      .then((part) => {
        this.parts.push(part);
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => {
        this.inflight.delete(task);
        this.pool.release(buffer);
      });
    this.inflight.add(task);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Publishes the object. `beforeCommit` runs after every byte is uploaded and before the
   * object becomes visible: throwing there publishes nothing.
   */
  async finish(beforeCommit?: () => Promise<void>): Promise<UploadResult> {
    if (this.uploadId === undefined) {
      const body = (await this.target()).subarray(0, this.fill);
      await beforeCommit?.();
      // The body is the whole object: its digest is the one computed on the way in.
      const digest = this.objectHash.digest();
      const sha256 = this.sendChecksums ? digest.toString('base64') : undefined;
      // Taken before the buffer goes back to the pool.
      const etag = this.options.etag ? `"${createHash('md5').update(body).digest('hex')}"` : undefined;
      try {
        await this.writeOnce(() => this.store.put(this.options.key, body, { contentType: this.options.contentType, storageClass: this.options.storageClass, sha256, ifNoneMatch: true }));
      } finally {
        this.giveBack();
      }
      this.finished = true;
      return { size: this.offset, sha256: digest.toString('hex'), parts: 1, ...(etag ? { etag } : {}) };
    }
    if (this.fill > 0) await this.flush();
    this.giveBack();
    await Promise.all(this.inflight);
    this.throwIfFailed();
    await beforeCommit?.();
    const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
    const uploadId = this.uploadId;
    const existed = await this.writeOnce(() => this.store.completeMultipart(this.options.key, uploadId, parts, { ifNoneMatch: true }));
    if (existed) await this.store.abortMultipart(this.options.key, uploadId);
    this.options.onUploadEnded?.(uploadId);
    this.finished = true;
    const etag = this.options.etag ? `"${createHash('md5').update(Buffer.concat(this.partMd5s)).digest('hex')}-${parts.length}"` : undefined;
    return { size: this.offset, sha256: this.objectHash.digest('hex'), parts: parts.length, ...(etag ? { etag } : {}) };
  }

  /**
   * Published objects are write-once (If-None-Match: *; the agent's role may not overwrite).
   * An object already at the key — the same batch shipped before a crash — is not an error
   * here: the caller verifies it against what this upload would have written.
   */
  private async writeOnce(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return false;
    } catch (error) {
      if (error instanceof AlreadyExistsError) return true;
      throw error;
    }
  }

  private giveBack(): void {
    if (this.buffer) this.pool.release(this.buffer);
    this.buffer = undefined;
  }

  /** Discards whatever was uploaded; safe to call after any failure, idempotent. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inflight);
    this.giveBack();
    if (this.uploadId !== undefined && !this.finished) {
      await this.store.abortMultipart(this.options.key, this.uploadId);
      this.options.onUploadEnded?.(this.uploadId);
      this.finished = true;
    }
  }
}
