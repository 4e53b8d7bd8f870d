import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { BlobStore, CompletedPart, PutOptions } from '../core/ports.ts';
import { AlreadyExistsError, IntegrityError, NotFoundError, SourceChangedError, TransientError } from '../core/errors.ts';
import { resendAfterCut } from './network-cut.ts';
import { PartPool } from './part-pool.ts';
import { sharedPartHasher, type ByteRange, type PartHashing } from './part-hasher.ts';
import { heldPart, type ResumePlan } from './upload-resume.ts';

// Streams bytes into one object: from a source file into a part buffer and from there to the
// store, with no temporary copy on the site's disk. Part buffers come from a PartPool: the
// agent's shared one (memory bounded for all uploads together), or a pool of its own of
// partConcurrency + 1 buffers. Whatever the object size, memory is bounded by the pool. An
// object that fits in one part is sent as a single PUT (one request instead of three). Used by
// PackBuilder (tar packs) and by artefact shipping (one file, byte for byte).
//
// Every write carries the MD5 (and, where the store checks it, the SHA-256) the uploader took of
// the bytes (on the hasher's thread, agent/part-hasher.ts, fed each filled part buffer in order),
// so the store refuses a torn body. Where the store's ETags are MD5s, the uploader also
// checks each answer and sends a part again when the store kept something else, and completes
// the upload with the ETags it computed: a damaged part can never be assembled into the object.
// Every upload started is completed or aborted, including those a lost answer hid from it. An
// upload an earlier run left open can be gone on with (`resume`, agent/upload-resume.ts): a part
// the store holds with the very bytes read now is listed, not sent again.

export interface StreamUploaderOptions {
  key: string;
  partSize: number;
  /** Without a shared `pool`, the uploader's own pool holds partConcurrency + 1 buffers. */
  partConcurrency: number;
  /** The agent's shared part buffers; its partSize wins. */
  pool?: PartPool;
  /** Where part buffers are hashed (the object's SHA-256, each part's MD5); the process's hasher thread by default. */
  hasher?: PartHashing;
  /** Kept for callers: the S3 ETag of what was sent is always computed now. */
  etag?: boolean;
  contentType?: string;
  storageClass?: string;
  /** The object's own Object Lock retention instead of the bucket's default (a binlog partial's short lock). */
  lock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; until: Date };
  /** Called with the upload id before any part is sent (and awaited), so a crash can always abort it. */
  onUploadStarted?: (uploadId: string) => void | Promise<void>;
  onUploadEnded?: (uploadId: string) => void | Promise<void>;
  /** Called once the store took a part (or held it already: `held`): progress for `agent status`, a resume's record. */
  onPartStored?: (bytes: number, part: CompletedPart & { md5: string; held?: true }) => void;
  /** An open upload of this key to go on with (agent/upload-resume.ts): parts it holds with these bytes are not sent. */
  resume?: ResumePlan;
  /** The first pause before a part cut on the way is sent again (doubled each time); 1 s. */
  cutPauseMs?: number;
}

export interface UploadResult {
  size: number;
  sha256: string;
  parts: number;
  /** The S3 ETag of what was sent (MD5, or md5(part MD5s)-N). */
  etag?: string;
  /**
   * The store answered the single PUT with `etag`, the MD5 of what it stored (a store whose
   * ETags are MD5s, the write not refused as already there): what an 'etag' verification's
   * HEAD would ask it again.
   */
  etagAnswered?: true;
}

export type UploaderStore = Pick<BlobStore, 'put' | 'createMultipart' | 'uploadPart' | 'completeMultipart' | 'abortMultipart'> &
  Partial<Pick<BlobStore, 'head'>> & { readonly features?: BlobStore['features'] };

/** The put options of an object's own retention, if it has one. */
export function lockOptions(lock: StreamUploaderOptions['lock']): Pick<PutOptions, 'retainUntil' | 'lockMode'> {
  return lock ? { retainUntil: lock.until, lockMode: lock.mode } : {};
}

/** Times one part is sent when the store keeps other bytes than those sent (a torn body accepted). */
const PART_SENDS = 3;
/** Times a complete is sent when it fails on the way (after the SDK's own retries). */
const COMPLETE_SENDS = 3;
const unquote = (etag: string | undefined) => etag?.replace(/"/g, '');

export class StreamUploader {
  private readonly pool: PartPool;
  /** The buffer being filled (lent by the pool); none between a part sent and the next byte. */
  private buffer: Buffer | undefined;
  private fill = 0;
  private offset = 0;
  private readonly hasher: PartHashing;
  /** This upload's object hash on the hasher. */
  private readonly stream: number;
  private uploadId: string | undefined;
  private partNumber = 0;
  private readonly parts: CompletedPart[] = [];
  private readonly partMd5s: Buffer[] = [];
  private readonly inflight = new Set<Promise<void>>();
  /** Ranges asked for by rangeDigest and not yet named to the hasher (their first byte is in no part posted). */
  private pendingRanges: (ByteRange & { settle: (digest: Promise<Buffer>) => void })[] = [];
  private failure: unknown;
  private finished = false;

  constructor(
    private readonly store: UploaderStore,
    private readonly options: StreamUploaderOptions,
  ) {
    this.pool = options.pool ?? new PartPool(options.partSize, options.partConcurrency + 1);
    this.hasher = options.hasher ?? sharedPartHasher();
    this.stream = this.hasher.open();
    // A thread started now boots while the pack's first members are read (once the hasher is
    // past the bytes it hashes on this thread, INLINE_WHOLE_BYTES).
    this.hasher.warm?.();
    this.sendChecksums = store.features?.verifiesChecksums ?? true;
    this.md5ETags = store.features?.md5ETags ?? false;
  }

  private readonly sendChecksums: boolean;
  private readonly md5ETags: boolean;

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
      buffer.set(n === bytes.length ? bytes : bytes.subarray(at, at + n), this.fill);
      this.offset += n;
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

  /**
   * The SHA-256 (hex) of the next `length` bytes written (a tar member's body), taken by the
   * hasher's threads from the part buffers as they are sent, not on this thread. Settles at the
   * latest when finish() has hashed the last part; rejects when the upload is aborted first.
   */
  rangeDigest(length: number): Promise<string> {
    const digest = new Promise<Buffer>((resolve, reject) => {
      this.pendingRanges.push({ start: this.offset, length, settle: (d) => d.then(resolve, reject) });
    }).then((d) => d.toString('hex'));
    // Awaited by the caller after finish; an aborted upload must not leave an unhandled rejection.
    digest.catch(() => undefined);
    return digest;
  }

  /** Names the pending ranges to the object hash: before the part that holds their first byte. */
  private postRanges(): void {
    for (const r of this.pendingRanges.splice(0)) r.settle(this.hasher.range(this.stream, { start: r.start, length: r.length }));
  }

  private account(bytes: Uint8Array): void {
    this.offset += bytes.length;
  }

  private async flush(): Promise<void> {
    this.throwIfFailed();
    if (this.uploadId === undefined && this.options.resume) {
      this.uploadId = this.options.resume.uploadId;
      await this.options.onUploadStarted?.(this.uploadId);
    } else if (this.uploadId === undefined) {
      this.uploadId = await this.store.createMultipart(this.options.key, { contentType: this.options.contentType, storageClass: this.options.storageClass, ...lockOptions(this.options.lock) });
      // A lost answer to a create the store carried out makes the SDK create a second upload, whose
      // id only a listing of open uploads would tell; the agent role may not list them (IAM cannot
      // scope that to a site, infra/site-policies.ts): the bucket's lifecycle rule ends the stray.
      await this.options.onUploadStarted?.(this.uploadId);
    }
    const buffer = this.buffer as Buffer;
    const body = buffer.subarray(0, this.fill);
    this.buffer = undefined;
    this.fill = 0;
    const partNumber = ++this.partNumber;
    // Posted now, so the object hash takes the parts in order; the main thread fills the next
    // buffer meanwhile. A per-part SHA-256 only helps a store that checks it (AWS S3); the MD5 goes everywhere.
    this.postRanges();
    const hashed = this.hasher.part(this.stream, body, { sha256: this.sendChecksums });
    const uploadId = this.uploadId;
    const sent = hashed.digests.then(({ md5, sha256 }) => {
      this.partMd5s[partNumber - 1] = md5;
      const held = heldPart(this.options.resume, partNumber, body.length, md5, sha256?.toString('base64'), this.md5ETags);
      return held ? { ...held, held: true as const } : this.sendPart(uploadId, partNumber, body, md5, sha256?.toString('base64'));
    });
    // The buffer goes back to the pool only when nobody reads it any more: the part was sent (or
    // failed) and the object hash took it (or failed), whichever comes last.
    const task: Promise<void> = Promise.allSettled([sent, hashed.read]).then(([part, read]) => {
      if (part.status === 'fulfilled') {
        const { held, ...stored } = part.value as CompletedPart & { held?: true };
        this.parts.push(stored);
        this.options.onPartStored?.(body.length, { ...stored, md5: (this.partMd5s[partNumber - 1] as Buffer).toString('hex'), ...(held ? { held } : {}) });
      } else this.failure ??= part.reason;
      if (read.status === 'rejected') this.failure ??= read.reason;
      this.inflight.delete(task);
      this.pool.release(buffer);
    });
    this.inflight.add(task);
    this.throwIfFailed();
  }

  /**
   * Sends one part. Where ETags are MD5s, the store's answer must be the MD5 sent; another one
   * means it kept other bytes (a torn body accepted), and the part is sent again.
   */
  private async sendPart(uploadId: string, partNumber: number, body: Buffer, md5: Buffer, sha256?: string): Promise<CompletedPart> {
    const expected = md5.toString('hex');
    for (let send = 1; ; send++) {
      let part: CompletedPart;
      try {
        part = await this.store.uploadPart(this.options.key, uploadId, partNumber, body, sha256, md5.toString('base64'));
      } catch (error) {
        // The store refused bytes that did not match their checksum (BadDigest): torn on the way.
        if (error instanceof IntegrityError && send < PART_SENDS) continue;
        // A connection cut on the way (network-cut.ts): the same part again after a pause, the parts stored kept.
        if (await resendAfterCut(error, send, this.options.cutPauseMs)) continue;
        throw error;
      }
      if (!this.md5ETags) return part;
      // Completed with the ETag computed here, never with one the store made up.
      if (unquote(part.etag) === expected) return { ...part, etag: `"${expected}"` };
      if (send === PART_SENDS) {
        const what = `part ${partNumber} of ${this.options.key}`;
        throw new IntegrityError(`${what} was stored as ETag ${part.etag} ${send} times, expected "${expected}"`);
      }
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * Publishes the object. `beforeCommit` runs after every byte is uploaded and before the
   * object becomes visible: throwing there publishes nothing.
   */
  async finish(beforeCommit?: () => Promise<void>): Promise<UploadResult> {
    // A resumed upload is completed as one, however few its bytes: never left open beside a PUT.
    if (this.uploadId === undefined && !this.options.resume) {
      const body = (await this.target()).subarray(0, this.fill);
      // The body is the whole object: its MD5 and SHA-256 in one request (a digest thread's, or
      // this thread's for a process's first few MiB sent whole), while the last checks run.
      this.hasher.drop(this.stream);
      const ranges = this.pendingRanges.splice(0);
      const hashed = this.hasher.whole(body, ranges.map(({ start, length }) => ({ start, length })));
      ranges.forEach((r, i) => r.settle(hashed.then((d) => d.ranges[i] as Buffer)));
      // Awaited below; abort() waits for the thread to be done with the buffer before it goes back to the pool.
      this.inflight.add(hashed.then(() => undefined, () => undefined));
      await beforeCommit?.();
      const { md5, sha256: digest } = await hashed;
      const sha256 = this.sendChecksums ? digest.toString('base64') : undefined;
      const etag = `"${md5.toString('hex')}"`;
      let stored: string | undefined;
      try {
        const { contentType, storageClass } = this.options;
        const put = { contentType, storageClass, sha256, md5: md5.toString('base64'), ifNoneMatch: true, ...lockOptions(this.options.lock) };
        await this.writeOnce(async () => (stored = (await this.store.put(this.options.key, body, put)).etag));
      } finally {
        this.giveBack();
      }
      this.finished = true;
      if (this.md5ETags && stored !== undefined && unquote(stored) !== unquote(etag)) {
        throw new IntegrityError(`${this.options.key} was stored as ETag ${stored}, expected ${etag}: the store kept other bytes than sent`);
      }
      const answered = this.md5ETags && stored !== undefined ? { etagAnswered: true as const } : {};
      return { size: this.offset, sha256: digest.toString('hex'), parts: 1, etag, ...answered };
    }
    if (this.fill > 0 || this.uploadId === undefined) await this.flush();
    this.postRanges();
    this.giveBack();
    // Asked now: the object thread answers once it has taken the last part, while parts are still sent.
    const digest = this.hasher.digest(this.stream);
    digest.catch(() => undefined);
    await Promise.all(this.inflight);
    this.throwIfFailed();
    const sha256 = await digest;
    await beforeCommit?.();
    const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
    const uploadId = this.uploadId as string;
    const etag = `"${createHash('md5').update(Buffer.concat(this.partMd5s)).digest('hex')}-${parts.length}"`;
    let existed = false;
    for (let send = 1; ; send++) {
      try {
        existed = await this.writeOnce(() => this.store.completeMultipart(this.options.key, uploadId, parts, { ifNoneMatch: true }));
        break;
      } catch (error) {
        // Every part is stored: a complete that failed on the way is sent again, not the parts.
        if (error instanceof TransientError && send < COMPLETE_SENDS) continue;
        if (!(error instanceof NotFoundError)) throw error;
        await this.confirmCompleted(uploadId, etag, error);
        break;
      }
    }
    if (existed) await this.store.abortMultipart(this.options.key, uploadId);
    await this.options.onUploadEnded?.(uploadId);
    this.finished = true;
    return { size: this.offset, sha256, parts: parts.length, etag };
  }

  /**
   * NoSuchUpload in answer to a complete: the SDK's retry of a complete whose answer was lost
   * finds the upload already turned into the object. Accepted when the object at the key has
   * the size sent and, where ETags are MD5s, the ETag of these parts; anything else is damage.
   */
  private async confirmCompleted(uploadId: string, etag: string, error: NotFoundError): Promise<void> {
    const info = await this.store.head?.(this.options.key);
    const same = info !== undefined && info.size === this.offset && (!this.md5ETags || unquote(info.etag) === unquote(etag));
    if (same) return;
    const found = info ? `${info.size} bytes, ETag ${info.etag}` : 'nothing';
    const expected = `${this.offset} bytes, ETag ${etag}`;
    throw new IntegrityError(`upload ${uploadId} of ${this.options.key} vanished and the key holds ${found}, expected ${expected}`, { cause: error });
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

  /**
   * Waits for the parts in flight to settle (each the store takes is reported by onPartStored);
   * the id of the upload still open, if any: what a failed shipping may leave for a later run.
   */
  async settle(): Promise<string | undefined> {
    await Promise.allSettled(this.inflight);
    return this.finished ? undefined : this.uploadId;
  }

  /**
   * Discards whatever was uploaded; safe to call after any failure, idempotent. `leaveOpen`: the
   * upload stays open at the store, its parts kept, for a later run to go on with (agent/upload-keep.ts).
   */
  async abort(leaveOpen = false): Promise<void> {
    for (const r of this.pendingRanges.splice(0)) r.settle(Promise.reject(new Error(`the upload of ${this.options.key} was aborted`)));
    await Promise.allSettled(this.inflight);
    this.giveBack();
    this.hasher.drop(this.stream);
    if (leaveOpen) {
      this.finished = true;
      return;
    }
    if (this.uploadId !== undefined && !this.finished) {
      await this.store.abortMultipart(this.options.key, this.uploadId);
      await this.options.onUploadEnded?.(this.uploadId);
      this.finished = true;
    }
    // A create whose every answer was lost may have left uploads at the key: the bucket's lifecycle rule ends them.
  }
}
