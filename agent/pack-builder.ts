import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { BLOCK, fileHeaders, padding, endOfArchive } from '../core/tar.ts';
import type { TarSlice } from '../core/manifest.ts';
import { StreamUploader, type StreamUploaderOptions, type UploadResult, type UploaderStore } from './stream-uploader.ts';

// Streams one tar pack straight into the store: tar framing (headers, padding, end of archive)
// around members whose bytes the StreamUploader moves from the recorder's file to S3 with
// bounded memory and no temporary copy on the recorder's disk.

export type PackBuilderOptions = StreamUploaderOptions;
export type PackResult = UploadResult;
export type BuilderStore = UploaderStore;
/** A member whose SHA-256 the hasher's threads take from the part buffers sent (see StreamUploader.rangeDigest). */
export type PendingSlice = Omit<TarSlice, 'sha256'> & { sha256: Promise<string> };

/** The padding after a member's body (written, never changed: the uploader copies it). */
const ZEROS = Buffer.alloc(BLOCK, 0);

export class PackBuilder {
  private readonly uploader: StreamUploader;

  constructor(store: BuilderStore, options: PackBuilderOptions) {
    this.uploader = new StreamUploader(store, options);
  }

  /** Bytes written so far (the offset the next byte will have in the pack). */
  get position(): number {
    return this.uploader.position;
  }

  /** Adds a member whose body is already in memory (sidecars, small files); its SHA-256 taken here as it is copied. */
  async addBuffer(name: string, body: Uint8Array, mtime: Date): Promise<TarSlice> {
    return settle(await this.member(name, body.length, mtime, false, (hash) => this.uploader.write(body, hash)));
  }

  /** Adds a member read from an open file handle; the file must hold exactly `size` bytes. */
  async addFile(name: string, file: FileHandle, size: number, mtime: Date, path: string): Promise<TarSlice> {
    return settle(await this.member(name, size, mtime, false, (hash) => this.uploader.copyFrom(file, size, path, { exact: true, hash })));
  }

  /**
   * addBuffer with the member's SHA-256 taken off this thread, from the bytes sent: it settles once
   * the part holding the member's last byte is hashed, by finish() at the latest.
   */
  stageBuffer(name: string, body: Uint8Array, mtime: Date): Promise<PendingSlice> {
    return this.member(name, body.length, mtime, true, () => this.uploader.write(body));
  }

  /** addFile with the member's SHA-256 taken off this thread (see stageBuffer). */
  stageFile(name: string, file: FileHandle, size: number, mtime: Date, path: string): Promise<PendingSlice> {
    return this.member(name, size, mtime, true, () => this.uploader.copyFrom(file, size, path, { exact: true }));
  }

  private async member(name: string, size: number, mtime: Date, aside: boolean, body: (hash?: Hash) => Promise<void>): Promise<PendingSlice> {
    await this.uploader.write(fileHeaders(name, size, mtime));
    const offset = this.uploader.position;
    const hash = aside ? undefined : createHash('sha256');
    const digest = hash ? undefined : this.uploader.rangeDigest(size);
    await body(hash);
    await this.uploader.write(ZEROS.subarray(0, padding(size)));
    return { name, offset, length: size, sha256: digest ?? Promise.resolve((hash as Hash).digest('hex')) };
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

async function settle(slice: PendingSlice): Promise<TarSlice> {
  return { ...slice, sha256: await slice.sha256 };
}
