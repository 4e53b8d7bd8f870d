import { FerryError } from '../core/errors.ts';
import type { BlobStore } from '../core/ports.ts';
import { PartPool } from './part-pool.ts';

// S3 takes at most 10,000 parts in one multipart upload and objects of at most 5 TiB (Amazon S3
// User Guide, "Amazon S3 multipart upload limits"). With the configured part size (8 MiB by
// default) an upload ends at 78 GiB: a database backup or a file on a share past that would be
// refused at part 10,001, after 78 GiB sent, every pass. An upload whose size is known before
// its first byte (an artefact, a batch's pack of recordings, a large file's own tree pack) takes
// larger parts instead.

export const S3_MAX_PARTS = 10_000;
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;
const MiB = 1024 * 1024;

export interface PartSettings {
  partSize: number;
  partConcurrency: number;
  pool?: PartPool | undefined;
}

/** The most parts one upload to the store may have: what it says (`features.maxParts`), else S3's. */
export function maxPartsOf(store: Pick<BlobStore, 'features'>): number {
  return store.features.maxParts ?? S3_MAX_PARTS;
}

/**
 * The part settings of an upload of at most `size` bytes: the configured ones while
 * `maxParts` parts of the configured size hold it; else parts of the smallest whole number of
 * MiB that do, lent by a pool of their own that holds no more memory than the upload's share
 * of the agent's pool would (partSize × (partConcurrency + 1)), and at least one part. An
 * object over S3's 5 TiB is refused here, before a byte is sent, naming the limit.
 */
export function partsWithin<T extends PartSettings>(settings: T, size: number, maxParts: number, what: string): T {
  if (size > S3_MAX_OBJECT_BYTES) {
    throw new FerryError('fatal', `${what} is ${size} bytes: an S3 object is at most 5 TiB (${S3_MAX_OBJECT_BYTES} bytes), so it cannot be uploaded as one object`);
  }
  if (Math.ceil(size / settings.partSize) <= maxParts) return settings;
  const partSize = Math.ceil(size / maxParts / MiB) * MiB;
  const buffers = Math.max(1, Math.floor((settings.partSize * (settings.partConcurrency + 1)) / partSize));
  return { ...settings, partSize, pool: new PartPool(partSize, buffers) };
}

/**
 * At most how many bytes a tar of these files is: each member's bytes, its header, a pax header
 * for a long name (the name and a few records), padding to 512 bytes, and the archive's end.
 */
export function tarBound(files: readonly { name: string; size: number }[], dir = ''): number {
  return files.reduce((n, f) => n + f.size + 8192 + 2 * Buffer.byteLength(`${dir}/${f.name}`), 1024);
}
