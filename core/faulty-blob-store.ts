// Fault-injecting BlobStore wrapper (kopia's habit): tests tell it what to break next, and it
// breaks exactly that. It models what local stand-ins really do — keep a torn or corrupted PUT and
// answer 200 — and what networks do — fail a call, before or after the store acted on it.
import { TransientError } from './errors.ts';
import type {
  BlobBody,
  BlobInfo,
  BlobStore,
  BlobStoreFeatures,
  ByteRange,
  CompletedPart,
  MultipartUpload,
  PutOptions,
} from './ports.ts';

export type BlobStoreMethod =
  | 'put'
  | 'head'
  | 'get'
  | 'list'
  | 'delete'
  | 'createMultipart'
  | 'uploadPart'
  | 'completeMultipart'
  | 'abortMultipart'
  | 'listMultipart'
  | 'uploadOpen';

/** Which calls a fault applies to, by key (for list and listMultipart: by prefix). */
export type KeyMatch = (key: string) => boolean;

export interface BodyFaultOptions {
  match?: KeyMatch;
  /**
   * Also forward the SHA-256 the caller sent, so a verifying inner store rejects the damage (what
   * AWS would do). Default false: the checksum is dropped, as a stand-in that ignores it would.
   */
  keepChecksum?: boolean;
}

export interface FailOptions {
  match?: KeyMatch;
  /** 'before' (default): the store never sees the call. 'after': it acts, then the caller gets the error. */
  when?: 'before' | 'after';
  /** Default: a TransientError naming the method and key. */
  error?: (method: BlobStoreMethod, key: string) => Error;
}

/** One fault that fired, for assertions. */
export interface InjectedFault {
  kind: 'truncate' | 'flip' | 'fail';
  method: BlobStoreMethod;
  key: string;
}

interface BodyFault {
  kind: 'truncate' | 'flip';
  remaining: number;
  match: KeyMatch;
  keepChecksum: boolean;
  damage: (body: Uint8Array) => Uint8Array;
}

interface CallFault {
  method: BlobStoreMethod;
  remaining: number;
  match: KeyMatch;
  when: 'before' | 'after';
  error: (method: BlobStoreMethod, key: string) => Error;
}

const anyKey: KeyMatch = () => true;

export class FaultyBlobStore implements BlobStore {
  /** Every fault that fired, in order. */
  readonly injected: InjectedFault[] = [];
  private bodyFaults: BodyFault[] = [];
  private callFaults: CallFault[] = [];

  constructor(readonly inner: BlobStore) {}

  get features(): BlobStoreFeatures {
    return this.inner.features;
  }

  /** The next `times` puts or parts whose key matches reach the store cut to `keepBytes` (default half) and succeed. */
  truncateNext(times: number, options: BodyFaultOptions & { keepBytes?: number } = {}): this {
    const damage = (body: Uint8Array) => body.slice(0, Math.min(body.length, options.keepBytes ?? Math.floor(body.length / 2)));
    this.bodyFaults.push({ kind: 'truncate', remaining: times, match: options.match ?? anyKey, keepChecksum: options.keepChecksum ?? false, damage });
    return this;
  }

  /** The next `times` puts or parts whose key matches reach the store with one byte inverted (at `at`, default the middle). */
  flipNext(times: number, options: BodyFaultOptions & { at?: number } = {}): this {
    const damage = (body: Uint8Array) => {
      const copy = Uint8Array.from(body);
      const at = Math.min(options.at ?? Math.floor(body.length / 2), body.length - 1);
      if (at >= 0) copy[at] = (copy[at] ?? 0) ^ 0xff;
      return copy;
    };
    this.bodyFaults.push({ kind: 'flip', remaining: times, match: options.match ?? anyKey, keepChecksum: options.keepChecksum ?? false, damage });
    return this;
  }

  /** The next `times` calls of `method` whose key matches fail (TransientError unless told otherwise). */
  failNext(method: BlobStoreMethod, times: number, options: FailOptions = {}): this {
    this.callFaults.push({
      method,
      remaining: times,
      match: options.match ?? anyKey,
      when: options.when ?? 'before',
      error: options.error ?? ((m, key) => new TransientError(`injected fault: ${m} ${key}`)),
    });
    return this;
  }

  /** Forgets every pending fault (the record of fired ones stays). */
  clear(): this {
    this.bodyFaults = [];
    this.callFaults = [];
    return this;
  }

  /** Faults armed and not yet fired. */
  get pending(): number {
    return [...this.bodyFaults, ...this.callFaults].reduce((sum, fault) => sum + fault.remaining, 0);
  }

  put(key: string, body: Uint8Array, options?: PutOptions): Promise<{ etag?: string }> {
    return this.call('put', key, () => {
      const damaged = this.damage('put', key, body);
      if (!damaged) return this.inner.put(key, body, options);
      const { sha256, md5, ...rest } = options ?? {};
      const checksums = { ...(sha256 === undefined ? {} : { sha256 }), ...(md5 === undefined ? {} : { md5 }) };
      return this.inner.put(key, damaged.body, damaged.keepChecksum ? { ...rest, ...checksums } : rest);
    });
  }

  head(key: string): Promise<BlobInfo | undefined> {
    return this.call('head', key, () => this.inner.head(key));
  }

  get(key: string, range?: ByteRange): Promise<BlobBody> {
    return this.call('get', key, () => this.inner.get(key, range));
  }

  list(prefix: string, options?: { pageSize?: number }): AsyncIterable<BlobInfo> {
    return this.iterate('list', prefix, () => this.inner.list(prefix, options));
  }

  delete(key: string): Promise<void> {
    return this.call('delete', key, () => this.inner.delete(key));
  }

  createMultipart(key: string, options?: Omit<PutOptions, 'sha256' | 'ifNoneMatch'>): Promise<string> {
    return this.call('createMultipart', key, () => this.inner.createMultipart(key, options));
  }

  uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, sha256?: string, md5?: string): Promise<CompletedPart> {
    return this.call('uploadPart', key, () => {
      const damaged = this.damage('uploadPart', key, body);
      if (!damaged) return this.inner.uploadPart(key, uploadId, partNumber, body, sha256, md5);
      return this.inner.uploadPart(key, uploadId, partNumber, damaged.body, damaged.keepChecksum ? sha256 : undefined, damaged.keepChecksum ? md5 : undefined);
    });
  }

  completeMultipart(key: string, uploadId: string, parts: CompletedPart[], options?: { ifNoneMatch?: boolean }): Promise<{ etag?: string }> {
    return this.call('completeMultipart', key, () => this.inner.completeMultipart(key, uploadId, parts, options));
  }

  abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.call('abortMultipart', key, () => this.inner.abortMultipart(key, uploadId));
  }

  uploadOpen(key: string, uploadId: string): Promise<boolean> {
    return this.call('uploadOpen', key, () => this.inner.uploadOpen(key, uploadId));
  }

  listMultipart(prefix: string): AsyncIterable<MultipartUpload> {
    return this.iterate('listMultipart', prefix, () => this.inner.listMultipart(prefix));
  }

  private async call<T>(method: BlobStoreMethod, key: string, run: () => Promise<T>): Promise<T> {
    const fault = this.take(method, key);
    if (fault?.when === 'before') throw fault.error(method, key);
    const result = await run();
    if (fault) throw fault.error(method, key);
    return result;
  }

  private async *iterate<T>(method: BlobStoreMethod, prefix: string, run: () => AsyncIterable<T>): AsyncIterable<T> {
    const fault = this.take(method, prefix);
    if (fault?.when === 'before') throw fault.error(method, prefix);
    yield* run();
    if (fault) throw fault.error(method, prefix);
  }

  private take(method: BlobStoreMethod, key: string): CallFault | undefined {
    const fault = this.callFaults.find((f) => f.remaining > 0 && f.method === method && f.match(key));
    if (!fault) return undefined;
    fault.remaining -= 1;
    this.injected.push({ kind: 'fail', method, key });
    return fault;
  }

  private damage(method: 'put' | 'uploadPart', key: string, body: Uint8Array): { body: Uint8Array; keepChecksum: boolean } | undefined {
    const fault = this.bodyFaults.find((f) => f.remaining > 0 && f.match(key));
    if (!fault) return undefined;
    fault.remaining -= 1;
    this.injected.push({ kind: fault.kind, method, key });
    return { body: fault.damage(body), keepChecksum: fault.keepChecksum };
  }
}
