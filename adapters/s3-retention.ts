import { GetObjectLegalHoldCommand, GetObjectRetentionCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Retention } from '../core/attest.ts';
import { FerryError, messageOf } from '../core/errors.ts';

// Object Lock retention of one object (s3:GetObjectRetention), as the monthly attestation
// states it: "immutable until when". An object without retention, or a bucket without Object
// Lock, is simply not locked (undefined). Any other failure (AccessDenied, throttling) is
// thrown: an attestation must not say "not locked" because the question could not be asked.

const NOT_LOCKED = new Set(['NoSuchObjectLockConfiguration', 'ObjectLockConfigurationNotFoundError', 'InvalidRequest']);

/**
 * Whether an object is under S3 Object Lock legal hold (s3:GetObjectLegalHold): while it is ON
 * the object cannot be deleted whatever its retention date says. Not locked, or no legal hold
 * ever set: false. Any other failure is thrown, as for the retention.
 */
export function s3LegalHoldReader(client: Pick<S3Client, 'send'>, bucket: string): (key: string) => Promise<boolean> {
  return async (key) => {
    try {
      const out = await client.send(new GetObjectLegalHoldCommand({ Bucket: bucket, Key: key }));
      return out.LegalHold?.Status === 'ON';
    } catch (error) {
      const name = (error as { name?: string } | undefined)?.name ?? 'Error';
      if (NOT_LOCKED.has(name) || name === 'NoSuchObjectLockConfiguration') return false;
      throw new FerryError('fatal', `Object Lock legal hold of ${key} cannot be read: ${name}: ${messageOf(error)}`, { cause: error, retryable: true });
    }
  };
}

export function s3RetentionReader(client: Pick<S3Client, 'send'>, bucket: string): (key: string) => Promise<Retention | undefined> {
  return async (key) => {
    try {
      const out = await client.send(new GetObjectRetentionCommand({ Bucket: bucket, Key: key }));
      const until = out.Retention?.RetainUntilDate;
      return until ? { mode: out.Retention?.Mode ?? 'UNKNOWN', until: new Date(until).toISOString() } : undefined;
    } catch (error) {
      const name = (error as { name?: string } | undefined)?.name ?? 'Error';
      if (NOT_LOCKED.has(name)) return undefined;
      throw new FerryError('fatal', `Object Lock retention of ${key} cannot be read: ${name}: ${messageOf(error)}`, { cause: error, retryable: true });
    }
  };
}
