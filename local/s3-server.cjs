'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS entry: s3rver is CommonJS and this file runs as its own process. */
// Local S3 stand-in: s3rver, plus the few S3 behaviours Ferry relies on that s3rver lacks or gets
// wrong. Run as a child process (see s3-process.ts):
//   node --openssl-legacy-provider local/s3-server.cjs --directory D [--port 0] --bucket a --bucket b
// (or FERRY_S3_DIRECTORY / FERRY_S3_PORT / FERRY_S3_BUCKETS=a,b from the parent).
// The legacy provider is needed because s3rver encrypts ListObjectsV2 continuation tokens with DES.
// Prints `FERRY_S3_READY <port>` once listening; forwards s3rver's notification events over IPC.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const S3rver = require('s3rver');
const S3Object = require('s3rver/lib/models/object');
const { walk } = require('s3rver/lib/utils');
const S3Error = require('s3rver/lib/models/error');

// s3rver keeps multipart uploads under <directory>/<bucket>/._S3rver_uploads/<uploadId>/
// holding `key`, `metadata` and one file per part (see lib/stores/filesystem.js initiateUpload).
const UPLOADS_DIR = '._S3rver_uploads';
const OBJECT_SUFFIX = '._S3rver_object';
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

function parseOptions(argv, env) {
  const options = {
    directory: env.FERRY_S3_DIRECTORY,
    port: Number(env.FERRY_S3_PORT ?? 0),
    buckets: (env.FERRY_S3_BUCKETS ?? '').split(',').filter(Boolean),
  };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--directory') options.directory = value;
    else if (flag === '--port') options.port = Number(value);
    else if (flag === '--bucket') options.buckets.push(value);
    else throw new Error(`unknown argument ${flag}`);
    i += 1;
  }
  if (!options.directory) throw new Error('--directory (or FERRY_S3_DIRECTORY) is required');
  if (!Number.isInteger(options.port) || options.port < 0) throw new Error(`bad port ${options.port}`);
  return options;
}

function xmlEscape(text) {
  return String(text).replace(/[<>&'"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function sendXml(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

function sendError(ctx, status, code, message, detail = '') {
  sendXml(ctx, status, `<Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message>${detail}</Error>`);
}

function byteCompare(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function readKeyFile(uploadDir) {
  try {
    return fs.readFileSync(path.join(uploadDir, 'key'), 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw error;
  }
}

function listUploads(ctx, bucketDir, bucket) {
  const prefix = String(ctx.query.prefix ?? '');
  const uploadsDir = path.join(bucketDir, UPLOADS_DIR);
  const ids = fs.existsSync(uploadsDir) ? fs.readdirSync(uploadsDir) : [];
  const uploads = [];
  for (const uploadId of ids) {
    const uploadDir = path.join(uploadsDir, uploadId);
    const key = readKeyFile(uploadDir);
    if (key === undefined || !key.startsWith(prefix)) continue;
    uploads.push({ key, uploadId, initiated: fs.statSync(uploadDir).mtime });
  }
  uploads.sort((a, b) => byteCompare(a.key, b.key) || byteCompare(a.uploadId, b.uploadId));
  const items = uploads.map(
    (u) =>
      `<Upload><Key>${xmlEscape(u.key)}</Key><UploadId>${u.uploadId}</UploadId>` +
      `<Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`,
  );
  sendXml(
    ctx,
    200,
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>` +
      `<Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>` +
      `${items.join('')}</ListMultipartUploadsResult>`,
  );
}

/**
 * Handles an operation on an existing upload id. s3rver lacks AbortMultipartUpload (405), and for an
 * unknown upload it answers CompleteMultipartUpload with a 500 (which clients retry) and UploadPart by
 * creating a phantom upload directory. S3 answers 404 NoSuchUpload; abort is idempotent (204).
 */
async function uploadOperation(ctx, next, uploadDir, key) {
  if (ctx.method === 'DELETE') {
    if (UPLOAD_ID.test(ctx.query.uploadId)) fs.rmSync(uploadDir, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }
  if (!UPLOAD_ID.test(ctx.query.uploadId) || readKeyFile(uploadDir) !== key) {
    sendError(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist.');
    return;
  }
  await next();
}

/**
 * s3rver answers `Range: bytes=0-0` with the whole object (it reads end 0 as "no end") and answers
 * any range on an empty object with 206. S3 returns one byte, and 416 for an empty object.
 */
async function rangeFixes(ctx, next) {
  const requested = /^bytes=(\d+)-(\d*)$/.exec(ctx.get('range'));
  await next();
  if (!requested || ctx.status !== 206) return;
  const [, , end] = requested;
  const total = Number(/\/(\d+)$/.exec(ctx.response.get('content-range'))?.[1]);
  if (total === 0) {
    if (ctx.body && typeof ctx.body.destroy === 'function') ctx.body.destroy();
    sendError(ctx, 416, 'InvalidRange', 'The requested range is not satisfiable', '<ActualObjectSize>0</ActualObjectSize>');
    ctx.set('Content-Range', 'bytes */0');
    return;
  }
  if (end === '0' && ctx.body && typeof ctx.body.destroy === 'function') {
    const whole = ctx.body;
    const first = await readFirstByte(whole);
    whole.destroy();
    ctx.body = first;
    ctx.length = 1;
    ctx.set('Content-Range', `bytes 0-0/${total}`);
  }
}

function readFirstByte(stream) {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('readable', () => resolve(Buffer.from(stream.read(1) ?? Buffer.alloc(0))));
  });
}

function ferryExtensions(rootDirectory) {
  return async function ferryExtensions(ctx, next) {
    // Path style only (vhostBuckets is off); the SDK addresses bucket operations as `/<bucket>/`.
    const match = /^\/([^/]+)(?:\/(.+)|\/)?$/.exec(ctx.path);
    if (!match) return next();
    const bucket = decodeURIComponent(match[1]);
    const key = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
    const bucketDir = path.join(rootDirectory, bucket);
    if (key !== undefined && 'uploadId' in ctx.query) {
      const uploadDir = path.join(bucketDir, UPLOADS_DIR, String(ctx.query.uploadId));
      return uploadOperation(ctx, next, uploadDir, key);
    }
    if (key === undefined && ctx.method === 'GET' && 'uploads' in ctx.query) {
      if (!fs.existsSync(bucketDir)) return next();
      return listUploads(ctx, bucketDir, bucket);
    }
    if (key !== undefined && ctx.method === 'GET') return rangeFixes(ctx, next);
    return next();
  };
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
    const files = ['object', 'object.md5', 'metadata.json'].map((resource) => store.getResourcePath(bucket, key, resource));
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

/** Without the legacy provider every second page of a listing is a 500: refuse to start instead. */
/**
 * CompleteMultipartUpload as S3 does it. S3 checks each listed part's ETag against the part it
 * stored (InvalidPart otherwise) and gives the object the ETag `md5(part MD5s)-N`, from the MD5s
 * it took of the parts as they were stored. s3rver checks nothing and hashes the whole object a
 * second time, which makes its ETag differ from S3's and costs a pass over every byte. The object
 * is assembled under a temporary name and renamed into place, so a reader never sees half of it.
 */
function patchMultipartCompletion(store) {
  store.putObjectMultipart = async function putObjectMultipart(bucket, uploadId, parts) {
    const uploadDir = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
    const key = (await fs.promises.readFile(path.join(uploadDir, 'key'))).toString();
    const metadata = JSON.parse((await fs.promises.readFile(path.join(uploadDir, 'metadata'))).toString());
    const sorted = [...parts].sort((a, b) => a.number - b.number);
    const digests = [];
    for (const part of sorted) {
      const stored = await fs.promises.readFile(path.join(uploadDir, `${part.number}.md5`), 'utf8').catch(() => undefined);
      if (stored === undefined || stored !== part.etag) {
        throw new S3Error('InvalidPart', 'One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part\'s entity tag.', { UploadId: uploadId, PartNumber: part.number, ETag: part.etag });
      }
      digests.push(Buffer.from(stored, 'hex'));
    }
    const objectPath = store.getResourcePath(bucket, key, 'object');
    await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
    const temporary = `${objectPath}.${uploadId}.assembling`;
    const out = await fs.promises.open(temporary, 'w');
    let size = 0;
    try {
      for (const part of sorted) {
        const bytes = await fs.promises.readFile(path.join(uploadDir, String(part.number)));
        await out.write(bytes, 0, bytes.length);
        size += bytes.length;
      }
    } catch (error) {
      await out.close();
      await fs.promises.rm(temporary, { force: true });
      throw error;
    }
    await out.close();
    await fs.promises.rename(temporary, objectPath);
    const md5 = `${crypto.createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${sorted.length}`;
    await store.putMetadata(bucket, key, metadata, md5);
    await fs.promises.rm(uploadDir, { recursive: true, force: true });
    return { size, md5 };
  };
}

function assertDesAvailable() {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
  } catch (error) {
    throw new Error(`s3rver needs DES for ListObjectsV2 continuation tokens: run node with --openssl-legacy-provider (${error.message})`);
  }
}

async function main() {
  assertDesAvailable();
  const options = parseOptions(process.argv.slice(2), process.env);
  fs.mkdirSync(options.directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: options.port,
    directory: options.directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  // Koa composes `middleware` when the server starts listening, so this runs before s3rver's routes.
  server.middleware.unshift(ferryExtensions(options.directory));
  patchListing(server.store);
  patchDelete(server.store);
  patchMultipartCompletion(server.store);
  server.on('event', (event) => {
    if (process.send) process.send({ type: 's3-event', event });
  });

  const { port } = await server.run();
  process.stdout.write(`FERRY_S3_READY ${port}\n`);
  if (process.send) process.send({ type: 'ready', port });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    server.close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
    server.httpServer.closeIdleConnections();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The parent went away without stopping us: do not linger as an orphan.
  process.on('disconnect', stop);
}

main().catch((error) => {
  process.stderr.write(`ferry local s3: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
});
