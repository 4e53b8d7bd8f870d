'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Sizes S3 refuses before it looks at a body (Amazon S3 User Guide, "Naming Amazon S3 objects" and
// "Working with object metadata"): a key of more than 1,024 bytes of UTF-8 (400 KeyTooLongError,
// on every object operation), user metadata (x-amz-meta-*) of more than 2 KB counted as the UTF-8
// bytes of each name and value (400 MetadataTooLarge, on PutObject, CreateMultipartUpload and
// CopyObject). s3rver takes both: a key becomes a file path, metadata a file.

const { sendError } = require('./s3-http.cjs');

const MAX_KEY_BYTES = 1024;
const MAX_METADATA_BYTES = 2048;
const META = 'x-amz-meta-';

function metadataBytes(headers) {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith(META)) continue;
    bytes += Buffer.byteLength(name.slice(META.length), 'utf8') + Buffer.byteLength(String(value), 'utf8');
  }
  return bytes;
}

/** Answers the request with S3's refusal when its key or metadata is over S3's size; true when it did. */
function refusedForSize(ctx, key) {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    sendError(ctx, 400, 'KeyTooLongError', 'Your key is too long', `<Size>${Buffer.byteLength(key, 'utf8')}</Size><MaxSizeAllowed>${MAX_KEY_BYTES}</MaxSizeAllowed>`);
    return true;
  }
  const writes = (ctx.method === 'PUT' && !('partNumber' in ctx.query)) || (ctx.method === 'POST' && 'uploads' in ctx.query);
  if (writes && metadataBytes(ctx.headers) > MAX_METADATA_BYTES) {
    sendError(ctx, 400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.', `<Size>${metadataBytes(ctx.headers)}</Size><MaxSizeAllowed>${MAX_METADATA_BYTES}</MaxSizeAllowed>`);
    return true;
  }
  return false;
}

module.exports = { MAX_KEY_BYTES, MAX_METADATA_BYTES, refusedForSize };
