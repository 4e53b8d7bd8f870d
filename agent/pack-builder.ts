import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { BlobStore, CompletedPart } from '../core/ports.ts';
import { fileHeaders, padding, endOfArchive } from '../core/tar.ts';
import type { TarSlice } from '../core/manifest.ts';
import { SourceChangedError } from '../core/errors.ts';

// Streams one tar pack straight into the store: bytes go from the recorder's file into a
// part buffer and from there to S3, with no temporary copy on the recorder's disk. Memory is
// bounded by partSize × (partConcurrency + 1) whatever the batch size. A pack that fits in
// one part is sent as a single PUT (one request instead of three).

export interface PackBuilderOptions {
  key: string;
  partSize: number;
  partConcurrency: number;
  contentType?: string;
  storageClass?: string;
  /** Called with the upload id before any part is sent, so a crash can always abort it. */
  onUploadStarted?: (uploadId: string) => void;
  onUploadEnded?: (uploadId: string) => void;
}

export interface PackResult {
  size: number;
  sha256: string;
  parts: number;
}

export type BuilderStore = Pick<BlobStore, 'put' | 'createMultipart' | 'uploadPart' | 'completeMultipart' | 'abortMultipart'>;

export class PackBuilder {
  private buffer: Buffer;
  private fill = 0;
  private offset = 0;
  private readonly packHash = createHash('sha256');
  private uploadId: string | undefined;
  private partNumber = 0;
  private readonly parts: CompletedPart[] = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private finished = false;

  constructor(
    private readonly store: BuilderStore,
    private readonly options: PackBuilderOptions,
  ) {
    this.buffer = Buffer.allocUnsafe(options.partSize);
  }

  /** Bytes written so far (the offset the next byte will have in the pack). */
  get position(): number {
    return this.offset;
  }

  /** Adds a member whose body is already in memory (sidecars, small files). */
  async addBuffer(name: string, body: Uint8Array, mtime: Date): Promise<TarSlice> {
    await this.write(fileHeaders(name, body.length, mtime));
    const start = this.offset;
    const hash = createHash('sha256');
    hash.update(body);
    await this.write(body);
    await this.write(Buffer.alloc(padding(body.length), 0));
    return { name, offset: start, length: body.length, sha256: hash.digest('hex') };
  }

  /** Adds a member read from an open file handle; the file must hold exactly `size` bytes. */
  async addFile(name: string, file: FileHandle, size: number, mtime: Date, path: string): Promise<TarSlice> {
    await this.write(fileHeaders(name, size, mtime));
    const start = this.offset;
    const hash = createHash('sha256');
    let remaining = size;
    let position = 0;
    while (remaining > 0) {
      const room = this.buffer.length - this.fill;
      const want = Math.min(room, remaining);
      const { bytesRead } = await file.read(this.buffer, this.fill, want, position);
      if (bytesRead === 0) throw new SourceChangedError(`${path} shrank while it was read (${position} of ${size} bytes)`, path);
      this.account(this.buffer.subarray(this.fill, this.fill + bytesRead), hash);
      this.fill += bytesRead;
      position += bytesRead;
      remaining -= bytesRead;
      if (this.fill === this.buffer.length) await this.flush();
    }
    const probe = Buffer.allocUnsafe(1);
    const { bytesRead: extra } = await file.read(probe, 0, 1, size);
    if (extra !== 0) throw new SourceChangedError(`${path} grew while it was read (more than ${size} bytes)`, path);
    await this.write(Buffer.alloc(padding(size), 0));
    return { name, offset: start, length: size, sha256: hash.digest('hex') };
  }

  private account(bytes: Uint8Array, memberHash?: Hash): void {
    this.packHash.update(bytes);
    memberHash?.update(bytes);
    this.offset += bytes.length;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(this.buffer.length - this.fill, bytes.length - at);
      this.buffer.set(bytes.subarray(at, at + n), this.fill);
      this.account(bytes.subarray(at, at + n));
      this.fill += n;
      at += n;
      if (this.fill === this.buffer.length) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.uploadId === undefined) {
      this.uploadId = await this.store.createMultipart(this.options.key, { contentType: this.options.contentType, storageClass: this.options.storageClass });
      this.options.onUploadStarted?.(this.uploadId);
    }
    const body = this.buffer.subarray(0, this.fill);
    this.buffer = Buffer.allocUnsafe(this.options.partSize);
    this.fill = 0;
    const partNumber = ++this.partNumber;
    const sha256 = createHash('sha256').update(body).digest('base64');
    const uploadId = this.uploadId;
    const task = this.store
      .uploadPart(this.options.key, uploadId, partNumber, body, sha256)
      .then((part) => {
        this.parts.push(part);
      })
      .catch((error: unknown) => {
        this.failure ??= error;
      })
      .finally(() => this.inflight.delete(task));
    this.inflight.add(task);
    while (this.inflight.size >= this.options.partConcurrency) await Promise.race(this.inflight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Writes the end of the archive and publishes the object. `beforeCommit` runs after every
   * byte is uploaded and before the object becomes visible: throwing there publishes nothing.
   */
  async finish(beforeCommit?: () => Promise<void>): Promise<PackResult> {
    await this.write(endOfArchive());
    if (this.uploadId === undefined) {
      const body = this.buffer.subarray(0, this.fill);
      await beforeCommit?.();
      const sha256 = createHash('sha256').update(body).digest('base64');
      await this.store.put(this.options.key, body, { contentType: this.options.contentType, storageClass: this.options.storageClass, sha256 });
      this.finished = true;
      return { size: this.offset, sha256: this.packHash.digest('hex'), parts: 1 };
    }
    if (this.fill > 0) await this.flush();
    await Promise.all(this.inflight);
    this.throwIfFailed();
    await beforeCommit?.();
    const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
    await this.store.completeMultipart(this.options.key, this.uploadId, parts);
    this.options.onUploadEnded?.(this.uploadId);
    this.finished = true;
    return { size: this.offset, sha256: this.packHash.digest('hex'), parts: parts.length };
  }

  /** Discards whatever was uploaded; safe to call after any failure, idempotent. */
  async abort(): Promise<void> {
    await Promise.allSettled(this.inflight);
    if (this.uploadId !== undefined && !this.finished) {
      await this.store.abortMultipart(this.options.key, this.uploadId);
      this.options.onUploadEnded?.(this.uploadId);
      this.finished = true;
    }
  }
}
