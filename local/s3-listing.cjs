'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Listings of the local S3 stand-in that s3rver lacks or gets wrong: ListObjectVersions (current
// versions, noncurrent ones and delete markers; see s3-versions.cjs) and the storage class of each
// object in ListObjectsV2 (s3rver writes STANDARD for everything).

const fs = require('node:fs');
const { walk } = require('s3rver/lib/utils');
const { readState } = require('./s3-objects.cjs');
const { byteCompare } = require('./s3-store.cjs');
const { sendXml, XMLNS, xmlEscape, xmlUnescape } = require('./s3-http.cjs');

const OBJECT_SUFFIX = '._S3rver_object';

/** Rewrites each <Contents> entry's StorageClass in a ListObjects answer with the object's own class. */
function fixListedStorageClasses(ctx, store, bucket) {
  if (typeof ctx.body !== 'string' || !ctx.body.includes('<ListBucketResult')) return;
  ctx.body = ctx.body.replace(/<Contents>([\s\S]*?)<\/Contents>/g, (whole, inner) => {
    const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
    if (key === undefined) return whole;
    const storageClass = readState(store, bucket, xmlUnescape(key))?.storageClass ?? 'STANDARD';
    return whole.replace(/<StorageClass>[^<]*<\/StorageClass>/, `<StorageClass>${storageClass}</StorageClass>`);
  });
}

function currentVersions(store, bucket, prefix) {
  const bucketPath = store.getBucketPath(bucket);
  const found = [];
  for (const file of walk(bucketPath, () => true)) {
    if (!file.endsWith(OBJECT_SUFFIX)) continue;
    const key = file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length);
    if (!key.startsWith(prefix)) continue;
    const state = readState(store, bucket, key) ?? {};
    const stat = fs.statSync(file);
    let md5 = '';
    try {
      md5 = fs.readFileSync(store.getResourcePath(bucket, key, 'object.md5'), 'utf8');
    } catch {
      // s3rver computes a missing .md5 on its next read; the listing shows none meanwhile.
    }
    found.push({ key, versionId: state.versionId ?? 'null', state, size: stat.size, md5, lastModified: stat.mtime, latest: true });
  }
  return found;
}

function entryXml(entry) {
  const common = `<Key>${xmlEscape(entry.key)}</Key><VersionId>${xmlEscape(entry.versionId)}</VersionId><IsLatest>${entry.latest}</IsLatest>`;
  const when = `<LastModified>${entry.lastModified.toISOString()}</LastModified>`;
  if (entry.marker) return `<DeleteMarker>${common}${when}</DeleteMarker>`;
  return `<Version>${common}${when}<ETag>&quot;${entry.md5}&quot;</ETag><Size>${entry.size}</Size><StorageClass>${entry.state.storageClass ?? 'STANDARD'}</StorageClass></Version>`;
}

/** ListObjectVersions: per key, newest first; paged by key-marker and version-id-marker. */
function listVersions(ctx, store, versions, bucket) {
  const prefix = String(ctx.query.prefix ?? '');
  const asked = Number(ctx.query['max-keys'] ?? 1000);
  const maxKeys = Number.isInteger(asked) && asked >= 0 ? Math.min(1000, asked) : 1000;
  const entries = currentVersions(store, bucket, prefix);
  for (const v of versions.list(bucket, prefix)) {
    entries.push({ ...v, latest: false });
    if (v.state.markerId) {
      const at = new Date(v.state.noncurrentSince);
      entries.push({ key: v.key, versionId: v.state.markerId, marker: true, latest: false, lastModified: at });
    }
  }
  const newest = new Map();
  for (const e of entries) {
    const best = newest.get(e.key);
    if (!best || (!best.latest && (e.latest || e.lastModified > best.lastModified))) newest.set(e.key, e);
  }
  for (const e of newest.values()) e.latest = true;
  entries.sort((a, b) => byteCompare(a.key, b.key) || Number(b.latest) - Number(a.latest) || b.lastModified - a.lastModified);
  let start = 0;
  const keyMarker = ctx.query['key-marker'];
  if (keyMarker !== undefined) {
    const versionMarker = ctx.query['version-id-marker'];
    const at = entries.findIndex((e) => e.key === keyMarker && e.versionId === versionMarker);
    start = at >= 0 ? at + 1 : entries.findIndex((e) => byteCompare(e.key, keyMarker) > 0);
    if (start < 0) start = entries.length;
  }
  const page = entries.slice(start, start + maxKeys);
  const truncated = start + maxKeys < entries.length;
  const last = page[page.length - 1];
  const next = truncated && last ? `<NextKeyMarker>${xmlEscape(last.key)}</NextKeyMarker><NextVersionIdMarker>${xmlEscape(last.versionId)}</NextVersionIdMarker>` : '';
  sendXml(
    ctx,
    200,
    `<ListVersionsResult xmlns="${XMLNS}"><Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix>` +
      `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncated}</IsTruncated>${next}${page.map(entryXml).join('')}</ListVersionsResult>`,
  );
}

module.exports = { fixListedStorageClasses, listVersions };
