'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS module of the local S3 stand-in process (see s3-server.cjs). */
// Object bytes and state for the local S3 stand-in (see s3-server.cjs).
//
// Bodies are received into a temporary file beside the object and hashed on the way; only a body
// that arrived whole (Content-Length reached, connection not reset) and matches every digest it was
// sent with is renamed into place. The commit (If-None-Match check, state files, rename) runs
// synchronously, in one turn of the event loop, so two writers cannot both pass the check.
//
// Beside s3rver's files each object has a state file (`<key>._S3rver_ferry.json`): version id,
// storage class, Object Lock, restore, checksum and creation time on the stand-in's clock.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const zlib = require('node:zlib');
const S3Object = require('s3rver/lib/models/object');
const { createChunkedDecoder } = require('./s3-chunked.cjs');

const STATE = 'ferry.json';

/** Digest headers the stand-in checks, the hash behind each, and the length of the raw digest. */
const DIGESTS = {
  'content-md5': { hash: 'md5', bytes: 16, name: 'Content-MD5' },
  'x-amz-checksum-sha256': { hash: 'sha256', bytes: 32, name: 'SHA256' },
  'x-amz-checksum-sha1': { hash: 'sha1', bytes: 20, name: 'SHA1' },
  'x-amz-checksum-crc32': { hash: 'crc32', bytes: 4, name: 'CRC32' },
};

class StandInError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** The digests a request asks the store to check, base64 by hash name; StandInError when malformed. */
function requestedDigests(headers) {
  const wanted = {};
  for (const [header, spec] of Object.entries(DIGESTS)) {
    const value = headers[header];
    if (value === undefined) continue;
    const raw = Buffer.from(value, 'base64');
    if (raw.length !== spec.bytes || raw.toString('base64') !== value) {
      if (header === 'content-md5') throw new StandInError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
      throw new StandInError(400, 'InvalidRequest', `Value for ${header} header is invalid.`);
    }
    wanted[spec.hash] = value;
  }
  return wanted;
}

/**
 * Hashes a body on its way to disk. MD5 (the ETag) and SHA-256 (kept per part for the composite
 * checksum) always; SHA-1 and CRC32 only when `all` (a body whose trailers may carry any
 * checksum) or named in `extra`: each is a pass over every byte, and most writes ask for neither.
 */
function hasher({ all = true, extra = [] } = {}) {
  const wanted = (name) => all || extra.includes(name);
  const hashes = { md5: crypto.createHash('md5'), sha256: crypto.createHash('sha256'), ...(wanted('sha1') ? { sha1: crypto.createHash('sha1') } : {}) };
  const withCrc = wanted('crc32');
  let crc = 0;
  let size = 0;
  const transform = new Transform({
    transform(chunk, _encoding, callback) {
      for (const h of Object.values(hashes)) h.update(chunk);
      if (withCrc) crc = zlib.crc32(chunk, crc);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const result = () => {
    const crcBytes = Buffer.alloc(4);
    crcBytes.writeUInt32BE(crc >>> 0);
    return {
      size,
      md5Hex: hashes.md5.digest('hex'),
      sha256: hashes.sha256.digest('base64'),
      ...(hashes.sha1 ? { sha1: hashes.sha1.digest('base64') } : {}),
      ...(withCrc ? { crc32: crcBytes.toString('base64') } : {}),
    };
  };
  return { transform, result };
}

/**
 * Receives a request body into `temporary`. Resolves the body's size and digests; rejects with
 * StandInError when the body is torn (fewer bytes than Content-Length, connection reset) or does not
 * match a digest header. The temporary file is gone whenever this rejects. With `slot` ({ path,
 * start }) the body is written into that file at that offset instead, and nothing is removed on a
 * rejection (the caller records only a body that arrived whole; see s3-parts.cjs).
 */
async function receiveBody(req, temporary, { createDirectory = true, slot } = {}) {
  const chunked = /aws-chunked/.test(req.headers['content-encoding'] ?? '');
  const declared = chunked ? req.headers['x-amz-decoded-content-length'] : req.headers['content-length'];
  if (declared === undefined) throw new StandInError(411, 'MissingContentLength', 'You must provide the Content-Length HTTP header.');
  const wanted = requestedDigests(req.headers);
  if (createDirectory) await fs.promises.mkdir(path.dirname(temporary), { recursive: true });
  const { decoder, trailers } = createChunkedDecoder();
  // An aws-chunked body's trailers are known only at its end: every digest is taken for it.
  const { transform, result } = hasher({ all: chunked, extra: Object.keys(wanted) });
  const sink = slot
    ? fs.createWriteStream(slot.path, { flags: fs.constants.O_WRONLY | fs.constants.O_CREAT, start: slot.start, highWaterMark: 1024 * 1024 })
    : fs.createWriteStream(temporary, { highWaterMark: 1024 * 1024 });
  const discard = () => (slot ? Promise.resolve() : fs.promises.rm(temporary, { force: true }));
  try {
    await pipeline(req, ...(chunked ? [decoder] : []), transform, sink);
  } catch (error) {
    await discard();
    if (error.code === 'ENOENT') throw error;
    throw new StandInError(400, 'IncompleteBody', 'The request body was cut off before Content-Length bytes arrived.');
  }
  const got = result();
  // Trailing checksums (aws-chunked) are checked like the same headers.
  let fromTrailers;
  try {
    fromTrailers = requestedDigests(trailers);
  } catch (error) {
    await discard();
    throw error;
  }
  Object.assign(wanted, fromTrailers);
  got.trailers = trailers;
  const problem = got.size !== Number(declared)
    ? new StandInError(400, 'IncompleteBody', 'You did not provide the number of bytes specified by the Content-Length HTTP header.')
    : digestMismatch(wanted, got);
  if (problem) {
    await discard();
    throw problem;
  }
  return got;
}

function digestMismatch(wanted, got) {
  if (wanted.md5 !== undefined && Buffer.from(wanted.md5, 'base64').toString('hex') !== got.md5Hex) {
    return new StandInError(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  for (const spec of Object.values(DIGESTS)) {
    if (spec.hash === 'md5' || wanted[spec.hash] === undefined) continue;
    if (wanted[spec.hash] !== got[spec.hash]) return new StandInError(400, 'BadDigest', `The ${spec.name} you specified did not match the calculated checksum.`);
  }
  return undefined;
}

/** The digests of a body already in memory (small XML requests). */
function digestsOf(buffer) {
  const { transform, result } = hasher();
  transform.write(buffer);
  return result();
}

/** Throws the BadDigest (or InvalidDigest) S3 answers when `buffer` does not match the request's digest headers. */
function checkDigests(headers, buffer) {
  const mismatch = digestMismatch(requestedDigests(headers), digestsOf(buffer));
  if (mismatch) throw mismatch;
}

/** User metadata and the standard headers S3 keeps with an object (s3rver's metadata.json). */
function storedMetadata(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'x-amz-storage-class') continue;
    if (name === 'content-encoding') {
      // aws-chunked describes the request, not the object: S3 keeps only the other codings.
      const kept = String(value).split(',').map((c) => c.trim()).filter((c) => c && c !== 'aws-chunked').join(',');
      if (kept) out[name] = kept;
      continue;
    }
    if (S3Object.ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')) out[name] = value;
  }
  return out;
}

function readState(store, bucket, key) {
  try {
    return JSON.parse(fs.readFileSync(store.getResourcePath(bucket, key, STATE), 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function writeState(store, bucket, key, state) {
  fs.writeFileSync(store.getResourcePath(bucket, key, STATE), JSON.stringify(state));
}

function objectExists(store, bucket, key) {
  return fs.existsSync(store.getResourcePath(bucket, key, 'object'));
}

function newVersionId() {
  return crypto.randomBytes(24).toString('base64url');
}

/**
 * Puts the received file in place as the object's current version; synchronous on purpose (see
 * the header). With ifNoneMatch an existing key wins: the file is dropped and PreconditionFailed thrown.
 */
function commitObject(store, bucket, key, temporary, { ifNoneMatch, metadata, md5Hex, state, now }) {
  const objectPath = store.getResourcePath(bucket, key, 'object');
  if (ifNoneMatch && fs.existsSync(objectPath)) {
    fs.rmSync(temporary, { force: true });
    throw new StandInError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  }
  fs.writeFileSync(store.getResourcePath(bucket, key, 'object.md5'), md5Hex);
  fs.writeFileSync(store.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(metadata));
  writeState(store, bucket, key, state);
  fs.renameSync(temporary, objectPath);
  fs.utimesSync(objectPath, now, now);
}

function temporaryBeside(file) {
  return `${file}.${crypto.randomBytes(6).toString('hex')}.receiving`;
}

module.exports = {
  STATE,
  StandInError,
  checkDigests,
  commitObject,
  digestMismatch,
  newVersionId,
  objectExists,
  readState,
  receiveBody,
  requestedDigests,
  storedMetadata,
  temporaryBeside,
  writeState,
};
