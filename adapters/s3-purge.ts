import { DeleteObjectsCommand, ListObjectVersionsCommand, type ObjectIdentifier, type S3Client } from '@aws-sdk/client-s3';
import type { DeleteOutcome, ObjectDeleter } from '../core/purge.ts';
import { translateS3Error } from './s3-blob-store.ts';

// The purge's deletions on S3. With Object Lock the bucket is versioned, and a plain delete
// only adds a delete marker (the data stays, hidden); so, with `versions`, every version of
// each key is deleted by id. S3 refuses a version under retention or legal hold, per key, in
// the DeleteObjects answer: those keys are reported as retained and never forced (no
// x-amz-bypass-governance-retention, and the purge role has no s3:BypassGovernanceRetention).
// Without `versions` (stand-ins that ignore versioning) keys are deleted by name.

/** Per-key refusals that mean "protected": Object Lock answers AccessDenied on a locked version. */
const PROTECTED = new Set(['AccessDenied', 'ObjectLocked', 'InvalidObjectState']);
const BATCH = 1000;

export interface S3ObjectDeleterOptions {
  /** Delete every version by id (versioned buckets: Object Lock). Default true. */
  versions?: boolean;
  /** ListObjectVersions calls in flight (default 8). */
  concurrency?: number;
}

export class S3ObjectDeleter implements ObjectDeleter {
  private readonly versions: boolean;
  private readonly concurrency: number;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    options: S3ObjectDeleterOptions = {},
  ) {
    this.versions = options.versions ?? true;
    this.concurrency = options.concurrency ?? 8;
  }

  async deleteObjects(keys: string[]): Promise<DeleteOutcome> {
    const unique = [...new Set(keys)];
    const identifiers = this.versions ? await this.versionsOf(unique) : unique.map((Key) => ({ Key }));
    const errors = new Map<string, { code: string; message: string }>();
    for (let i = 0; i < identifiers.length; i += BATCH) {
      const chunk = identifiers.slice(i, i + BATCH);
      let out;
      try {
        out = await this.s3.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: chunk, Quiet: true } }));
      } catch (error) {
        throw translateS3Error(error, 'DeleteObjects', `${chunk.length} object(s) from ${chunk[0]?.Key}`);
      }
      for (const e of out.Errors ?? []) {
        if (e.Key && !errors.has(e.Key)) errors.set(e.Key, { code: e.Code ?? 'Error', message: e.Message ?? '' });
      }
    }
    const outcome: DeleteOutcome = { deleted: [], retained: [], failed: [] };
    for (const key of unique) {
      const e = errors.get(key);
      if (!e) outcome.deleted.push(key);
      else (PROTECTED.has(e.code) ? outcome.retained : outcome.failed).push({ key, reason: `${e.code}: ${e.message}`.trim() });
    }
    return outcome;
  }

  /** Every version and delete marker of each key (exact key match); an absent key has none. */
  private async versionsOf(keys: string[]): Promise<ObjectIdentifier[]> {
    const found: ObjectIdentifier[] = [];
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const key = keys[next++]!;
        let keyMarker: string | undefined;
        let versionMarker: string | undefined;
        do {
          let out;
          try {
            out = await this.s3.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: key, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
          } catch (error) {
            throw translateS3Error(error, 'ListObjectVersions', key);
          }
          for (const v of [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])]) {
            if (v.Key === key) found.push({ Key: key, ...(v.VersionId ? { VersionId: v.VersionId } : {}) });
          }
          // Other keys that share the prefix (`a.tar` and `a.tar.old`) come after ours: stop at them.
          const passed = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].some((v) => v.Key !== undefined && v.Key > key);
          keyMarker = out.IsTruncated && !passed ? out.NextKeyMarker : undefined;
          versionMarker = out.IsTruncated && !passed ? out.NextVersionIdMarker : undefined;
        } while (keyMarker);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(this.concurrency, keys.length)) }, worker));
    return found;
  }
}
