// In-memory BlobStore: the reference implementation of the port's contract (it passes the same
// contract suite as S3BlobStore) and the fake that unit tests of the agent and functions use.
// It mimics S3 where callers could notice: UTF-8 byte key order, quoted MD5 ETags ("<md5>-<n>"
// for multipart), ranges clamped at the end, parts assembled only from the listed ones.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { systemClock, type Clock } from './clock.ts';
import { AlreadyExistsError, IntegrityError, InvalidInputError, NotFoundError, RangeNotSatisfiableError } from './errors.ts';
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

export interface MemoryBlobStoreOptions {
  /** Source of lastModified and initiated; default the system clock. */
  clock?: Clock;
  /** Minimum size of every part but the last (S3: 5 MiB); default 0 so tests can use small parts. */
  minPartSize?: number;
  /** Declare less than S3 to behave like a stand-in: ifNoneMatch or sha256 are then ignored. */
  features?: Partial<BlobStoreFeatures>;
}

interface StoredObject {
  body: Buffer;
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata?: Record<string, string>;
  storageClass?: string;
}

interface StoredPart {
  body: Buffer;
  etag: string;
  md5: Buffer;
  sha256: string;
}

interface Upload {
  key: string;
  initiated: Date;
  options: Omit<PutOptions, 'sha256' | 'ifNoneMatch'>;
  parts: Map<number, StoredPart>;
}

/** S3 limits keys to 1,024 UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
const MAX_PART_NUMBER = 10_000;

export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64');
}

function md5(data: Uint8Array): Buffer {
  return createHash('md5').update(data).digest();
}

function unquote(etag: string): string {
  return etag.replace(/"/g, '');
}

function bodyStream(data: Buffer): Readable {
  return Readable.from(data.length === 0 ? [] : [data], { objectMode: false });
}

function checkKey(key: string): void {
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes === 0 || bytes > MAX_KEY_BYTES) throw new InvalidInputError(`object key must be 1-${MAX_KEY_BYTES} UTF-8 bytes (got ${bytes})`);
}

export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new InvalidInputError(`invalid byte range ${start}-${end}`);
  }
}

export class MemoryBlobStore implements BlobStore {
  readonly features: BlobStoreFeatures;
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();
  private readonly clock: Clock;
  private readonly minPartSize: number;
  private uploadSeq = 0;

  constructor(options: MemoryBlobStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.minPartSize = options.minPartSize ?? 0;
    this.features = { verifiesChecksums: true, conditionalPut: true, md5ETags: true, ...options.features };
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<{ etag?: string }> {
    checkKey(key);
    if (options.ifNoneMatch && this.features.conditionalPut && this.objects.has(key)) {
      throw new AlreadyExistsError(`object ${key} already exists`);
    }
    const data = Buffer.from(body);
    this.verify(`object ${key}`, data, options.sha256);
    const etag = `"${md5(data).toString('hex')}"`;
    this.store(key, data, etag, options);
    return { etag };
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const object = this.objects.get(key);
    return object && this.info(key, object, true);
  }

  async get(key: string, range?: ByteRange): Promise<BlobBody> {
    const object = this.objects.get(key);
    if (!object) throw new NotFoundError(`no object ${key}`);
    const size = object.body.length;
    const whole = { size, contentType: object.contentType, etag: object.etag };
    if (!range) return { ...whole, body: bodyStream(Buffer.from(object.body)), length: size };
    checkRange(range);
    if (range.start >= size) throw new RangeNotSatisfiableError(`range ${range.start}-${range.end} of ${key} starts beyond its ${size} bytes`, size);
    const slice = Buffer.from(object.body.subarray(range.start, Math.min(range.end, size - 1) + 1));
    return { ...whole, body: bodyStream(slice), length: slice.length };
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const keys = [...this.objects.keys()].filter((key) => key.startsWith(prefix)).sort(byteOrder);
    for (const key of keys) {
      const object = this.objects.get(key);
      // Deleted since the listing began: S3 listings are not snapshots either.
      if (object) yield this.info(key, object, false);
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async createMultipart(key: string, options: Omit<PutOptions, 'sha256' | 'ifNoneMatch'> = {}): Promise<string> {
    checkKey(key);
    this.uploadSeq += 1;
    const uploadId = `memory-upload-${this.uploadSeq.toString().padStart(6, '0')}`;
    this.uploads.set(uploadId, { key, initiated: this.clock.now(), options: { ...options }, parts: new Map() });
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Uint8Array, sha256?: string): Promise<CompletedPart> {
    const upload = this.upload(key, uploadId);
    const maxParts = this.features.maxParts ?? MAX_PART_NUMBER;
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > maxParts) {
      throw new InvalidInputError(`part number ${partNumber} is not within 1-${maxParts}`);
    }
    const data = Buffer.from(body);
    this.verify(`part ${partNumber} of ${key}`, data, sha256);
    const digest = md5(data);
    const part: StoredPart = { body: data, etag: `"${digest.toString('hex')}"`, md5: digest, sha256: sha256Base64(data) };
    upload.parts.set(partNumber, part);
    // A verifying store reports the checksum back, like S3 does for an upload with ChecksumAlgorithm.
    const reported = this.features.verifiesChecksums ? part.sha256 : sha256;
    return { partNumber, etag: part.etag, ...(reported === undefined ? {} : { sha256: reported }) };
  }

  async completeMultipart(key: string, uploadId: string, parts: CompletedPart[], options: { ifNoneMatch?: boolean } = {}): Promise<{ etag?: string }> {
    const upload = this.upload(key, uploadId);
    if (options.ifNoneMatch && this.features.conditionalPut && this.objects.has(key)) {
      throw new AlreadyExistsError(`object ${key} already exists`);
    }
    const chosen = this.chosenParts(key, upload, parts);
    const data = Buffer.concat(chosen.map((part) => part.body));
    const etag = `"${md5(Buffer.concat(chosen.map((part) => part.md5))).toString('hex')}-${chosen.length}"`;
    this.store(key, data, etag, upload.options);
    this.uploads.delete(uploadId);
    return { etag };
  }

  async abortMultipart(_key: string, uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
  }

  async uploadOpen(key: string, uploadId: string): Promise<boolean> {
    return this.uploads.get(uploadId)?.key === key;
  }

  async *listMultipart(prefix: string): AsyncIterable<MultipartUpload> {
    const open = [...this.uploads.entries()]
      .filter(([, upload]) => upload.key.startsWith(prefix))
      .sort(([idA, a], [idB, b]) => byteOrder(a.key, b.key) || byteOrder(idA, idB));
    for (const [uploadId, upload] of open) yield { key: upload.key, uploadId, initiated: new Date(upload.initiated.getTime()) };
  }

  private verify(what: string, data: Buffer, sha256: string | undefined): void {
    if (sha256 === undefined || !this.features.verifiesChecksums) return;
    const actual = sha256Base64(data);
    if (actual !== sha256) throw new IntegrityError(`${what}: SHA-256 ${actual} does not match the ${sha256} sent with it`);
  }

  private store(key: string, body: Buffer, etag: string, options: Omit<PutOptions, 'sha256' | 'ifNoneMatch'>): void {
    this.objects.set(key, {
      body,
      etag,
      lastModified: this.clock.now(),
      ...(options.contentType === undefined ? {} : { contentType: options.contentType }),
      ...(options.metadata === undefined ? {} : { metadata: lowerCaseKeys(options.metadata) }),
      ...(options.storageClass === undefined ? {} : { storageClass: options.storageClass }),
    });
  }

  private info(key: string, object: StoredObject, withMetadata: boolean): BlobInfo {
    return {
      key,
      size: object.body.length,
      etag: object.etag,
      lastModified: new Date(object.lastModified.getTime()),
      storageClass: object.storageClass ?? 'STANDARD',
      ...(withMetadata && object.metadata ? { metadata: { ...object.metadata } } : {}),
    };
  }

  private upload(key: string, uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new NotFoundError(`no multipart upload ${uploadId} for ${key}`);
    return upload;
  }

  /** The listed parts, checked as S3 checks them (order, presence, ETag, minimum size). */
  private chosenParts(key: string, upload: Upload, parts: CompletedPart[]): StoredPart[] {
    if (parts.length === 0) throw new InvalidInputError(`completing ${key} needs at least one part`);
    if (parts.some((listed, i) => i > 0 && (parts[i - 1]?.partNumber ?? 0) >= listed.partNumber)) {
      throw new InvalidInputError(`parts of ${key} must be listed in ascending order (InvalidPartOrder)`);
    }
    return parts.map((listed, i) => {
      const part = upload.parts.get(listed.partNumber);
      if (!part || unquote(part.etag) !== unquote(listed.etag) || (this.features.verifiesChecksums && listed.sha256 !== undefined && listed.sha256 !== part.sha256)) {
        throw new InvalidInputError(`part ${listed.partNumber} of ${key} was not uploaded as listed (InvalidPart)`);
      }
      if (i < parts.length - 1 && part.body.length < this.minPartSize) {
        throw new InvalidInputError(`part ${listed.partNumber} of ${key} is smaller than ${this.minPartSize} bytes (EntityTooSmall)`);
      }
      return part;
    });
  }
}

function lowerCaseKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}
