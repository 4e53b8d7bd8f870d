import { HeadObjectCommand, RestoreObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NotFoundError } from '../core/errors.ts';
import type { ArchiveStatus, ArchiveStore } from '../core/recall.ts';
import { translateS3Error } from './s3-blob-store.ts';

// The recall's view of S3: storage class and restore state from HeadObject (its `Restore`
// header: `ongoing-request="false", expiry-date="Fri, 21 Dec 2026 00:00:00 GMT"`), and
// RestoreObject. A second restore request while one runs answers RestoreAlreadyInProgress:
// that is success for the recall (idempotent).

/** Parses the x-amz-restore header. */
export function parseRestoreHeader(value: string | undefined): ArchiveStatus['restore'] {
  if (!value) return undefined;
  const ongoing = /ongoing-request="(true|false)"/.exec(value)?.[1] === 'true';
  const expiry = /expiry-date="([^"]+)"/.exec(value)?.[1];
  const at = expiry ? new Date(expiry) : undefined;
  return { ongoing, ...(at && !Number.isNaN(at.getTime()) ? { expiresAt: at.toISOString() } : {}) };
}

export class S3ArchiveStore implements ArchiveStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async archiveStatus(key: string): Promise<ArchiveStatus | undefined> {
    try {
      const out = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const restore = parseRestoreHeader(out.Restore);
      return { storageClass: out.StorageClass ?? 'STANDARD', ...(restore ? { restore } : {}) };
    } catch (error) {
      const translated = translateS3Error(error, 'HeadObject', key);
      if (translated instanceof NotFoundError) return undefined;
      throw translated;
    }
  }

  async requestRestore(key: string, days: number, tier: 'Standard' | 'Bulk'): Promise<'started' | 'in-progress'> {
    try {
      await this.s3.send(new RestoreObjectCommand({ Bucket: this.bucket, Key: key, RestoreRequest: { Days: days, GlacierJobParameters: { Tier: tier } } }));
      return 'started';
    } catch (error) {
      if ((error as { name?: string }).name === 'RestoreAlreadyInProgress') return 'in-progress';
      throw translateS3Error(error, 'RestoreObject', key);
    }
  }
}
