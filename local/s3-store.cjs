'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Corrections to s3rver's filesystem store for the local S3 stand-in: listing order, deletes that
// race, and multipart completion as S3 does it (part ETags and SHA-256 checked, S3's composite
// ETag and checksum, If-None-Match, the object assembled under a temporary name).

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const S3Object = require('s3rver/lib/models/object');
const { walk } = require('s3rver/lib/utils');
const { commitObject, newVersionId, STATE, StandInError, storedMetadata } = require('./s3-objects.cjs');
const { lockFromHeaders } = require('./s3-lock.cjs');
const { assemble, storedPart, wholeDataFile } = require('./s3-parts.cjs');

const OBJECT_SUFFIX = '._S3rver_object';
/** S3's minimum for every part of a multipart upload but the last. */
const MIN_PART_SIZE = 5 * 1024 * 1024;

function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * s3rver lists by walking directories, so `a/b` comes before `a-c` (S3: '-' < '/'), and a page
 * boundary then silently skips keys (its continuation filter compares keys, not walk order).
 * Listing here collects the keys under the prefix and sorts them by UTF-8 bytes, as S3 does.
 */
function patchListing(store) {
  store.listObjects = async function listObjects(bucket, options) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
    const bucketPath = store.getBucketPath(bucket);
    const prefixPath = `${bucketPath}/${prefix}`;
    const intersects = (dir) => `${dir}/`.startsWith(prefixPath) || prefixPath.startsWith(`${dir}/`);
    const found = [];
    for (const file of walk(bucketPath, intersects)) {
      if (!file.endsWith(OBJECT_SUFFIX)) continue;
      const key = file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length);
      if (key.startsWith(prefix) && byteCompare(key, startAfter) > 0) found.push(key);
    }
    found.sort(byteCompare);
    const commonPrefixes = new Set();
    const keys = [];
    let isTruncated = false;
    for (const key of found) {
      const idx = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (idx !== -1) {
        commonPrefixes.add(key.slice(0, idx + delimiter.length));
      } else if (keys.length < maxKeys) {
        keys.push(key);
      } else {
        isTruncated = true;
        break;
      }
    }
    const metadata = await Promise.all(
      keys.map((key) =>
        store.getMetadata(bucket, key).catch((error) => {
          if (error.code === 'ENOENT') return undefined;
          throw error;
        }),
      ),
    );
    return {
      objects: keys.flatMap((key, i) => (metadata[i] ? [new S3Object(bucket, key, null, metadata[i])] : [])),
      commonPrefixes: [...commonPrefixes].sort(byteCompare),
      isTruncated,
    };
  };
}

/**
 * s3rver removes a key's empty parent folders after a delete, and answers 500 when two deletes in
 * one folder race to remove it (ENOENT) or a put refills it (ENOTEMPTY). Deletes must not fail.
 */
function patchDelete(store) {
  store.deleteObject = async function deleteObject(bucket, key) {
    const files = ['object', 'object.md5', 'metadata.json', STATE].map((resource) => store.getResourcePath(bucket, key, resource));
    await Promise.all(files.map((file) => fs.promises.rm(file, { force: true })));
    const bucketPath = store.getBucketPath(bucket);
    const parts = key.split('/').slice(0, -1);
    for (; parts.length > 0; parts.pop()) {
      try {
        fs.rmdirSync(path.join(bucketPath, ...parts));
      } catch (error) {
        if (['ENOENT', 'ENOTEMPTY', 'EEXIST'].includes(error.code)) break;
        throw error;
      }
    }
  };
}

const INVALID_PART =
  "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.";

/**
 * Checks the listed parts against what was stored, and their sizes; returns their MD5s and SHA-256s
 * (raw) and where each is stored (s3-parts.cjs storedPart).
 */
async function checkParts(uploadDir, upload, parts) {
  const md5s = [];
  const sha256s = [];
  const stored = [];
  let previous = 0;
  for (const part of parts) {
    if (part.number <= previous) throw new StandInError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
    previous = part.number;
    const read = (suffix) => fs.promises.readFile(path.join(uploadDir, `${part.number}${suffix}`), 'utf8').catch(() => undefined);
    const [md5, sha256, where] = await Promise.all([read('.md5'), read('.sha256'), storedPart(uploadDir, part.number)]);
    const checksumMissing = upload['x-amz-checksum-algorithm'] === 'SHA256' && part.sha256 === undefined;
    if (md5 === undefined || where === undefined || md5 !== part.etag || checksumMissing || (part.sha256 !== undefined && part.sha256 !== sha256)) {
      throw new StandInError(400, 'InvalidPart', INVALID_PART);
    }
    if (part !== parts[parts.length - 1] && where.size < MIN_PART_SIZE) {
      throw new StandInError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.');
    }
    md5s.push(Buffer.from(md5, 'hex'));
    sha256s.push(Buffer.from(sha256 ?? '', 'base64'));
    stored.push(where);
  }
  return { md5s, sha256s, stored };
}

/**
 * CompleteMultipartUpload as S3 does it. S3 checks each listed part's ETag (and SHA-256, when the
 * parts carry one) against the part it stored (InvalidPart otherwise), gives the object the ETag
 * `md5(part MD5s)-N` and the composite checksum `sha256(part SHA-256s)-N`, and checks that composite
 * against x-amz-checksum-sha256 when the request sends one. `options`: ifNoneMatch, sha256, now,
 * bucketLock. The object is the upload's data file when its parts lie there end to end (no byte
 * copied), or is assembled under a temporary name (s3-parts.cjs); either is renamed into place, so a
 * reader never sees half of it; with ifNoneMatch an object that appeared meanwhile wins (412).
 */
async function completeMultipart(store, bucket, uploadId, parts, options) {
  const uploadDir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  const key = (await fs.promises.readFile(path.join(uploadDir, 'key'))).toString();
  const upload = JSON.parse((await fs.promises.readFile(path.join(uploadDir, 'metadata'))).toString());
  const objectPath = store.getResourcePath(bucket, key, 'object');
  if (options.ifNoneMatch && fs.existsSync(objectPath)) {
    throw new StandInError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  }
  const { md5s, sha256s, stored } = await checkParts(uploadDir, upload, parts);
  const composite = `${crypto.createHash('sha256').update(Buffer.concat(sha256s)).digest('base64')}-${parts.length}`;
  if (options.sha256 !== undefined && options.sha256 !== composite && `${options.sha256}-${parts.length}` !== composite) {
    throw new StandInError(400, 'BadDigest', 'The SHA256 you specified did not match the calculated checksum.');
  }
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const size = stored.reduce((sum, part) => sum + part.size, 0);
  // From here to commitObject nothing is awaited when the data file is the object: no part can be
  // written into it between the check and the rename.
  let source = wholeDataFile(uploadDir, stored);
  if (source === undefined) {
    source = `${objectPath}.${uploadId}.assembling`;
    await assemble(uploadDir, stored, source);
  } else if (options.ifNoneMatch && fs.existsSync(objectPath)) {
    // Checked here as well as in commitObject, which would remove the data file: the upload keeps its parts.
    throw new StandInError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  }
  const md5Hex = `${crypto.createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}`;
  const withChecksum = upload['x-amz-checksum-algorithm'] === 'SHA256';
  const state = {
    versionId: newVersionId(),
    storageClass: upload['x-amz-storage-class'] ?? 'STANDARD',
    ...lockFromHeaders(upload, options.bucketLock, options.now),
    createdAt: options.now.toISOString(),
    ...(withChecksum ? { sha256: composite } : {}),
  };
  commitObject(store, bucket, key, source, { ifNoneMatch: options.ifNoneMatch, metadata: storedMetadata(upload), md5Hex, state, now: options.now });
  await fs.promises.rm(uploadDir, { recursive: true, force: true });
  return { key, size, md5Hex, versionId: state.versionId, ...(withChecksum ? { sha256: composite } : {}) };
}

module.exports = { byteCompare, completeMultipart, patchDelete, patchListing };
