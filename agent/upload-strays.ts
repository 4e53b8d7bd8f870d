import type { BlobStore } from '../core/ports.ts';

/**
 * Aborts every open upload at `key` but `keep`; uploads of other keys are not ours. Where the
 * listing is refused (an agent role is not granted s3:ListBucketMultipartUploads: IAM cannot
 * scope it to a site, infra/site-policies.ts) no stray can be found: the upload goes on and the
 * bucket's lifecycle rule aborts what a lost create answer left open.
 */
export async function abortOthers(store: Pick<BlobStore, 'abortMultipart'> & Partial<Pick<BlobStore, 'listMultipart'>>, key: string, keep?: string): Promise<void> {
  if (!store.listMultipart) return;
  const strays: string[] = [];
  try {
    for await (const u of store.listMultipart(key)) {
      if (u.key === key && u.uploadId !== keep) strays.push(u.uploadId);
    }
  } catch (error) {
    if (!isAccessDenied(error)) throw error;
    return;
  }
  for (const id of strays) await store.abortMultipart(key, id);
}

/** A refusal by access policy (S3 AccessDenied), whether raw from the SDK or translated by the adapter. */
function isAccessDenied(error: unknown): boolean {
  const names = [error, (error as { cause?: unknown } | undefined)?.cause].map((e) => (e as { name?: string } | undefined)?.name);
  return names.includes('AccessDenied');
}
