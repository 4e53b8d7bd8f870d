import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { fileHeaders, padding, endOfArchive } from '../core/tar.ts';
import type { TarSlice } from '../core/manifest.ts';
import { StreamUploader, type StreamUploaderOptions, type UploadResult, type UploaderStore } from './stream-uploader.ts';

// Streams one tar pack straight into the store: tar framing (headers, padding, end of archive)
// around members whose bytes the StreamUploader moves from the recorder's file to S3 with
// bounded memory and no temporary copy on the recorder's disk.

export type PackBuilderOptions = StreamUploaderOptions;
export type PackResult = UploadResult;
export type BuilderStore = UploaderStore;

export class PackBuilder {
  private readonly uploader: StreamUploader;

  constructor(store: BuilderStore, options: PackBuilderOptions) {
    this.uploader = new StreamUploader(store, options);
  }

  /** Bytes written so far (the offset the next byte will have in the pack). */
  get position(): number {
    return this.uploader.position;
  }

  /** Adds a member whose body is already in memory (sidecars, small files). */
  async addBuffer(name: string, body: Uint8Array, mtime: Date): Promise<TarSlice> {
    await this.uploader.write(fileHeaders(name, body.length, mtime));
    const start = this.uploader.position;
    const hash = createHash('sha256');
    await this.uploader.write(body, hash);
    await this.uploader.write(Buffer.alloc(padding(body.length), 0));
    return { name, offset: start, length: body.length, sha256: hash.digest('hex') };
  }

  /** Adds a member read from an open file handle; the file must hold exactly `size` bytes. */
  async addFile(name: string, file: FileHandle, size: number, mtime: Date, path: string): Promise<TarSlice> {
    await this.uploader.write(fileHeaders(name, size, mtime));
    const start = this.uploader.position;
    const hash = createHash('sha256');
    await this.uploader.copyFrom(file, size, path, { exact: true, hash });
    await this.uploader.write(Buffer.alloc(padding(size), 0));
    return { name, offset: start, length: size, sha256: hash.digest('hex') };
  }

  /**
   * Writes the end of the archive and publishes the object. `beforeCommit` runs after every
   * byte is uploaded and before the object becomes visible: throwing there publishes nothing.
   */
  async finish(beforeCommit?: () => Promise<void>): Promise<PackResult> {
    await this.uploader.write(endOfArchive());
    return this.uploader.finish(beforeCommit);
  }

  /** Discards whatever was uploaded; safe to call after any failure, idempotent. */
  async abort(): Promise<void> {
    await this.uploader.abort();
  }
}
