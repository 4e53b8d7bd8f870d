import { createHash } from 'node:crypto';
import type { BlobStore, BlobStoreFeatures } from '../core/ports.ts';
import { IntegrityError, NotFoundError } from '../core/errors.ts';

// A 200 from the store is not proof: some S3-compatible stores keep a torn PUT. After
// publishing, Ferry reads back what it needs to be sure the object is exactly what it sent:
// - 'checksum': the size; the store itself verified the SHA-256 sent with every request (AWS S3).
// - 'etag': the size and the store's ETag, the MD5 it took of what it stored (of each part, for
//   a multipart object: md5(part MD5s)-N), against the MD5 of what was sent. A store whose ETag is
//   not that MD5 (encryption, another scheme), or any mismatch, falls back to a full read-back,
//   which decides. The default on stand-ins and S3-compatible stores.
// - 'read-back': the size and the SHA-256 of every byte, read back (one GET, no HEAD before it).

export type VerifyMode = 'etag' | 'read-back' | 'checksum';

/** 'checksum' only where the store itself verified the SHA-256 we sent with every request. */
export function resolveVerifyMode(configured: 'auto' | VerifyMode, storeVerifiesChecksums: boolean): VerifyMode {
  if (configured !== 'auto') return configured;
  return storeVerifiesChecksums ? 'checksum' : 'etag';
}

const unquote = (etag: string) => etag.replace(/"/g, '');

/**
 * Whether a single PUT's answer stands for reading the object back: in 'etag' mode, on a store
 * whose ETag is the MD5 of what it stored, an answer naming the MD5 of the bytes sent (hex).
 * Anything else (another mode, no ETag, another ETag) is verified by reading back.
 */
export function putAnswerVerifies(features: BlobStoreFeatures, mode: VerifyMode | undefined, answered: string | undefined, md5Hex: string): boolean {
  return mode === 'etag' && features.md5ETags === true && answered !== undefined && unquote(answered) === md5Hex;
}

export async function verifyObject(
  store: Pick<BlobStore, 'head' | 'get'>,
  key: string,
  expected: { size: number; sha256: string; /** S3 ETag of the bytes sent, for 'etag' */ etag?: string },
  mode: VerifyMode,
): Promise<void> {
  // A read-back counts and hashes every byte the store serves: a HEAD before it would check
  // nothing more (a missing object is a NotFound of the GET, a wrong size a wrong count).
  if (mode !== 'read-back') {
    const info = await store.head(key);
    if (!info) throw new IntegrityError(`${key} is missing after it was published`);
    if (info.size !== expected.size) throw new IntegrityError(`${key} holds ${info.size} bytes after publishing, expected ${expected.size}`);
    if (mode === 'checksum') return;
    if (mode === 'etag' && expected.etag !== undefined && info.etag !== undefined && unquote(info.etag) === unquote(expected.etag)) return;
  }
  const { body } = await store.get(key).catch((error: unknown) => {
    throw error instanceof NotFoundError ? new IntegrityError(`${key} is missing after it was published`, { cause: error }) : error;
  });
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  const actual = hash.digest('hex');
  if (size !== expected.size || actual !== expected.sha256) {
    throw new IntegrityError(`${key} read back as ${size} bytes sha256 ${actual.slice(0, 12)}…, expected ${expected.size} bytes sha256 ${expected.sha256.slice(0, 12)}…`);
  }
}
