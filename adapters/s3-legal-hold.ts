import { PutObjectLegalHoldCommand, type S3Client } from '@aws-sdk/client-s3';
import type { ObjectHolder } from '../core/holds.ts';
import { translateS3Error } from './s3-blob-store.ts';

// S3 Object Lock legal hold (PutObjectLegalHold) on the current version of an object. Packs and
// manifests are write-once, so the current version is the only one. A legal hold has no expiry
// and no mode: while it is ON, S3 refuses to delete the version, governance bypass or not.
// Needs s3:PutObjectLegalHold on the key (infra grants it to the holds and purge functions only).

export class S3ObjectHolder implements ObjectHolder {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async setLegalHold(key: string, on: boolean): Promise<void> {
    try {
      await this.s3.send(new PutObjectLegalHoldCommand({ Bucket: this.bucket, Key: key, LegalHold: { Status: on ? 'ON' : 'OFF' } }));
    } catch (error) {
      throw translateS3Error(error, 'PutObjectLegalHold', key);
    }
  }
}
