'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// The write and read operations the local S3 stand-in answers itself instead of s3rver: PutObject,
// UploadPart and CompleteMultipartUpload (whole bodies only, digests checked, If-None-Match
// honoured), CreateMultipartUpload checks, GET/HEAD decoration (storage class, restore, lock,
// version). Deletes, Object Lock and restores are in s3-lock-handlers.cjs; s3-server.cjs routes both.

const fs = require('node:fs');
const path = require('node:path');
const { checkDigests, commitObject, newVersionId, readState, receiveBody, StandInError, storedMetadata, temporaryBeside } = require('./s3-objects.cjs');
const { emitEvent, parseXml, readSmallBody, sendFailure, sendXml, XMLNS, xmlEscape } = require('./s3-http.cjs');
const lock = require('./s3-lock.cjs');
const tiers = require('./s3-tiers.cjs');
const { completeMultipart } = require('./s3-store.cjs');
const { placePart, recordPart } = require('./s3-parts.cjs');

function noSuchKey(key) {
  return Object.assign(new StandInError(404, 'NoSuchKey', 'The specified key does not exist.'), { key });
}

/** `If-None-Match: *` asks for a write-once put; S3 implements no other value on writes. */
function ifNoneMatch(headers) {
  const value = headers['if-none-match'];
  if (value === undefined) return false;
  if (value.trim() !== '*') throw new StandInError(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented');
  return true;
}

/**
 * Reads an XML body after checking any digest it was sent with (S3 wants one on these calls). On
 * CompleteMultipartUpload x-amz-checksum-* describes the object, not the XML: only Content-MD5 is the body's.
 */
async function xmlBody(ctx, { objectChecksums = false } = {}) {
  const body = await readSmallBody(ctx.req);
  const headers = objectChecksums ? { 'content-md5': ctx.headers['content-md5'] } : ctx.headers;
  checkDigests(headers, body);
  return parseXml(body);
}

function currentState(store, bucket, key, versionId) {
  if (!fs.existsSync(store.getResourcePath(bucket, key, 'object'))) throw noSuchKey(key);
  const state = readState(store, bucket, key) ?? {};
  if (versionId !== undefined && versionId !== (state.versionId ?? 'null')) {
    throw new StandInError(404, 'NoSuchVersion', 'The specified version does not exist.');
  }
  return state;
}

/** Runs a handler and answers its StandInError the way S3 does. */
const guarded = (handler) => async (ctx, ...args) => {
  try {
    await handler(ctx, ...args);
  } catch (error) {
    sendFailure(ctx, error);
  }
};

function createHandlers({ store, clock, bucketConfig }) {
  async function putObject(ctx, bucket, key) {
    const now = clock.now();
    const conditional = ifNoneMatch(ctx.headers);
    const storageClass = tiers.storageClassFrom(ctx.headers);
    const objectLock = lock.lockFromHeaders(ctx.headers, bucketConfig.objectLock, now);
    lock.requireIntegrityHeader(ctx.headers, objectLock);
    const objectPath = store.getResourcePath(bucket, key, 'object');
    const temporary = temporaryBeside(objectPath);
    const got = await receiveBody(ctx.req, temporary);
    const sha256 = ctx.headers['x-amz-checksum-sha256'] ?? got.trailers['x-amz-checksum-sha256'];
    const state = { versionId: newVersionId(), storageClass, ...objectLock, createdAt: now.toISOString(), ...(sha256 ? { sha256 } : {}) };
    commitObject(store, bucket, key, temporary, { ifNoneMatch: conditional, metadata: storedMetadata(ctx.headers), md5Hex: got.md5Hex, state, now });
    ctx.status = 200;
    ctx.set('ETag', JSON.stringify(got.md5Hex));
    ctx.set('x-amz-version-id', state.versionId);
    if (sha256) ctx.set('x-amz-checksum-sha256', sha256);
    ctx.body = '';
    emitEvent(ctx, bucket, 'Put', key, got.size, got.md5Hex);
  }

  async function uploadPart(ctx, uploadDir) {
    const partNumber = Number(ctx.query.partNumber);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10000) {
      throw new StandInError(400, 'InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive');
    }
    const upload = JSON.parse(fs.readFileSync(path.join(uploadDir, 'metadata'), 'utf8'));
    // The object will be locked (the upload's own lock headers or the bucket's default): each part needs a digest.
    lock.requireIntegrityHeader(ctx.headers, lock.lockFromHeaders(upload, bucketConfig.objectLock, clock.now()), 'Put Part');
    const sha256 = ctx.headers['x-amz-checksum-sha256'] ?? (/x-amz-checksum-sha256/i.test(ctx.headers['x-amz-trailer'] ?? '') ? 'trailer' : undefined);
    if (upload['x-amz-checksum-algorithm'] === 'SHA256' && sha256 === undefined) {
      throw new StandInError(400, 'InvalidRequest', 'Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null');
    }
    const temporary = temporaryBeside(path.join(uploadDir, String(partNumber)));
    // The length receiveBody holds the body to: a slot is sized by it before a byte arrives.
    const chunked = /aws-chunked/.test(ctx.headers['content-encoding'] ?? '');
    const declared = Number(ctx.headers[chunked ? 'x-amz-decoded-content-length' : 'content-length'] ?? Number.NaN);
    const place = Number.isSafeInteger(declared) ? placePart(uploadDir, partNumber, declared) : { file: true, done: () => {} };
    let got;
    try {
      got = await receiveBody(ctx.req, temporary, { createDirectory: false, slot: place.slot });
    } catch (error) {
      if (error.code === 'ENOENT') throw new StandInError(404, 'NoSuchUpload', 'The specified upload does not exist.');
      throw error;
    } finally {
      place.done();
    }
    if (!fs.existsSync(path.join(uploadDir, 'key'))) {
      fs.rmSync(temporary, { force: true });
      throw new StandInError(404, 'NoSuchUpload', 'The specified upload does not exist.');
    }
    recordPart(uploadDir, partNumber, { slot: place.slot, temporary, size: got.size, md5Hex: got.md5Hex, sha256: got.sha256 });
    ctx.status = 200;
    ctx.set('ETag', JSON.stringify(got.md5Hex));
    if (sha256 || upload['x-amz-checksum-algorithm'] === 'SHA256') ctx.set('x-amz-checksum-sha256', got.sha256);
    ctx.body = '';
  }

  async function complete(ctx, bucket, key) {
    const conditional = ifNoneMatch(ctx.headers);
    const request = (await xmlBody(ctx, { objectChecksums: true })).CompleteMultipartUpload;
    const listed = [].concat(request?.Part ?? []);
    if (listed.length === 0) throw new StandInError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    const parts = listed.map((p) => ({
      number: Number(p.PartNumber),
      // S3 removes all double quotes when comparing ETags.
      etag: String(p.ETag ?? '').replace(/"/g, ''),
      ...(p.ChecksumSHA256 ? { sha256: String(p.ChecksumSHA256) } : {}),
    }));
    const options = { ifNoneMatch: conditional, sha256: ctx.headers['x-amz-checksum-sha256'], now: clock.now(), bucketLock: bucketConfig.objectLock };
    const done = await completeMultipart(store, bucket, String(ctx.query.uploadId), parts, options);
    const checksum = done.sha256 ? `<ChecksumSHA256>${done.sha256}</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType>` : '';
    ctx.set('x-amz-version-id', done.versionId);
    sendXml(
      ctx,
      200,
      `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>${xmlEscape(ctx.href.split('?')[0])}</Location>` +
        `<Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>&quot;${done.md5Hex}&quot;</ETag>${checksum}</CompleteMultipartUploadResult>`,
    );
    emitEvent(ctx, bucket, 'Post', key, done.size, done.md5Hex);
  }

  /** CreateMultipartUpload: refuses what S3 refuses before s3rver records the upload. */
  function checkInitiate(ctx) {
    tiers.storageClassFrom(ctx.headers);
    lock.lockFromHeaders(ctx.headers, bucketConfig.objectLock, clock.now());
    const algorithm = ctx.headers['x-amz-checksum-algorithm'];
    if (algorithm !== undefined && algorithm !== 'SHA256') {
      throw new StandInError(400, 'InvalidRequest', `The local S3 checks SHA256 multipart checksums only, not ${algorithm}.`);
    }
  }

  /** Dates a new upload on the stand-in's clock (s3rver keeps its directory's mtime as Initiated; lifecycle reads it). */
  function dateUpload(ctx, bucket) {
    const uploadId = /<UploadId>([A-Za-z0-9_-]+)<\/UploadId>/.exec(typeof ctx.body === 'string' ? ctx.body : '')?.[1];
    if (!uploadId) return;
    const now = clock.now();
    fs.utimesSync(path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId), now, now);
  }

  async function getOrHead(ctx, next, bucket, key) {
    const now = clock.now();
    const state = fs.existsSync(store.getResourcePath(bucket, key, 'object')) ? readState(store, bucket, key) ?? {} : undefined;
    if (state && ctx.query.versionId !== undefined) currentState(store, bucket, key, ctx.query.versionId);
    if (state && ctx.method === 'GET' && !tiers.readable(state, now)) {
      // S3's error names the class the object is in (the SDK reads it as `StorageClass`).
      const storageClass = state.storageClass ?? 'GLACIER';
      throw Object.assign(new StandInError(403, 'InvalidObjectState', 'The operation is not valid for the object\'s storage class'), {
        detail: `<StorageClass>${xmlEscape(storageClass)}</StorageClass>`,
      });
    }
    await next();
    if (!state || (ctx.status !== 200 && ctx.status !== 206)) return;
    ctx.remove('X-Amz-Storage-Class');
    const headers = { ...tiers.tierHeaders(state, now), ...lock.lockHeaders(state), 'x-amz-version-id': state.versionId ?? 'null' };
    if (state.sha256 && ctx.get('x-amz-checksum-mode') === 'ENABLED' && ctx.status === 200) headers['x-amz-checksum-sha256'] = state.sha256;
    for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  }

  return {
    putObject: guarded(putObject),
    uploadPart: guarded(uploadPart),
    complete: guarded(complete),
    checkInitiate,
    dateUpload,
    getOrHead: guarded(getOrHead),
  };
}

module.exports = { createHandlers, currentState, guarded, ifNoneMatch, xmlBody };
